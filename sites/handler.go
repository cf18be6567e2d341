package sites

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"chefdeploy/config"
	"chefdeploy/models"
)

// Handler serves every connected app's live site (CONTRACT §2.5): the
// deployment is found by path or by host as SITES_URL_TEMPLATE says, then
// the file within its live bundle. It never sets or reads a cookie, and it
// is never behind the product's ServeMux, which would answer unclean paths
// with a redirect.
type Handler struct {
	db     *sqlx.DB
	live   *models.SiteCache
	layout config.SitesLayout
	cache  *fileCache
	log    *slog.Logger
}

// NewHandler serves the sites laid out as cfg.Sites says, with a hot-file
// cache of cfg.SitesCacheBytes.
func NewHandler(cfg *config.Config, db *sqlx.DB, live *models.SiteCache, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Handler{db: db, live: live, layout: cfg.Sites, cache: newFileCache(cfg.SitesCacheBytes), log: logger}
}

// CacheStats reports the hot-file cache.
func (h *Handler) CacheStats() CacheStats { return h.cache.stats() }

// Limits on a request path: longer ones are refused before any lookup.
const (
	maxPathBytes    = 2048
	maxSegmentBytes = 255
)

// validDeploymentName is what a Convex deployment's name can be: lower
// case letters, digits and inner hyphens, at most 63 bytes (a DNS label).
func validDeploymentName(name string) bool {
	if name == "" || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// The security headers of every answer, built once: set by assignment,
// they cost no allocation per request.
var securityHeaders = map[string][]string{
	"X-Content-Type-Options":       {"nosniff"},
	"Referrer-Policy":              {"strict-origin-when-cross-origin"},
	"Content-Security-Policy":      {"frame-ancestors 'self'"},
	"X-Frame-Options":              {"SAMEORIGIN"},
	"Cross-Origin-Resource-Policy": {"same-origin"},
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	// The site's own origin, and nothing lets another page frame it or
	// read its resources cross-origin.
	for k, v := range securityHeaders {
		hdr[k] = v
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		methodNotAllowedPage.serve(w, r)
		return
	}
	if !cleanPath(r.URL) {
		badRequestPage.serve(w, r)
		return
	}
	name, file, bare, ok := h.route(r)
	if !ok && !h.layout.HostBased && r.URL.Path == "/favicon.ico" {
		// Path-based sites share one origin, whose root is no site's:
		// browsers still ask it for an icon. No content, rather than an
		// error in every visitor's console.
		hdr.Set("Cache-Control", "public, max-age=86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !ok {
		siteNotFoundPage.serve(w, r)
		return
	}
	site, err := h.live.Get(r.Context(), name)
	if errors.Is(err, models.ErrNotFound) {
		siteNotFoundPage.serve(w, r)
		return
	}
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if bare {
		// /{deployment} without its slash: relative links need it. The
		// name is known to be valid, so this never redirects a bad path.
		target := h.layout.PathPrefix + name + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
		return
	}
	f, status, err := h.resolve(r.Context(), site.BundleSHA256, file)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if f == nil {
		notFoundPage.serve(w, r)
		return
	}
	h.serveFile(w, r, f, status)
}

// cleanPath refuses what could name something outside the bundle, or names
// it in more than one way: "." and ".." segments, empty segments, encoded
// slashes and backslashes, NUL and other control bytes, invalid UTF-8, and
// overlong paths or names.
func cleanPath(u *url.URL) bool {
	p := u.Path
	if len(p) > maxPathBytes || len(u.RawPath) > 3*maxPathBytes || !strings.HasPrefix(p, "/") || !utf8.ValidString(p) {
		return false
	}
	raw := strings.ToLower(u.RawPath)
	if strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") {
		return false
	}
	for _, c := range []byte(p) {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	for rest := p[1:]; ; {
		seg, after, more := strings.Cut(rest, "/")
		switch {
		case seg == "." || seg == "..", len(seg) > maxSegmentBytes:
			return false
		case seg == "" && more:
			return false
		}
		if !more {
			return true
		}
		rest = after
	}
}

// route finds the deployment a request is for, and the file path within
// its site ("" for the root). bare is a path-based request for the
// deployment with no slash after it.
func (h *Handler) route(r *http.Request) (name, file string, bare, ok bool) {
	if h.layout.HostBased {
		host := r.Host
		if hostname, _, err := net.SplitHostPort(host); err == nil {
			host = hostname
		}
		name, ok = strings.CutSuffix(strings.ToLower(host), h.layout.HostSuffix)
		if !ok || !validDeploymentName(name) {
			return "", "", false, false
		}
		return name, strings.TrimPrefix(r.URL.Path, "/"), false, true
	}
	rest, ok := strings.CutPrefix(r.URL.Path, h.layout.PathPrefix)
	if !ok {
		return "", "", false, false
	}
	name, file, slash := strings.Cut(rest, "/")
	if !validDeploymentName(name) {
		return "", "", false, false
	}
	return name, file, !slash, true
}

// resolve finds the file a path names in the bundle: the file itself; for
// a directory its index.html; for a path without an extension (an SPA's
// route) the site's index.html; else the bundle's 404.html, served with
// status 404. nil is no file at all.
func (h *Handler) resolve(ctx context.Context, bundleSHA, file string) (*siteFile, int, error) {
	var candidates []string
	switch {
	case file == "" || strings.HasSuffix(file, "/"):
		candidates = []string{file + "index.html"}
	case path.Ext(file) == "":
		candidates = []string{file, file + "/index.html", "index.html"}
	default:
		candidates = []string{file}
	}
	for _, c := range candidates {
		f, err := h.lookup(ctx, bundleSHA, c)
		if f != nil || err != nil {
			return f, http.StatusOK, err
		}
	}
	f, err := h.lookup(ctx, bundleSHA, "404.html")
	return f, http.StatusNotFound, err
}

// siteFile is a file as served: the stored record, and the header values
// that depend on it alone, worked out once.
type siteFile struct {
	models.SiteFile
	contentType, cacheControl []string
	// etag and contentLength of each encoding, by its index in encodings.
	etag, contentLength [3][]string
}

var encodings = [3]string{models.EncodingIdentity, models.EncodingGzip, models.EncodingBrotli}

func newSiteFile(f models.SiteFile) *siteFile {
	sf := &siteFile{SiteFile: f, contentType: []string{f.ContentType}, cacheControl: []string{CacheControl(f.Path)}}
	for i, enc := range encodings {
		tag := `"` + f.BlobSHA256
		if enc != models.EncodingIdentity {
			tag += "-" + enc
		}
		sf.etag[i] = []string{tag + `"`}
		sf.contentLength[i] = []string{strconv.FormatInt(f.Size(enc), 10)}
	}
	return sf
}

// lookup returns the bundle's file at p, or nil. Both answers are cached:
// a bundle's files never change.
func (h *Handler) lookup(ctx context.Context, bundleSHA, p string) (*siteFile, error) {
	key := cacheKey{kind: 'f', a: bundleSHA, b: p}
	if v, ok := h.cache.get(key); ok {
		return v.(*siteFile), nil
	}
	f, err := models.SiteFileByPath(ctx, h.db, bundleSHA, p)
	var found *siteFile
	switch {
	case err == nil:
		found = newSiteFile(f)
	case !errors.Is(err, models.ErrNotFound):
		return nil, err
	}
	h.cache.put(key, found, int64(2*len(p)+len(f.ContentType)+400))
	return found, nil
}

// serveFile answers with f: its headers, 304 when the client has it, the
// best stored encoding the client accepts, and Range and HEAD through
// http.ServeContent.
func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, f *siteFile, status int) {
	hdr := w.Header()
	if status == http.StatusOK {
		hdr["Cache-Control"] = f.cacheControl
	} else {
		hdr["Cache-Control"] = noCache
	}
	enc, encIndex := models.EncodingIdentity, 0
	if f.GzipBytes > 0 || f.BrotliBytes > 0 {
		hdr["Vary"] = varyEncoding
		// A range is of the file itself: clients resume downloads that way.
		if _, ranged := r.Header["Range"]; !ranged {
			enc = negotiate(r.Header.Get("Accept-Encoding"), &f.SiteFile)
			encIndex = slices.Index(encodings[:], enc)
		}
	}
	hdr["Etag"] = f.etag[encIndex]
	if status == http.StatusOK && notModified(r.Header.Get("If-None-Match"), f.BlobSHA256) {
		// Without Content-Type, which net/http drops from a 304 anyway:
		// eight headers fit the header map as first made, a ninth grows it.
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr["Content-Type"] = f.contentType
	if enc != models.EncodingIdentity {
		hdr["Content-Encoding"] = contentEncoding[encIndex]
	}
	data, stream, err := h.content(r.Context(), f.BlobSHA256, enc, f.Size(enc))
	if err != nil {
		hdr.Del("Content-Encoding")
		hdr.Del("Etag")
		h.unavailable(w, r, err)
		return
	}
	switch {
	case status == http.StatusOK && (stream != nil || partialOrConditional(r.Header)):
		// Ranges and preconditions, and files streamed from the database.
		if stream == nil {
			stream = bytes.NewReader(data)
		}
		http.ServeContent(w, r, "", time.Time{}, stream)
		return
	case status == http.StatusOK:
		// What http.ServeContent would do with the whole file in memory,
		// less its copy through a buffer allocated per request (net/http's
		// ReadFrom, for a reader that is no *os.File), and with the
		// Content-Length it leaves out of a compressed answer.
		hdr["Accept-Ranges"] = acceptRanges
	}
	hdr["Content-Length"] = f.contentLength[encIndex]
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if data != nil {
		_, _ = w.Write(data)
	} else {
		_, _ = io.Copy(w, stream) // a 404.html too large for the cache
	}
}

// partialOrConditional is a request http.ServeContent must answer: for a
// range, or with a precondition other than If-None-Match (which serveFile
// has answered) and If-Modified-Since (which a file without a modification
// time ignores).
func partialOrConditional(h http.Header) bool {
	for _, k := range [...]string{"Range", "If-Range", "If-Match", "If-Unmodified-Since"} {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

var (
	noCache         = []string{"no-cache"}
	varyEncoding    = []string{"Accept-Encoding"}
	acceptRanges    = []string{"bytes"}
	contentEncoding = [3][]string{nil, {models.EncodingGzip}, {models.EncodingBrotli}}
)

// content is one encoding of a blob: in memory (data) from the cache, or
// loaded into it when it is small enough; else a stream from the database,
// chunk by chunk.
func (h *Handler) content(ctx context.Context, blob, enc string, size int64) (data []byte, stream io.ReadSeeker, err error) {
	key := cacheKey{kind: 'b', a: blob, b: enc}
	if v, ok := h.cache.get(key); ok {
		return v.([]byte), nil, nil
	}
	if !h.cache.fits(size) {
		return nil, &chunkReader{ctx: ctx, db: h.db, blob: blob, enc: enc, size: size, seq: -1}, nil
	}
	data = make([]byte, 0, size)
	for seq := 0; int64(len(data)) < size; seq++ {
		chunk, err := models.SiteBlobChunk(ctx, h.db, blob, enc, seq)
		if err != nil {
			return nil, nil, err
		}
		data = append(data, chunk...)
	}
	if int64(len(data)) != size {
		return nil, nil, models.ErrSiteBlobUnreadable
	}
	h.cache.put(key, data, size)
	return data, nil, nil
}

// negotiate picks the stored encoding the client prefers: brotli, then
// gzip, then none, skipping what it refuses (q=0). It allocates nothing:
// it runs for every request.
func negotiate(accept string, f *models.SiteFile) string {
	var br, gzip, xGzip bool
	for rest := accept; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		token, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, found := strings.CutPrefix(strings.ReplaceAll(strings.TrimSpace(params), " ", ""), "q="); found {
			if parsed, err := strconv.ParseFloat(v, 64); err == nil {
				q = parsed
			}
		}
		switch token = strings.TrimSpace(token); {
		case strings.EqualFold(token, models.EncodingBrotli):
			br = q > 0
		case strings.EqualFold(token, models.EncodingGzip):
			gzip = q > 0
		case strings.EqualFold(token, "x-gzip"):
			xGzip = q > 0
		}
	}
	switch {
	case f.BrotliBytes > 0 && br:
		return models.EncodingBrotli
	case f.GzipBytes > 0 && (gzip || xGzip):
		return models.EncodingGzip
	}
	return models.EncodingIdentity
}

// notModified is If-None-Match against a file whose content hash is blob,
// in whichever encoding the client's copy is (the comparison is weak).
func notModified(ifNoneMatch, blob string) bool {
	for rest := ifNoneMatch; rest != ""; {
		var tag string
		tag, rest, _ = strings.Cut(rest, ",")
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" {
			return true
		}
		tag = strings.Trim(tag, `"`)
		tag = strings.TrimSuffix(strings.TrimSuffix(tag, "-"+models.EncodingGzip), "-"+models.EncodingBrotli)
		if tag == blob {
			return true
		}
	}
	return false
}

func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	h.log.Error("serving a site", "host", r.Host, "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "5")
	unavailablePage.serve(w, r)
}

// page is one of the sites' own answers when there is no file to serve,
// built once.
type page struct {
	status int
	body   string
	length []string
}

func newPage(status int, title, text string) *page {
	body := `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>` + title +
		`</title><body style="font-family:system-ui,sans-serif;margin:4rem auto;max-width:32rem;padding:0 1rem;color:#334155"><h1 style="font-size:1.25rem">` +
		title + `</h1><p>` + text + `</p></body></html>`
	return &page{status: status, body: body, length: []string{strconv.Itoa(len(body))}}
}

var (
	methodNotAllowedPage = newPage(http.StatusMethodNotAllowed, "Method not allowed", "A site answers GET and HEAD only.")
	badRequestPage       = newPage(http.StatusBadRequest, "Bad request", "This address is not a valid path.")
	siteNotFoundPage     = newPage(http.StatusNotFound, "Site not found", "No site is deployed at this address.")
	notFoundPage         = newPage(http.StatusNotFound, "Not found", "There is no page at this address.")
	unavailablePage      = newPage(http.StatusServiceUnavailable, "Temporarily unavailable", "This site cannot be served right now; try again in a moment.")

	htmlType = []string{"text/html; charset=utf-8"}
	pageCSP  = []string{"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"}
)

func (p *page) serve(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr["Content-Type"] = htmlType
	hdr["Cache-Control"] = noCache
	hdr["Content-Security-Policy"] = pageCSP
	hdr["Content-Length"] = p.length
	w.WriteHeader(p.status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, p.body)
	}
}

// chunkReader reads one encoding of a blob from the database, a chunk at a
// time, for files too large for the cache: it holds one chunk, never the
// file.
type chunkReader struct {
	ctx       context.Context
	db        *sqlx.DB
	blob, enc string
	size, off int64
	seq       int
	chunk     []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.off >= c.size {
		return 0, io.EOF
	}
	seq := int(c.off / models.SiteChunkSize)
	if seq != c.seq {
		chunk, err := models.SiteBlobChunk(c.ctx, c.db, c.blob, c.enc, seq)
		if err != nil {
			return 0, err
		}
		c.seq, c.chunk = seq, chunk
	}
	start := c.off - int64(seq)*models.SiteChunkSize
	if start >= int64(len(c.chunk)) {
		return 0, models.ErrSiteBlobUnreadable
	}
	n := copy(p, c.chunk[start:])
	c.off += int64(n)
	return n, nil
}

func (c *chunkReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += c.off
	case io.SeekEnd:
		offset += c.size
	default:
		return 0, errors.New("seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	c.off = offset
	return offset, nil
}
