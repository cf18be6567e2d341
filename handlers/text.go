package handlers

import "strings"

// Text that comes from outside (a form, the login provider) is tidied here
// before a page shows it or an event records it.

// collapseSpaces trims s and turns every run of white space inside it,
// newlines included, into one space.
func collapseSpaces(s string) string { return strings.Join(strings.Fields(s), " ") }

// truncate cuts s to n characters, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
