package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Poller is a browser tab polling one app's status fragment, as the page's
// HTMX does, over its own keep-alive HTTP/1.1 connection with its
// browser's cookies. It is what the load tool's thousands of pollers use
// instead of net/http's client: that cost the tool about half a core at
// 5,000 polls a second, with three goroutines and 4 KB of garbage per
// browser per poll, and its collector's pauses (120 ms every 12-20 s)
// were the slowest seconds of what the tool measured. A Poller uses the
// goroutine that calls it and its own buffers: no garbage per poll.
//
// It speaks the part of HTTP/1.1 an answer to a GET may use: a status line,
// headers, a body by Content-Length, chunked or until the connection
// closes, Connection: close, and Set-Cookie (kept for the next poll). It is
// not safe for concurrent use.
type Poller struct {
	addr, host string
	cookies    []cookie
	Rec        *Recorder

	conn     net.Conn
	r        *bufio.Reader
	reused   bool // conn has answered before
	unwatch  func() bool
	req      []byte
	body     []byte
	lastApp  string
	lastPoll bool
}

type cookie struct{ name, value string }

// pollTimeout bounds one poll, from the request written to the answer read.
const pollTimeout = 30 * time.Second

// NewPoller makes a poller for the product at base (http://host:port) with
// the cookies b holds for it: b's session, as a second tab has it.
func NewPoller(base string, b *Browser, rec *Recorder) (*Poller, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("poller: base %q is not http://host:port", base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	p := &Poller{addr: addr, host: u.Host, Rec: rec}
	if b != nil {
		for _, c := range b.jar.Cookies(u) {
			p.cookies = append(p.cookies, cookie{c.Name, c.Value})
		}
	}
	return p, nil
}

// Close drops the connection.
func (p *Poller) Close() {
	if p.conn != nil {
		p.unwatch()
		p.conn.Close()
		p.conn = nil
	}
}

// errAnswer is a malformed answer: the connection is dropped.
var errAnswer = errors.New("poller: malformed answer")

// Status polls the status fragment of appID (with poll=1 when polling) and
// returns the state it shows, recorded under "GET /apps/{id}/status" as
// Browser.Status records it. The context of the poll that opened the
// connection, when it ends, cuts off a poll in flight on it.
func (p *Poller) Status(ctx context.Context, appID string, polling bool) (string, error) {
	const route = "GET /apps/{id}/status"
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if appID != p.lastApp || polling != p.lastPoll || p.req == nil {
		p.buildRequest(appID, polling)
	}
	start := time.Now()
	status, err := p.exchange(ctx)
	if err != nil && p.reused && errors.Is(err, errStale) && ctx.Err() == nil {
		// The server closed a kept connection before this request reached
		// it: nothing was done, so a GET goes again on a new one, as
		// browsers (and net/http) do.
		p.Close()
		start = time.Now()
		status, err = p.exchange(ctx)
	}
	if err != nil {
		p.Close()
		if p.Rec != nil && ctx.Err() == nil {
			p.Rec.Fail(route)
		}
		return "", fmt.Errorf("%s: %w", route, err)
	}
	if p.Rec != nil {
		p.Rec.Observe(route, time.Since(start), status)
	}
	if status != 200 {
		return "", fmt.Errorf("status = %d", status)
	}
	m := stateAttr.FindSubmatch(p.body)
	if m == nil {
		if p.Rec != nil {
			p.Rec.Fail(route)
		}
		return "", errors.New("the status fragment has no data-state")
	}
	return string(m[1]), nil
}

func (p *Poller) buildRequest(appID string, polling bool) {
	p.lastApp, p.lastPoll = appID, polling
	req := append(p.req[:0], "GET /apps/"...)
	req = append(req, url.PathEscape(appID)...)
	req = append(req, "/status"...)
	if polling {
		req = append(req, "?poll=1"...)
	}
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, p.host...)
	req = append(req, "\r\nHX-Request: true\r\nUser-Agent: chefdeploy-load\r\nAccept: */*\r\n"...)
	if len(p.cookies) > 0 {
		req = append(req, "Cookie: "...)
		for i, c := range p.cookies {
			if i > 0 {
				req = append(req, "; "...)
			}
			req = append(req, c.name...)
			req = append(req, '=')
			req = append(req, c.value...)
		}
		req = append(req, "\r\n"...)
	}
	p.req = append(req, "\r\n"...)
}

// errStale is a kept connection that ended before any byte of the answer.
var errStale = errors.New("poller: the connection was closed before the answer")

