package jobs

import (
	"slices"
	"testing"
)

func TestFailureReasonsFollowTheContractMessages(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ outcome, message, want string }{
		{"deadline", "Failed to connect to project", "deadline"},
		{"failed", "Failed to connect to project", "deadline"},
		{"failed", "Failed to create project: ProjectQuotaReached: Team has reached the maximum number of projects.", "quota"},
		{"failed", "You must log in with Single Sign-on to access this team.", "sso"},
		{"failed", "Your sign-in has expired. Sign in again.", "unauthorized"},
		{"failed", "Convex no longer accepts your authorization for team acme. Authorize the team again.", "unauthorized"},
		{"failed", "Your Convex role on team acme does not allow this.", "forbidden"},
		{"failed", "Failed to create project deploy key: 403", "deploy_key"},
		{"failed", "Failed to create project: 429", "rate_limited"},
		{"failed", "Failed to create project: 500", "convex_5xx"},
		{"failed", "Failed to create project: 503", "convex_5xx"},
		{"failed", "Failed to create project: the Convex API returned an invalid response", "invalid_response"},
		{"failed", "Failed to create project: 400", "other"},
	} {
		if got := failureReason(tt.outcome, tt.message); got != tt.want {
			t.Errorf("failureReason(%q, %q) = %q, want %q", tt.outcome, tt.message, got, tt.want)
		}
		// The series exported at 0 from the start are the reasons given.
		if !slices.Contains(failureReasons, tt.want) {
			t.Errorf("failureReasons lacks %q", tt.want)
		}
	}
}
