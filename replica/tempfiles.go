package replica

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tempFilePrefixes name the temporary files a replica makes in
// UPLOAD_TEMP_DIR: uploads being received (handlers) and bundles being
// unpacked (sites). A replica removes its own when it is done; these are
// what a killed one left.
var tempFilePrefixes = []string{"chefdeploy-bundle-", "chefdeploy-site-"}

// staleTempFileAge is how old a leftover must be before a starting replica
// removes it: longer than any upload or unpack runs, so a neighbour
// replica's file in use on the same disk is never taken.
const staleTempFileAge = time.Hour

// sweepTempFiles removes the files of dir named with tempFilePrefixes that
// were last modified more than olderThan before now, and says how many.
func sweepTempFiles(dir string, olderThan time.Duration, now time.Time) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var removed int
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !hasTempPrefix(e.Name()) {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if now.Sub(info.ModTime()) <= olderThan {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

func hasTempPrefix(name string) bool {
	for _, p := range tempFilePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
