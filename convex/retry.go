package convex

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	maxBackoff = 2 * time.Second
	// maxRetryAfter caps a server's Retry-After so a hostile or confused
	// answer cannot park a call without a deadline for hours.
	maxRetryAfter = 30 * time.Second
)

// do sends k until it succeeds or fails for good. Only what can succeed on a
// second try is retried (see Error.Retryable). MaxAttempts bounds the tries,
// so a server that keeps failing is reported with its own status; a context
// deadline bounds them too: a wait that would pass it is not started, and the
// call ends with an error UserMessage turns into "Failed to connect to
// project". Cancellation stops at once.
func (c *Client) do(ctx context.Context, k call) (answer, error) {
	deadline, hasDeadline := ctx.Deadline()
	for n := 1; ; n++ {
		ans, wait, err := c.attempt(ctx, k)
		if err == nil {
			return ans, nil
		}
		if !err.Retryable() {
			err.Tries = n
			return answer{}, err
		}
		if ctx.Err() != nil {
			return answer{}, giveUp(err, ctx)
		}
		if n >= c.maxAttempts {
			return answer{}, err
		}
		if wait <= 0 {
			wait = c.backoff(n)
		}
		if hasDeadline && time.Until(deadline) <= wait {
			return answer{}, giveUp(err, ctx)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return answer{}, giveUp(err, ctx)
		case <-t.C:
		}
	}
}

// giveUp turns the last attempt's error into the call's error when the context
// ends the retries. A deadline (reached, or too close for the next wait) means
// no final answer came; cancellation is reported as such.
func giveUp(last *Error, ctx context.Context) *Error {
	var cause error = errNoFinalAnswer
	if errors.Is(ctx.Err(), context.Canceled) {
		cause = context.Canceled
	}
	e := *last
	if last.Err != nil && !errors.Is(last.Err, cause) {
		e.Err = fmt.Errorf("%w (last attempt: %w)", cause, last.Err)
	} else {
		e.Err = cause
	}
	return &e
}

// backoff is the wait before attempt n+1: full jitter over an exponential
// ceiling, so clients that failed together do not retry together.
func (c *Client) backoff(n int) time.Duration {
	ceiling := c.baseBackoff
	for i := 1; i < n && ceiling < maxBackoff; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, maxBackoff)
	return rand.N(ceiling + 1)
}

// retryAfter reads a Retry-After header, in seconds or HTTP-date form, as a
// wait from now; 0 when absent, unparsable or already past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}
