package models

import (
	"context"
	"math"
	"time"

	"github.com/jmoiron/sqlx"
)

// HitRateLimit counts one request against key in its current window of
// length per, which starts at the key's first request after the last window
// ended (not at a clock boundary, so a burst cannot straddle two windows and
// pass twice the limit), shared by every replica, and says whether the request is within
// limit; when it is not, retryAfter is how long until the window ends.
func HitRateLimit(ctx context.Context, db sqlx.ExtContext, key string, limit int, per time.Duration) (ok bool, retryAfter time.Duration, err error) {
	var row struct {
		Hits      int     `db:"hits"`
		Remaining float64 `db:"remaining"`
	}
	err = sqlx.GetContext(ctx, db, &row, `
		INSERT INTO rate_limits AS l (key, window_start, hits)
		VALUES ($1, now(), 1)
		ON CONFLICT (key) DO UPDATE SET
			hits = CASE WHEN l.window_start + make_interval(secs => $2) > now() THEN l.hits + 1 ELSE 1 END,
			window_start = CASE WHEN l.window_start + make_interval(secs => $2) > now() THEN l.window_start ELSE now() END
		RETURNING hits,
		          extract(epoch FROM window_start + make_interval(secs => $2) - now())::float8 AS remaining`,
		key, per.Seconds())
	if err != nil {
		return false, 0, err
	}
	if row.Hits <= limit {
		return true, 0, nil
	}
	return false, time.Duration(math.Max(row.Remaining, 0) * float64(time.Second)), nil
}

// PruneRateLimits deletes counters whose window ended long ago.
func PruneRateLimits(ctx context.Context, db sqlx.ExtContext, olderThan time.Duration) error {
	_, err := db.ExecContext(ctx, `DELETE FROM rate_limits WHERE window_start < now() - $1 * interval '1 second'`, olderThan.Seconds())
	return err
}
