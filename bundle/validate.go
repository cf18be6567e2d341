package bundle

import (
	"archive/zip"
	"errors"
	"io"
	"strings"
)

// Validate checks the zip in r (size bytes long) and returns its manifest,
// or an *Error saying what is wrong with it; it returns no other kind of
// error. Zero fields of limits take their defaults.
//
// Validate only reads r. Its memory grows with the number of entries (at
// most MaxFiles, a few hundred bytes each) and never with what the entries
// hold or claim to hold; it is safe to call from many goroutines at once.
func Validate(r io.ReaderAt, size int64, limits Limits) (Manifest, error) {
	v := &validator{r: r, size: size, limits: limits.withDefaults()}
	m, err := v.validate()
	if err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// validator holds one bundle while it is being checked.
type validator struct {
	r        io.ReaderAt
	size     int64
	limits   Limits
	entries  []entry // in central directory order
	order    []int   // indexes into entries, in file order (set by checkLayout)
	dirStart int64   // where the central directory starts
}

// validate runs the checks, cheapest first.
func (v *validator) validate() (Manifest, *Error) {
	l := v.limits
	if v.size > l.MaxCompressedBytes {
		return Manifest{}, refuse(ReasonTooBig, "The bundle is %s; the most chefdeploy accepts is %s. Upload only your built site (the contents of dist/).", formatBytes(uint64(v.size)), formatBytes(uint64(l.MaxCompressedBytes)))
	}
	if v.size <= 0 {
		return Manifest{}, refuse(ReasonNotZip, "The uploaded file is empty. Upload a zip of your built site's dist/ folder.")
	}
	dir, err := scanDirectory(v.r, v.size, l)
	if err != nil {
		return Manifest{}, err
	}
	zr, zerr := zip.NewReader(v.r, v.size)
	// ErrInsecurePath (under GODEBUG=zipinsecurepath=0) comes with a usable
	// reader; our own path checks say more.
	if zerr != nil && !errors.Is(zerr, zip.ErrInsecurePath) {
		return Manifest{}, refuse(ReasonNotZip, "The uploaded file is not a zip archive, or it is damaged. Upload a zip of your built site's dist/ folder.").because(zerr)
	}
	if len(zr.File) == 0 {
		return Manifest{}, refuse(ReasonNotZip, "The zip is empty. Upload a zip of your built site's dist/ folder.")
	}
	if len(zr.File) > l.MaxFiles {
		return Manifest{}, refuse(ReasonTooManyFiles, "The bundle holds %d files and folders; the most a bundle may hold is %d.", len(zr.File), l.MaxFiles)
	}
	if dir == nil || len(dir.headers) != len(zr.File) {
		return Manifest{}, refuse(ReasonCorrupt, "The zip's table of contents cannot be read consistently. The zip is damaged; re-create it with a standard zip tool.")
	}
	v.dirStart = dir.start
	v.entries = make([]entry, len(zr.File))
	for i, f := range zr.File {
		v.entries[i] = entry{
			File:   f,
			path:   strings.TrimSuffix(f.Name, "/"),
			dir:    strings.HasSuffix(f.Name, "/"),
			header: dir.headers[i],
		}
	}
	if err := v.checkEntries(); err != nil {
		return Manifest{}, err
	}
	if err := v.checkLayout(); err != nil {
		return Manifest{}, err
	}
	return v.measure()
}
