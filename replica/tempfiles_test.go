package replica

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Upload and unpack files a killed replica left behind are removed at the
// next start once they are older than any upload could run; young ones (a
// neighbour replica's upload in progress) and other programs' files stay.
func TestSweepTempFilesRemovesOnlyOldLeftovers(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	files := map[string]time.Duration{
		"chefdeploy-bundle-123.zip":   2 * time.Hour,
		"chefdeploy-site-456.zip":     3 * time.Hour,
		"chefdeploy-site-file-789":    90 * time.Minute,
		"chefdeploy-bundle-young.zip": time.Minute,
		"other-program.tmp":           5 * time.Hour,
	}
	for name, age := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := sweepTempFiles(dir, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 3 {
		t.Errorf("removed %d files, want 3", removed)
	}
	for name, age := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		gone := os.IsNotExist(err)
		want := age > time.Hour && name != "other-program.tmp"
		if gone != want {
			t.Errorf("%s (age %v): gone=%v, want %v", name, age, gone, want)
		}
	}
}
