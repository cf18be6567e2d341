package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
	"chefdeploy/jobs"
)

// An app cannot be deleted while it is connecting: the project the attempt is
// creating would lose its app, and with it the reconcile that deletes it.
// Once the attempt ends, the delete goes through and, when asked, takes the
// project with it.
func TestDeleteRefusedWhileConnecting(t *testing.T) {
	t.Parallel()
	h := newHold()
	b, c := signedIn(t, "ada", func(o *setupOptions) { o.hooks = &jobs.Hooks{AfterCreateProject: h.hook} })
	id := b.createApp(t, c, "Busy")
	b.connect(t, c, id, "acme")
	<-h.reached // the project exists on the team; its answer is not recorded yet

	res := webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/delete", url.Values{"delete_project": {"1"}}, "HX-Request", "true")
	if res.Status != http.StatusConflict || !strings.Contains(res.Body, "connecting") {
		t.Errorf("delete while connecting = %d, want 409 saying it is connecting:\n%s", res.Status, res.Body)
	}
	close(h.release)
	if n := b.count(t, `SELECT count(*) FROM apps WHERE id = $1`, id); n != 1 {
		t.Fatal("the app was deleted while connecting")
	}

	if st := stateOf(t, b.waitFinal(t, c, id, 15*time.Second).Body); st != "connected" {
		t.Fatalf("after the refused delete the attempt ended %s", st)
	}
	res = webtest.Do(t, c, "POST", b.app.URL+"/apps/"+id+"/delete", url.Values{"delete_project": {"1"}}, "HX-Request", "true")
	if res.Status != http.StatusOK {
		t.Fatalf("delete once connected = %d:\n%s", res.Status, res.Body)
	}
	if projects := b.sandbox.Projects("acme"); len(projects) != 0 {
		t.Errorf("%d projects left on the team: %+v", len(projects), projects)
	}
}
