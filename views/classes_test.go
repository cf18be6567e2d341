package views

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"chefdeploy/models"
)

// TestClassesChosenInGoAreBuilt checks that every class the Go view models
// can return is in the built CSS: Tailwind only builds the classes it finds in
// the files tailwind.config.js lists.
func TestClassesChosenInGoAreBuilt(t *testing.T) {
	t.Parallel()
	css, err := os.ReadFile("../static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	states := []string{models.StateNone, models.StateConnecting, models.StateConnected, models.StateFailed, "unknown"}
	steps := []string{"", models.StepQueued, models.StepCreating, models.StepAuthorizing, models.StepEnvironment, "unknown"}
	deployStatuses := []string{models.DeployUploading, models.DeployLive, models.DeployFailed, models.DeploySuperseded, "unknown"}

	classes := map[string]string{} // class → where it comes from
	add := func(from, list string) {
		for _, c := range strings.Fields(list) {
			classes[c] = from
		}
	}
	for _, s := range states {
		add("AppListItem.StateClasses("+s+")", AppListItem{State: s}.StateClasses())
		add("StatusView.StateClasses("+s+")", StatusView{State: s}.StateClasses())
		add("SupportRow.StateClasses("+s+")", SupportRow{State: s}.StateClasses())
	}
	for _, s := range steps {
		add("StatusView.ProgressClass("+s+")", StatusView{State: models.StateConnecting, Step: s}.ProgressClass())
	}
	for _, s := range deployStatuses {
		add("DeployItem.StatusClasses("+s+")", DeployItem{Status: s}.StatusClasses())
		add("DeployItem.NoteClasses("+s+")", DeployItem{Status: s}.NoteClasses())
	}
	if len(classes) == 0 {
		t.Fatal("no classes enumerated")
	}
	for c, from := range classes {
		selector := regexp.MustCompile(`\.` + regexp.QuoteMeta(cssEscape(c)) + `[^A-Za-z0-9_\\-]`)
		if !selector.Match(css) {
			t.Errorf("class %q (from %s) is not in static/app.css", c, from)
		}
	}
}

// cssEscape writes a class name the way it appears in a CSS selector:
// ring-red-600/20 is .ring-red-600\/20, w-[8%] is .w-\[8\%\].
func cssEscape(class string) string {
	var b strings.Builder
	for _, r := range class {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 0x7f) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
