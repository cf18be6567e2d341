package bundle

import (
	"bufio"
	"encoding/binary"
	"io"
	"math/bits"
)

// Record signatures and fixed lengths of the zip format (APPNOTE.TXT).
const (
	localHeaderSig      = 0x04034b50
	directoryHeaderSig  = 0x02014b50
	directoryEndSig     = 0x06054b50
	directory64LocSig   = 0x07064b50
	directory64EndSig   = 0x06064b50
	dataDescriptorSig   = 0x08074b50
	localHeaderLen      = 30
	directoryHeaderLen  = 46
	directoryEndLen     = 22
	directory64LocLen   = 20
	directory64EndLen   = 56
	zip64ExtraID        = 0x0001
	flagEncrypted       = 0x1
	flagDataDescriptor  = 0x8
	maxUint16           = 1<<16 - 1
	maxUint32           = 1<<32 - 1
	maxInt64            = 1<<63 - 1
	directoryEndSearch1 = 1024
	directoryEndSearch2 = 65 * 1024
)

// directory is what scanDirectory learns: where the central directory starts
// and where each entry's local header is, in directory order.
type directory struct {
	start   int64
	headers []int64
}

// scanDirectory walks the central directory before archive/zip does, for two
// reasons. archive/zip keeps a File (about 200 bytes) for every record it
// reads, so a 100 MiB zip of empty records would cost hundreds of megabytes: the walk
// stops as soon as there are more than MaxFiles of them, or more directory
// bytes than that many entries need. And archive/zip does not say where an
// entry's local header is, which the layout checks need.
//
// The walk follows archive/zip's reader step by step (end record search,
// zip64 end record, base offset guess, records until the first bad one), so
// the records it finds are the Files archive/zip will return. It returns nil
// without an error when it cannot read the directory; archive/zip then says
// why the zip is unreadable.
func scanDirectory(r io.ReaderAt, size int64, l Limits) (*directory, *Error) {
	dirSize, dirOffset, endOffset, ok := readDirectoryEnd(r, size)
	if !ok {
		return nil, nil
	}
	baseOffset := endOffset - int64(dirSize) - int64(dirOffset)
	if o := baseOffset + int64(dirOffset); o < 0 || o >= size {
		return nil, nil
	}
	// Some writers get the directory offset wrong by the length of a prefix
	// (a self-extractor stub); archive/zip tries offset zero first.
	if baseOffset > 0 {
		off := int64(dirOffset)
		probe := bufio.NewReader(io.NewSectionReader(r, off, size-off))
		if _, _, err := readDirectoryRecord(probe); err == nil {
			baseOffset = 0
		}
	}

	d := &directory{start: baseOffset + int64(dirOffset)}
	perEntry := uint64(directoryHeaderLen + l.MaxPathLength + directorySlack)
	budget := int64(min(mulSat(uint64(l.MaxFiles), perEntry), maxInt64))
	var used int64
	buf := bufio.NewReader(io.NewSectionReader(r, d.start, size-d.start))
	for {
		offset, n, err := readDirectoryRecord(buf)
		if err != nil {
			return d, nil
		}
		if len(d.headers) == l.MaxFiles {
			return nil, refuse(ReasonTooManyFiles, "The bundle holds more than %d files and folders; a bundle may hold at most %d.", l.MaxFiles, l.MaxFiles)
		}
		used += int64(n)
		if used > budget {
			return nil, refuse(ReasonCorrupt, "The zip's table of contents is far larger than its %d entries need (it carries long comments or extra fields). Re-create the zip with a standard zip tool.", len(d.headers)+1)
		}
		d.headers = append(d.headers, baseOffset+offset)
	}
}

// readDirectoryEnd finds and reads the end of central directory record (and
// its zip64 successor), as archive/zip's readDirectoryEnd does.
// The record count is left to archive/zip, which checks it only modulo 2^16.
func readDirectoryEnd(r io.ReaderAt, size int64) (dirSize, dirOffset uint64, endOffset int64, ok bool) {
	var b []byte
	for i, n := range []int64{directoryEndSearch1, directoryEndSearch2} {
		n = min(n, size)
		block := make([]byte, n)
		if _, err := r.ReadAt(block, size-n); err != nil && err != io.EOF {
			return 0, 0, 0, false
		}
		if p := findDirectoryEnd(block); p >= 0 {
			b = block[p:]
			endOffset = size - n + int64(p)
			break
		}
		if i == 1 || n == size {
			return 0, 0, 0, false
		}
	}
	le := binary.LittleEndian
	records := uint64(le.Uint16(b[10:]))
	dirSize = uint64(le.Uint32(b[12:]))
	dirOffset = uint64(le.Uint32(b[16:]))
	// archive/zip compares the 32-bit size with 0xffff too; follow it.
	if records == maxUint16 || dirSize == maxUint16 || dirOffset == maxUint32 {
		p, err := findDirectory64End(r, endOffset)
		if err == nil && p >= 0 {
			endOffset = p
			dirSize, dirOffset, err = readDirectory64End(r, p)
		}
		if err != nil {
			return 0, 0, 0, false
		}
	}
	if dirSize > maxInt64 || dirOffset > maxInt64 {
		return 0, 0, 0, false
	}
	return dirSize, dirOffset, endOffset, true
}

