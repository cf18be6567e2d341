package jobs

import (
	"crypto/rand"
	"crypto/rsa"
	"sync/atomic"
)

// keyPool keeps a few RSA keys generated ahead of time: a 2048-bit key takes
// tens of milliseconds, which would otherwise dominate Connect → connected.
// The keys live only in this process's memory until used.
type keyPool struct {
	keys    chan *rsa.PrivateKey
	filling atomic.Bool
}

func newKeyPool(size int) *keyPool {
	p := &keyPool{keys: make(chan *rsa.PrivateKey, size)}
	p.refill()
	return p
}

// get returns a pooled key or, when the pool is empty, a fresh one.
func (p *keyPool) get() (*rsa.PrivateKey, error) {
	defer p.refill()
	select {
	case k := <-p.keys:
		return k, nil
	default:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
}

func (p *keyPool) refill() {
	if !p.filling.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer p.filling.Store(false)
		for len(p.keys) < cap(p.keys) {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return
			}
			select {
			case p.keys <- k:
			default:
				return
			}
		}
	}()
}
