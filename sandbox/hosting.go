package sandbox

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func (s *Sandbox) siteURL(deployment string) string {
	return s.base + "/sites/" + deployment + "/"
}

type hostingDeployResponse struct {
	DeploymentName string `json:"deploymentName"`
	SiteURL        string `json:"siteUrl"`
	Bytes          int64  `json:"bytes"`
	SHA256         string `json:"sha256"`
}

// hostingDeploy stores the zip of a built site as the deployment's site.
func (s *Sandbox) hostingDeploy(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("deploymentName")
	if name == "" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "MissingDeploymentName", "deploymentName is required."))
		return
	}
	// The hosting endpoint is not public: without its secret nothing else is
	// looked at.
	if s.opts.DeploySecret != "" && !secretEqual(r.Header.Get("convex-chef-deploy-secret"), s.opts.DeploySecret) {
		s.writeError(w, r, errorf(http.StatusForbidden, "Forbidden", "Missing or wrong convex-chef-deploy-secret."))
		return
	}
	key, _ := credential(r, "Bearer")
	s.mu.Lock()
	p := s.projectForDeployKeyLocked(key)
	if p != nil && p.DeploymentName == name {
		s.countLocked("hosting_deploy", p.TeamSlug)
	}
	s.mu.Unlock()
	if p == nil || p.DeploymentName != name {
		s.writeError(w, r, errorf(http.StatusUnauthorized, "Unauthenticated", "The deploy key is not valid for this deployment."))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/zip" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "InvalidContentType", "Content-Type must be application/zip."))
		return
	}
	if r.ContentLength > s.opts.MaxBundleBytes {
		s.writeError(w, r, bundleTooLarge(s.opts.MaxBundleBytes))
		return
	}
	// With a StateDir the body streams to a file next to where it will be
	// kept, so an upload costs no memory of its size (the sandbox is served
	// inside the product in sandbox mode); without one it is kept in memory.
	var (
		body []byte
		tmp  string
		err  error
	)
	h := sha256.New()
	limited := io.TeeReader(http.MaxBytesReader(w, r.Body, s.opts.MaxBundleBytes), h)
	if s.opts.StateDir != "" {
		tmp, err = receiveTemp(s.bundlePath(name), limited)
		if tmp != "" {
			defer func() { _ = removeIfExists(tmp) }() // a no-op once renamed
		}
	} else {
		body, err = io.ReadAll(limited)
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeError(w, r, bundleTooLarge(s.opts.MaxBundleBytes))
			return
		}
		s.writeError(w, r, errorf(http.StatusBadRequest, "InvalidBundle", "Could not read the request body."))
		return
	}
	var problem string
	var size int64
	if tmp != "" {
		problem, size = bundleFileProblem(tmp)
	} else {
		problem, size = bundleProblem(bytes.NewReader(body), int64(len(body))), int64(len(body))
	}
	if problem != "" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "InvalidBundle", "%s", problem))
		return
	}

	resp := hostingDeployResponse{DeploymentName: name, SiteURL: s.siteURL(name), Bytes: size, SHA256: hex.EncodeToString(h.Sum(nil))}
	if err := s.storeBundle(p, body, tmp, resp); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// receiveTemp streams r, synced, to a new file next to path, ready to be
// renamed over it. On error the file is gone.
func receiveTemp(path string, r io.Reader) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// bundleFileProblem is bundleProblem for a zip on disk, with its size.
func bundleFileProblem(name string) (string, int64) {
	f, err := os.Open(name)
	if err != nil {
		return "The body could not be stored.", 0
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "The body could not be stored.", 0
	}
	return bundleProblem(f, fi.Size()), fi.Size()
}

func bundleTooLarge(limit int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, "BundleTooLarge", "The bundle is larger than %d bytes.", limit)
}

