// Package convex is the client of Convex as fixed by CONTRACT §2: Client
// talks to the builder's provision host (§2.2) and to a deployment's own API
// (§2.3); Platform talks to the public Management API v1 (§2.1) and shares
// Client's transport, bounds and retries.
//
// Every answer is treated as untrusted: bodies are size-bounded, unknown fields
// are ignored, malformed JSON becomes an *Error, and no secret (bearer token,
// deploy key, admin key, access token) ever reaches an error string.
package convex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	defaultMaxAttempts  = 6
	defaultBaseBackoff  = 100 * time.Millisecond
	defaultMaxBodyBytes = 1 << 20
	// defaultMaxConnsPerHost bounds the sockets open to one host (the
	// provision host, or one deployment) however many requests want one;
	// the rest wait for a free connection within their context's deadline.
	defaultMaxConnsPerHost = 32
	userAgent              = "chefdeploy"
)

// Client talks to one provision host and to the deployments it creates.
// It is safe for concurrent use.
type Client struct {
	baseURL      string
	hc           *http.Client
	maxAttempts  int
	baseBackoff  time.Duration
	deploySecret string
	maxBody      int64
}

// Options configures a Client. Zero values pick the documented defaults.
type Options struct {
	BaseURL      string        // provision host, e.g. "https://api.convex.dev"; a trailing slash is tolerated
	HTTPClient   *http.Client  // nil = a client with connection timeouts and no overall timeout (contexts bound calls)
	MaxAttempts  int           // 0 = 6; bounds the tries of one call (a context deadline may end them sooner)
	BaseBackoff  time.Duration // 0 = 100ms; exponential with full jitter, capped at 2s
	DeploySecret string        // CONVEX_HOSTING_DEPLOY_SECRET; sent on hosting deploys when non-empty
	MaxBodyBytes int64         // largest response body accepted; 0 = 1 MiB
}

// New returns a Client for opts.
func New(opts Options) *Client {
	c := &Client{
		baseURL:      strings.TrimRight(opts.BaseURL, "/"),
		maxAttempts:  opts.MaxAttempts,
		baseBackoff:  opts.BaseBackoff,
		deploySecret: opts.DeploySecret,
		maxBody:      opts.MaxBodyBytes,
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = defaultMaxAttempts
	}
	if c.baseBackoff <= 0 {
		c.baseBackoff = defaultBaseBackoff
	}
	if c.maxBody <= 0 {
		c.maxBody = defaultMaxBodyBytes
	}
	var hc http.Client
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	} else {
		hc = http.Client{Transport: defaultTransport()}
	}
	// A redirect would carry the deploy-secret header (Go strips only
	// Authorization and cookies across hosts) wherever an untrusted answer
	// points; none of these APIs redirects, so the 3xx is reported instead.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	return c
}

// defaultTransport bounds each phase of one attempt but not the whole call:
// the caller's context is the deadline, and an upload may legitimately be slow.
// It also bounds the connections per host, so no burst of requests can run
// the process out of file descriptors.
func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	// Counted from the end of the upload, so a hosting deploy still gets time
	// to be unpacked; a black-holed attempt becomes a retryable timeout.
	t.ResponseHeaderTimeout = 60 * time.Second
	t.IdleConnTimeout = 90 * time.Second
	// Reuse what is open rather than closing all but two after a burst.
	t.MaxConnsPerHost = defaultMaxConnsPerHost
	t.MaxIdleConnsPerHost = defaultMaxConnsPerHost
	t.MaxIdleConns = 4 * defaultMaxConnsPerHost
	return t
}

// call describes one logical request; do may send it several times.
type call struct {
	op          string
	method      string
	url         string
	auth        string      // the whole Authorization header value
	header      http.Header // extra headers
	contentType string
	body        func() (io.ReadCloser, error) // nil = no body; opened anew per attempt
	size        int64
	secrets     []string // redacted from anything the server echoes back
	maxBody     int64    // largest answer accepted; 0 = the client's MaxBodyBytes
}

