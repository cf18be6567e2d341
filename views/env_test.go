package views_test

import (
	"strings"
	"testing"

	"chefdeploy/views"
)

// Copy on a masked panel must go through the audited reveal call (app.js
// does it, guided by these attributes) and say that the key is included.
func TestEnvPanelCopyRevealsTheKeyFirst(t *testing.T) {
	t.Parallel()
	masked := render(t, views.EnvPanel(views.EnvView{AppID: "a1", DeploymentName: "d", DeploymentURL: "u"}))
	for _, want := range []string{
		`data-copy-reveal-url="/apps/a1/deploy-key"`,
		`data-copy-reveal-target="#env-a1"`,
		`data-copy-message="Copied, including your deploy key."`,
		`id="copy-status-a1"`,
		"Copy includes your deploy key",
	} {
		if !strings.Contains(masked, want) {
			t.Errorf("masked panel lacks %s:\n%s", want, masked)
		}
	}
	shown := render(t, views.EnvPanel(views.EnvView{AppID: "a1", DeploymentName: "d", DeploymentURL: "u", DeployKey: "project:t:p|k"}))
	if strings.Contains(shown, "data-copy-reveal-url") || !strings.Contains(shown, `data-copy-message="Copied, including your deploy key."`) {
		t.Errorf("revealed panel:\n%s", shown)
	}
}
