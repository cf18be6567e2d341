// Package views renders chefdeploy's pages with templ. Components take flat
// view models defined here; the view model owns the display logic.
package views

import "strconv"

// User is the signed-in person as pages show them.
type User struct {
	Name  string
	Email string
}

// Initials are shown in the avatar circle.
func (u User) Initials() string {
	for _, r := range u.Name {
		return string(r)
	}
	for _, r := range u.Email {
		return string(r)
	}
	return "?"
}

// Page is what every full page needs around its content.
type Page struct {
	Title string
	// User is nil when signed out.
	User *User
	// Sandbox is true when the built-in Convex sandbox stands in for Convex.
	Sandbox bool
	// Support is true for support staff: the header links the console.
	Support bool
}

// ErrorView is one error page or fragment.
type ErrorView struct {
	Status    int
	Title     string
	Message   string
	RequestID string
	// Action, when set, is a link that gets the person unstuck.
	ActionLabel string
	ActionURL   string
}

func itoa(n int) string { return strconv.Itoa(n) }
