package loadtest

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Browser is one person's browser: a cookie jar and its own keep-alive
// connection, redirects not followed (each step is seen as a browser takes
// it). Requests are timed into Rec by route pattern.
type Browser struct {
	Base   string
	Client *http.Client
	Rec    *Recorder
	jar    *cookiejar.Jar
}

// NewBrowser makes a browser for the product at base.
func NewBrowser(base string, rec *Recorder) *Browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &Browser{
		Base: base,
		Rec:  rec,
		jar:  jar,
		Client: &http.Client{
			Jar:           jar,
			Timeout:       30 * time.Second,
			Transport:     &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// ShareSession gives b the cookies of signed (its session), as a second
// tab of the same person would have them.
func (b *Browser) ShareSession(signed *Browser) {
	u, _ := url.Parse(signed.Base)
	b.jar.SetCookies(u, signed.jar.Cookies(u))
}

// Close drops the browser's idle connections.
func (b *Browser) Close() { b.Client.CloseIdleConnections() }

// Answer is a response read in full.
type Answer struct {
	Status int
	Header http.Header
	Body   string
}

// Send makes one request, recorded under route (when Rec is set): form is
// sent url-encoded when not nil; headers come in name, value pairs.
func (b *Browser) Send(ctx context.Context, route, method, target string, form url.Values, headers ...string) (Answer, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return Answer{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(route, req)
}

func (b *Browser) do(route string, req *http.Request) (Answer, error) {
	var body string
	ans, err := b.round(route, req, func(raw []byte) { body = string(raw) })
	ans.Body = body
	return ans, err
}

// bodies are the buffers answers are read into: 5,000 pollers reading a
// fragment a second with io.ReadAll (and copying it into a string) made
// most of this tool's garbage, and its collector's pauses were the
// slowest seconds of what it measured.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxAnswer bounds what an answer may take of this tool's memory.
const maxAnswer = 8 << 20

// round makes one request and hands its whole body to read, which must
// not keep it: the buffer is reused. The answer's Body is left empty.
func (b *Browser) round(route string, req *http.Request, read func(body []byte)) (Answer, error) {
	start := time.Now()
	res, err := b.Client.Do(req)
	if err != nil {
		if b.Rec != nil && req.Context().Err() == nil {
			b.Rec.Fail(route)
		}
		return Answer{}, fmt.Errorf("%s: %w", route, err)
	}
	defer res.Body.Close()
	buf := bodies.Get().(*bytes.Buffer)
	defer bodies.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(res.Body, maxAnswer)); err != nil {
		if b.Rec != nil && req.Context().Err() == nil {
			b.Rec.Fail(route)
		}
		return Answer{}, fmt.Errorf("%s: reading the answer: %w", route, err)
	}
	if b.Rec != nil {
		b.Rec.Observe(route, time.Since(start), res.StatusCode)
	}
	read(buf.Bytes())
	return Answer{Status: res.StatusCode, Header: res.Header}, nil
}

// Login signs in through the real flow: /auth/login, the sandbox's OIDC
// sign-in page (authorizeURL is {sandbox}/oidc/authorize), its form as the
// demo user, and the callback.
func (b *Browser) Login(ctx context.Context, authorizeURL, user string) error {
	res, err := b.Send(ctx, "GET /auth/login", "GET", b.Base+"/auth/login", nil)
	if err != nil {
		return err
	}
	if res.Status != http.StatusFound {
		return fmt.Errorf("/auth/login = %d", res.Status)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		return err
	}
	q := loc.Query()
	page, err := b.Send(ctx, "sandbox GET /oidc/authorize", "GET", authorizeURL+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if page.Status != http.StatusOK {
		return fmt.Errorf("sandbox authorize page = %d", page.Status)
	}
	form := url.Values{}
	for k, v := range q {
		form[k] = v
	}
	form.Set("user", user)
	consent, err := b.Send(ctx, "sandbox POST /oidc/authorize", "POST", authorizeURL, form)
	if err != nil {
		return err
	}
	if consent.Status != http.StatusFound {
		return fmt.Errorf("sandbox consent = %d", consent.Status)
	}
	cb, err := b.Send(ctx, "GET /auth/callback", "GET", consent.Header.Get("Location"), nil)
	if err != nil {
		return err
	}
	if cb.Status != http.StatusSeeOther || cb.Header.Get("Location") != "/" {
		return fmt.Errorf("/auth/callback = %d %q", cb.Status, cb.Header.Get("Location"))
	}
	return nil
}

// CreateApp creates an app and returns its id.
func (b *Browser) CreateApp(ctx context.Context, name string) (string, error) {
	res, err := b.Send(ctx, "POST /apps", "POST", b.Base+"/apps", url.Values{"name": {name}})
	if err != nil {
		return "", err
	}
	if res.Status != http.StatusSeeOther {
		return "", fmt.Errorf("POST /apps = %d", res.Status)
	}
	return path.Base(res.Header.Get("Location")), nil
}

// Connect starts connecting the app to team, as the connect button does.
func (b *Browser) Connect(ctx context.Context, appID, team string) error {
	res, err := b.Send(ctx, "POST /apps/{id}/connect", "POST", b.Base+"/apps/"+appID+"/connect", url.Values{"team": {team}}, "HX-Request", "true")
	if err != nil {
		return err
	}
	if res.Status != http.StatusOK {
		return fmt.Errorf("connect = %d", res.Status)
	}
	return nil
}

var stateAttr = regexp.MustCompile(`data-testid="connection" data-state="([a-z]+)"`)

// Status polls the status fragment as the page does (poll=1 while it is
// connecting) and returns the state it shows.
func (b *Browser) Status(ctx context.Context, appID string, polling bool) (string, error) {
	target := b.Base + "/apps/" + appID + "/status"
	if polling {
		target += "?poll=1"
	}
	req, err := http.NewRequestWithContext(ctx, "GET", target, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("HX-Request", "true")
	const route = "GET /apps/{id}/status"
	var state string
	res, err := b.round(route, req, func(body []byte) {
		if m := stateAttr.FindSubmatch(body); m != nil {
			state = string(m[1])
		}
	})
	if err != nil {
		return "", err
	}
	if res.Status != http.StatusOK {
		return "", fmt.Errorf("status = %d", res.Status)
	}
	if state == "" {
		if b.Rec != nil {
			b.Rec.Fail(route)
		}
		return "", errors.New("the status fragment has no data-state")
	}
	return state, nil
}

var deployStatus = regexp.MustCompile(`data-testid="deploy-steps" data-status="([a-z]+)"`)

// Deploy uploads a site zip as the deploy form does.
func (b *Browser) Deploy(ctx context.Context, appID string, site []byte) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("bundle", "dist.zip")
	if err != nil {
		return err
	}
	if _, err := fw.Write(site); err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", b.Base+"/apps/"+appID+"/deploys", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("HX-Request", "true")
	res, err := b.do("POST /apps/{id}/deploys", req)
	if err != nil {
		return err
	}
	if res.Status != http.StatusOK && res.Status != http.StatusAccepted {
		return fmt.Errorf("deploy = %d", res.Status)
	}
	return nil
}

// DeployStatus is the status of the app's newest deploy, as its panel shows
// it ("" when there is none).
func (b *Browser) DeployStatus(ctx context.Context, appID string) (string, error) {
	res, err := b.Send(ctx, "GET /apps/{id}/deploys", "GET", b.Base+"/apps/"+appID+"/deploys", nil, "HX-Request", "true")
	if err != nil {
		return "", err
	}
	if res.Status != http.StatusOK {
		return "", fmt.Errorf("deploys = %d", res.Status)
	}
	if m := deployStatus.FindStringSubmatch(res.Body); m != nil {
		return m[1], nil
	}
	return "", nil
}

// Site is a zip of a built site of about size bytes (incompressible, so the
// zip is as large as asked).
func Site(size int) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("index.html")
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, "<!doctype html><title>load</title><h1>load</h1>"); err != nil {
		return nil, err
	}
	w, err = zw.CreateHeader(&zip.FileHeader{Name: "assets/blob.bin", Method: zip.Store})
	if err != nil {
		return nil, err
	}
	blob := make([]byte, size)
	rand.Read(blob)
	if _, err := w.Write(blob); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