// findDirectoryEnd returns where the last end record in b starts, or -1.
func findDirectoryEnd(b []byte) int {
	for i := len(b) - directoryEndLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(b[i:]) == directoryEndSig {
			commentLen := int(binary.LittleEndian.Uint16(b[i+directoryEndLen-2:]))
			if commentLen+directoryEndLen+i > len(b) {
				return -1
			}
			return i
		}
	}
	return -1
}

// findDirectory64End reads the zip64 locator just before the end record and
// returns where it says the zip64 end record is, or -1.
func findDirectory64End(r io.ReaderAt, endOffset int64) (int64, error) {
	at := endOffset - directory64LocLen
	if at < 0 {
		return -1, nil
	}
	b := make([]byte, directory64LocLen)
	if _, err := r.ReadAt(b, at); err != nil {
		return -1, err
	}
	le := binary.LittleEndian
	if le.Uint32(b) != directory64LocSig || le.Uint32(b[4:]) != 0 || le.Uint32(b[16:]) != 1 {
		return -1, nil
	}
	return int64(le.Uint64(b[8:])), nil
}

// readDirectory64End reads the zip64 end record at offset.
func readDirectory64End(r io.ReaderAt, offset int64) (dirSize, dirOffset uint64, err error) {
	b := make([]byte, directory64EndLen)
	if _, err := r.ReadAt(b, offset); err != nil {
		return 0, 0, err
	}
	le := binary.LittleEndian
	if le.Uint32(b) != directory64EndSig {
		return 0, 0, io.ErrUnexpectedEOF
	}
	return le.Uint64(b[40:]), le.Uint64(b[48:]), nil
}

// readDirectoryRecord reads one central directory record from buf and
// returns its local header offset (before the base offset is added) and its
// length. It fails where archive/zip's readDirectoryHeader fails.
func readDirectoryRecord(buf *bufio.Reader) (offset int64, n int, err error) {
	var h [directoryHeaderLen]byte
	if _, err := io.ReadFull(buf, h[:]); err != nil {
		return 0, 0, err
	}
	le := binary.LittleEndian
	if le.Uint32(h[:]) != directoryHeaderSig {
		return 0, 0, io.ErrUnexpectedEOF
	}
	needUSize := le.Uint32(h[24:]) == maxUint32
	needCSize := le.Uint32(h[20:]) == maxUint32
	offset = int64(le.Uint32(h[42:]))
	needOffset := offset == maxUint32
	nameLen, extraLen, commentLen := int(le.Uint16(h[28:])), int(le.Uint16(h[30:])), int(le.Uint16(h[32:]))
	n = directoryHeaderLen + nameLen + extraLen + commentLen
	if _, err := buf.Discard(nameLen); err != nil {
		return 0, 0, io.ErrUnexpectedEOF
	}
	// The extra field matters only for zip64 values, which are rare.
	var extra []byte
	if needUSize || needCSize || needOffset {
		extra = make([]byte, extraLen)
		if _, err := io.ReadFull(buf, extra); err != nil {
			return 0, 0, io.ErrUnexpectedEOF
		}
	} else if _, err := buf.Discard(extraLen); err != nil {
		return 0, 0, io.ErrUnexpectedEOF
	}
	if _, err := buf.Discard(commentLen); err != nil {
		return 0, 0, io.ErrUnexpectedEOF
	}
	for len(extra) >= 4 {
		tag, fieldLen := le.Uint16(extra), int(le.Uint16(extra[2:]))
		extra = extra[4:]
		if len(extra) < fieldLen {
			break
		}
		field := extra[:fieldLen]
		extra = extra[fieldLen:]
		if tag != zip64ExtraID {
			continue
		}
		// The zip64 field holds, in this order, only the values that are
		// maxed out in the record itself.
		for _, need := range []*bool{&needUSize, &needCSize, &needOffset} {
			if !*need {
				continue
			}
			*need = false
			if len(field) < 8 {
				return 0, 0, io.ErrUnexpectedEOF
			}
			if need == &needOffset {
				offset = int64(le.Uint64(field))
			}
			field = field[8:]
		}
	}
	if needCSize || needOffset {
		return 0, 0, io.ErrUnexpectedEOF
	}
	return offset, n, nil
}

// mulSat multiplies without overflowing: too large a product becomes the
// largest uint64.
func mulSat(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return 1<<64 - 1
	}
	return lo
}
