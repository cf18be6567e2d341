package views_test

import (
	"strings"
	"testing"
	"time"

	"chefdeploy/models"
	"chefdeploy/views"
)

func TestDeployHistoryMarksTheLiveDeploy(t *testing.T) {
	t.Parallel()
	v := views.DeploysView{AppID: "a1", SiteURL: "http://127.0.0.1:8081/happy-otter-123/", Deploys: []views.DeployItem{
		{ID: "d3", AppID: "a1", Status: models.DeployFailed, At: time.Now()},
		{ID: "d2", AppID: "a1", Status: models.DeployLive, At: time.Now(), Live: true},
		{ID: "d1", AppID: "a1", Status: models.DeployLive, At: time.Now(), CanRollBack: true},
	}}
	html := render(t, views.DeploysPanel(v))
	if n := strings.Count(html, `data-testid="deploy-live"`); n != 1 {
		t.Fatalf("%d Live badges, want 1", n)
	}
	for id, live := range map[string]string{"d1": "false", "d2": "true", "d3": "false"} {
		if !strings.Contains(html, `data-deploy-id="`+id+`" data-status=`) || !strings.Contains(html, `data-live="`+live+`"`) {
			t.Errorf("row %s does not carry data-live=%q", id, live)
		}
	}
	row := html[strings.Index(html, `data-deploy-id="d2"`):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, `data-testid="deploy-live"`) {
		t.Errorf("the Live badge is not on the live deploy's row")
	}
}
