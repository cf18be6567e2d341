package bundle

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"unicode"
)

func TestValidateAcceptsGoodSites(t *testing.T) {
	t.Parallel()
	good := site(t).bytes()
	tests := []struct {
		name  string
		zip   []byte
		files int
	}{
		{"archive/zip", good, 2},
		{"Info-ZIP", readFile(t, "testdata/infozip.zip"), 2},
		{"Info-ZIP with Unix attributes", readFile(t, "testdata/infozip-attrs.zip"), 2},
		{"Info-ZIP with data descriptors", readFile(t, "testdata/infozip-descriptors.zip"), 2},
		{"Info-ZIP forced zip64", readFile(t, "testdata/infozip-zip64.zip"), 2},
		{"Python zip64 local headers", readFile(t, "testdata/python-zip64.zip"), 2},
		{"Python stored", readFile(t, "testdata/python-stored.zip"), 2},
		{"stored without data descriptors", func() []byte {
			ih, id := stored("index.html", indexHTML)
			ah, ad := stored("assets/app.js", appJS)
			return newZip(t).raw(ih, id).raw(ah, ad).bytes()
		}(), 2},
		{"empty file and deep folders", newZip(t).file("index.html", "").file("a/b/c/d.txt", "d").dir("a/b/").bytes(), 2},
		{"with a comment", func() []byte {
			b := site(t)
			if err := b.w.SetComment("built by vite"); err != nil {
				t.Fatal(err)
			}
			return b.bytes()
		}(), 2},
		{"file names in other scripts", newZip(t).file("index.html", indexHTML).file("ファイル/日本語.html", "x").file("café.html", "x").bytes(), 3},
		{".well-known and names that only look private", newZip(t).file("index.html", indexHTML).
			dir(".well-known/").file(".well-known/security.txt", "Contact: x").file(".well-known/apple-app-site-association", "{}").
			file("environment.js", "x").file("assets/env.js", "x").file("git/config.html", "x").file("docs/.gitbook.html", "x").bytes(), 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := validate(tc.zip, DefaultLimits())
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			want := Manifest{Files: tc.files, UncompressedBytes: unpackedSize(t, tc.zip), CompressedBytes: int64(len(tc.zip))}
			if m != want {
				t.Errorf("manifest = %+v, want %+v", m, want)
			}
		})
	}
}

