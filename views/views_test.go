package views_test

import (
	"context"
	"strings"
	"testing"

	"github.com/a-h/templ"

	"chefdeploy/models"
	"chefdeploy/views"
)

func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var b strings.Builder
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestStatusFragmentPollsOnlyWhileConnecting(t *testing.T) {
	t.Parallel()
	for _, state := range []string{models.StateNone, models.StateConnecting, models.StateConnected, models.StateFailed} {
		html := render(t, views.StatusFragment(views.StatusView{AppID: "a1", State: state, Step: models.StepAuthorizing, Env: &views.EnvView{AppID: "a1"}}))
		root := html[:strings.Index(html, ">")]
		if !strings.Contains(root, `data-state="`+state+`"`) {
			t.Errorf("%s: root lacks data-state: %s", state, root)
		}
		polls := strings.Contains(root, `hx-trigger="every 1s"`) && strings.Contains(root, `hx-get="/apps/a1/status"`)
		if polls != (state == models.StateConnecting) {
			t.Errorf("%s: polling = %v", state, polls)
		}
	}
	html := render(t, views.StatusFragment(views.StatusView{AppID: "a1", State: models.StateConnecting, Step: models.StepAuthorizing}))
	if !strings.Contains(html, `data-status="done"`) || !strings.Contains(html, `data-status="active"`) || !strings.Contains(html, "Authorizing…") {
		t.Error("the steps do not show creating done and authorizing active")
	}
}

func TestUsageMeterBanners(t *testing.T) {
	t.Parallel()
	cases := []struct {
		view views.UsageView
		want string
	}{
		{views.UsageView{AppID: "a", Used: 500, Quota: 1000}, ""},
		{views.UsageView{AppID: "a", Used: 1000, Quota: 1000, Disabled: true, PaidPlan: true}, `data-plan="paid"`},
		{views.UsageView{AppID: "a", Used: 1000, Quota: 1000, Disabled: true}, `data-plan="free"`},
	}
	for _, tc := range cases {
		html := render(t, views.UsageMeter(tc.view))
		if tc.want == "" && strings.Contains(html, "usage-disabled") {
			t.Error("an enabled team shows a banner")
		}
		if tc.want != "" && !strings.Contains(html, tc.want) {
			t.Errorf("want %s in:\n%s", tc.want, html)
		}
		if !strings.Contains(html, `value="50"`) && !strings.Contains(html, `value="100"`) {
			t.Errorf("meter value missing:\n%s", html)
		}
	}
}

func TestEnvPanelMasksTheKeyUntilRevealed(t *testing.T) {
	t.Parallel()
	masked := render(t, views.EnvPanel(views.EnvView{AppID: "a", DeploymentName: "happy-otter-1", DeploymentURL: "https://happy-otter-1.convex.cloud"}))
	if !strings.Contains(masked, "CONVEX_DEPLOYMENT=dev:happy-otter-1") || !strings.Contains(masked, "VITE_CONVEX_URL=https://happy-otter-1.convex.cloud") ||
		!strings.Contains(masked, `data-testid="reveal-key"`) || strings.Contains(masked, "project:") {
		t.Fatalf("masked panel:\n%s", masked)
	}
	shown := render(t, views.EnvPanel(views.EnvView{AppID: "a", DeploymentName: "d", DeploymentURL: "u", DeployKey: "project:t:p|k"}))
	if !strings.Contains(shown, "CONVEX_DEPLOY_KEY=project:t:p|k") || strings.Contains(shown, `data-testid="reveal-key"`) {
		t.Fatalf("revealed panel:\n%s", shown)
	}
}

func TestTextIsEscaped(t *testing.T) {
	t.Parallel()
	html := render(t, views.Dashboard(views.DashboardView{
		User: views.User{Name: `<script>alert(1)</script>`, Email: "x@y"},
		Apps: []views.AppListItem{{ID: "1", Name: `"><img src=x onerror=alert(1)>`, State: models.StateNone}},
	}))
	if strings.Contains(html, "<script>alert") || strings.Contains(html, "<img src=x") {
		t.Fatalf("user text is not escaped:\n%s", html)
	}
}
