package jobs

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink that the summary timer may write to concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRepeatedErrorsAreLoggedOncePerOutage: during an outage River reports
// the same failure every poll; it is logged once, then once more as a
// summary after it stopped, and a later outage is logged again.
func TestRepeatedErrorsAreLoggedOncePerOutage(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	quiet := 100 * time.Millisecond
	log := slog.New(newRepeatFilter(slog.NewTextHandler(&out, nil), quiet)).With("component", "river")

	for range 50 {
		log.Error("producer: Error fetching jobs", "err", "dial tcp: connection refused")
	}
	log.Error("elector: Error attempting reelection", "err", "dial tcp: connection refused")
	log.Warn("job errored", "job_id", 1)
	log.Warn("job errored", "job_id", 2)
	log.Info("routine", "n", 1)
	log.Info("routine", "n", 2)
	got := out.String()
	for msg, want := range map[string]int{
		`msg="producer: Error fetching jobs"`:        1,
		`msg="elector: Error attempting reelection"`: 1,
		`msg="job errored" component=river job_id=1`: 1,
		`msg="job errored" component=river job_id=2`: 1,
		`msg=routine`: 2,
	} {
		if n := strings.Count(got, msg); n != want {
			t.Errorf("%s logged %d times, want %d:\n%s", msg, n, want, got)
		}
	}

	deadline := time.Now().Add(5 * time.Second)
	summary := `msg="producer: Error fetching jobs: stopped after repeating" component=river repeats=49`
	for !strings.Contains(out.String(), summary) {
		if time.Now().After(deadline) {
			t.Fatalf("no summary of the repeats within 5s:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(out.String(), "reelection: stopped") {
		t.Errorf("a message that did not repeat got a summary:\n%s", out.String())
	}

	// The next outage is news again.
	log.Error("producer: Error fetching jobs", "err", "pq: the database system is shutting down")
	if n := strings.Count(out.String(), `msg="producer: Error fetching jobs" `); n != 2 {
		t.Errorf("the next outage's first error logged %d times in all, want 2:\n%s", n, out.String())
	}
}
