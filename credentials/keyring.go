// Package credentials seals the secrets chefdeploy keeps at rest (OAuth tokens,
// deploy keys, admin keys) with AES-256-GCM under CREDENTIALS_KEY.
//
// A key ring holds one active key, which seals, and any number of older keys,
// which still open what they sealed: rotating a key means putting the new one
// first and keeping the old one until everything is resealed.
package credentials

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

// sealedPrefix starts every sealed value, so a plaintext stored by mistake is
// recognisable and a future format can be told apart.
const sealedPrefix = "v1."

// ErrCannotOpen says a sealed value is malformed, was sealed under a key that is
// not in the ring, or was tampered with. It never carries the value itself.
var ErrCannotOpen = errors.New("credentials: cannot open sealed value")

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Keyring seals with its active key and opens with any of its keys.
type Keyring struct {
	active string
	aeads  map[string]cipher.AEAD
}

// ParseKeyring reads CREDENTIALS_KEY: a comma-separated list of `id:key`
// entries, each key 32 bytes in standard or URL-safe base64; the first entry is
// the active key. A single bare key is accepted and gets the id "k0".
func ParseKeyring(spec string) (*Keyring, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("credentials key is empty")
	}
	ring := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		id, encoded, found := strings.Cut(entry, ":")
		if !found {
			if i > 0 || strings.Contains(spec, ",") {
				return nil, fmt.Errorf("credentials key entry %d is not of the form id:base64key", i+1)
			}
			id, encoded = "k0", entry
		}
		if !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("credentials key entry %d: id must be 1-32 letters, digits, _ or -", i+1)
		}
		if _, dup := ring.aeads[id]; dup {
			return nil, fmt.Errorf("credentials key id %q appears twice", id)
		}
		key, err := decodeKey(encoded)
		if err != nil {
			return nil, fmt.Errorf("credentials key %q: %w", id, err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("credentials key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("credentials key %q: %w", id, err)
		}
		ring.aeads[id] = aead
		if i == 0 {
			ring.active = id
		}
	}
	return ring, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != KeySize {
				return nil, fmt.Errorf("must decode to %d bytes, got %d", KeySize, len(key))
			}
			return key, nil
		}
	}
	return nil, errors.New("is not base64")
}

// GenerateSpec returns a fresh CREDENTIALS_KEY value with one key named id.
func GenerateSpec(id string) string {
	key := make([]byte, KeySize)
	rand.Read(key)
	return id + ":" + base64.StdEncoding.EncodeToString(key)
}

// ActiveKeyID names the key that seals.
func (k *Keyring) ActiveKeyID() string { return k.active }

// Seal encrypts plaintext under the active key. purpose is authenticated but not
// stored: a value sealed for one purpose (say, one app's deploy key) will not open
// for another, so ciphertexts cannot be swapped between rows.
func (k *Keyring) Seal(plaintext []byte, purpose string) (string, error) {
	aead := k.aeads[k.active]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := aead.Seal(nonce, nonce, plaintext, []byte(purpose))
	return sealedPrefix + k.active + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// SealString is Seal for text.
func (k *Keyring) SealString(plaintext, purpose string) (string, error) {
	return k.Seal([]byte(plaintext), purpose)
}

// Open decrypts a value sealed by any key of the ring for the same purpose.
func (k *Keyring) Open(sealed, purpose string) ([]byte, error) {
	id, body, ok := splitSealed(sealed)
	if !ok {
		return nil, ErrCannotOpen
	}
	aead, known := k.aeads[id]
	if !known {
		return nil, ErrCannotOpen
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrCannotOpen
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(purpose))
	if err != nil {
		return nil, ErrCannotOpen
	}
	return plain, nil
}

// OpenString is Open for text.
func (k *Keyring) OpenString(sealed, purpose string) (string, error) {
	plain, err := k.Open(sealed, purpose)
	return string(plain), err
}

// NeedsReseal reports whether sealed was made with a key other than the active one.
func (k *Keyring) NeedsReseal(sealed string) bool {
	id, _, ok := splitSealed(sealed)
	return !ok || id != k.active
}

func splitSealed(sealed string) (id, body string, ok bool) {
	rest, found := strings.CutPrefix(sealed, sealedPrefix)
	if !found {
		return "", "", false
	}
	return strings.Cut(rest, ".")
}
