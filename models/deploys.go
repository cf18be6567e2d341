package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// Deploy statuses.
const (
	DeployUploading = "uploading"
	DeployLive      = "live"
	DeployFailed    = "failed"
	// DeploySuperseded is a deploy that never uploaded because a newer one
	// of its app was recorded before its turn came.
	DeploySuperseded = "superseded"
)

// SupersededMessage is what a superseded deploy's history row says.
const SupersededMessage = "Not uploaded: a newer deploy of this app replaced it."

// Deploy is one upload of an app's site to Convex hosting.
type Deploy struct {
	ID             string         `db:"id"`
	AppID          string         `db:"app_id"`
	UserID         sql.NullString `db:"user_id"`
	UserEmail      sql.NullString `db:"user_email"`
	BundleSHA256   string         `db:"bundle_sha256"`
	BundleBytes    int64          `db:"bundle_bytes"`
	FileCount      int            `db:"file_count"`
	DeploymentName string         `db:"deployment_name"`
	Status         string         `db:"status"`
	Error          string         `db:"error"`
	SiteURL        string         `db:"site_url"`
	RollbackOf     sql.NullString `db:"rollback_of"`
	CreatedAt      time.Time      `db:"created_at"`
	FinishedAt     sql.NullTime   `db:"finished_at"`
	// BundleKept is false once the bundle was pruned: no rollback to it.
	BundleKept bool `db:"bundle_kept"`
	// Live is true for the deploy the app serves now: its latest live one.
	Live bool `db:"live"`
}

// Duration is how long the deploy took, or has taken so far.
func (d Deploy) Duration() time.Duration {
	if d.FinishedAt.Valid {
		return d.FinishedAt.Time.Sub(d.CreatedAt)
	}
	return time.Since(d.CreatedAt)
}

const deploySelect = `
	SELECT d.id, d.app_id, d.user_id, u.email AS user_email, d.bundle_sha256, d.bundle_bytes, d.file_count,
	       d.deployment_name, d.status, d.error, d.site_url, d.rollback_of, d.created_at, d.finished_at,
	       EXISTS (SELECT 1 FROM bundles b WHERE b.sha256 = d.bundle_sha256) AS bundle_kept,
	       (d.status = 'live' AND NOT EXISTS (
	            SELECT 1 FROM deploys n
	             WHERE n.app_id = d.app_id AND n.status = 'live' AND n.finished_at > d.finished_at)) AS live
	  FROM deploys d LEFT JOIN users u ON u.id = d.user_id`

// CreateDeploy records a deploy that is about to upload.
func CreateDeploy(ctx context.Context, db sqlx.ExtContext, d Deploy) (Deploy, error) {
	var id string
	err := sqlx.GetContext(ctx, db, &id, `
		INSERT INTO deploys (app_id, user_id, bundle_sha256, bundle_bytes, file_count, deployment_name, status, site_url, rollback_of)
		VALUES ($1, NULLIF($2, '')::uuid, $3, $4, $5, $6, 'uploading', $7, NULLIF($8, '')::uuid)
		RETURNING id`,
		d.AppID, d.UserID.String, d.BundleSHA256, d.BundleBytes, d.FileCount, d.DeploymentName, d.SiteURL, d.RollbackOf.String)
	if err != nil {
		return d, err
	}
	return DeployByID(ctx, db, d.AppID, id)
}

// DeployByID returns one of the app's deploys, or ErrNotFound.
func DeployByID(ctx context.Context, db sqlx.QueryerContext, appID, id string) (Deploy, error) {
	var d Deploy
	if _, err := uuid.Parse(id); err != nil {
		return d, ErrNotFound
	}
	err := sqlx.GetContext(ctx, db, &d, deploySelect+` WHERE d.app_id = $1 AND d.id = $2`, appID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNotFound
	}
	return d, err
}

// AppDeploys returns the app's deploys, newest first.
func AppDeploys(ctx context.Context, db sqlx.QueryerContext, appID string, limit int) ([]Deploy, error) {
	var ds []Deploy
	err := sqlx.SelectContext(ctx, db, &ds, deploySelect+` WHERE d.app_id = $1 ORDER BY d.created_at DESC, d.id LIMIT $2`, appID, limit)
	return ds, err
}

