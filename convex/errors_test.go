package convex

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"unicode/utf8"
)

// ops calls each operation with test secrets; deploymentURL is the test server.
var ops = map[string]func(ctx context.Context, c *Client, deploymentURL string) error{
	"profile": func(ctx context.Context, c *Client, _ string) error { _, err := c.Profile(ctx, userToken); return err },
	"teams":   func(ctx context.Context, c *Client, _ string) error { _, err := c.Teams(ctx, userToken); return err },
	"create_project": func(ctx context.Context, c *Client, _ string) error {
		_, err := c.CreateProject(ctx, userToken, "acme", "Tic Tac Toe")
		return err
	},
	"authorize": func(ctx context.Context, c *Client, _ string) error {
		_, err := c.Authorize(ctx, userToken, 7, OAuthApp{ClientID: "cid", ClientSecret: clientSecret})
		return err
	},
	"list_projects": func(ctx context.Context, c *Client, _ string) error {
		_, err := c.ListProjects(ctx, userToken, "acme")
		return err
	},
	"delete_project": func(ctx context.Context, c *Client, _ string) error { return c.DeleteProject(ctx, userToken, 7) },
	"get_token_info": func(ctx context.Context, c *Client, _ string) error {
		_, err := c.TokenInfo(ctx, userToken, "acme")
		return err
	},
	"record_tokens": func(ctx context.Context, c *Client, _ string) error {
		_, err := c.RecordTokens(ctx, userToken, "acme", 5)
		return err
	},
	"hosting_deploy": func(ctx context.Context, c *Client, _ string) error {
		_, err := c.HostingDeploy(ctx, deployKey, "happy-otter-123", 3, zipBody([]byte("zip")))
		return err
	},
	"update_environment_variables": func(ctx context.Context, c *Client, d string) error {
		return c.UpdateEnvironmentVariables(ctx, d, deployKey, []EnvChange{{Name: "A", Value: strPtr("v")}})
	},
	"list_environment_variables": func(ctx context.Context, c *Client, d string) error {
		_, err := c.EnvironmentVariables(ctx, d, deployKey)
		return err
	},
}

func TestUserMessages(t *testing.T) {
	t.Parallel()
	const (
		sso     = "You must log in with Single Sign-on to access this team."
		expired = "Your sign-in has expired. Sign in again."
	)
	tests := []struct {
		name, op   string
		reply      reply
		want       string
		wantStatus int
		retryable  bool
	}{
		{"sso on teams", "teams", reply{status: 403, body: `{"code":"SSORequired","message":"SSO required"}`}, sso, 403, false},
		{"sso on create_project", "create_project", reply{status: 400, body: `{"code":"SSORequired"}`}, sso, 400, false},
		{"sso in a non-JSON body", "authorize", reply{status: 403, body: `<html>SSORequired</html>`}, sso, 403, false},
		{"sso on a 500 is final", "list_projects", reply{status: 500, body: `{"code":"SSORequired"}`}, sso, 500, false},
		{"401 profile", "profile", reply{status: 401, body: `{"code":"Unauthenticated"}`}, expired, 401, false},
		{"401 create_project", "create_project", reply{status: 401}, expired, 401, false},
		{"401 authorize", "authorize", reply{status: 401}, expired, 401, false},
		{"401 hosting_deploy", "hosting_deploy", reply{status: 401}, expired, 401, false},
		{"quota", "create_project", reply{status: 400, body: `{"code":"ProjectQuotaReached","message":"Team has reached its project limit (40)."}`},
			"Failed to create project: ProjectQuotaReached: Team has reached its project limit (40).", 400, false},
		{"create_project other 400", "create_project", reply{status: 400, body: `{"code":"BadName","message":"nope"}`}, "Failed to create project: 400", 400, false},
		{"create_project 403", "create_project", reply{status: 403, body: `forbidden`}, "Failed to create project: 403", 403, false},
		{"create_project 404", "create_project", reply{status: 404}, "Failed to create project: 404", 404, false},
		{"create_project 500 until attempts run out", "create_project", reply{status: 500}, "Failed to create project: 500", 500, true},
		{"create_project malformed 200", "create_project", ok(`{"projectSlug":`), "Failed to create project: the Convex API returned an invalid response", 200, false},
		{"create_project 200 missing fields", "create_project", ok(`{"projectSlug":"x"}`), "Failed to create project: the Convex API returned an invalid response", 200, false},
		{"authorize 400", "authorize", reply{status: 400, body: `{"code":"InvalidProject"}`}, "Failed to create project deploy key: 400", 400, false},
		{"authorize 502", "authorize", reply{status: 502}, "Failed to create project deploy key: 502", 502, true},
		{"authorize malformed 200", "authorize", ok(`not json`), "Failed to create project deploy key: the Convex API returned an invalid response", 200, false},
		{"list_projects 403", "list_projects", reply{status: 403}, "Convex list_projects failed: 403", 403, false},
		{"hosting_deploy 413", "hosting_deploy", reply{status: 413}, "Convex hosting_deploy failed: 413", 413, false},
		{"update env 400", "update_environment_variables", reply{status: 400, body: `{"code":"InvalidName"}`}, "Convex update_environment_variables failed: 400", 400, false},
		{"update env name refused", "update_environment_variables", reply{status: 400, body: `{"code":"EnvironmentVariableNameInvalid","message":"Names start with a letter."}`}, "The deployment refused the variable: Names start with a letter.", 400, false},
		{"list env 401", "list_environment_variables", reply{status: 401}, expired, 401, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, script(tt.reply), func(o *Options) { o.MaxAttempts = 2 })
			err := ops[tt.op](context.Background(), b.client, b.srv.URL)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %#v, want *Error", err)
			}
			if e.Op != tt.op || e.Status != tt.wantStatus {
				t.Errorf("Op, Status = %q, %d; want %q, %d", e.Op, e.Status, tt.op, tt.wantStatus)
			}
			if got := UserMessage(err); got != tt.want {
				t.Errorf("UserMessage = %q, want %q", got, tt.want)
			}
			if e.Retryable() != tt.retryable {
				t.Errorf("Retryable = %v, want %v", e.Retryable(), tt.retryable)
			}
			wantReqs := 1
			if tt.retryable {
				wantReqs = 2 // MaxAttempts
			}
			if n := len(b.srv.requests()); n != wantReqs {
				t.Errorf("server saw %d requests, want %d", n, wantReqs)
			}
			assertNoSecrets(t, err)
		})
	}
}

