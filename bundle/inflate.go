package bundle

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"hash/crc32"
	"io"
)

// meter counts and checksums decompressed bytes on their way to nowhere.
type meter struct {
	n   int64
	crc uint32
}

func (m *meter) Write(p []byte) (int, error) {
	m.crc = crc32.Update(m.crc, crc32.IEEETable, p)
	m.n += int64(len(p))
	return len(p), nil
}

// inflater decompresses entries one after another with the same buffers, so
// ten thousand small files cost no more memory than one.
type inflater struct {
	in   *bufio.Reader // gives flate a ByteReader, so it reads no further than its stream
	flat io.ReadCloser
	buf  []byte
}

// measure decompresses every entry once, in file order, to learn its real
// size and check its CRC: the sizes in the headers were only claims.
// Decompression stops as soon as a limit is crossed, so in all it produces at
// most MaxUncompressedBytes+1 bytes.
func (v *validator) measure() (Manifest, *Error) {
	inf := &inflater{in: bufio.NewReaderSize(nil, 32*kib), buf: make([]byte, 32*kib)}
	m := Manifest{CompressedBytes: v.size}
	for _, i := range v.order {
		e := v.entries[i]
		n, err := v.measureEntry(inf, e, m.UncompressedBytes)
		if err != nil {
			return Manifest{}, err
		}
		m.UncompressedBytes += n
		if !e.dir {
			m.Files++
		}
	}
	return m, nil
}

// measureEntry decompresses e and returns its real size; total is what the
// entries before it unpacked to.
func (v *validator) measureEntry(inf *inflater, e entry, total int64) (int64, *Error) {
	shown := displayName(e.Name)
	// The most e may unpack to before crossing a limit: the bundle's total,
	// e's own ratio, or the bundle's overall ratio.
	remaining := uint64(v.limits.MaxUncompressedBytes - total)
	fileCeiling := max(v.ratioCeiling(e.CompressedSize64), ratioFloor-1)
	bundleCeiling := max(v.ratioCeiling(uint64(v.size)), ratioFloor-1) - uint64(total)
	allowed := min(remaining, fileCeiling, bundleCeiling, maxInt64-1)

	var src io.Reader = io.NewSectionReader(v.r, e.data, int64(e.CompressedSize64))
	if e.Method == zip.Deflate {
		inf.in.Reset(src)
		if inf.flat == nil {
			inf.flat = flate.NewReader(inf.in)
		} else if err := inf.flat.(flate.Resetter).Reset(inf.in, nil); err != nil {
			return 0, refuse(ReasonCorrupt, "The file %s cannot be decompressed.", shown).because(err)
		}
		src = inf.flat
	}
	var m meter
	if _, err := io.CopyBuffer(&m, io.LimitReader(src, int64(allowed)+1), inf.buf); err != nil {
		return 0, refuse(ReasonCorrupt, "The file %s cannot be decompressed: the zip is damaged. Re-create it and upload it again.", shown).because(err)
	}
	n := uint64(m.n)
	switch {
	case n > fileCeiling:
		return 0, bombFile(e, n, v.limits.MaxRatio)
	case n > bundleCeiling:
		return 0, refuse(ReasonZipBomb, "The bundle unpacks to more than %d times the size of its %s zip. Zips that compress this well are zip bombs, so it was refused.", v.limits.MaxRatio, formatBytes(uint64(v.size)))
	case n > remaining:
		return 0, refuse(ReasonTooBigUncompressed, "The files in the bundle unpack to more than %s, the most a bundle may hold.", formatBytes(uint64(v.limits.MaxUncompressedBytes)))
	}
	if e.Method == zip.Deflate {
		// Bytes after the end of the compressed stream are invisible to us
		// but not to every unzipper.
		if _, err := inf.in.ReadByte(); err != io.EOF {
			return 0, refuse(ReasonCorrupt, "The file %s has unexpected data after its compressed contents. Re-create the zip with a standard zip tool.", shown)
		}
	}
	if n != e.UncompressedSize64 {
		return 0, refuse(ReasonCorrupt, "The file %s unpacks to %s, but the zip says it holds %s. The zip is damaged or was tampered with; re-create it.", shown, formatBytes(n), formatBytes(e.UncompressedSize64))
	}
	if m.crc != e.CRC32 {
		return 0, refuse(ReasonCorrupt, "The file %s fails its checksum: the zip is damaged. Re-create it and upload it again.", shown)
	}
	return m.n, nil
}
