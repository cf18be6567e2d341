package models

import (
	"errors"
	"fmt"
)

// Error codes a domain error carries; the HTTP layer maps each to one status.
const (
	ENOTFOUND     = "not_found"
	EINVALID      = "invalid"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ECONFLICT     = "conflict"
	EUNAVAILABLE  = "unavailable"
	EINTERNAL     = "internal"
)

// ErrNotFound is returned when a row does not exist or is not the caller's:
// the two are the same answer on purpose.
var ErrNotFound = &Error{Code: ENOTFOUND, Message: "Not found."}

// Error is a domain error with a code and a message that is safe to show.
type Error struct {
	Code    string
	Message string
	// Fields holds per-field messages of a form that did not validate.
	Fields map[string]string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns a domain error with a code and a user-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode is the code of err, EINTERNAL for anything that is not a domain error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage is the user-safe message of err; internal errors say nothing of their cause.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Something went wrong on our side. Please try again."
}