// FinishDeploy records the outcome of an upload, with its deploy_done or
// deploy_failed event, in one transaction; a live deploy marks the app
// deployed. It is ErrStale when the deploy was already finished. live, when
// given, runs in the same transaction once a deploy is recorded live: the
// flip of what the app's site serves (platform mode).
func FinishDeploy(ctx context.Context, db *sqlx.DB, d Deploy, status, message string, live ...func(tx *sqlx.Tx) error) error {
	return InTx(ctx, db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE deploys SET status = $2, error = $3, finished_at = now()
			 WHERE id = $1 AND status = 'uploading'`, d.ID, status, message)
		if err := oneRow(res, err); err != nil {
			if errors.Is(err, ErrNotFound) {
				return ErrStale
			}
			return err
		}
		if status == DeployLive {
			if _, err := tx.ExecContext(ctx, `UPDATE apps SET last_deployed_at = now() WHERE id = $1`, d.AppID); err != nil {
				return err
			}
			for _, fn := range live {
				if err := fn(tx); err != nil {
					return err
				}
			}
		}
		kind, detail := EventDeployDone, fmt.Sprintf("%d files, %d bytes", d.FileCount, d.BundleBytes)
		if status == DeployFailed {
			kind, detail = EventDeployFailed, message
		}
		return RecordEvent(ctx, tx, d.UserID.String, d.AppID, kind, detail)
	})
}

// InterruptedUploadMessage is what a deploy whose replica stopped mid-upload
// (a crash, a kill) says once its lease has run out.
const InterruptedUploadMessage = "The upload was interrupted (the server restarted); deploy again."

// RenewUploadLease keeps a claimed upload's lease running while it uploads.
func RenewUploadLease(ctx context.Context, db sqlx.ExecerContext, deployID string, lease time.Duration) error {
	_, err := db.ExecContext(ctx, `
		UPDATE deploys SET upload_lease_until = now() + $2 * interval '1 millisecond'
		 WHERE id = $1 AND status = 'uploading'`, deployID, lease.Milliseconds())
	return err
}

// AbandonedUploads returns up to limit deploys still uploading whose lease
// ran out: the replica that claimed them stopped renewing it.
func AbandonedUploads(ctx context.Context, db sqlx.QueryerContext, limit int) ([]Deploy, error) {
	var ds []Deploy
	err := sqlx.SelectContext(ctx, db, &ds, deploySelect+`
		 WHERE d.status = 'uploading' AND d.upload_lease_until < now() ORDER BY d.upload_lease_until LIMIT $1`, limit)
	return ds, err
}

// UploadTurn is the answer of ClaimUpload.
type UploadTurn int

// The answers of ClaimUpload.
const (
	// TurnClaimed: the deploy may upload now, for the lease given.
	TurnClaimed UploadTurn = iota
	// TurnWait: another deploy of the app is uploading; ask again later.
	TurnWait
	// TurnSuperseded: a newer deploy of the app exists; this one is now
	// marked superseded and must not upload.
	TurnSuperseded
	// TurnFinished: the deploy is no longer uploading (finished elsewhere).
	TurnFinished
)

// ClaimUpload decides, under a per-app lock, whether deploy d uploads now.
// Deploys of one app upload one at a time and the newest wins: a deploy with
// a newer one of its app is superseded; otherwise it waits while another
// deploy of the app holds an unexpired lease, then takes the lease itself.
func ClaimUpload(ctx context.Context, db *sqlx.DB, d Deploy, lease time.Duration) (UploadTurn, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('deploy ' || $1, 0))`, d.AppID); err != nil {
		return 0, err
	}
	var state struct {
		Status string `db:"status"`
		Newer  bool   `db:"newer"`
		Busy   bool   `db:"busy"`
	}
	err = tx.GetContext(ctx, &state, `
		SELECT d.status,
		       EXISTS (SELECT 1 FROM deploys n
		                WHERE n.app_id = d.app_id AND (n.created_at, n.id) > (d.created_at, d.id)) AS newer,
		       EXISTS (SELECT 1 FROM deploys o
		                WHERE o.app_id = d.app_id AND o.id <> d.id AND o.status = 'uploading'
		                  AND o.upload_lease_until > now()) AS busy
		  FROM deploys d WHERE d.id = $1`, d.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return TurnFinished, nil
	}
	if err != nil {
		return 0, err
	}
	turn := TurnClaimed
	switch {
	case state.Status != DeployUploading:
		return TurnFinished, nil
	case state.Newer:
		turn = TurnSuperseded
		_, err = tx.ExecContext(ctx, `
			UPDATE deploys SET status = 'superseded', error = $2, finished_at = now(), upload_lease_until = NULL
			 WHERE id = $1`, d.ID, SupersededMessage)
	case state.Busy:
		return TurnWait, nil
	default:
		_, err = tx.ExecContext(ctx, `UPDATE deploys SET upload_lease_until = now() + $2 * interval '1 millisecond' WHERE id = $1`,
			d.ID, lease.Milliseconds())
	}
	if err != nil {
		return 0, err
	}
	return turn, tx.Commit()
}
