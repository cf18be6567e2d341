package bundle

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkName refuses an entry name that could land outside the site root or
// that unzippers on different systems could read differently. name is the
// raw name from the zip; a directory's single trailing "/" is allowed.
func checkName(name string, maxLen int) *Error {
	shown := displayName(name)
	if len(name) > maxLen {
		return refuse(ReasonBadPath, "The path %s is %d bytes long; paths in a bundle may be at most %d bytes.", shown, len(name), maxLen)
	}
	if !utf8.ValidString(name) {
		return refuse(ReasonBadPath, "The path %s is not valid UTF-8. Rename the file, or use a zip tool that stores names as UTF-8.", shown)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return refuse(ReasonBadPath, "The path %s contains a control character (such as a NUL, tab or newline). Rename the file.", shown)
		}
	}
	if name == "" {
		return refuse(ReasonBadPath, "The bundle has an entry with an empty name. Re-create the zip from your dist/ folder.")
	}
	if isAbsolute(name) {
		return refuse(ReasonAbsolutePath, "The path %s is absolute. Paths in a bundle must be relative to the site root, like \"assets/app.js\"; zip the contents of your dist/ folder.", shown)
	}
	p := strings.TrimSuffix(name, "/")
	// Backslashes count as separators here: a Windows unzipper treats
	// `..\x` as climbing out, and saying so is more useful than "backslash".
	for _, elem := range strings.FieldsFunc(p, isSeparator) {
		if elem == ".." {
			return refuse(ReasonParentPath, "The path %s uses \"..\" to climb out of its folder. Paths in a bundle must stay inside the site.", shown)
		}
	}
	if strings.Contains(name, `\`) {
		return refuse(ReasonBadPath, "The path %s contains a backslash. Zip paths use \"/\" between folders; re-create the zip with a standard zip tool.", shown)
	}
	for _, elem := range strings.Split(p, "/") {
		switch elem {
		case "":
			return refuse(ReasonBadPath, "The path %s has an empty folder name (\"//\"). Rename it.", shown)
		case ".":
			return refuse(ReasonBadPath, "The path %s has a \".\" folder in it. Re-create the zip so that paths name their folders directly.", shown)
		}
	}
	return nil
}

// isAbsolute reports whether name is rooted: `/x`, `\x`, UNC paths
// (`//server/share`, `\\server\share`) and Windows drives (`C:x`, `C:\x`).
func isAbsolute(name string) bool {
	if name[0] == '/' || name[0] == '\\' {
		return true
	}
	return len(name) >= 2 && name[1] == ':' && ('a' <= name[0]|0x20 && name[0]|0x20 <= 'z')
}

func isSeparator(r rune) bool { return r == '/' || r == '\\' }

// siteTree remembers every path of the bundle, whether an entry names it or a
// deeper path implies it, to catch two entries that would unpack to the same
// place.
type siteTree map[string]pathKind

type pathKind uint8

const (
	impliedFolder pathKind = iota + 1 // a parent of some entry, with no entry of its own
	folder
	file
)

// add records an entry's path (without a folder's trailing "/") and its
// parents.
func (t siteTree) add(p string, dir bool) *Error {
	kind := file
	if dir {
		kind = folder
	}
	if prev, ok := t[p]; ok {
		switch {
		case prev == kind:
			return refuse(ReasonDuplicate, "The bundle holds %s twice. Each path may appear only once; re-create the zip from your dist/ folder.", displayName(p))
		case prev == file || kind == file:
			return refuse(ReasonDuplicate, "The bundle holds %s both as a file and as a folder. Rename one of them.", displayName(p))
		}
	}
	t[p] = kind
	for i := strings.LastIndexByte(p, '/'); i > 0; i = strings.LastIndexByte(p[:i], '/') {
		parent := p[:i]
		switch t[parent] {
		case file:
			return refuse(ReasonDuplicate, "The bundle holds %s both as a file and as a folder. Rename one of them.", displayName(parent))
		case 0:
			t[parent] = impliedFolder
		default:
			return nil // its own parents were recorded with it
		}
	}
	return nil
}

// privateNames are folder or file names that a site never needs and that
// leak something when served, each with why. Everything in a bundle is
// served publicly, so they are refused wherever they appear in a path.
// (".well-known/" and other dot-names are fine: only these are refused.)
var privateNames = map[string]string{
	".git":      "it is a Git repository's data (history, remotes and sometimes credentials)",
	".svn":      "it is a Subversion working copy's data",
	".hg":       "it is a Mercurial repository's data",
	".ssh":      "it holds SSH keys",
	".aws":      "it holds AWS credentials",
	".npmrc":    "it often holds a package registry token",
	".netrc":    "it holds passwords",
	".htpasswd": "it holds password hashes",
	".DS_Store": "it is macOS folder metadata that lists the folder's files",
	"__MACOSX":  "it is macOS metadata added by the zip tool",
	"Thumbs.db": "it is a Windows thumbnail cache",
}

// checkPrivate refuses an entry whose path names a file or folder that would
// leak something if it went live: environment files (.env, .env.local, …),
// version-control data, credentials and operating-system metadata. p is the
// path without a folder's trailing "/"; name is the raw name, for messages.
func checkPrivate(name, p string) *Error {
	for _, elem := range strings.Split(p, "/") {
		why, private := privateNames[elem]
		switch {
		case private:
		case strings.HasPrefix(elem, ".env"):
			why = "environment files usually hold secrets"
		case strings.HasPrefix(elem, "._"):
			why = "it is macOS metadata (an AppleDouble file)"
		default:
			continue
		}
		return refuse(ReasonPrivateFile, "The bundle holds %s, which would be served publicly: %s. Leave %s out of the zip (the contents of your built site's dist/ folder).", displayName(name), why, displayName(elem))
	}
	return nil
}
