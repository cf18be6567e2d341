package bundle

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
)

// zipBuilder writes a test zip with archive/zip.
type zipBuilder struct {
	t   testing.TB
	buf bytes.Buffer
	w   *zip.Writer
}

func newZip(t testing.TB) *zipBuilder {
	t.Helper()
	b := &zipBuilder{t: t}
	b.w = zip.NewWriter(&b.buf)
	return b
}

// site starts a zip with a small good site: index.html, a folder entry and
// assets/app.js.
func site(t testing.TB) *zipBuilder {
	t.Helper()
	return newZip(t).
		file("index.html", indexHTML).
		dir("assets/").
		file("assets/app.js", appJS)
}

const (
	indexHTML = `<!doctype html><title>My app</title><script src="assets/app.js"></script>`
	appJS     = `console.log("hello from my app");`
)

// file adds a deflated file the way most zip tools write one.
func (b *zipBuilder) file(name, body string) *zipBuilder {
	b.t.Helper()
	return b.header(&zip.FileHeader{Name: name, Method: zip.Deflate}, body)
}

// dir adds a folder entry; name ends in "/".
func (b *zipBuilder) dir(name string) *zipBuilder {
	b.t.Helper()
	if _, err := b.w.Create(name); err != nil {
		b.t.Fatal(err)
	}
	return b
}

// header adds a file described by fh, letting archive/zip compress body and
// fill in sizes and CRC.
func (b *zipBuilder) header(fh *zip.FileHeader, body string) *zipBuilder {
	b.t.Helper()
	w, err := b.w.CreateHeader(fh)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := io.WriteString(w, body); err != nil {
		b.t.Fatal(err)
	}
	return b
}

// raw adds an entry exactly as fh describes it, with data as its compressed
// bytes: the way to write headers that lie.
func (b *zipBuilder) raw(fh *zip.FileHeader, data []byte) *zipBuilder {
	b.t.Helper()
	w, err := b.w.CreateRaw(fh)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		b.t.Fatal(err)
	}
	return b
}

// bytes finishes the zip and returns it.
func (b *zipBuilder) bytes() []byte {
	b.t.Helper()
	if err := b.w.Close(); err != nil {
		b.t.Fatal(err)
	}
	return b.buf.Bytes()
}

// stored returns an honest header and data for body, not compressed.
func stored(name, body string) (*zip.FileHeader, []byte) {
	return &zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		CRC32:              crc32.ChecksumIEEE([]byte(body)),
		CompressedSize64:   uint64(len(body)),
		UncompressedSize64: uint64(len(body)),
	}, []byte(body)
}

// deflated returns an honest header and data for body, deflated.
func deflated(t testing.TB, name, body string) (*zip.FileHeader, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, body); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &zip.FileHeader{
		Name:               name,
		Method:             zip.Deflate,
		CRC32:              crc32.ChecksumIEEE([]byte(body)),
		CompressedSize64:   uint64(buf.Len()),
		UncompressedSize64: uint64(len(body)),
	}, buf.Bytes()
}

// with returns a copy of fh changed by edit.
func with(fh *zip.FileHeader, edit func(*zip.FileHeader)) *zip.FileHeader {
	c := *fh
	edit(&c)
	return &c
}

// directoryRecord returns where name's central directory record starts in z.
func directoryRecord(t testing.TB, z []byte, name string) int {
	t.Helper()
	le := binary.LittleEndian
	end := bytes.LastIndex(z, []byte("PK\x05\x06"))
	if end < 0 {
		t.Fatal("no end of central directory record")
	}
	for at := int(le.Uint32(z[end+16:])); le.Uint32(z[at:]) == directoryHeaderSig; {
		n, e, c := int(le.Uint16(z[at+28:])), int(le.Uint16(z[at+30:])), int(le.Uint16(z[at+32:]))
		if string(z[at+46:at+46+n]) == name {
			return at
		}
		at += 46 + n + e + c
	}
	t.Fatalf("no central directory record for %q", name)
	return 0
}

// localHeader returns where name's local header starts in z.
func localHeader(t testing.TB, z []byte, name string) int {
	t.Helper()
	return int(binary.LittleEndian.Uint32(z[directoryRecord(t, z, name)+42:]))
}

// patch returns a copy of z with b written at offset at.
func patch(z []byte, at int, b ...byte) []byte {
	c := bytes.Clone(z)
	copy(c[at:], b)
	return c
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r     io.ReaderAt
	bytes atomic.Int64
	calls atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.calls.Add(1)
	n, err := c.r.ReadAt(p, off)
	c.bytes.Add(int64(n))
	return n, err
}

// allocated returns the fewest bytes f allocated over three runs: tests
// running in parallel can only add to the count, never take from it.
func allocated(f func()) uint64 {
	least := ^uint64(0)
	var before, after runtime.MemStats
	for range 3 {
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// validate runs Validate over z.
func validate(z []byte, l Limits) (Manifest, error) {
	return Validate(bytes.NewReader(z), int64(len(z)), l)
}
