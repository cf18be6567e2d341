// Package bundle validates a site bundle: the zip of a built web site's dist/
// folder that a person uploads through the browser and that chefdeploy then
// forwards, byte for byte, to Convex hosting.
//
// The zip comes from outside and may be hostile, and whatever unzips it after
// us must be as safe as we are. So a bundle is refused when a path could land
// outside the site root (absolute paths, "..", backslashes, drive letters),
// when an entry is a link or a device rather than a plain file, when a small
// upload would unpack to gigabytes (a zip bomb) on our server or on theirs,
// and when different unzippers could read different things from it: the
// local headers must agree with the central directory, and no bytes may hide
// before, between or inside the entries.
//
// The checks run cheapest first: the upload's size, the central directory,
// each entry's name, type, flags, method and declared sizes, then the local
// headers and the layout, and only then is every entry decompressed once, with
// limits, to measure its real size and check its CRC. Decompressed bytes
// stream into a counter, never into a buffer, so memory stays small whatever
// the zip claims or holds.
package bundle

import "fmt"

const (
	kib = 1 << 10
	mib = 1 << 20

	// ratioFloor is the uncompressed size below which the compression ratio
	// is not held against an entry (or the whole bundle): small, repetitive
	// files such as a blank SVG legitimately compress very well.
	ratioFloor = 1 * mib

	// directorySlack is how many bytes of extra fields and comments each
	// entry's central directory record may carry on top of its name. Real
	// zips use a few dozen; the bound keeps archive/zip from holding a huge
	// directory in memory.
	directorySlack = 1 * kib
)

// Limits bound what a bundle may be. A zero or negative field means its
// default (see DefaultLimits).
type Limits struct {
	MaxCompressedBytes   int64 // the zip file itself; default 100 MiB (MAX_BUNDLE_BYTES)
	MaxUncompressedBytes int64 // sum of all files, measured while decompressing, not trusted from headers; default 500 MiB
	MaxFiles             int   // entries, directories included; default 10,000
	MaxRatio             int64 // uncompressed/compressed, per entry and overall, above which it is a zip bomb; default 200 (not applied below 1 MiB uncompressed)
	MaxPathLength        int   // bytes in an entry's name; default 512
}

// DefaultLimits returns the limits chefdeploy applies to an uploaded bundle.
func DefaultLimits() Limits {
	return Limits{
		MaxCompressedBytes:   100 * mib,
		MaxUncompressedBytes: 500 * mib,
		MaxFiles:             10_000,
		MaxRatio:             200,
		MaxPathLength:        512,
	}
}

// withDefaults fills in every field left at zero (or set below zero).
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxCompressedBytes <= 0 {
		l.MaxCompressedBytes = d.MaxCompressedBytes
	}
	if l.MaxUncompressedBytes <= 0 {
		l.MaxUncompressedBytes = d.MaxUncompressedBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = d.MaxFiles
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = d.MaxRatio
	}
	if l.MaxPathLength <= 0 {
		l.MaxPathLength = d.MaxPathLength
	}
	return l
}

// Manifest is what a valid bundle holds.
type Manifest struct {
	Files             int   // regular files (directories not counted)
	UncompressedBytes int64 // measured by decompressing every file
	CompressedBytes   int64 // size of the zip file
}

// Reasons an *Error gives. They are stable: tests and metrics use them.
const (
	ReasonTooBig                 = "too_big"
	ReasonNotZip                 = "not_zip"
	ReasonTooManyFiles           = "too_many_files"
	ReasonTooBigUncompressed     = "too_big_uncompressed"
	ReasonZipBomb                = "zip_bomb"
	ReasonAbsolutePath           = "absolute_path"
	ReasonParentPath             = "parent_path"
	ReasonBadPath                = "bad_path"
	ReasonSymlink                = "symlink"
	ReasonSpecialFile            = "special_file"
	ReasonDuplicate              = "duplicate"
	ReasonEncrypted              = "encrypted"
	ReasonUnsupportedCompression = "unsupported_compression"
	ReasonCorrupt                = "corrupt"
	ReasonNoIndex                = "no_index"
	ReasonPrivateFile            = "private_file"
)

// Error says, in words a person can act on, what is wrong with a bundle.
// Reason is one of the Reason constants; Message is safe to show as it is.
type Error struct {
	Reason  string
	Message string

	cause error // what archive/zip, flate or the reader said, for logs
}

// Error gives the reason and the message, for logs.
func (e *Error) Error() string {
	return "bundle " + e.Reason + ": " + e.Message
}

// Unwrap returns the lower-level error behind e, if there was one.
func (e *Error) Unwrap() error { return e.cause }

// refuse builds an *Error; format and args make the message.
func refuse(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// because records the lower-level error behind e and returns e.
func (e *Error) because(cause error) *Error {
	e.cause = cause
	return e
}
