package convex

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// EnvChange sets (Value non-nil) or deletes (Value nil) one environment
// variable of a deployment.
type EnvChange struct {
	Name  string
	Value *string
}

// envQueryPath is the system query the Convex CLI uses to read one variable.
const envQueryPath = "_system/cli/queryEnvironmentVariables:get"

// UpdateEnvironmentVariables applies changes to the deployment at
// deploymentURL in one call.
func (c *Client) UpdateEnvironmentVariables(ctx context.Context, deploymentURL, deployKey string, changes []EnvChange) error {
	const op = "update_environment_variables"
	u, err := deploymentEndpoint(op, deploymentURL, "/api/update_environment_variables")
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
		if ch.Name == "" {
			return badArg(op, "variable name is required")
		}
		req.Changes = append(req.Changes, change(ch))
		if ch.Value != nil {
			// Values are often credentials; keep them out of echoed messages.
			secrets = append(secrets, *ch.Value)
		}
	}
	k, err := jsonCall(op, http.MethodPost, u, convexAuth(deployKey), req, secrets)
	if err != nil {
		return err
	}
	// The answer is "{}"; the status alone says the change was applied.
	_, err = c.do(ctx, k)
	return err
}

// EnvironmentVariable reads one environment variable of the deployment at
// deploymentURL; ok is false when it is unset.
func (c *Client) EnvironmentVariable(ctx context.Context, deploymentURL, deployKey, name string) (string, bool, error) {
	const op = "query"
	if name == "" {
		return "", false, badArg(op, "variable name is required")
	}
	u, err := deploymentEndpoint(op, deploymentURL, "/api/query")
	if err != nil {
		return "", false, err
	}
	req := struct {
		Path   string           `json:"path"`
		Format string           `json:"format"`
		Args   []map[string]any `json:"args"`
	}{envQueryPath, "convex_encoded_json", []map[string]any{{"name": name}}}
	k, err := jsonCall(op, http.MethodPost, u, convexAuth(deployKey), req, secretsOf(deployKey))
	if err != nil {
		return "", false, err
	}
	ans, err := c.do(ctx, k)
	if err != nil {
		return "", false, err
	}
	var raw struct {
		Status       string          `json:"status"`
		Value        json.RawMessage `json:"value"`
		ErrorMessage string          `json:"errorMessage"`
	}
	if err := decode(op, ans, &raw); err != nil {
		return "", false, err
	}
	switch raw.Status {
	case "success":
	case "error":
		// The function ran and failed: a final answer, not worth retrying.
		return "", false, &Error{Op: op, Status: ans.status, Message: cleanMessage(raw.ErrorMessage, k.secrets), Err: errQueryFailed}
	default:
		return "", false, invalid(op, ans.status, "unknown query status")
	}
	if len(raw.Value) == 0 || string(raw.Value) == "null" {
		return "", false, nil
	}
	var v struct {
		Name  string  `json:"name"`
		Value *string `json:"value"`
	}
	if err := json.Unmarshal(raw.Value, &v); err != nil {
		return "", false, &Error{Op: op, Status: ans.status, Err: fmt.Errorf("%w: %w", ErrInvalidResponse, err)}
	}
	if v.Value == nil {
		return "", false, nil
	}
	return *v.Value, true, nil
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
