package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// fault is how a failure team answers create_project.
type fault struct {
	err    *apiError
	header map[string]string
	// gone: the client stopped waiting, so there is no one to answer.
	gone bool
	// malformed: create the project, then answer with broken JSON.
	malformed bool
}

// createProjectFault applies the failure mode of team to its call-th
// create_project. Black-hole blocks here until the request's context ends or
// Close is called; slow until SlowDelay passes or Close is called.
func (s *Sandbox) createProjectFault(ctx context.Context, team string, call int) fault {
	switch team {
	case TeamSSORequired:
		return fault{err: errorf(http.StatusForbidden, "SSORequired", "You must log in with Single Sign-on to access this team.")}
	case TeamExpiredSession:
		return fault{err: errorf(http.StatusUnauthorized, "Unauthenticated", "Your access token has expired.")}
	case TeamFlaky:
		if call%3 != 0 {
			return fault{err: errInternal}
		}
	case TeamRateLimited:
		if call%2 == 1 {
			return fault{
				err:    errorf(http.StatusTooManyRequests, "RateLimited", "Too many requests; retry after 1 second."),
				header: map[string]string{"Retry-After": "1"},
			}
		}
	case TeamBlackHole:
		select {
		case <-ctx.Done():
			return fault{gone: true}
		case <-s.done:
			return fault{err: errUnavailable}
		}
	case TeamSlow:
		// Like a real server, it finishes the create even when the client
		// stopped waiting: the project then exists and nobody was told.
		t := time.NewTimer(s.opts.SlowDelay)
		defer t.Stop()
		select {
		case <-s.done:
			return fault{err: errUnavailable}
		case <-t.C:
		}
	case TeamMalformed:
		return fault{malformed: true}
	}
	// TeamQuotaReached needs no fault: its quota is 0.
	if s.random != nil && !failureTeams[team] {
		return s.randomFault(ctx)
	}
	return fault{}
}

// failureTeams fail in their own fixed way; random faults leave them alone.
var failureTeams = map[string]bool{
	TeamQuotaReached: true, TeamSSORequired: true, TeamFlaky: true, TeamRateLimited: true,
	TeamBlackHole: true, TeamSlow: true, TeamMalformed: true, TeamAuthorizeFails: true,
	TeamExpiredSession: true,
}

// RandomFaults are the odds that one create_project answers slowly (after
// Options.SlowDelay), with a 500, with a 429 or with malformed JSON (the
// project is created, its answer cut short); the rest answer normally. The
// same Seed gives the same sequence of draws.
type RandomFaults struct {
	Seed                                   uint64
	Slow, Internal, RateLimited, Malformed float64
}

// randomFaults draws RandomFaults from one seeded generator.
type randomFaults struct {
	odds RandomFaults
	mu   sync.Mutex
	rng  *rand.Rand
}

func newRandomFaults(odds RandomFaults) *randomFaults {
	return &randomFaults{odds: odds, rng: rand.New(rand.NewPCG(odds.Seed, odds.Seed^0x9e3779b97f4a7c15))}
}

// faultKind is what one random draw gave.
type faultKind int

const (
	faultNone faultKind = iota
	faultSlow
	faultInternal
	faultRateLimited
	faultMalformed
)

// draw picks the next fault kind.
func (f *randomFaults) draw() faultKind {
	f.mu.Lock()
	p := f.rng.Float64()
	f.mu.Unlock()
	for _, c := range []struct {
		odds float64
		kind faultKind
	}{{f.odds.Slow, faultSlow}, {f.odds.Internal, faultInternal}, {f.odds.RateLimited, faultRateLimited}, {f.odds.Malformed, faultMalformed}} {
		if p < c.odds {
			return c.kind
		}
		p -= c.odds
	}
	return faultNone
}

// randomFault applies the next random draw to one create_project.
func (s *Sandbox) randomFault(ctx context.Context) fault {
	switch s.random.draw() {
	case faultSlow:
		t := time.NewTimer(s.opts.SlowDelay)
		defer t.Stop()
		select {
		case <-s.done:
			return fault{err: errUnavailable}
		case <-ctx.Done():
			return fault{gone: true}
		case <-t.C:
		}
	case faultInternal:
		return fault{err: errInternal}
	case faultRateLimited:
		return fault{
			err:    errorf(http.StatusTooManyRequests, "RateLimited", "Too many requests; retry after 1 second."),
			header: map[string]string{"Retry-After": "1"},
		}
	case faultMalformed:
		return fault{malformed: true}
	}
	return fault{}
}

// quotaOf is the team's project quota, or its override from
// Options.ProjectQuotas.
func (s *Sandbox) quotaOf(team Team) int {
	if q, ok := s.opts.ProjectQuotas[team.Slug]; ok {
		return q
	}
	return team.ProjectQuota
}

// authorizeFault is the failure mode of /api/dashboard/authorize and of
// the Management API's create_deploy_key.
func authorizeFault(team string) *apiError {
	if team == TeamAuthorizeFails {
		return errorf(http.StatusForbidden, "Forbidden", "This team does not allow deploy keys for the application.")
	}
	return nil
}

// truncatedCreateAnswer is the beginning of a create_project answer, cut
// before any secret, as a connection dropped mid-body would leave it.
func truncatedCreateAnswer(resp createProjectResponse) []byte {
	slug, _ := json.Marshal(resp.ProjectSlug)
	team, _ := json.Marshal(resp.TeamSlug)
	return fmt.Appendf(nil, `{"projectSlug":%s,"projectId":%d,"teamSlug":%s,"deploymentN`, slug, resp.ProjectID, team)
}

// truncatedPlatformCreateAnswer is the beginning of a Management API
// create_project answer, cut as a dropped connection would leave it.
func truncatedPlatformCreateAnswer(resp platformCreateResponse) []byte {
	slug, _ := json.Marshal(resp.Slug)
	return fmt.Appendf(nil, `{"id":%d,"projectId":%d,"slug":%s,"deploymentN`, resp.ID, resp.ProjectID, slug)
}
