package models

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/lib/pq"
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
// A database that cannot be reached is EUNAVAILABLE: the request was fine and
// will work again once the database is back.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if databaseUnreachable(err) {
		return EUNAVAILABLE
	}
	return EINTERNAL
}

// ErrorMessage is the user-safe message of err; internal errors say nothing of their cause.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	if databaseUnreachable(err) {
		return UnavailableMessage
	}
	return "Something went wrong on our side. Please try again."
}

// UnavailableMessage is what a person reads while the database cannot be reached.
const UnavailableMessage = "chefdeploy cannot reach its database right now. Nothing was lost; please try again in a moment."

// databaseUnreachable reports whether err says the database could not be
// reached or went away (a restart, a failover, a network cut), rather than
// that a statement failed.
func databaseUnreachable(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			"53300": // too_many_connections
			return true
		}
		return pqErr.Code.Class() == "08" // connection_exception
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr)
}