// jsonCall prepares a call whose body is v encoded once, so every attempt
// resends the identical bytes.
func jsonCall(op, method, u, auth string, v any, secrets []string) (call, error) {
	k := call{op: op, method: method, url: u, auth: auth, secrets: secrets}
	if v == nil {
		return k, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return k, &Error{Op: op, Err: fmt.Errorf("%w: encode request: %w", errInvalidRequest, err)}
	}
	k.contentType = "application/json"
	k.size = int64(len(b))
	k.body = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return k, nil
}

// answer is a successful (2xx) response.
type answer struct {
	status int
	body   []byte
}

// attempt sends k once. It returns the answer on 2xx, otherwise an *Error and,
// for retryable statuses, the wait the server asked for (0 = none).
func (c *Client) attempt(ctx context.Context, k call) (answer, time.Duration, *Error) {
	req, err := http.NewRequestWithContext(ctx, k.method, k.url, nil)
	if err != nil {
		// url.Parse errors quote the URL; keep it out in case it carries userinfo.
		return answer{}, 0, &Error{Op: k.op, Err: fmt.Errorf("%w: bad URL", errInvalidRequest)}
	}
	if k.body != nil {
		rc, err := k.body()
		if err != nil {
			return answer{}, 0, &Error{Op: k.op, Err: fmt.Errorf("%w: open body: %w", errInvalidRequest, err)}
		}
		req.Body = rc
		req.GetBody = k.body
		req.ContentLength = k.size
	}
	for name, vals := range k.header {
		req.Header[name] = vals
	}
	if k.auth != "" {
		req.Header.Set("Authorization", k.auth)
	}
	if k.contentType != "" {
		req.Header.Set("Content-Type", k.contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)

	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{}, 0, &Error{Op: k.op, Err: transportCause(err)}
	}
	defer resp.Body.Close()

	limit := c.maxBody
	if k.maxBody > 0 {
		limit = k.maxBody
	}
	body, over, err := readLimited(resp.Body, limit)
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// Any 2xx counts: the contract names 200, and a 201/204 would still
		// mean the call took effect.
		switch {
		case err != nil:
			// The body broke off mid-way: the call may or may not have taken
			// effect, but the answer is unusable.
			return answer{}, 0, &Error{Op: k.op, Status: resp.StatusCode, Err: fmt.Errorf("%w: read body: %w", ErrInvalidResponse, transportCause(err))}
		case over:
			return answer{}, 0, &Error{Op: k.op, Status: resp.StatusCode, Err: fmt.Errorf("%w: body exceeds %d bytes", ErrInvalidResponse, limit)}
		}
		return answer{status: resp.StatusCode, body: body}, 0, nil
	}
	// An error body is read only to find its code and message; a truncated or
	// broken one still leaves the status, which is what the mapping needs.
	e := statusError(k.op, resp.StatusCode, body, k.secrets)
	var wait time.Duration
	if e.Retryable() {
		wait = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return answer{}, wait, e
}

// readLimited reads at most limit bytes; over reports that the body was longer.
func readLimited(r io.Reader, limit int64) (body []byte, over bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r, limit+1))
	if int64(len(body)) > limit {
		return body[:limit], true, err
	}
	return body, false, err
}

// transportCause drops the *url.Error wrapper, whose text repeats the request
// URL; the op already says which call failed. The inner error keeps Timeout().
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// endpoint joins the provision host and an already-escaped path.
func (c *Client) endpoint(path string) string { return c.baseURL + path }

// bearer and convexAuth build the two Authorization schemes of CONTRACT §2.
func bearer(token string) string   { return "Bearer " + token }
func convexAuth(key string) string { return "Convex " + key }

// secretsOf lists the secrets of a call for redaction. It also lists the part
// after "|" of tokens shaped like "team:slug|secret" or
// "project:team:slug|secret", so an echo of only the secret half is caught too.
func secretsOf(s ...string) []string {
	out := make([]string, 0, 2*len(s))
	for _, v := range s {
		if v == "" {
			continue
		}
		out = append(out, v)
		if i := strings.LastIndexByte(v, '|'); i >= 0 && i+1 < len(v) {
			out = append(out, v[i+1:])
		}
	}
	return out
}
