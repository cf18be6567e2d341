package jobs

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"chefdeploy/models"
	"chefdeploy/sandbox"
)

// testKey is one real key the tests stock and hand out, made once: each
// key costs ~50 ms of a core.
var testKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func mustTestKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// stock puts key in the fixture's auth key stock.
func (f *fixture) stock(t *testing.T, key *rsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := models.StockAuthKey(t.Context(), f.db, f.cfg.Credentials, der); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) stocked(t *testing.T) int {
	t.Helper()
	n, err := models.CountAuthKeys(t.Context(), f.db)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// counted is a counter's value.
func counted(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestAuthKeySourceTakesFromTheStock(t *testing.T) {
	t.Parallel()
	f := setup(t)
	want := mustTestKey(t)
	f.stock(t, want)
	src := f.deps.keys
	src.generate = func() (*rsa.PrivateKey, error) {
		t.Error("a key was generated while the stock had one")
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	got, err := src.get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(want) {
		t.Fatal("get did not hand out the stocked key")
	}
	if n := f.stocked(t); n != 0 {
		t.Fatalf("%d keys in stock after the only one was taken", n)
	}
	if n := counted(t, f.deps.metrics.inline); n != 0 {
		t.Fatalf("%v keys counted as generated inline", n)
	}
}

// An empty stock still gives a working key: made there and then, and counted.
func TestAuthKeySourceMakesAKeyWhenTheStockIsEmpty(t *testing.T) {
	t.Parallel()
	f := setup(t)
	key, err := f.deps.keys.get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Validate(); err != nil || key.N.BitLen() != 2048 {
		t.Fatalf("the key made inline is not a valid 2048-bit key (%d bits, %v)", key.N.BitLen(), err)
	}
	if n := counted(t, f.deps.metrics.inline); n != 1 {
		t.Fatalf("%v keys counted as generated inline, want 1", n)
	}
}

// The filler tops the stock up to its target, never past it, and again
// after a key is taken.
func TestAuthKeyFillerFillsToTheTarget(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const target = 3
	src := newAuthKeySource(f.db, f.cfg.Credentials, target, prometheus.NewCounter(prometheus.CounterOpts{Name: "x"}), slog.Default())
	src.interval = time.Millisecond // counts again at once: an overshoot would show
	var generated atomic.Int32
	src.generate = func() (*rsa.PrivateKey, error) {
		// Only this filler adds keys: it must never make one for a full stock.
		if n, err := models.CountAuthKeys(context.Background(), f.db); err != nil || n >= target {
			t.Errorf("a key was made with %d in stock (%v), target %d", n, err, target)
		}
		generated.Add(1)
		return testKey()
	}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() { src.fill(ctx); close(stopped) }()

	waitFor(t, "the stock filled", 10*time.Second, func() bool { return f.stocked(t) == target })
	if _, err := src.get(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the taken key replaced", 10*time.Second, func() bool { return generated.Load() == target+1 && f.stocked(t) == target })
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the filler did not stop with its context")
	}
	if n, stock := generated.Load(), f.stocked(t); n != target+1 || stock != target {
		t.Fatalf("%d keys made and %d in stock, want %d and %d", n, stock, target+1, target)
	}
}

// The filler yields to connects: while keys are being taken (the count
// fell since its last look) it makes none, and it fills again once the
// count holds still for one look, or at once when the stock is below its
// reserve.
func TestAuthKeyFillerWaitsWhileKeysAreTaken(t *testing.T) {
	t.Parallel()
	f := setup(t)
	src := newAuthKeySource(f.db, f.cfg.Credentials, 3, prometheus.NewCounter(prometheus.CounterOpts{Name: "x"}), slog.Default())
	var generated atomic.Int32
	src.generate = func() (*rsa.PrivateKey, error) { generated.Add(1); return testKey() }
	step := func(last, wantN int, wantAdded bool) int {
		t.Helper()
		n, added, err := src.topUp(t.Context(), last)
		if err != nil || n != wantN || added != wantAdded {
			t.Fatalf("topUp(last %d) = %d, %v, %v; want %d, %v", last, n, added, err, wantN, wantAdded)
		}
		return n
	}
	last := step(-1, 1, true) // first look: an empty stock is filled
	last = step(last, 2, true)
	last = step(last, 3, true)
	last = step(last, 3, false) // full
	for range 2 {
		if _, err := src.get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	last = step(last, 1, false) // two were taken since: a burst, wait
	made := generated.Load()
	last = step(last, 2, true) // the count held still: fill again
	step(last, 3, true)
	if got := generated.Load() - made; got != 2 {
		t.Fatalf("%d keys made after the burst, want 2", got)
	}

	// Below its reserve (a tenth of the target, at least one key) the
	// stock is made again even while keys are taken.
	for range 3 {
		if _, err := src.get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	step(3, 1, true)
}

// However many connects want a key at once, and while the filler fills,
// no more keys are generated at once than the cap allows.
func TestAuthKeyGenerationIsCapped(t *testing.T) {
	t.Parallel()
	if got, want := cap(keygenSlots), max(1, runtime.GOMAXPROCS(0)/2); got != want {
		t.Fatalf("the process's cap is %d slots, want %d (half the cores)", got, want)
	}
	f := setup(t)
	key := mustTestKey(t)
	const slots, callers = 2, 6
	var running, peak atomic.Int32
	release, done := make(chan struct{}), make(chan struct{})
	generate := func() (*rsa.PrivateKey, error) {
		n := running.Add(1)
		defer running.Add(-1)
		if n > slots {
			t.Errorf("%d keys generated at once, cap %d", n, slots)
		}
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		select {
		case <-release:
		case <-done:
		}
		return key, nil
	}
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	shared := make(chan struct{}, slots)
	inline := newAuthKeySource(nil, nil, 0, counter, slog.Default()) // no stock: every key inline
	filler := newAuthKeySource(f.db, f.cfg.Credentials, 1000, counter, slog.Default())
	for _, src := range []*authKeySource{inline, filler} {
		src.slots, src.generate = shared, generate
	}

	fillCtx, stopFilling := context.WithCancel(t.Context())
	filled := make(chan struct{})
	go func() { filler.fill(fillCtx); close(filled) }()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if _, err := inline.get(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	// Nothing is released until the cap is reached: the slots are all taken
	// and the other generations wait.
	waitFor(t, "every slot busy", 10*time.Second, func() bool { return running.Load() == slots })
	go func() {
		for {
			select {
			case release <- struct{}{}:
			case <-done:
				return
			}
		}
	}()
	got := make(chan struct{})
	go func() { wg.Wait(); close(got) }()
	select {
	case <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the callers did not all get a key")
	}
	stopFilling()
	close(done)
	select {
	case <-filled:
	case <-time.After(10 * time.Second):
		t.Fatal("the filler did not stop")
	}
	if p := peak.Load(); p != slots {
		t.Fatalf("at most %d keys generated at once, want the cap, %d", p, slots)
	}
	if n := counted(t, counter); n != callers {
		t.Fatalf("%v keys counted as inline, want %d", n, callers)
	}
}

// Connect takes its Convex Auth key from the stock: the deployment gets
// that key and the JWKS of its public half, and the stock shrinks by one.
func TestProvisionUsesAStockedKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	key := mustTestKey(t)
	f.stock(t, key)
	f.deps.keys.generate = func() (*rsa.PrivateKey, error) {
		t.Error("a key was generated while the stock had one")
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	c := f.connect(t, sandbox.TeamAcme)
	if c.State != models.StateConnected {
		t.Fatalf("connection = %+v, want connected", c)
	}
	env := f.sb.Env(c.DeploymentName)
	got, err := parsePrivateKey(env[envPrivateKey])
	if err != nil {
		t.Fatal(err)
	}
	_, jwks, err := authKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key) || env[envJWKS] != jwks {
		t.Fatal("the deployment's JWT_PRIVATE_KEY and JWKS are not the stocked key's")
	}
	if n := f.stocked(t); n != 0 {
		t.Fatalf("%d keys in stock, want 0: the one stocked was used", n)
	}
}
