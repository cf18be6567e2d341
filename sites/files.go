package sites

import (
	"mime"
	"path"
	"regexp"
	"strings"
)

// contentTypes are the types of the files a built web site holds, fixed
// here rather than read from the host's MIME tables, which differ between
// machines.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".cjs":         "text/javascript; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".txt":         "text/plain; charset=utf-8",
	".md":          "text/markdown; charset=utf-8",
	".xml":         "application/xml",
	".csv":         "text/csv; charset=utf-8",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".ico":         "image/x-icon",
	".bmp":         "image/bmp",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".eot":         "application/vnd.ms-fontobject",
	".wasm":        "application/wasm",
	".pdf":         "application/pdf",
	".mp4":         "video/mp4",
	".webm":        "video/webm",
	".mp3":         "audio/mpeg",
	".wav":         "audio/wav",
	".ogg":         "audio/ogg",
	".zip":         "application/zip",
}

// ContentType is the Content-Type a site file is served with, by its
// extension; an unknown one is served as bytes (with nosniff, a browser
// will not run it).
func ContentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// compressible is true for the types worth compressing; images, fonts and
// media in modern formats are compressed already.
func compressible(contentType string) bool {
	t, _, _ := strings.Cut(contentType, ";")
	switch {
	case strings.HasPrefix(t, "text/"), t == "image/svg+xml", t == "image/x-icon", t == "image/bmp",
		t == "application/json", t == "application/manifest+json", t == "application/xml", t == "application/wasm",
		t == "font/ttf", t == "font/otf", t == "application/vnd.ms-fontobject":
		return true
	}
	return strings.HasSuffix(t, "+json") || strings.HasSuffix(t, "+xml")
}

// fingerprinted matches a bundler's hashed asset name under assets/, such as
// Vite's assets/index-B5Qt9EMX.js: its content never changes under that name.
var fingerprinted = regexp.MustCompile(`^assets/(?:.+/)?[^/]+[-.][A-Za-z0-9_-]{8,}\.[A-Za-z0-9]+$`)

// CacheControl is the Cache-Control a site file is served with: fingerprinted
// assets for a year, everything else (HTML above all) revalidated on every
// use, which the ETag makes a cheap 304.
func CacheControl(name string) string {
	if fingerprinted.MatchString(name) {
		return "public, max-age=31536000, immutable"
	}
	return "no-cache"
}