func TestValidateManifestOfTheGoodSite(t *testing.T) {
	t.Parallel()
	z := site(t).bytes()
	m, err := validate(z, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := Manifest{Files: 2, UncompressedBytes: int64(len(indexHTML) + len(appJS)), CompressedBytes: int64(len(z))}
	if m != want {
		t.Errorf("manifest = %+v, want %+v", m, want)
	}
}

// badCase is a minimal zip refused for one reason. shows is what its message
// must quote (usually the offending name, as a person would see it).
type badCase struct {
	name   string
	zip    func(t testing.TB) []byte
	limits Limits
	reason string
	shows  string
}

// badCases are small enough to double as fuzz seeds.
func badCases() []badCase {
	stale := func(t testing.TB) []byte { return site(t).bytes() }
	named := func(name string) func(t testing.TB) []byte {
		return func(t testing.TB) []byte { return site(t).file(name, "x").bytes() }
	}
	return []badCase{
		{name: "over MaxCompressedBytes", zip: stale, limits: Limits{MaxCompressedBytes: 100}, reason: ReasonTooBig},
		{name: "not a zip", zip: func(testing.TB) []byte { return []byte("<!doctype html>") }, reason: ReasonNotZip},
		{name: "empty file", zip: func(testing.TB) []byte { return nil }, reason: ReasonNotZip},
		{name: "zip without entries", zip: func(t testing.TB) []byte { return newZip(t).bytes() }, reason: ReasonNotZip},
		{name: "truncated zip", zip: func(t testing.TB) []byte { z := site(t).bytes(); return z[:len(z)-10] }, reason: ReasonNotZip},
		{name: "too many files", zip: stale, limits: Limits{MaxFiles: 2}, reason: ReasonTooManyFiles},

		{name: "declared size over the limit", zip: func(t testing.TB) []byte {
			return site(t).file("big.txt", strings.Repeat("a", 100)).bytes()
		}, limits: Limits{MaxUncompressedBytes: 150}, reason: ReasonTooBigUncompressed},
		{name: "one file over the limit", zip: func(t testing.TB) []byte {
			return site(t).file("big.txt", strings.Repeat("a", 200)).bytes()
		}, limits: Limits{MaxUncompressedBytes: 150}, reason: ReasonTooBigUncompressed, shows: `"big.txt"`},
		{name: "declared zip64 size over the limit", zip: func(t testing.TB) []byte {
			h, d := stored("huge.bin", "x")
			return site(t).raw(with(h, func(h *zip.FileHeader) { h.Method = zip.Deflate; h.UncompressedSize64 = 5 << 30 }), d).bytes()
		}, reason: ReasonTooBigUncompressed, shows: `"huge.bin"`},
		{name: "bundle ratio by headers", zip: func(t testing.TB) []byte {
			b := site(t)
			for _, name := range []string{"a.bin", "b.bin", "c.bin"} {
				b.file(name, strings.Repeat("\x00", 600<<10))
			}
			return b.bytes()
		}, reason: ReasonZipBomb},

		{name: "absolute path", zip: named("/etc/passwd"), reason: ReasonAbsolutePath, shows: `"/etc/passwd"`},
		{name: "backslash root", zip: named(`\Windows\win.ini`), reason: ReasonAbsolutePath, shows: `"\Windows\win.ini"`},
		{name: "drive letter", zip: named(`C:\evil.js`), reason: ReasonAbsolutePath, shows: `"C:\evil.js"`},
		{name: "drive-relative", zip: named(`c:evil.js`), reason: ReasonAbsolutePath, shows: `"c:evil.js"`},
		{name: "UNC path", zip: named(`\\server\share\x.js`), reason: ReasonAbsolutePath, shows: `"\\server\share\x.js"`},
		{name: "UNC path with slashes", zip: named(`//server/share/x.js`), reason: ReasonAbsolutePath, shows: `"//server/share/x.js"`},
		{name: "parent", zip: named("../evil.js"), reason: ReasonParentPath, shows: `"../evil.js"`},
		{name: "parent deeper", zip: named("assets/../../evil.js"), reason: ReasonParentPath, shows: `"assets/../../evil.js"`},
		{name: "parent at the end", zip: named("assets/.."), reason: ReasonParentPath, shows: `"assets/.."`},
		{name: "parent folder", zip: func(t testing.TB) []byte { return site(t).dir("../").bytes() }, reason: ReasonParentPath, shows: `"../"`},
		{name: "parent with backslash", zip: named(`..\evil.js`), reason: ReasonParentPath, shows: `"..\evil.js"`},
		{name: "backslash", zip: named(`assets\app.js`), reason: ReasonBadPath, shows: `"assets\app.js"`},
		{name: "NUL", zip: named("index.html\x00.png"), reason: ReasonBadPath, shows: `"index.html.png"`},
		{name: "NUL in a folder", zip: named("assets\x00/app2.js"), reason: ReasonBadPath, shows: `"assets/app2.js"`},
		{name: "DEL", zip: named("a\x7fb.js"), reason: ReasonBadPath, shows: `"ab.js"`},

		{name: ".env", zip: named(".env"), reason: ReasonPrivateFile, shows: `".env"`},
		{name: ".env.local", zip: named(".env.local"), reason: ReasonPrivateFile, shows: `".env.local"`},
		{name: ".env.production in a folder", zip: named("config/.env.production"), reason: ReasonPrivateFile, shows: `"config/.env.production"`},
		{name: ".git/config", zip: named(".git/config"), reason: ReasonPrivateFile, shows: `".git/config"`},
		{name: ".git folder entry", zip: func(t testing.TB) []byte { return site(t).dir(".git/").bytes() }, reason: ReasonPrivateFile, shows: `".git/"`},
		{name: ".git deeper", zip: named("vendor/lib/.git/HEAD"), reason: ReasonPrivateFile, shows: `"vendor/lib/.git/HEAD"`},
		{name: ".git file (a worktree pointer)", zip: named("sub/.git"), reason: ReasonPrivateFile, shows: `"sub/.git"`},
		{name: ".DS_Store", zip: named(".DS_Store"), reason: ReasonPrivateFile, shows: `".DS_Store"`},
		{name: ".DS_Store in a folder", zip: named("assets/.DS_Store"), reason: ReasonPrivateFile, shows: `"assets/.DS_Store"`},
		{name: "AppleDouble", zip: named("assets/._app.js"), reason: ReasonPrivateFile, shows: `"assets/._app.js"`},
		{name: "__MACOSX", zip: named("__MACOSX/index.html"), reason: ReasonPrivateFile, shows: `"__MACOSX/index.html"`},
		{name: "Thumbs.db", zip: named("img/Thumbs.db"), reason: ReasonPrivateFile, shows: `"img/Thumbs.db"`},
		{name: ".npmrc", zip: named(".npmrc"), reason: ReasonPrivateFile, shows: `".npmrc"`},
		{name: ".htpasswd", zip: named("admin/.htpasswd"), reason: ReasonPrivateFile, shows: `"admin/.htpasswd"`},
		{name: ".svn", zip: named(".svn/entries"), reason: ReasonPrivateFile, shows: `".svn/entries"`},
		{name: ".ssh key", zip: named(".ssh/id_ed25519"), reason: ReasonPrivateFile, shows: `".ssh/id_ed25519"`},
		{name: "newline", zip: named("a\nb.js"), reason: ReasonBadPath, shows: `"ab.js"`},
		{name: "invalid UTF-8", zip: named("caf\xe9.js"), reason: ReasonBadPath, shows: "\"caf\uFFFD.js\""},
		{name: "empty element", zip: named("assets//app.js"), reason: ReasonBadPath, shows: `"assets//app.js"`},
		{name: "empty element in a folder", zip: func(t testing.TB) []byte { return site(t).dir("assets//").bytes() }, reason: ReasonBadPath, shows: `"assets//"`},
		{name: "dot element", zip: named("./index.html"), reason: ReasonBadPath, shows: `"./index.html"`},
		{name: "dot in the middle", zip: named("assets/./app.js"), reason: ReasonBadPath, shows: `"assets/./app.js"`},
		{name: "empty name", zip: named(""), reason: ReasonBadPath},
		{name: "long name", zip: named(strings.Repeat("a", 600)), reason: ReasonBadPath, shows: `"` + strings.Repeat("a", maxShownName) + `…"`},
		{name: "long name under a smaller limit", zip: named("assets/12345.js"), limits: Limits{MaxPathLength: 14}, reason: ReasonBadPath, shows: `"assets/12345.js"`},

		{name: "symlink by mode", zip: func(t testing.TB) []byte {
			fh := &zip.FileHeader{Name: "assets/link.js"}
			fh.SetMode(fs.ModeSymlink | 0o777)
			return site(t).header(fh, "/etc/passwd").bytes()
		}, reason: ReasonSymlink, shows: `"assets/link.js"`},
		{name: "symlink by raw Unix attributes", zip: func(t testing.TB) []byte {
			h, d := stored("link.js", "/etc/passwd")
			return site(t).raw(with(h, func(h *zip.FileHeader) { h.CreatorVersion = 3<<8 | 20; h.ExternalAttrs = 0o120777 << 16 }), d).bytes()
		}, reason: ReasonSymlink, shows: `"link.js"`},
		{name: "symlink bits under a Windows creator", zip: func(t testing.TB) []byte {
			h, d := stored("link.js", "/etc/passwd")
			return site(t).raw(with(h, func(h *zip.FileHeader) { h.CreatorVersion = 11<<8 | 20; h.ExternalAttrs = 0o120777<<16 | 0x20 }), d).bytes()
		}, reason: ReasonSymlink, shows: `"link.js"`},
		{name: "Info-ZIP symlink", zip: func(t testing.TB) []byte { return readFile(t, "testdata/infozip-symlink.zip") }, reason: ReasonSymlink, shows: `"passwd"`},
		{name: "named pipe", zip: func(t testing.TB) []byte {
			fh := &zip.FileHeader{Name: "fifo"}
			fh.SetMode(fs.ModeNamedPipe | 0o644)
			return site(t).header(fh, "").bytes()
		}, reason: ReasonSpecialFile, shows: `"fifo"`},
		{name: "device", zip: func(t testing.TB) []byte {
			fh := &zip.FileHeader{Name: "sda"}
			fh.SetMode(fs.ModeDevice | 0o644)
			return site(t).header(fh, "").bytes()
		}, reason: ReasonSpecialFile, shows: `"sda"`},
		{name: "folder mode on a file name", zip: func(t testing.TB) []byte {
			h, d := stored("assets2", "")
			return site(t).raw(with(h, func(h *zip.FileHeader) { h.CreatorVersion = 3<<8 | 20; h.ExternalAttrs = 0o040755 << 16 }), d).bytes()
		}, reason: ReasonSpecialFile, shows: `"assets2"`},

		{name: "same file twice", zip: named("index.html"), reason: ReasonDuplicate, shows: `"index.html"`},
		{name: "same folder twice", zip: func(t testing.TB) []byte { return site(t).dir("assets/").bytes() }, reason: ReasonDuplicate, shows: `"assets"`},
		{name: "file then folder", zip: func(t testing.TB) []byte { return site(t).file("app", "x").dir("app/").bytes() }, reason: ReasonDuplicate, shows: `"app"`},
		{name: "file under a file", zip: func(t testing.TB) []byte { return site(t).file("app", "x").file("app/main.js", "x").bytes() }, reason: ReasonDuplicate, shows: `"app"`},
		{name: "file where a folder was implied", zip: named("assets/app.js/x"), reason: ReasonDuplicate, shows: `"assets/app.js"`},
		{name: "file named like a folder", zip: named("assets"), reason: ReasonDuplicate, shows: `"assets"`},

		{name: "encrypted", zip: func(t testing.TB) []byte {
			h, d := stored("secret.js", "x")
			return site(t).raw(with(h, func(h *zip.FileHeader) { h.Flags |= 0x1 }), d).bytes()
		}, reason: ReasonEncrypted, shows: `"secret.js"`},
		{name: "encrypted in the local header only", zip: func(t testing.TB) []byte {
			h, d := stored("secret.js", "x")
			z := site(t).raw(h, d).bytes()
			at := localHeader(t, z, "secret.js") + 6
			return patch(z, at, z[at]|0x1)
		}, reason: ReasonEncrypted, shows: `"secret.js"`},
		{name: "bzip2", zip: func(t testing.TB) []byte {
			h, d := stored("app.bz2.js", "BZh9")
			return site(t).raw(with(h, func(h *zip.FileHeader) { h.Method = 12 }), d).bytes()
		}, reason: ReasonUnsupportedCompression, shows: `"app.bz2.js"`},

		{name: "bad CRC", zip: func(t testing.TB) []byte {
			h, d := stored("app2.js", appJS)
			return site(t).raw(with(h, func(h *zip.FileHeader) { h.CRC32 ^= 0xdeadbeef }), d).bytes()
		}, reason: ReasonCorrupt, shows: `"app2.js"`},
		{name: "bad CRC in the central directory", zip: func(t testing.TB) []byte {
			z := site(t).bytes()
			at := directoryRecord(t, z, "assets/app.js") + 16
			return patch(z, at, z[at]^0xff)
		}, reason: ReasonCorrupt, shows: `"assets/app.js"`},
		{name: "broken deflate stream", zip: func(t testing.TB) []byte {
			h, _ := stored("app2.js", appJS)
			h = with(h, func(h *zip.FileHeader) { h.Method = zip.Deflate; h.CompressedSize64 = 4 })
			return site(t).raw(h, []byte{0xff, 0xff, 0xff, 0xff}).bytes()
		}, reason: ReasonCorrupt, shows: `"app2.js"`},
		{name: "header understates the size", zip: func(t testing.TB) []byte {
			h, d := deflated(t, "app2.js", appJS+appJS)
			return site(t).raw(with(h, func(h *zip.FileHeader) { h.UncompressedSize64 = uint64(len(appJS)) }), d).bytes()
		}, reason: ReasonCorrupt, shows: `"app2.js"`},
		{name: "header overstates the size", zip: func(t testing.TB) []byte {
			h, d := deflated(t, "app2.js", appJS)
			return site(t).raw(with(h, func(h *zip.FileHeader) { h.UncompressedSize64 += 10 }), d).bytes()
		}, reason: ReasonCorrupt, shows: `"app2.js"`},
		{name: "central directory understates, data descriptor tells the truth", zip: func(t testing.TB) []byte {
			z := site(t).bytes()
			at := directoryRecord(t, z, "assets/app.js") + 24
			return patch(z, at, le32(4)...)
		}, reason: ReasonCorrupt, shows: `"assets/app.js"`},
		{name: "stored sizes disagree", zip: func(t testing.TB) []byte {
			h, d := stored("app2.js", appJS)
			return site(t).raw(with(h, func(h *zip.FileHeader) { h.UncompressedSize64 = 4 }), d).bytes()
		}, reason: ReasonCorrupt, shows: `"app2.js"`},
		{name: "compressed size beyond the zip", zip: func(t testing.TB) []byte {
			z := site(t).bytes()
			return patch(z, directoryRecord(t, z, "assets/app.js")+20, le32(1<<30)...)
		}, reason: ReasonCorrupt, shows: `"assets/app.js"`},
		{name: "folder with data", zip: func(t testing.TB) []byte {
			// archive/zip will not write data to a folder: rename a file.
			h, d := stored("data_", "hidden")
			z := site(t).raw(h, d).bytes()
			z = patch(z, localHeader(t, z, "data_")+localHeaderLen+4, '/')
			return patch(z, directoryRecord(t, z, "data_")+directoryHeaderLen+4, '/')
		}, reason: ReasonCorrupt, shows: `"data/"`},
		{name: "data after the deflate stream", zip: func(t testing.TB) []byte {
			h, d := deflated(t, "app2.js", appJS)
			d = append(d, "hidden"...)
			return site(t).raw(with(h, func(h *zip.FileHeader) { h.CompressedSize64 = uint64(len(d)) }), d).bytes()
		}, reason: ReasonCorrupt, shows: `"app2.js"`},
		{name: "local header names another file", zip: func(t testing.TB) []byte {
			z := site(t).bytes()
			at := localHeader(t, z, "assets/app.js") + localHeaderLen
			return patch(z, at, []byte("../../evil.js")...) // as long as "assets/app.js"
		}, reason: ReasonCorrupt, shows: `"assets/app.js"`},
		{name: "local header uses another method", zip: func(t testing.TB) []byte {
			z := site(t).bytes()
			return patch(z, localHeader(t, z, "assets/app.js")+8, 0, 0)
		}, reason: ReasonCorrupt, shows: `"assets/app.js"`},
		{name: "local header gives another size", zip: func(t testing.TB) []byte {
			h, d := stored("app2.js", appJS)
			z := site(t).raw(h, d).bytes()
			return patch(z, localHeader(t, z, "app2.js")+18, le32(3)...)
		}, reason: ReasonCorrupt, shows: `"app2.js"`},
		{name: "data before the first file", zip: func(t testing.TB) []byte {
			return append([]byte("#!/bin/sh\nexit 0\n"), site(t).bytes()...)
		}, reason: ReasonCorrupt},
		{name: "hidden data between files", zip: func(t testing.TB) []byte {
			h, d := stored("app2.js", appJS)
			z := site(t).raw(h, d).raw(with(h, func(h *zip.FileHeader) { h.Name = "app3.js" }), d).bytes()
			// Claim app2.js is shorter than it is: its last bytes become a gap.
			z = patch(z, directoryRecord(t, z, "app2.js")+20, le32(4)...)
			z = patch(z, directoryRecord(t, z, "app2.js")+24, le32(4)...)
			z = patch(z, localHeader(t, z, "app2.js")+18, le32(4)...)
			z = patch(z, localHeader(t, z, "app2.js")+22, le32(4)...)
			return z
		}, reason: ReasonCorrupt, shows: `"app2.js"`},
		{name: "data running into the central directory", zip: func(t testing.TB) []byte {
			h, d := stored("app2.js", appJS)
			z := site(t).raw(h, d).bytes()
			for _, at := range []int{directoryRecord(t, z, "app2.js") + 20, localHeader(t, z, "app2.js") + 18} {
				z = patch(z, at, le32(uint32(len(appJS)+10))...)
				z = patch(z, at+4, le32(uint32(len(appJS)+10))...)
			}
			return z
		}, reason: ReasonCorrupt, shows: `"app2.js"`},
		{name: "data descriptor without its signature", zip: func(t testing.TB) []byte {
			z := site(t).bytes()
			at := localHeader(t, z, "assets/app.js")
			return patch(z, at+bytes.Index(z[at:], []byte("PK\x07\x08")), 'X')
		}, reason: ReasonCorrupt, shows: `"assets/app.js"`},
		{name: "huge comments in the central directory", zip: func(t testing.TB) []byte {
			return site(t).header(&zip.FileHeader{Name: "a.js", Comment: strings.Repeat("c", 20<<10)}, "x").bytes()
		}, limits: Limits{MaxFiles: 10}, reason: ReasonCorrupt},
		{name: "entries sharing data", zip: overlappingEntries, reason: ReasonCorrupt, shows: `"app3.js"`},

		{name: "no index.html", zip: func(t testing.TB) []byte { return newZip(t).file("about.html", indexHTML).bytes() }, reason: ReasonNoIndex},
		{name: "index.html is a folder", zip: func(t testing.TB) []byte { return newZip(t).dir("index.html/").file("index.html/a", "a").bytes() }, reason: ReasonNoIndex},
		{name: "the dist folder zipped", zip: func(t testing.TB) []byte {
			return newZip(t).dir("dist/").file("dist/index.html", indexHTML).file("dist/blog/index.html", indexHTML).bytes()
		}, reason: ReasonNoIndex, shows: `"dist/index.html"`},
	}
}

// overlappingEntries builds a zip whose entry app3.js lies inside the stored
// data of app2.js, the construction of non-recursive zip bombs.
func overlappingEntries(t testing.TB) []byte {
	t.Helper()
	inner := newZip(t)
	ih, id := stored("app3.js", appJS)
	inner.raw(ih, id)
	quoted := inner.bytes()
	quoted = quoted[:localHeaderLen+len("app3.js")+len(appJS)] // just the local header and data

	oh, od := stored("app2.js", string(quoted))
	z := site(t).raw(oh, od).raw(ih, id).bytes()
	// Point app3.js's directory record at the copy inside app2.js.
	quotedAt := localHeader(t, z, "app2.js") + localHeaderLen + len("app2.js")
	return patch(z, directoryRecord(t, z, "app3.js")+42, le32(uint32(quotedAt))...)
}

func TestValidateRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range badCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := validate(tc.zip(t), tc.limits)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate returned %v (%T), want an *Error", err, err)
			}
			if e.Reason != tc.reason {
				t.Errorf("reason = %q, want %q (message: %s)", e.Reason, tc.reason, e.Message)
			}
			if !strings.Contains(e.Message, tc.shows) {
				t.Errorf("message %q does not show %s", e.Message, tc.shows)
			}
			checkMessage(t, e)
		})
	}
}

