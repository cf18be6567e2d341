package bundle

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"io"
	"slices"
)

// local is what an entry's local header says. Unzippers that stream the zip
// from its start read only these, never the central directory.
type local struct {
	flags, method uint16
	crc           uint32
	csize, usize  uint64
	dataStart     int64 // where the entry's compressed data starts
}

// checkLayout makes the zip read the same way front to back as through its
// central directory: every local header agrees with its directory record,
// the entries follow each other from the first byte to the central directory
// with nothing in between but data descriptors, and no two overlap (the trick
// behind zip bombs that unpack one compressed block many times: the size and
// ratio checks would stop those too, but only after decompressing).
func (v *validator) checkLayout() *Error {
	order := make([]int, len(v.entries))
	locals := make([]local, len(v.entries))
	for i := range v.entries {
		order[i] = i
		lh, err := v.readLocal(v.entries[i])
		if err != nil {
			return err
		}
		locals[i] = lh
		v.entries[i].data = lh.dataStart
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(v.entries[a].header, v.entries[b].header) })
	if first := v.entries[order[0]]; first.header != 0 {
		return refuse(ReasonCorrupt, "The zip has %s of unexpected data before its first file. Re-create the zip with a standard zip tool.", formatBytes(uint64(first.header)))
	}
	v.order = order
	for k, i := range order {
		e := v.entries[i]
		end := locals[i].dataStart + int64(e.CompressedSize64)
		last := k+1 == len(order)
		next := v.dirStart
		if !last {
			next = v.entries[order[k+1]].header
		}
		switch {
		case next < end && last:
			return refuse(ReasonCorrupt, "The data of %s runs into the zip's table of contents. The zip is damaged; re-create it.", displayName(e.Name))
		case next < end:
			return refuse(ReasonCorrupt, "The entries %s and %s overlap in the zip. The zip is damaged, or was built to unpack the same data many times over (a zip bomb); re-create it with a standard zip tool.", displayName(e.Name), displayName(v.entries[order[k+1]].Name))
		}
		if err := v.checkGap(e, end, next-end); err != nil {
			return err
		}
	}
	return nil
}

// readLocal reads e's local header and refuses it if it disagrees with the
// directory record: a streaming unzipper would see another file.
func (v *validator) readLocal(e entry) (local, *Error) {
	shown := displayName(e.Name)
	damaged := func(what string) *Error {
		return refuse(ReasonCorrupt, "The zip's local header for %s %s. The zip is damaged or was tampered with; re-create it with a standard zip tool.", shown, what)
	}
	b := make([]byte, localHeaderLen+len(e.Name))
	if err := readAt(v.r, b, e.header); err != nil {
		return local{}, damaged("cannot be read").because(err)
	}
	le := binary.LittleEndian
	if le.Uint32(b) != localHeaderSig {
		return local{}, damaged("is missing")
	}
	lh := local{
		flags:  le.Uint16(b[6:]),
		method: le.Uint16(b[8:]),
		crc:    le.Uint32(b[14:]),
		csize:  uint64(le.Uint32(b[18:])),
		usize:  uint64(le.Uint32(b[22:])),
	}
	nameLen, extraLen := int(le.Uint16(b[26:])), int(le.Uint16(b[28:]))
	lh.dataStart = e.header + localHeaderLen + int64(nameLen) + int64(extraLen)
	switch {
	case nameLen != len(e.Name) || !bytes.Equal(b[localHeaderLen:], []byte(e.Name)):
		return local{}, damaged("names a different file")
	case lh.flags&flagEncrypted != 0:
		return local{}, refuse(ReasonEncrypted, "The file %s is encrypted (password-protected). Create the zip without a password.", shown)
	case lh.method != e.Method || lh.flags&flagDataDescriptor != e.Flags&flagDataDescriptor:
		return local{}, damaged("disagrees with the zip's table of contents")
	}
	// archive/zip must find the data where we do; otherwise the two walks of
	// the directory disagree, and nothing below can be trusted.
	if at, err := e.DataOffset(); err != nil || at != lh.dataStart {
		return local{}, damaged("is not where the table of contents says").because(err)
	}
	if lh.flags&flagDataDescriptor != 0 {
		return lh, nil // sizes and CRC follow the data; checkGap reads them
	}
	if lh.csize == maxUint32 || lh.usize == maxUint32 {
		extra := make([]byte, extraLen)
		if err := readAt(v.r, extra, e.header+localHeaderLen+int64(nameLen)); err != nil {
			return local{}, damaged("cannot be read").because(err)
		}
		lh.usize, lh.csize = localZip64Sizes(extra, lh.usize, lh.csize)
	}
	if lh.crc != e.CRC32 || lh.csize != e.CompressedSize64 || lh.usize != e.UncompressedSize64 {
		return local{}, damaged("gives other sizes or another checksum than the table of contents")
	}
	return lh, nil
}