// exchange writes the request and reads the whole answer into p.body.
func (p *Poller) exchange(ctx context.Context) (int, error) {
	if p.conn == nil {
		var d net.Dialer
		dialCtx, cancel := context.WithTimeout(ctx, pollTimeout)
		conn, err := d.DialContext(dialCtx, "tcp", p.addr)
		cancel()
		if err != nil {
			return 0, err
		}
		p.conn, p.reused = conn, false
		if p.r == nil {
			p.r = bufio.NewReaderSize(conn, 4096)
		} else {
			p.r.Reset(conn)
		}
		// A run that ends interrupts a poll in flight.
		p.unwatch = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	} else {
		p.reused = true
	}
	p.conn.SetDeadline(time.Now().Add(pollTimeout))
	if _, err := p.conn.Write(p.req); err != nil {
		return 0, staleIf(err, p.reused)
	}
	status, keep, err := p.readAnswer()
	if err != nil {
		return 0, err
	}
	if !keep {
		p.Close()
	}
	return status, nil
}

func staleIf(err error, reused bool) error {
	if reused && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)) {
		return fmt.Errorf("%w: %v", errStale, err)
	}
	return err
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (strings.Contains(op.Err.Error(), "reset") || strings.Contains(op.Err.Error(), "broken pipe"))
}

// readAnswer reads one answer: its status, whether the connection may carry
// the next request, and its body into p.body.
func (p *Poller) readAnswer() (status int, keep bool, err error) {
	line, err := p.r.ReadSlice('\n')
	if err != nil {
		if len(line) == 0 {
			return 0, false, staleIf(err, p.reused)
		}
		return 0, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, errAnswer
	}
	status, ok := digits(line[9:12])
	if !ok || status < 200 {
		return 0, false, errAnswer
	}
	keep = line[7] == '1'
	length, chunked := -1, false
	for {
		h, err := p.r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, false, errAnswer
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			n, ok := digits(value)
			if !ok || n > maxAnswer {
				return 0, false, errAnswer
			}
			length = n
		case asciiEqualFold(name, "Transfer-Encoding"):
			chunked = asciiEqualFold(value, "chunked")
			if !chunked {
				return 0, false, errAnswer
			}
		case asciiEqualFold(name, "Connection"):
			if asciiEqualFold(value, "close") {
				keep = false
			}
		case asciiEqualFold(name, "Set-Cookie"):
			p.setCookie(value)
		}
	}
	p.body = p.body[:0]
	switch {
	case status == 204 || status == 304:
	case chunked:
		err = p.readChunked()
	case length >= 0:
		p.body = grow(p.body, length)
		_, err = io.ReadFull(p.r, p.body)
	default:
		// No length: the body runs to the connection's end.
		keep = false
		var buf bytes.Buffer
		_, err = buf.ReadFrom(io.LimitReader(p.r, maxAnswer))
		p.body = append(p.body, buf.Bytes()...)
	}
	return status, keep, err
}

func (p *Poller) readChunked() error {
	for {
		line, err := p.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 32)
		if err != nil || n < 0 || len(p.body)+int(n) > maxAnswer {
			return errAnswer
		}
		if n == 0 {
			// Trailers, up to the blank line.
			for {
				t, err := p.r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		at := len(p.body)
		p.body = grow(p.body, at+int(n))
		if _, err := io.ReadFull(p.r, p.body[at:]); err != nil {
			return err
		}
		if crlf, err := p.r.ReadSlice('\n'); err != nil || len(bytes.TrimRight(crlf, "\r\n")) != 0 {
			return errAnswer
		}
	}
}

// setCookie keeps a Set-Cookie for the next request (a Max-Age of 0 or less
// deletes it), as a browser would; the request is built again.
func (p *Poller) setCookie(v []byte) {
	pair, attrs, _ := bytes.Cut(v, []byte(";"))
	name, value, ok := bytes.Cut(pair, []byte("="))
	if !ok || len(bytes.TrimSpace(name)) == 0 {
		return
	}
	n := string(bytes.TrimSpace(name))
	remove := false
	for _, a := range bytes.Split(attrs, []byte(";")) {
		k, val, _ := bytes.Cut(bytes.TrimSpace(a), []byte("="))
		if asciiEqualFold(k, "Max-Age") {
			if age, err := strconv.Atoi(string(val)); err == nil && age <= 0 {
				remove = true
			}
		}
	}
	kept := p.cookies[:0]
	for _, c := range p.cookies {
		if c.name != n {
			kept = append(kept, c)
		}
	}
	if !remove {
		kept = append(kept, cookie{n, string(bytes.TrimSpace(value))})
	}
	p.cookies = kept
	p.req = nil // built again with the new cookies
}

// digits reads a decimal number of at most 9 digits without allocating.
func digits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n, max(n, 2*cap(b)))
	}
	return b[:n]
}

func asciiEqualFold[T []byte | string](a T, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
