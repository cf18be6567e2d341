package handlers

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"chefdeploy/config"
	"chefdeploy/models"
	"chefdeploy/views"
)

// limitedAction is one rate-limited route: its name in the counters' keys
// and the words of its 429 page.
type limitedAction struct {
	name, what string
}

var (
	limitLogin   = limitedAction{"login", "sign-in attempts"}
	limitCreate  = limitedAction{"create", "new apps"}
	limitConnect = limitedAction{"connect", "connects"}
	limitDeploy  = limitedAction{"deploy", "deploys"}
)

// addressFactor is how many users' worth of actions one client address may
// send: people share addresses behind NAT.
const addressFactor = 4

// rateLimits counts requests in the database, so every replica sees the same
// count. A key this replica has seen over its limit is refused from memory
// until its window ends, so a flood past the limit costs no write.
type rateLimits struct {
	login, action config.RateLimit
	mu            sync.Mutex
	blocked       map[string]time.Time
	lastPrune     atomic.Int64
}

// maxBlockedKeys bounds the memory of refused keys; past it, it starts over.
const maxBlockedKeys = 100_000

func newRateLimits(cfg *config.Config) *rateLimits {
	return &rateLimits{login: cfg.LoginRateLimit, action: cfg.ActionRateLimit, blocked: map[string]time.Time{}}
}

// rateLimited answers 429 with Retry-After once the client's address, or the
// signed-in user, has used up its limit for the action; else it serves next.
// A database that cannot count lets the request through: the limit guards
// the database, it does not replace it.
func (s *Server) rateLimited(action limitedAction, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.limits.action
		if action == limitLogin {
			limit = s.limits.login
		}
		if limit.Off() {
			next(w, r)
			return
		}
		checks := []struct {
			key   string
			count int
		}{{action.name + ":addr:" + clientAddress(r), limit.Count}}
		if action != limitLogin {
			checks[0].count = limit.Count * addressFactor
			if sess := currentSession(r); sess != nil {
				checks = append(checks, struct {
					key   string
					count int
				}{action.name + ":user:" + sess.UserID, limit.Count})
			}
		}
		for _, c := range checks {
			if wait, over := s.overLimit(r.Context(), c.key, c.count, limit.Per); over {
				s.tooManyRequests(w, r, action, wait)
				return
			}
		}
		next(w, r)
	})
}

// overLimit counts one hit on key and says whether it is past count.
func (s *Server) overLimit(ctx context.Context, key string, count int, per time.Duration) (time.Duration, bool) {
	l := s.limits
	now := time.Now()
	l.mu.Lock()
	until, blocked := l.blocked[key]
	if blocked && now.After(until) {
		delete(l.blocked, key)
		blocked = false
	}
	l.mu.Unlock()
	if blocked {
		return until.Sub(now), true
	}
	ok, wait, err := models.HitRateLimit(ctx, s.db, key, count, per)
	if err != nil {
		s.log.Warn("rate limit not counted", "request_id", RequestID(ctx), "err", err)
		return 0, false
	}
	s.pruneRateLimits(per)
	if ok {
		return 0, false
	}
	l.mu.Lock()
	if len(l.blocked) >= maxBlockedKeys {
		l.blocked = map[string]time.Time{}
	}
	l.blocked[key] = now.Add(wait)
	l.mu.Unlock()
	return wait, true
}

// pruneRateLimits deletes old counters, at most every ten minutes per replica.
func (s *Server) pruneRateLimits(per time.Duration) {
	now := time.Now().Unix()
	last := s.limits.lastPrune.Load()
	if now-last < 600 || !s.limits.lastPrune.CompareAndSwap(last, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := models.PruneRateLimits(ctx, s.db, max(per, time.Hour)); err != nil {
			s.log.Warn("pruning rate limits", "err", err)
		}
	}()
}

func (s *Server) tooManyRequests(w http.ResponseWriter, r *http.Request, action limitedAction, wait time.Duration) {
	seconds := max(1, int((wait+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	s.renderErrorView(w, r, views.ErrorView{
		Status:  http.StatusTooManyRequests,
		Title:   "Too many requests",
		Message: "Too many " + action.what + " in a short time. Try again in " + strconv.Itoa(seconds) + " seconds.",
	})
}

// clientAddress is the address a request came from, an IPv6 one as its /64
// (one subscriber's share). Behind a proxy it is the proxy's: no forwarded
// header is trusted.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is6() {
		prefix, _ := addr.Prefix(64)
		return prefix.String()
	}
	return addr.String()
}