// checkMessage holds every message to what a person may be shown.
func checkMessage(t testing.TB, e *Error) {
	t.Helper()
	if e.Message == "" || !strings.HasSuffix(e.Message, ".") {
		t.Errorf("message %q is not a sentence", e.Message)
	}
	for _, r := range e.Message {
		if unicode.IsControl(r) {
			t.Errorf("message %q contains control character %U", e.Message, r)
		}
	}
	if !strings.Contains(e.Error(), e.Reason) {
		t.Errorf("Error() = %q does not name the reason %q", e.Error(), e.Reason)
	}
}

func TestValidateAtTheFileLimit(t *testing.T) {
	t.Parallel()
	b := newZip(t).file("index.html", indexHTML)
	for i := range 9_999 {
		b.file(fmt.Sprintf("assets/%d.js", i), "x")
	}
	full := b.bytes()
	m, err := validate(full, DefaultLimits())
	if err != nil || m.Files != 10_000 {
		t.Fatalf("Validate = %+v, %v; want 10,000 files accepted", m, err)
	}
	_, err = validate(full, Limits{MaxFiles: 9_999})
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonTooManyFiles {
		t.Fatalf("Validate = %v, want too_many_files", err)
	}
}

func TestValidateChecksSizeBeforeReading(t *testing.T) {
	t.Parallel()
	r := &countingReaderAt{r: bytes.NewReader(nil)}
	_, err := Validate(r, 101<<20, DefaultLimits())
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonTooBig {
		t.Fatalf("Validate = %v, want too_big", err)
	}
	if n := r.calls.Load(); n != 0 {
		t.Errorf("Validate read the zip %d times before refusing its size", n)
	}
	if !strings.Contains(e.Message, "101 MiB") || !strings.Contains(e.Message, "100 MiB") {
		t.Errorf("message %q should give the size and the limit", e.Message)
	}
}

