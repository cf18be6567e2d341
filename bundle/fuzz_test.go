package bundle

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// fuzzLimits are tighter than the defaults so that the fuzzer reaches them
// with small inputs.
var fuzzLimits = Limits{
	MaxCompressedBytes:   1 << 20,
	MaxUncompressedBytes: 4 << 20,
	MaxFiles:             64,
	MaxRatio:             50,
	MaxPathLength:        64,
}

var reasons = []string{
	ReasonTooBig, ReasonNotZip, ReasonTooManyFiles, ReasonTooBigUncompressed, ReasonZipBomb,
	ReasonAbsolutePath, ReasonParentPath, ReasonBadPath, ReasonSymlink, ReasonSpecialFile,
	ReasonDuplicate, ReasonEncrypted, ReasonUnsupportedCompression, ReasonCorrupt, ReasonNoIndex,
	ReasonPrivateFile,
}

func FuzzValidate(f *testing.F) {
	f.Add(site(f).bytes())
	for _, name := range []string{"infozip.zip", "infozip-descriptors.zip", "infozip-zip64.zip", "python-zip64.zip", "infozip-symlink.zip"} {
		f.Add(readFile(f, "testdata/"+name))
	}
	for _, tc := range badCases() {
		f.Add(tc.zip(f))
	}
	f.Fuzz(func(t *testing.T, z []byte) {
		m, err := validate(z, fuzzLimits)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Validate returned %T (%v), want *Error", err, err)
			}
			if !contains(reasons, e.Reason) {
				t.Fatalf("unknown reason %q", e.Reason)
			}
			if !utf8.ValidString(e.Message) {
				t.Fatalf("message is not UTF-8: %q", e.Message)
			}
			checkMessage(t, e)
			return
		}
		checkAccepted(t, z, m, fuzzLimits)
	})
}

// checkAccepted re-reads an accepted bundle with archive/zip alone and holds
// it to what Validate promises.
func checkAccepted(t *testing.T, z []byte, m Manifest, l Limits) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		t.Fatalf("accepted a zip archive/zip cannot read: %v", err)
	}
	if len(zr.File) > l.MaxFiles {
		t.Fatalf("accepted %d entries", len(zr.File))
	}
	index, files := false, 0
	var total int64
	for _, f := range zr.File {
		name := f.Name
		switch {
		case strings.HasPrefix(name, "/") || strings.HasPrefix(name, `\`) || isDrive(name):
			t.Fatalf("accepted absolute path %q", name)
		case strings.Contains(name, `\`) || !filepath.IsLocal(name):
			t.Fatalf("accepted non-local path %q", name)
		case len(name) > l.MaxPathLength:
			t.Fatalf("accepted a %d-byte path", len(name))
		case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
			t.Fatalf("accepted a name with a control character or invalid UTF-8: %q", name)
		}
		for _, elem := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
			if elem == ".." || elem == "." || elem == "" {
				t.Fatalf("accepted path %q", name)
			}
			if strings.HasPrefix(elem, ".env") || elem == ".git" || elem == ".DS_Store" || strings.HasPrefix(elem, "._") {
				t.Fatalf("accepted private file %q", name)
			}
		}
		mode := f.Mode()
		if mode&fs.ModeSymlink != 0 || f.ExternalAttrs>>16&unixTypeMask == unixTypeSymlink {
			t.Fatalf("accepted symlink %q", name)
		}
		if !mode.IsRegular() && !mode.IsDir() {
			t.Fatalf("accepted %q of mode %v", name, mode)
		}
		if f.Flags&flagEncrypted != 0 || (f.Method != zip.Store && f.Method != zip.Deflate) {
			t.Fatalf("accepted %q with flags %#x, method %d", name, f.Flags, f.Method)
		}
		if name == "index.html" && mode.IsRegular() {
			index = true
		}
		if !strings.HasSuffix(name, "/") {
			files++
		}
		// archive/zip's own reader checks sizes and CRC.
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("accepted %q, which archive/zip cannot open: %v", name, err)
		}
		n, err := io.Copy(io.Discard, rc)
		if err != nil {
			t.Fatalf("accepted %q, which archive/zip cannot read: %v", name, err)
		}
		total += n
	}
	if !index {
		t.Fatal("accepted a bundle without index.html at its root")
	}
	want := Manifest{Files: files, UncompressedBytes: total, CompressedBytes: int64(len(z))}
	if m != want {
		t.Fatalf("manifest = %+v, archive/zip sees %+v", m, want)
	}
	if total > l.MaxUncompressedBytes {
		t.Fatalf("accepted %d uncompressed bytes", total)
	}
}

// FuzzEntryChecks adds one entry with fuzzed name, attributes, flags and
// method to a good site: random bytes rarely make a readable zip, so this
// reaches the name and type checks far more often than FuzzValidate does.
func FuzzEntryChecks(f *testing.F) {
	f.Add("assets/logo.svg", uint32(0o100644<<16), uint16(3<<8|20), uint16(0), uint16(zip.Deflate), []byte("<svg/>"))
	f.Add("../etc/passwd", uint32(0), uint16(20), uint16(0), uint16(zip.Store), []byte("x"))
	f.Add("link", uint32(0o120777<<16), uint16(3<<8|20), uint16(0), uint16(zip.Store), []byte("/etc"))
	f.Add("assets/", uint32(0o040755<<16|0x10), uint16(3<<8|20), uint16(0), uint16(zip.Store), []byte(nil))
	f.Add(`C:\x`, uint32(0x20), uint16(11<<8|20), uint16(1), uint16(99), []byte("x"))
	f.Add("index.html/x", uint32(0), uint16(0), uint16(0x800), uint16(zip.Deflate), []byte("x"))
	f.Fuzz(func(t *testing.T, name string, attrs uint32, creator, flags, method uint16, body []byte) {
		if len(name) > 1<<10 || len(body) > 1<<16 {
			t.Skip()
		}
		if strings.HasSuffix(name, "/") {
			body = nil // archive/zip writes no data to a folder
		}
		var h *zip.FileHeader
		var data []byte
		if method == zip.Deflate {
			h, data = deflated(t, name, string(body))
		} else {
			h, data = stored(name, string(body))
			h.Method = method
		}
		h.ExternalAttrs, h.CreatorVersion, h.Flags = attrs, creator, flags&^flagDataDescriptor
		b := site(t)
		w, err := b.w.CreateRaw(h)
		if err != nil {
			t.Skip()
		}
		if _, err := w.Write(data); err != nil {
			t.Skip()
		}
		z := b.bytes()
		m, err := validate(z, fuzzLimits)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Validate returned %T (%v), want *Error", err, err)
			}
			checkMessage(t, e)
			return
		}
		checkAccepted(t, z, m, fuzzLimits)
	})
}

// isDrive reports whether name starts with a Windows drive letter ("C:").
// Other characters before a colon name no drive ("0:" is a plain file name).
func isDrive(name string) bool {
	return len(name) >= 2 && name[1] == ':' && strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", rune(name[0]))
}
