package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// oidcKeyBits is the size of the ID-token signing key.
const oidcKeyBits = 2048

// signingKey signs ID tokens (RS256) and is published in the JWKS.
type signingKey struct {
	kid    string
	public jose.JSONWebKey
	signer jose.Signer
}

func newSigningKey(priv *rsa.PrivateKey) (*signingKey, error) {
	pub := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sandbox: key thumbprint: %w", err)
	}
	// The RFC 7638 thumbprint is a stable kid: the same key always has it.
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: pub.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("sandbox: signer: %w", err)
	}
	return &signingKey{kid: pub.KeyID, public: pub, signer: signer}, nil
}

// sign returns the compact JWS of claims.
func (k *signingKey) sign(claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// oidcSigningKey returns the signing key: the one kept in the state (read
// by New), or a new one, made on first use so that sandboxes that never
// sign anything (most tests) do not pay for RSA key generation. With a
// StateDir the new key is saved, so ID tokens stay verifiable across
// restarts.
func (s *Sandbox) oidcSigningKey() (*signingKey, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	priv, err := rsa.GenerateKey(rand.Reader, oidcKeyBits)
	if err != nil {
		return nil, fmt.Errorf("sandbox: generate signing key: %w", err)
	}
	k, err := newSigningKey(priv)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("sandbox: encode signing key: %w", err)
	}
	s.mu.Lock()
	s.st.OIDCKey = base64.StdEncoding.EncodeToString(der)
	err = s.saveLocked()
	if err != nil {
		s.st.OIDCKey = ""
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.key = k
	return k, nil
}

// parseStoredKey reads the state's key: base64 of PKCS#8 DER.
func parseStoredKey(stored string) (*signingKey, error) {
	der, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return nil, fmt.Errorf("sandbox: the saved OIDC signing key is damaged (%v); delete oidcKey from %s to make a new one", err, stateFile)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("sandbox: the saved OIDC signing key is damaged (%v); delete oidcKey from %s to make a new one", err, stateFile)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("sandbox: the saved OIDC signing key is not an RSA key; delete oidcKey from %s to make a new one", stateFile)
	}
	return newSigningKey(priv)
}

// accessTokenHash is the at_hash claim (OIDC Core §3.1.3.6): the left half
// of the SHA-256 of the access token, for RS256.
func accessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
