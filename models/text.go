package models

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names people type (app names, API token names, support notes) are shown to
// other people: the owner, support, the audit trail. A character that cannot
// be seen, or that changes how the text around it reads, would let a name
// pass for another ("invoice\u202Egpj.exe" reads "invoiceexe.jpg"), so such
// names are refused rather than silently changed.

// UnusableInName reports whether r may not appear in a name a person typed:
// control characters (other than the white space forms collapse to one
// space), format characters (Unicode Cf: bidi overrides and isolates,
// zero-width spaces and joiners, the BOM, soft hyphens, tag characters),
// line and paragraph separators, private-use code points and the
// replacement character invalid UTF-8 decodes to.
func UnusableInName(r rune) bool {
	switch r {
	case '\t', '\n', '\r':
		return false
	case utf8.RuneError:
		return true
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Zl, unicode.Zp)
}

// ValidName reports whether s is valid UTF-8 holding no character
// UnusableInName refuses.
func ValidName(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if UnusableInName(r) {
			return false
		}
	}
	return true
}

// UnusableMessage is what a form says of a field ValidName refuses; what
// names the field ("name", "note").
func UnusableMessage(what string) string {
	return "The " + what + " contains characters that cannot be used: control characters, or invisible ones that change how text reads (such as right-to-left overrides or zero-width spaces)."
}

// WithoutUnusable is s without the characters ValidName refuses, for a form
// to show back what it would accept.
func WithoutUnusable(s string) string {
	return strings.Map(func(r rune) rune {
		if UnusableInName(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}
