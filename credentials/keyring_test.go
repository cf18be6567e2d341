package credentials_test

import (
	"strings"
	"testing"

	"chefdeploy/credentials"
)

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	ring, err := credentials.ParseKeyring(credentials.GenerateSpec("k1"))
	if err != nil {
		t.Fatal(err)
	}
	secret := "project:acme:tic-tac-toe|sbx_abcdef"
	sealed, err := ring.SealString(secret, "deploy-key:app-1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "tic-tac-toe") || strings.Contains(sealed, "sbx_abcdef") {
		t.Fatalf("sealed value shows the plaintext: %s", sealed)
	}
	if !strings.HasPrefix(sealed, "v1.k1.") {
		t.Fatalf("sealed value %q does not name its key", sealed)
	}
	got, err := ring.OpenString(sealed, "deploy-key:app-1")
	if err != nil || got != secret {
		t.Fatalf("Open = %q, %v; want the secret back", got, err)
	}
	again, err := ring.SealString(secret, "deploy-key:app-1")
	if err != nil {
		t.Fatal(err)
	}
	if again == sealed {
		t.Fatal("two seals of the same value are identical: the nonce is not random")
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	ring, err := credentials.ParseKeyring(credentials.GenerateSpec("k1"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := credentials.ParseKeyring(credentials.GenerateSpec("k1"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := ring.SealString("token", "session:a")
	if err != nil {
		t.Fatal(err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if tampered == sealed {
		tampered = sealed[:len(sealed)-2] + "BB"
	}
	cases := map[string]struct {
		ring    *credentials.Keyring
		sealed  string
		purpose string
	}{
		"other purpose":  {ring, sealed, "session:b"},
		"other key":      {other, sealed, "session:a"},
		"tampered":       {ring, tampered, "session:a"},
		"plaintext":      {ring, "token", "session:a"},
		"unknown key id": {ring, strings.Replace(sealed, "v1.k1.", "v1.k9.", 1), "session:a"},
		"empty":          {ring, "", "session:a"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := tc.ring.Open(tc.sealed, tc.purpose); err != credentials.ErrCannotOpen {
				t.Fatalf("Open = %v, want ErrCannotOpen", err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldSpec := credentials.GenerateSpec("2025")
	oldRing, err := credentials.ParseKeyring(oldSpec)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := oldRing.SealString("token", "p")
	if err != nil {
		t.Fatal(err)
	}

	rotated, err := credentials.ParseKeyring(credentials.GenerateSpec("2026") + "," + oldSpec)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.OpenString(sealed, "p"); err != nil || got != "token" {
		t.Fatalf("rotated ring cannot open an old value: %q %v", got, err)
	}
	if !rotated.NeedsReseal(sealed) {
		t.Fatal("an old value should need resealing")
	}
	fresh, err := rotated.SealString("token", "p")
	if err != nil {
		t.Fatal(err)
	}
	if rotated.NeedsReseal(fresh) || !strings.HasPrefix(fresh, "v1.2026.") {
		t.Fatalf("new values must be sealed with the first key, got %q", fresh)
	}
}

func TestParseKeyringErrors(t *testing.T) {
	t.Parallel()
	good := credentials.GenerateSpec("a")
	cases := map[string]string{
		"empty":        "",
		"not base64":   "k1:not base64!!",
		"short key":    "k1:c2hvcnQ=",
		"bad id":       "bad id:" + strings.SplitN(good, ":", 2)[1],
		"duplicate id": good + "," + good,
		"bare in list": strings.SplitN(good, ":", 2)[1] + "," + good,
	}
	for name, spec := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := credentials.ParseKeyring(spec); err == nil {
				t.Fatalf("ParseKeyring(%q) accepted a bad key", spec)
			}
		})
	}
	bare := strings.SplitN(good, ":", 2)[1]
	ring, err := credentials.ParseKeyring(bare)
	if err != nil || ring.ActiveKeyID() != "k0" {
		t.Fatalf("a bare key should parse as k0: %v", err)
	}
}
