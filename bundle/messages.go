package bundle

import (
	"fmt"
	"strings"
	"unicode"
)

// maxShownName is how many characters of a file name a message shows.
const maxShownName = 80

// displayName quotes an entry name for a message a person reads: invalid
// UTF-8 becomes U+FFFD, control and formatting characters (which could
// rewrite the page or reorder the text around them) are dropped, and long
// names are cut short.
func displayName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	var b strings.Builder
	b.WriteByte('"')
	shown := 0
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		if shown == maxShownName {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		shown++
	}
	b.WriteByte('"')
	return b.String()
}

// FormatBytes is formatBytes for the pages, so that every size a person
// reads is in the same units as the bundle's messages.
func FormatBytes(n int64) string {
	if n < 0 {
		n = 0
	}
	return formatBytes(uint64(n))
}

// formatBytes writes a size the way a person reads it: "512 bytes", "300 KiB",
// "1.5 MiB".
func formatBytes(n uint64) string {
	switch {
	case n < kib:
		return fmt.Sprintf("%d bytes", n)
	case n < mib:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/kib)) + " KiB"
	case n < 1<<30:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/mib)) + " MiB"
	default:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<30))) + " GiB"
	}
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

// methodName names the compression methods people are likely to meet.
func methodName(method uint16) string {
	switch method {
	case 9:
		return "Deflate64"
	case 12:
		return "bzip2"
	case 14:
		return "LZMA"
	case 93:
		return "Zstandard"
	case 95:
		return "XZ"
	case 98:
		return "PPMd"
	case 99:
		return "AES encryption"
	default:
		return fmt.Sprintf("method %d", method)
	}
}
