// Package static holds the browser assets, embedded so the binary is one file:
// the vendored HTMX, the built Tailwind CSS and our small script.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed htmx.min.js app.css app.js dashboard.js favicon.svg
var files embed.FS

// versions maps each file to a short hash of its content: URLs carry it, so
// browsers may cache a file for a year and still see a new build at once.
var versions = func() map[string]string {
	v := map[string]string{}
	fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := files.ReadFile(path)
			sum := sha256.Sum256(b)
			v[path] = hex.EncodeToString(sum[:])[:10]
		}
		return nil
	})
	return v
}()

// URL is the path of an asset, with its content version.
func URL(name string) string {
	return "/static/" + name + "?v=" + versions[name]
}

// Handler serves the assets under /static/.
func Handler() http.Handler {
	fileServer := http.StripPrefix("/static/", http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if _, ok := versions[name]; !ok {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") == versions[name] {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		fileServer.ServeHTTP(w, r)
	})
}

// Favicon answers the /favicon.ico that browsers ask for on their own,
// including on pages that do not link an icon (the sandbox's).
func Favicon() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		b, _ := files.ReadFile("favicon.svg")
		w.Write(b)
	})
}
