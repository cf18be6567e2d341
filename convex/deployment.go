package convex

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// EnvChange sets (Value non-nil) or deletes (Value nil) one environment
// variable of a deployment.
type EnvChange struct {
	Name  string
	Value *string
}

// The deployment's rules for environment variables (CONTRACT §2.3), and the
// limits it has on all of a deployment's variables together.
const (
	MaxEnvNameBytes  = 256
	MaxEnvValueBytes = 8 << 10
	MaxEnvVars       = 512
	MaxEnvTotalBytes = 512 << 10
)

var envNamePattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// EnvNameProblem says what is wrong with a variable name, stating the rule;
// "" when the deployment would accept it.
func EnvNameProblem(name string) string {
	switch {
	case len(name) > MaxEnvNameBytes:
		return fmt.Sprintf("A variable name is at most %d bytes.", MaxEnvNameBytes)
	case !envNamePattern.MatchString(name):
		return "A variable name starts with a letter or underscore and has only letters, digits and underscores."
	}
	return ""
}

// EnvValueProblem says what is wrong with a variable value; "" when the
// deployment would accept it.
func EnvValueProblem(value string) string {
	if len(value) > MaxEnvValueBytes {
		return fmt.Sprintf("A variable value is at most %d bytes (8 KiB).", MaxEnvValueBytes)
	}
	return ""
}

// EnvSize is what a deployment's variables count against MaxEnvTotalBytes:
// their names and values.
func EnvSize(env map[string]string) int {
	n := 0
	for k, v := range env {
		n += len(k) + len(v)
	}
	return n
}

// maxEnvListBody bounds list_environment_variables' answer: the deployment
// holds at most MaxEnvTotalBytes, which JSON escaping may grow.
const maxEnvListBody = 8 * MaxEnvTotalBytes

// UpdateEnvironmentVariables applies changes to the deployment at
// deploymentURL in one call. Bad names and values are refused before calling.
func (c *Client) UpdateEnvironmentVariables(ctx context.Context, deploymentURL, deployKey string, changes []EnvChange) error {
	const op = "update_environment_variables"
	u, err := deploymentEndpoint(op, deploymentURL, "/api/v1/update_environment_variables")
	if err != nil {
		return err
	}
	type change struct {
		Name  string  `json:"name"`
		Value *string `json:"value,omitempty"` // absent = delete
	}
	req := struct {
		Changes []change `json:"changes"`
	}{Changes: make([]change, 0, len(changes))}
	secrets := secretsOf(deployKey)
	for _, ch := range changes {
		if p := EnvNameProblem(ch.Name); p != "" {
			return refused(op, p)
		}
		if ch.Value != nil {
			if p := EnvValueProblem(*ch.Value); p != "" {
				return refused(op, p)
			}
			// Values are often credentials; keep them out of echoed messages.
			secrets = append(secrets, *ch.Value)
		}
		req.Changes = append(req.Changes, change(ch))
	}
	k, err := jsonCall(op, http.MethodPost, u, convexAuth(deployKey), req, secrets)
	if err != nil {
		return err
	}
	// The answer is empty; the status alone says the change was applied.
	_, err = c.do(ctx, k)
	return err
}

// EnvironmentVariables reads all the environment variables of the
// deployment at deploymentURL in one call.
func (c *Client) EnvironmentVariables(ctx context.Context, deploymentURL, deployKey string) (map[string]string, error) {
	const op = "list_environment_variables"
	u, err := deploymentEndpoint(op, deploymentURL, "/api/v1/list_environment_variables")
	if err != nil {
		return nil, err
	}
	k, err := jsonCall(op, http.MethodGet, u, convexAuth(deployKey), nil, secretsOf(deployKey))
	if err != nil {
		return nil, err
	}
	k.maxBody = maxEnvListBody
	ans, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	var raw struct {
		EnvironmentVariables map[string]*string `json:"environmentVariables"`
	}
	if err := decode(op, ans, &raw); err != nil {
		return nil, err
	}
	if raw.EnvironmentVariables == nil {
		return nil, invalid(op, ans.status, "environmentVariables missing")
	}
	env := make(map[string]string, len(raw.EnvironmentVariables))
	for name, v := range raw.EnvironmentVariables {
		if v != nil {
			env[name] = *v
		}
	}
	return env, nil
}

// deploymentEndpoint joins a deployment URL and path. The URL comes from
// create_project's untrusted answer and the deploy key is sent to it, so only
// a plain http(s) origin is accepted; the error never quotes the URL.
func deploymentEndpoint(op, deploymentURL, path string) (string, error) {
	u, err := url.Parse(strings.TrimRight(deploymentURL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", badArg(op, "deployment URL must be an http(s) URL without credentials or query")
	}
	return u.String() + path, nil
}
