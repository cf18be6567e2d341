package handlers_test

import (
	"os/exec"
	"strings"
	"testing"
)

// assertNoSecrets checks that neither the deploy key nor any Convex token is
// in the database dump, the logs or the given pages.
func (b *bundle) assertNoSecrets(t *testing.T, deployKey string, pages ...string) {
	t.Helper()
	_, accessToken, _ := strings.Cut(deployKey, "|")
	secrets := []string{deployKey, accessToken, "sbx_", "sbxd_", "sbxa_", "team:acme|", "team:hopper-labs|"}

	dump, err := exec.Command("pg_dump", "--data-only", b.dbURL).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, dump)
	}
	if !strings.Contains(string(dump), "COPY public.connections") {
		t.Fatal("the dump does not look like a dump of our database")
	}
	places := map[string]string{"database dump": string(dump), "logs": b.logs.String()}
	for i, p := range pages {
		places["page "+string(rune('1'+i))] = p
	}
	for where, text := range places {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s contains the secret %.12q…", where, s)
			}
		}
	}
}