// TestMalformedAnswers feeds every call bodies it cannot use: each must fail
// with ErrInvalidResponse, without panicking and without a retry.
func TestMalformedAnswers(t *testing.T) {
	t.Parallel()
	bodies := []string{``, `null`, `{`, `[1,2`, `"str"`, `<html>oops</html>`, `{} trailing`}
	for op, call := range ops {
		if op == "delete_project" || op == "update_environment_variables" {
			continue // their answer is only "{}": the status is what counts
		}
		for _, body := range bodies {
			if op == "hosting_deploy" && body == "" {
				continue // an upload accepted with nothing to say is fine
			}
			t.Run(op+"/"+body, func(t *testing.T) {
				t.Parallel()
				b := setup(t, script(ok(body)))
				err := call(context.Background(), b.client, b.srv.URL)
				if !errors.Is(err, ErrInvalidResponse) {
					t.Fatalf("err = %v, want ErrInvalidResponse", err)
				}
				if n := len(b.srv.requests()); n != 1 {
					t.Errorf("server saw %d requests, want 1", n)
				}
				assertNoSecrets(t, err)
			})
		}
	}
}

func TestOversizedBody(t *testing.T) {
	t.Parallel()
	big := `{"id":"u1","name":"` + strings.Repeat("a", 2000) + `"}`
	b := setup(t, script(ok(big)), func(o *Options) { o.MaxBodyBytes = 1000 })
	_, err := b.client.Profile(context.Background(), userToken)
	if !errors.Is(err, ErrInvalidResponse) || !strings.Contains(err.Error(), "exceeds 1000 bytes") {
		t.Fatalf("err = %v, want an oversized-body error", err)
	}
	if n := len(b.srv.requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}

	// The default bound is 1 MiB.
	huge := `["` + strings.Repeat("a", 1<<20) + `"]`
	b = setup(t, script(ok(huge)))
	if _, err := b.client.Teams(context.Background(), userToken); !errors.Is(err, ErrInvalidResponse) {
		t.Fatalf("err = %v, want an oversized-body error", err)
	}
}