func TestValidateWrapsTheCause(t *testing.T) {
	t.Parallel()
	_, err := validate([]byte("not a zip at all"), DefaultLimits())
	if !errors.Is(err, zip.ErrFormat) {
		t.Errorf("Validate = %v, want it to wrap zip.ErrFormat", err)
	}
}

func TestDefaultLimits(t *testing.T) {
	t.Parallel()
	want := Limits{MaxCompressedBytes: 100 << 20, MaxUncompressedBytes: 500 << 20, MaxFiles: 10_000, MaxRatio: 200, MaxPathLength: 512}
	if got := DefaultLimits(); got != want {
		t.Errorf("DefaultLimits() = %+v, want %+v", got, want)
	}
	if got := (Limits{}).withDefaults(); got != want {
		t.Errorf("zero Limits mean %+v, want the defaults %+v", got, want)
	}
	if got := (Limits{MaxFiles: 3}).withDefaults(); got.MaxFiles != 3 || got.MaxRatio != 200 {
		t.Errorf("Limits{MaxFiles: 3} mean %+v", got)
	}
}

func TestDisplayName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"index.html":               `"index.html"`,
		"a\x00b\nc\x1b[31m":        `"abc[31m"`,
		"evil\u202egnp.js":         `"evilgnp.js"`, // right-to-left override
		"caf\xe9":                  "\"caf\uFFFD\"",
		strings.Repeat("é", 100):   `"` + strings.Repeat("é", maxShownName) + `…"`,
		strings.Repeat("a", 80):    `"` + strings.Repeat("a", 80) + `"`,
		"\u00a0non-breaking space": "\"\u00a0non-breaking space\"",
	}
	for in, want := range tests {
		if got := displayName(in); got != want {
			t.Errorf("displayName(%q) = %q, want %q", in, got, want)
		}
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unpackedSize is what archive/zip unpacks z to.
func unpackedSize(t testing.TB, z []byte) int64 {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range zr.File {
		n += int64(f.UncompressedSize64)
	}
	return n
}
