package convex

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
)

// deploySecretHeader carries CONVEX_HOSTING_DEPLOY_SECRET; the real hosting
// endpoint is not public and wants it.
const deploySecretHeader = "convex-chef-deploy-secret"

// HostingDeploy uploads a zip of a built site to deploymentName's hosting.
// body is opened anew for each attempt so a retry resends identical bytes
// without holding them in memory; size is its length in bytes. The answer is
// a JSON object whose fields the contract does not fix.
func (c *Client) HostingDeploy(ctx context.Context, deployKey, deploymentName string, size int64, body func() (io.ReadCloser, error)) (json.RawMessage, error) {
	const op = "hosting_deploy"
	if deploymentName == "" || body == nil {
		return nil, badArg(op, "deployment name and body are required")
	}
	k := call{
		op:          op,
		method:      http.MethodPost,
		url:         c.endpoint("/api/hosting/deploy?" + url.Values{"deploymentName": {deploymentName}}.Encode()),
		auth:        bearer(deployKey),
		contentType: "application/zip",
		body:        body,
		size:        size,
		secrets:     secretsOf(deployKey, c.deploySecret),
	}
	if c.deploySecret != "" {
		k.header = http.Header{http.CanonicalHeaderKey(deploySecretHeader): {c.deploySecret}}
	}
	ans, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	b := bytes.TrimSpace(ans.body)
	if len(b) == 0 {
		// Nothing to report, but the upload was accepted.
		return json.RawMessage("{}"), nil
	}
	if b[0] != '{' || !json.Valid(b) {
		return nil, invalid(op, ans.status, "answer is not a JSON object")
	}
	return json.RawMessage(bytes.Clone(b)), nil
}