// TestEchoedSecretsRedacted: a server that echoes credentials back must not
// get them into an error string or a user message.
func TestEchoedSecretsRedacted(t *testing.T) {
	t.Parallel()
	echoes := map[string]string{
		"create_project": fmt.Sprintf(`{"code":"ProjectQuotaReached","message":"bad token %s"}`, userToken),
		"authorize":      fmt.Sprintf(`{"code":"Bad","message":"bad token %s and secret %s"}`, userToken, clientSecret),
	}
	for op, echo := range echoes {
		b := setup(t, script(reply{status: 400, body: echo}))
		err := ops[op](context.Background(), b.client, b.srv.URL)
		assertNoSecrets(t, err)
		var e *Error
		if !errors.As(err, &e) || strings.Contains(e.Message, "secret-") {
			t.Errorf("%s: message %q not redacted", op, e.Message)
		}
	}
	b := setup(t, script(reply{status: 400, body: `{"code":"BadKey","message":"key deploy-secret-77c2e0 rejected"}`}))
	err := ops["hosting_deploy"](context.Background(), b.client, b.srv.URL)
	assertNoSecrets(t, err)
	if e, _ := err.(*Error); e == nil || e.Message != "key [redacted] rejected" {
		t.Errorf("err = %#v", err)
	}
}

func TestMessageCleaned(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 400)
	b := setup(t, script(reply{status: 400, body: `{"code":"ProjectQuotaReached","message":"line1\nline2 ` + long + `"}`}))
	err := ops["create_project"](context.Background(), b.client, b.srv.URL)
	e, _ := err.(*Error)
	if e == nil {
		t.Fatalf("err = %v", err)
	}
	if n := utf8.RuneCountInString(e.Message); n > 301 || strings.ContainsAny(e.Message, "\n\r") {
		t.Errorf("message not cleaned: %d runes, %q", n, e.Message[:40])
	}
	if !strings.HasPrefix(e.UserMessage(), "Failed to create project: ProjectQuotaReached: line1 line2 é") {
		t.Errorf("UserMessage = %q", e.UserMessage()[:80])
	}
}

func TestHostileCodeLeftOut(t *testing.T) {
	t.Parallel()
	b := setup(t, script(reply{status: 400, body: `{"code":"evil\nlog line","message":"m"}`}))
	err := ops["teams"](context.Background(), b.client, b.srv.URL)
	if e, _ := err.(*Error); e == nil || e.Code != "" || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %q", err)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestUserMessageOfAnyError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"deadline", context.DeadlineExceeded, "Failed to connect to project"},
		{"wrapped deadline", fmt.Errorf("provision: %w", context.DeadlineExceeded), "Failed to connect to project"},
		{"net timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, "Failed to connect to project"},
		{"wrapped *Error", fmt.Errorf("job: %w", &Error{Op: "create_project", Status: 503}), "Failed to create project: 503"},
		{"*Error timeout", &Error{Op: "teams", Err: timeoutErr{}}, "Failed to connect to project"},
		{"*Error deadline with a status", &Error{Op: "create_project", Status: 500, Err: errNoFinalAnswer}, "Failed to connect to project"},
		{"*Error code SSORequired", &Error{Op: "teams", Status: 403, Code: "SSORequired"}, "You must log in with Single Sign-on to access this team."},
		{"*Error bad argument", &Error{Op: "create_project", Err: errInvalidRequest}, "Failed to create project: invalid request"},
		{"other", errors.New("database is on fire: password=hunter2"), "Something went wrong while talking to Convex. Try again."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := UserMessage(tt.err); got != tt.want {
				t.Errorf("UserMessage = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "create_project", Status: 500}, "convex create_project: 500"},
		{&Error{Op: "create_project", Status: 400, Code: "ProjectQuotaReached", Message: "M"}, "convex create_project: 400 ProjectQuotaReached"},
		{&Error{Op: "teams", Err: context.DeadlineExceeded}, "convex teams: context deadline exceeded"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	cause := errors.New("cause")
	if e := (&Error{Op: "teams", Err: cause}); !errors.Is(e, cause) {
		t.Error("Unwrap does not reach the cause")
	}
}

func TestProfileWithoutUsableID(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"name":"no id"}`, `{"id":null}`, `{"id":""}`, `{"id":{"x":1}}`, `{"id":true}`} {
		b := setup(t, script(ok(body)))
		if _, err := b.client.Profile(context.Background(), userToken); !errors.Is(err, ErrInvalidResponse) {
			t.Errorf("%s: err = %v, want ErrInvalidResponse", body, err)
		}
	}
}
