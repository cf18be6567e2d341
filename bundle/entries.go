package bundle

import (
	"archive/zip"
	"io/fs"
	"strings"
)

// Unix file types, from the high half of ExternalAttrs.
const (
	unixTypeMask    = 0xf000
	unixTypeFile    = 0x8000
	unixTypeDir     = 0x4000
	unixTypeSymlink = 0xa000
)

// entry is one zip entry together with what the checks learn about it.
type entry struct {
	*zip.File
	path   string // the name without a folder's trailing "/"
	dir    bool
	header int64 // where its local header starts in the zip
	data   int64 // where its compressed data starts, once checkLayout has read the local header
}

// checkEntries runs the cheap checks on every entry's directory record:
// name, type, flags, method and declared sizes. Nothing is decompressed yet.
func (v *validator) checkEntries() *Error {
	l := v.limits
	tree := make(siteTree, len(v.entries))
	var declared uint64
	for _, e := range v.entries {
		if err := checkName(e.Name, l.MaxPathLength); err != nil {
			return err
		}
		if err := checkPrivate(e.Name, e.path); err != nil {
			return err
		}
		if err := checkType(e); err != nil {
			return err
		}
		if e.Flags&flagEncrypted != 0 {
			return refuse(ReasonEncrypted, "The file %s is encrypted (password-protected). Create the zip without a password.", displayName(e.Name))
		}
		if e.Method != zip.Store && e.Method != zip.Deflate {
			return refuse(ReasonUnsupportedCompression, "The file %s is compressed with %s; bundles may use only the standard Deflate compression (or none). Re-create the zip with a standard zip tool.", displayName(e.Name), methodName(e.Method))
		}
		if err := v.checkDeclaredSizes(e); err != nil {
			return err
		}
		if err := tree.add(e.path, e.dir); err != nil {
			return err
		}
		declared += e.UncompressedSize64 // each is at most MaxUncompressedBytes: no overflow
		if declared > uint64(l.MaxUncompressedBytes) {
			return refuse(ReasonTooBigUncompressed, "The files in the bundle add up to more than %s uncompressed, the most a bundle may hold.", formatBytes(uint64(l.MaxUncompressedBytes)))
		}
	}
	if v.ratioExceeded(declared, uint64(v.size)) {
		return refuse(ReasonZipBomb, "The bundle would unpack to %s from a %s zip, more than %d times its size. Zips that compress this well are zip bombs, so it was refused.", formatBytes(declared), formatBytes(uint64(v.size)), l.MaxRatio)
	}
	if tree["index.html"] != file {
		return noIndex(v.entries)
	}
	return nil
}

// checkType refuses anything but plain files and folders. Links and devices
// are refused whether archive/zip's mode or the raw Unix mode says so: an
// unzipper that follows either could be made to write outside the site. The
// Unix mode is read whatever system the zip claims to come from, since some
// unzippers honour it regardless; zips made on Windows leave it zero.
func checkType(e entry) *Error {
	mode := e.FileInfo().Mode()
	unixType := e.ExternalAttrs >> 16 & unixTypeMask
	special := fs.ModeDevice | fs.ModeCharDevice | fs.ModeNamedPipe | fs.ModeSocket | fs.ModeIrregular
	switch {
	case mode&fs.ModeSymlink != 0 || unixType == unixTypeSymlink:
		return refuse(ReasonSymlink, "%s is a symbolic link. Bundles may hold only plain files and folders; put the file it points to in its place.", displayName(e.Name))
	case mode&special != 0 || (unixType != 0 && unixType != unixTypeFile && unixType != unixTypeDir):
		return refuse(ReasonSpecialFile, "%s is a device, pipe or socket, not a plain file. Leave it out of the bundle.", displayName(e.Name))
	case (mode.IsDir() || unixType == unixTypeDir) && !e.dir:
		return refuse(ReasonSpecialFile, "%s is marked as a folder, but its name does not end in \"/\". Re-create the zip with a standard zip tool.", displayName(e.Name))
	}
	return nil
}

// checkDeclaredSizes judges an entry by the sizes its directory record
// declares. They may lie; measure checks them against the real bytes later.
func (v *validator) checkDeclaredSizes(e entry) *Error {
	c, u := e.CompressedSize64, e.UncompressedSize64
	switch {
	case e.dir && u != 0:
		return refuse(ReasonCorrupt, "The folder entry %s carries %s of data; folder entries must be empty. Re-create the zip with a standard zip tool.", displayName(e.Name), formatBytes(u))
	case c > uint64(v.size):
		return refuse(ReasonCorrupt, "The zip says %s holds %s of compressed data, more than the whole zip. The zip is damaged; re-create it.", displayName(e.Name), formatBytes(c))
	case e.Method == zip.Store && c != u:
		return refuse(ReasonCorrupt, "The zip gives %s two different sizes. The zip is damaged; re-create it.", displayName(e.Name))
	case u > uint64(v.limits.MaxUncompressedBytes):
		return refuse(ReasonTooBigUncompressed, "The file %s is %s uncompressed; a whole bundle may hold at most %s.", displayName(e.Name), formatBytes(u), formatBytes(uint64(v.limits.MaxUncompressedBytes)))
	case v.ratioExceeded(u, c):
		return bombFile(e, u, v.limits.MaxRatio)
	}
	return nil
}

// ratioExceeded reports whether u bytes unpacked from c compressed bytes is
// more than MaxRatio allows.
func (v *validator) ratioExceeded(u, c uint64) bool {
	return u >= ratioFloor && u > v.ratioCeiling(c)
}

// ratioCeiling is the most c compressed bytes may unpack to at MaxRatio.
func (v *validator) ratioCeiling(c uint64) uint64 {
	return mulSat(uint64(v.limits.MaxRatio), c)
}

// bombFile is the refusal for one entry that unpacks to more than MaxRatio
// times its compressed size (at least u bytes).
func bombFile(e entry, u uint64, ratio int64) *Error {
	return refuse(ReasonZipBomb, "The file %s unpacks to at least %s from %s of compressed data, more than %d times its size. Files that compress this well are zip bombs, so the bundle was refused.", displayName(e.Name), formatBytes(u), formatBytes(e.CompressedSize64), ratio)
}

// noIndex is the refusal for a bundle without index.html at its root. A
// common mistake is zipping the dist folder itself, so point at the
// index.html nearest the root, if there is one.
func noIndex(entries []entry) *Error {
	nearest := ""
	for _, e := range entries {
		if e.dir || (e.path != "index.html" && !strings.HasSuffix(e.path, "/index.html")) {
			continue
		}
		if nearest == "" || strings.Count(e.path, "/") < strings.Count(nearest, "/") {
			nearest = e.path
		}
	}
	if nearest == "" || nearest == "index.html" {
		return refuse(ReasonNoIndex, "The bundle has no index.html at its top level. Zip the contents of your built site's dist/ folder, so that index.html is at the root of the zip.")
	}
	folder := strings.TrimSuffix(nearest, "/index.html")
	return refuse(ReasonNoIndex, "The bundle has no index.html at its top level, only %s. Zip the contents of the folder %s rather than the folder itself.", displayName(nearest), displayName(folder))
}
