package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	return fault{}
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
