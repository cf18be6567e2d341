package jobs

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"log/slog"
	"runtime"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"chefdeploy/credentials"
	"chefdeploy/models"
)

// keygenSlots caps the RSA keys this process makes at once, whoever asks:
// half its cores, at least one. A 2048-bit key costs ~50 ms of a core, so
// without the cap a burst of connects would take every core, and every
// other user's requests would wait behind them. It is the process's, not a
// queue's: tests run several replicas in one process.
var keygenSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

// stockCheckInterval is how often the filler counts the stock again when
// it is full, or while connects are taking keys from it.
const stockCheckInterval = 3 * time.Second

// authKeySource hands out the RSA keys Convex Auth needs on each new
// deployment (configureEnvironment). Keys are made ahead of time into a
// stock in PostgreSQL that every replica shares, so a connect takes one
// instead of spending ~50 ms of a core; it makes its own only when the
// stock is empty.
type authKeySource struct {
	db     *sqlx.DB
	ring   *credentials.Keyring
	target int // AUTH_KEY_STOCK; 0 = no stock
	// slots is the generation cap (keygenSlots); generate makes one key.
	slots    chan struct{}
	generate func() (*rsa.PrivateKey, error)
	interval time.Duration
	inline   prometheus.Counter
	logger   *slog.Logger
}

func newAuthKeySource(db *sqlx.DB, ring *credentials.Keyring, target int, inline prometheus.Counter, logger *slog.Logger) *authKeySource {
	return &authKeySource{
		db: db, ring: ring, target: target,
		slots:    keygenSlots,
		generate: func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) },
		interval: stockCheckInterval,
		inline:   inline,
		logger:   logger,
	}
}

// get returns a key no deployment has had: one from the stock, or a new
// one when the stock is empty (or off).
func (k *authKeySource) get(ctx context.Context) (*rsa.PrivateKey, error) {
	if k.target > 0 {
		der, err := models.TakeAuthKey(ctx, k.db, k.ring)
		switch {
		case err == nil:
			return parseStockedKey(der)
		case !errors.Is(err, models.ErrNotFound):
			return nil, err
		}
	}
	k.inline.Inc()
	return k.make(ctx)
}

// make generates a key once a slot is free.
func (k *authKeySource) make(ctx context.Context) (*rsa.PrivateKey, error) {
	select {
	case k.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-k.slots }()
	return k.generate()
}

// fill tops the stock up to its target until ctx ends, one key at a time,
// counting before each: replicas filling at once overshoot the target by
// at most one key each. It yields to connects: while keys are being taken
// (the count fell since it last looked, on any replica) and the stock is
// above its reserve, it waits an interval and looks again, so a burst of
// connects is served from the stock without the fillers spending the cores
// it needs, and the stock is made again once the burst is over.
func (k *authKeySource) fill(ctx context.Context) {
	tick := time.NewTicker(k.interval)
	defer tick.Stop()
	last := -1 // the count after this filler's last look or key
	for ctx.Err() == nil {
		n, added, err := k.topUp(ctx, last)
		if err != nil && ctx.Err() == nil {
			k.logger.Warn("topping up the auth key stock", "err", err)
		}
		if err == nil {
			last = n
		}
		if added {
			continue
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// topUp adds one key to the stock when it is below its target, and either
// no key was taken since the count was last (the filler's previous look;
// -1: none yet) or the stock is below its reserve. It returns the count
// after its work.
func (k *authKeySource) topUp(ctx context.Context, last int) (n int, added bool, err error) {
	n, err = models.CountAuthKeys(ctx, k.db)
	// A tenth of the target is a reserve, made even while keys are taken:
	// a steady trickle of connects would otherwise keep the fillers
	// waiting and, once the stock ran dry, make every connect generate.
	reserve := max(1, k.target/10)
	if err != nil || n >= k.target || (last >= 0 && n < last && n >= reserve) {
		return n, false, err
	}
	key, err := k.make(ctx)
	if err != nil {
		return n, false, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return n, false, err
	}
	if err := models.StockAuthKey(ctx, k.db, k.ring, der); err != nil {
		return n, false, err
	}
	return n + 1, true, nil
}

func parseStockedKey(der []byte) (*rsa.PrivateKey, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("a stocked auth key is not an RSA key")
	}
	return key, nil
}