// localZip64Sizes takes the sizes from a local header's zip64 field, which
// holds the uncompressed and then the compressed size, each only when the
// 32-bit field is maxed out.
func localZip64Sizes(extra []byte, usize, csize uint64) (uint64, uint64) {
	le := binary.LittleEndian
	for len(extra) >= 4 {
		tag, n := le.Uint16(extra), int(le.Uint16(extra[2:]))
		extra = extra[4:]
		if len(extra) < n {
			break
		}
		field := extra[:n]
		extra = extra[n:]
		if tag != zip64ExtraID {
			continue
		}
		if usize == maxUint32 && len(field) >= 8 {
			usize, field = le.Uint64(field), field[8:]
		}
		if csize == maxUint32 && len(field) >= 8 {
			csize = le.Uint64(field)
		}
		break
	}
	return usize, csize
}

// checkGap checks the gap bytes after e's data, which ends at end: nothing,
// or e's data descriptor when e has one, and that must agree with the
// directory record.
func (v *validator) checkGap(e entry, end, gap int64) *Error {
	shown := displayName(e.Name)
	if e.Flags&flagDataDescriptor == 0 {
		if gap != 0 {
			return refuse(ReasonCorrupt, "The zip has %s of unexpected data after %s. Re-create the zip with a standard zip tool.", formatBytes(uint64(gap)), shown)
		}
		return nil
	}
	// A data descriptor is CRC and both sizes, 32 or 64 bits each, with or
	// without a leading signature: 12, 16, 20 or 24 bytes.
	var b [24]byte
	if gap != 12 && gap != 16 && gap != 20 && gap != 24 {
		return refuse(ReasonCorrupt, "The zip has no proper data descriptor after %s. Re-create the zip with a standard zip tool.", shown)
	}
	d := b[:gap]
	if err := readAt(v.r, d, end); err != nil {
		return refuse(ReasonCorrupt, "The data descriptor of %s cannot be read.", shown).because(err)
	}
	le := binary.LittleEndian
	signed := gap == 16 || gap == 24
	if signed {
		if le.Uint32(d) != dataDescriptorSig {
			return refuse(ReasonCorrupt, "The zip has no proper data descriptor after %s. Re-create the zip with a standard zip tool.", shown)
		}
		d = d[4:]
	}
	crc := le.Uint32(d)
	var csize, usize uint64
	if len(d) == 12 {
		csize, usize = uint64(le.Uint32(d[4:])), uint64(le.Uint32(d[8:]))
	} else {
		csize, usize = le.Uint64(d[4:]), le.Uint64(d[12:])
	}
	if crc != e.CRC32 || csize != e.CompressedSize64 || usize != e.UncompressedSize64 {
		return refuse(ReasonCorrupt, "The data descriptor of %s gives other sizes or another checksum than the zip's table of contents. The zip is damaged; re-create it.", shown)
	}
	return nil
}

// readAt fills p from r at off. A reader may report io.EOF along with a full
// read; only a short read is an error.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
