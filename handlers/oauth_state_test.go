package handlers

import (
	"testing"
	"time"

	"chefdeploy/config"
	"chefdeploy/models"
)

// The callback tests drive missing, wrong, foreign and replayed states over
// HTTP; an expired one would take LoginAttemptLifetime, so it is tested here.
func TestAuthStateExpiresAndBelongsToItsFlow(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: &config.Config{SessionSecret: []byte("test-session-secret")}}
	now := time.Now()
	fresh := s.newAuthState(teamGrantFlow, now)
	if !s.genuineAuthState(teamGrantFlow, fresh) {
		t.Fatal("a fresh state is refused")
	}
	if s.genuineAuthState(teamGrantFlow, s.newAuthState(teamGrantFlow, now.Add(-models.LoginAttemptLifetime-time.Second))) {
		t.Error("an expired state is accepted")
	}
	other := oauthFlow{cookie: "other", macLabel: "other-state"}
	if s.genuineAuthState(other, fresh) || s.genuineAuthState(teamGrantFlow, s.newAuthState(other, now)) {
		t.Error("a state of one flow is accepted by another")
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"/settings":             "/settings",
		"/apps/1?x=y#z":         "/apps/1?x=y#z",
		"":                      "",
		"settings":              "",
		"//evil.example":        "",
		`/\evil.example`:        "",
		"https://evil.example/": "",
		"javascript:alert(1)":   "",
		"/a\r\nSet-Cookie: x=y": "",
		"/" + string(make([]byte, maxReturnPath)): "",
	} {
		if got := localPath(raw); got != want {
			t.Errorf("localPath(%q) = %q, want %q", raw, got, want)
		}
	}
}
