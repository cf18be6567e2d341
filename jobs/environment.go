package jobs

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"

	"chefdeploy/convex"
)

// The variables Convex Auth needs on a deployment.
const (
	envPrivateKey = "JWT_PRIVATE_KEY"
	envJWKS       = "JWKS"
	envSiteURL    = "SITE_URL"
)

// configureEnvironment sets up Convex Auth on the deployment: an RS256 key
// pair as JWT_PRIVATE_KEY and JWKS, and SITE_URL, each only where the
// deployment says it is unset, so a reused project keeps its keys.
func (p *workerDeps) configureEnvironment(ctx context.Context, deploymentURL, deployKey, siteURL string) error {
	// One read of all the variables, never one call per name.
	env, err := p.Backend.EnvironmentVariables(ctx, deploymentURL, deployKey)
	if err != nil {
		return err
	}
	names := []string{envPrivateKey, envJWKS, envSiteURL}
	values := make([]string, len(names))
	set := make([]bool, len(names))
	for i, name := range names {
		values[i], set[i] = env[name]
	}

	var changes []convex.EnvChange
	add := func(name, value string) { changes = append(changes, convex.EnvChange{Name: name, Value: &value}) }
	switch {
	case !set[0] && !set[1]:
		key, err := p.keys.get(ctx)
		if err != nil {
			return err
		}
		private, jwks, err := authKeys(key)
		if err != nil {
			return err
		}
		add(envPrivateKey, private)
		add(envJWKS, jwks)
	case set[0] && !set[1]:
		// The private key is there: publish its public half.
		key, err := parsePrivateKey(values[0])
		if err != nil {
			return err
		}
		_, jwks, err := authKeys(key)
		if err != nil {
			return err
		}
		add(envJWKS, jwks)
	}
	// JWKS without its private key is left alone: a new key would not match it.
	if !set[2] {
		add(envSiteURL, siteURL)
	}
	if len(changes) == 0 {
		return nil
	}
	return p.Backend.UpdateEnvironmentVariables(ctx, deploymentURL, deployKey, changes)
}

// authKeys renders a key as Convex Auth expects: the PKCS#8 PEM on one line
// (newlines become spaces) and a JWKS holding the public key for signatures.
func authKeys(key *rsa.PrivateKey) (private, jwks string, err error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	pemText := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	private = strings.ReplaceAll(pemText, "\n", " ")
	set := map[string]any{"keys": []map[string]string{{
		"use": "sig",
		"kty": "RSA",
		"alg": "RS256",
		"n":   base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}}
	raw, err := json.Marshal(set)
	return private, string(raw), err
}

// parsePrivateKey reads a JWT_PRIVATE_KEY back (spaces where newlines were).
func parsePrivateKey(value string) (*rsa.PrivateKey, error) {
	body := strings.TrimSpace(value)
	body = strings.TrimPrefix(body, "-----BEGIN PRIVATE KEY-----")
	body = strings.TrimSuffix(body, "-----END PRIVATE KEY-----")
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, errors.New("JWT_PRIVATE_KEY on the deployment is not a PEM key")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("JWT_PRIVATE_KEY on the deployment is not a PKCS#8 key")
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("JWT_PRIVATE_KEY on the deployment is not an RSA key")
	}
	return key, nil
}
