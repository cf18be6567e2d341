package jobs

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

// The keys are in Convex Auth's format, and a JWKS derived from a stored
// private key matches the one generated with it.
func TestAuthKeysRoundTrip(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	private, jwks, err := authKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(private, "-----BEGIN PRIVATE KEY----- ") || !strings.HasSuffix(private, " -----END PRIVATE KEY-----") || strings.Contains(private, "\n") {
		t.Fatalf("JWT_PRIVATE_KEY is not the one-line PKCS#8 PEM: %.60q…", private)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(jwks), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS = %s (%v)", jwks, err)
	}
	k := set.Keys[0]
	n, err := base64.RawURLEncoding.DecodeString(k["n"])
	if err != nil {
		t.Fatal(err)
	}
	if k["kty"] != "RSA" || k["use"] != "sig" || k["alg"] != "RS256" || new(big.Int).SetBytes(n).Cmp(key.N) != 0 || k["e"] != "AQAB" {
		t.Fatalf("JWKS key does not describe the private key: %v", k)
	}

	parsed, err := parsePrivateKey(private)
	if err != nil || !parsed.Equal(key) {
		t.Fatalf("parsePrivateKey = %v", err)
	}
	_, again, err := authKeys(parsed)
	if err != nil {
		t.Fatal(err)
	}
	if again != jwks {
		t.Fatal("a JWKS derived from the stored key differs from the original")
	}
	for _, bad := range []string{"", "not a key", "-----BEGIN PRIVATE KEY----- AAAA -----END PRIVATE KEY-----"} {
		if _, err := parsePrivateKey(bad); err == nil {
			t.Errorf("parsePrivateKey(%q) accepted garbage", bad)
		}
	}
}