// bundleProblem checks that body is a zip a host could unpack safely: at
// least one file, and no name that climbs out of the site.
func bundleProblem(body io.ReaderAt, size int64) string {
	zr, err := zip.NewReader(body, size)
	if err != nil {
		return "The body is not a valid zip archive."
	}
	files := 0
	for _, f := range zr.File {
		name := strings.ReplaceAll(f.Name, `\`, "/")
		if path.IsAbs(name) || slices.Contains(strings.Split(name, "/"), "..") {
			return "The zip archive has an unsafe file name: " + f.Name
		}
		if !f.FileInfo().IsDir() {
			files++
		}
	}
	if files == 0 {
		return "The zip archive holds no files."
	}
	return ""
}

// storeBundle keeps the bytes (atomically on disk when there is a
// StateDir) and records the deploy in the state. The file is written before
// taking the lock, so a large upload does not stall other calls.
func (s *Sandbox) storeBundle(p *project, body []byte, tmp string, resp hostingDeployResponse) error {
	if s.opts.StateDir != "" && tmp == "" {
		var err error
		if tmp, err = writeTemp(s.bundlePath(p.DeploymentName), body); err != nil {
			return fmt.Errorf("sandbox: store bundle: %w", err)
		}
		defer func() { _ = removeIfExists(tmp) }() // a no-op once renamed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !p.live() {
		return errorf(http.StatusNotFound, "DeploymentNotFound", "The deployment was deleted.")
	}
	prev := p.Site
	if tmp == "" {
		s.bundles[p.DeploymentName] = body
	} else if err := os.Rename(tmp, s.bundlePath(p.DeploymentName)); err != nil {
		return fmt.Errorf("sandbox: store bundle: %w", err)
	}
	p.Site = &site{Bytes: resp.Bytes, SHA256: resp.SHA256, DeployTime: time.Now().UnixMilli()}
	if err := s.saveLocked(); err != nil {
		p.Site = prev
		return err
	}
	return nil
}

// siteRoot sends /sites/{name} to /sites/{name}/ so relative links in
// index.html resolve inside the site.
func (s *Sandbox) siteRoot(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, s.siteURL(r.PathValue("name")), http.StatusMovedPermanently)
}

// siteFile serves a file of the deployment's last hosting deploy.
func (s *Sandbox) siteFile(w http.ResponseWriter, r *http.Request) {
	zr, release, err := s.openBundle(r.PathValue("name"))
	if err != nil {
		http.Error(w, "404 site not found", http.StatusNotFound)
		return
	}
	defer release()
	f := findSiteFile(zr, r.PathValue("path"))
	if f == nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	rc, err := f.Open()
	if err != nil {
		http.Error(w, "500 damaged site file", http.StatusInternalServerError)
		return
	}
	defer rc.Close()
	ctype := mime.TypeByExtension(path.Ext(f.Name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	// The real site lives on its own origin; served under the product's
	// origin it runs in an opaque origin so it cannot read the product's
	// cookies or pages.
	h.Set("Content-Security-Policy", "sandbox allow-scripts allow-forms allow-popups allow-modals")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, rc)
}

// findSiteFile maps a URL path to a file of the zip. The path is cleaned
// and only looked up by name, so it can never reach outside the archive. A
// zip whose files all sit in one folder (as zipping "dist/" gives) is served
// from that folder.
func findSiteFile(zr *zip.Reader, urlPath string) *zip.File {
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		if !f.FileInfo().IsDir() {
			files[strings.TrimPrefix(strings.ReplaceAll(f.Name, `\`, "/"), "./")] = f
		}
	}
	name := strings.TrimPrefix(path.Clean("/"+urlPath), "/")
	if name == "" || strings.HasSuffix(urlPath, "/") {
		name = path.Join(name, "index.html")
	}
	if f, ok := files[name]; ok {
		return f
	}
	if root := singleFolder(files); root != "" {
		return files[root+"/"+name]
	}
	return nil
}

// singleFolder returns the folder every file is in, or "".
func singleFolder(files map[string]*zip.File) string {
	root := ""
	for name := range files {
		dir, _, ok := strings.Cut(name, "/")
		if !ok || (root != "" && dir != root) {
			return ""
		}
		root = dir
	}
	return root
}

func removeIfExists(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
