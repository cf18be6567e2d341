package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	mathrand "math/rand/v2"
	"strings"
)

// maxSlugLength keeps project slugs readable and inside a deploy key.
const maxSlugLength = 40

// slugify turns a project name into the lower-case, dash-separated slug the
// real service derives from it.
func slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	slug := strings.TrimRight(b.String(), "-")
	if len(slug) > maxSlugLength {
		slug = strings.TrimRight(slug[:maxSlugLength], "-")
	}
	if slug == "" {
		slug = "project"
	}
	return slug
}

var (
	deploymentAdjectives = []string{
		"happy", "brave", "calm", "clever", "eager", "fancy", "gentle", "jolly", "kind", "lively",
		"merry", "nimble", "polite", "proud", "quick", "quiet", "shiny", "silly", "sunny", "witty",
	}
	deploymentAnimals = []string{
		"otter", "badger", "beaver", "falcon", "ferret", "gecko", "heron", "koala", "lemur", "lynx",
		"marmot", "moose", "newt", "panda", "puffin", "quail", "raven", "salmon", "tapir", "walrus",
	}
)

// deploymentName makes a name like "happy-otter-123", the shape of real
// Convex deployment names. Uniqueness is the caller's job.
func deploymentName() string {
	return fmt.Sprintf("%s-%s-%03d",
		deploymentAdjectives[mathrand.IntN(len(deploymentAdjectives))],
		deploymentAnimals[mathrand.IntN(len(deploymentAnimals))],
		mathrand.IntN(1000))
}

// newSecret returns prefix followed by 256 random bits, URL-safe and free of
// '|' and ':' so it can sit at the end of a deploy key.
func newSecret(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails since Go 1.24
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// hashSecret is what the state keeps instead of a token, so a leaked
// state.json gives no access.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// secretEqual compares secrets in constant time.
func secretEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func referralCode(slug string, id int64) string {
	return strings.ToUpper(strings.ReplaceAll(slug, "-", "")) + fmt.Sprint(100+id)
}
