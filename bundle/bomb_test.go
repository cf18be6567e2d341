package bundle

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

const bombSize = 300 << 20 // zeros in each zip bomb

// bombs are the big hostile zips, built once and shared: building them
// while another test measures its allocations would spoil the measurement.
type bombs struct {
	honest []byte // 300 MiB of zeros deflated, with true headers
	lying  []byte // the same data, its headers claiming 1 KiB
	many   []byte // 400,000 central directory records
}

var hostile = sync.OnceValue(func() bombs {
	var b bombs

	// Stream the zeros through archive/zip at the best compression: about
	// 300 KiB of deflate data.
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	w.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestCompression)
	})
	fw, err := w.Create("zeros.bin")
	must(err)
	_, err = io.CopyN(fw, zeros{}, bombSize)
	must(err)
	fw, err = w.Create("index.html")
	must(err)
	_, err = io.WriteString(fw, indexHTML)
	must(err)
	must(w.Close())
	b.honest = buf.Bytes()

	// Take the deflate data as it is and give it a header that understates.
	zr, err := zip.NewReader(bytes.NewReader(b.honest), int64(len(b.honest)))
	must(err)
	raw, err := zr.File[0].OpenRaw()
	must(err)
	data, err := io.ReadAll(raw)
	must(err)
	h := zr.File[0].FileHeader
	h.Flags &^= flagDataDescriptor
	h.UncompressedSize64 = 1 << 10
	buf = bytes.Buffer{}
	w = zip.NewWriter(&buf)
	fw, err = w.Create("index.html")
	must(err)
	_, err = io.WriteString(fw, indexHTML)
	must(err)
	fw, err = w.CreateRaw(&h)
	must(err)
	_, err = fw.Write(data)
	must(err)
	must(w.Close())
	b.lying = buf.Bytes()

	// archive/zip alone would keep a File for each of these records.
	b.many = manyRecords(400_000)
	zr, err = zip.NewReader(bytes.NewReader(b.many), int64(len(b.many)))
	must(err)
	if len(zr.File) != 400_000 {
		panic("archive/zip does not see the 400,000 records")
	}
	return b
})

func must(err error) {
	if err != nil {
		panic(err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// manyRecords builds by hand a zip of one empty file and n central directory
// records all pointing at it: 46 bytes a record, about 200 bytes for each in
// archive/zip's memory. The end record's count is n modulo 2^16, as
// archive/zip accepts.
func manyRecords(n int) []byte {
	le := binary.LittleEndian
	var z []byte
	z = le.AppendUint32(z, localHeaderSig)
	z = append(z, make([]byte, localHeaderLen-4)...)
	dirStart := len(z)
	record := make([]byte, directoryHeaderLen)
	le.PutUint32(record, directoryHeaderSig)
	for range n {
		z = append(z, record...)
	}
	end := make([]byte, directoryEndLen)
	le.PutUint32(end, directoryEndSig)
	le.PutUint16(end[8:], uint16(n))
	le.PutUint16(end[10:], uint16(n))
	le.PutUint32(end[12:], uint32(len(z)-dirStart))
	le.PutUint32(end[16:], uint32(dirStart))
	return append(z, end...)
}

// refusedCheaply validates z, expecting one of reasons, and checks that it
// took little time and memory.
// refusedCheaply measures allocation through runtime.MemStats, which counts
// the whole process: the tests that call it do not run in parallel (Go runs
// them before resuming any parallel test), or others' allocations would count.
func refusedCheaply(t *testing.T, z []byte, l Limits, maxAlloc uint64, reasons ...string) *Error {
	t.Helper()
	var err error
	start := time.Now()
	alloc := allocated(func() { _, err = validate(z, l) })
	elapsed := time.Since(start) / 3
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Validate = %v, want an *Error", err)
	}
	if !contains(reasons, e.Reason) {
		t.Errorf("reason = %q, want one of %q (message: %s)", e.Reason, reasons, e.Message)
	}
	if alloc > maxAlloc {
		t.Errorf("Validate allocated %s, want at most %s", formatBytes(alloc), formatBytes(maxAlloc))
	}
	if elapsed > 10*time.Second {
		t.Errorf("Validate took %v", elapsed)
	}
	t.Logf("%s: refused in %v, allocating %s", e.Reason, elapsed, formatBytes(alloc))
	return e
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestZipBombIsRefusedByItsHeaders(t *testing.T) {
	z := hostile().honest
	t.Logf("bomb: %s of zeros in a %s zip", formatBytes(bombSize), formatBytes(uint64(len(z))))
	e := refusedCheaply(t, z, DefaultLimits(), 32<<20, ReasonZipBomb, ReasonTooBigUncompressed)
	if e.Reason == ReasonZipBomb && !bytes.Contains([]byte(e.Message), []byte(`"zeros.bin"`)) {
		t.Errorf("message %q does not name the file", e.Message)
	}
}

func TestZipBombWithALyingHeaderIsRefusedByItsRealSize(t *testing.T) {
	z := hostile().lying
	e := refusedCheaply(t, z, DefaultLimits(), 32<<20, ReasonZipBomb)
	if !bytes.Contains([]byte(e.Message), []byte(`"zeros.bin"`)) {
		t.Errorf("message %q does not name the file", e.Message)
	}
}

func TestDecompressionStopsAtTheLimit(t *testing.T) {
	z := hostile().lying
	// With the ratio out of the way only the total limit stops it.
	l := Limits{MaxUncompressedBytes: 20 << 20, MaxRatio: 1 << 40}
	refusedCheaply(t, z, l, 32<<20, ReasonTooBigUncompressed)

	r := &countingReaderAt{r: bytes.NewReader(z)}
	if _, err := Validate(r, int64(len(z)), l); err == nil {
		t.Fatal("Validate accepted the bomb")
	}
	// 20 MiB of zeros is about a fifteenth of the deflate data; reading a
	// third of the zip means decompression went on past the limit.
	if n := r.bytes.Load(); n > int64(len(z))/3 {
		t.Errorf("Validate read %s of a %s zip to refuse 20 MiB", formatBytes(uint64(n)), formatBytes(uint64(len(z))))
	}
}

func TestManyDirectoryRecordsAreCountedBeforeArchiveZipReadsThem(t *testing.T) {
	z := hostile().many
	refusedCheaply(t, z, DefaultLimits(), 8<<20, ReasonTooManyFiles)
}
