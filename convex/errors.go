package convex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The user-facing texts of CONTRACT §2 "Errors the provision host gives".
const (
	msgSSORequired   = "You must log in with Single Sign-on to access this team."
	msgSignInExpired = "Your sign-in has expired. Sign in again."
	msgNoAnswer      = "Failed to connect to project"
	msgGeneric       = "Something went wrong while talking to Convex. Try again."
	// detailInvalid is what a user reads for a 2xx whose body we cannot use
	// (malformed JSON, oversized, required fields missing), e.g.
	// "Failed to create project: the Convex API returned an invalid response".
	// The contract is silent here; the raw decode error is for logs only.
	detailInvalid        = "the Convex API returned an invalid response"
	detailInvalidRequest = "invalid request"
	detailTooLong        = "the list is longer than chefdeploy reads"
)

const maxMessageRunes = 300

// ErrInvalidResponse is wrapped by an *Error whose call got a success status
// but a body that is oversized, not JSON, or lacks a required field. Such a
// call is not retried: the server did answer.
var ErrInvalidResponse = errors.New("invalid response from Convex")

// ErrListTooLong is wrapped by an *Error whose list (all the pages of a
// paged one) is longer than the bound this package reads; the rest is not
// fetched, so the caller must not act as if it had seen everything.
var ErrListTooLong = errors.New("list exceeds the bound")

// errInvalidRequest marks a call we could not even send (bad argument or URL).
var errInvalidRequest = errors.New("invalid request")

// errNoFinalAnswer marks a call whose retries were cut short by the context's
// deadline; it wraps context.DeadlineExceeded so both tests match.
var errNoFinalAnswer = noFinalAnswer{}

type noFinalAnswer struct{}

func (noFinalAnswer) Error() string { return "no final answer before the deadline" }
func (noFinalAnswer) Unwrap() error { return context.DeadlineExceeded }

// Error is a failed provision-host, Management API or deployment call. Its
// Error() text names the call, status and cause and never a secret; show
// users UserMessage().
type Error struct {
	// Op names the call: "profile", "teams", "create_project", "authorize",
	// "list_projects", "delete_project", "get_token_info", "record_tokens",
	// "hosting_deploy", "update_environment_variables",
	// "list_environment_variables"; from a Platform also "token_details",
	// "create_deploy_key", "delete_deploy_key", "list_deploy_keys".
	Op      string
	Status  int    // HTTP status of the last answer; 0 when none came (network error, timeout)
	Code    string // the "code" field of a JSON error body, if any
	Message string // the "message" field, if any; truncated, with known secrets redacted
	Err     error  // underlying cause (network, context, decode); never holds a secret
	// Tries is how many requests the call made when it failed for good on
	// an answer that a retry cannot change (0 when unknown).
	Tries int
	// TeamSlug is the team whose grant made a Platform call, for the 401
	// and 403 messages; a Platform takes it from the token's "team:{slug}|"
	// prefix. A caller that knows the slug otherwise may set it when empty.
	TeamSlug string

	sso      bool // the body contained "SSORequired"
	platform bool // a Platform call: CONTRACT §2.1's messages apply
}

// Error returns e.g. "convex create_project: 400 ProjectQuotaReached". The
// server's message is left out: it is untrusted and could echo a credential.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("convex ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		b.WriteString(": ")
		b.WriteString(strconv.Itoa(e.Status))
	}
	if isCode(e.Code) {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// UserMessage is the text the user reads for e: CONTRACT §2.1's table for a
// Platform call, §2.2's for a provision-host call, and the same texts for
// what both share (no answer, invalid answers, the deployment's rules).
func (e *Error) UserMessage() string {
	if m, ok := e.accessMessage(); ok {
		return m
	}
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded) || isTimeout(e.Err):
		// Retries ran out of time, or the last attempt never got an answer.
		return msgNoAnswer
	case errors.Is(e.Err, errInvalidRequest) && e.Message != "":
		// A rule we checked before calling (refused).
		return e.Message
	case errors.Is(e.Err, errInvalidRequest):
		return e.opMessage(detailInvalidRequest)
	case e.Status == 0:
		// No answer at all (connection refused, reset, cancelled).
		return msgNoAnswer
	case errors.Is(e.Err, ErrListTooLong):
		return e.opMessage(detailTooLong)
	case errors.Is(e.Err, ErrInvalidResponse):
		return e.opMessage(detailInvalid)
	case e.Status == 400 && strings.HasPrefix(e.Code, "EnvironmentVariable"):
		// The deployment's own rule (name or value), which names no secret.
		if e.Message == "" {
			return "The deployment refused the variable: " + e.Code
		}
		return "The deployment refused the variable: " + e.Message
	case e.Op == "create_project" && e.Status == 400 && e.Code == "ProjectQuotaReached":
		if e.Message == "" {
			return "Failed to create project: ProjectQuotaReached"
		}
		return "Failed to create project: ProjectQuotaReached: " + e.Message
	default:
		return e.opMessage(strconv.Itoa(e.Status))
	}
}

// accessMessage is the flavour's answer to a refusal of who is asking: SSO
// required, an unaccepted token (401) and, for a Platform, a role too weak
// (403). These come first: they hold whatever the call was.
func (e *Error) accessMessage() (string, bool) {
	switch {
	case e.sso || strings.Contains(e.Code, "SSORequired") || strings.Contains(e.Message, "SSORequired"):
		return msgSSORequired, true
	case e.Status == 401 && e.platform:
		return "Convex no longer accepts your authorization for " + e.team() + ". Authorize the team again.", true
	case e.Status == 401:
		return msgSignInExpired, true
	case e.Status == 403 && e.platform:
		return "Your Convex role on " + e.team() + " does not allow this.", true
	}
	return "", false
}

// team names the grant's team in a message; a token without the
// "team:{slug}|" prefix leaves the slug unknown.
func (e *Error) team() string {
	if e.TeamSlug == "" {
		return "this team"
	}
	return "team " + e.TeamSlug
}

func (e *Error) opMessage(detail string) string {
	switch e.Op {
	case "create_project":
		return "Failed to create project: " + detail
	case "authorize", "create_deploy_key":
		return "Failed to create project deploy key: " + detail
	default:
		return "Convex " + e.Op + " failed: " + detail
	}
}

// Retryable reports whether the same call could succeed if sent again:
// no answer (network error, timeout), 429 or 5xx. A 4xx, an SSO refusal, a
// cancelled context, a bad request or an unusable 2xx body are final.
func (e *Error) Retryable() bool {
	switch {
	case e.sso:
		return false
	case e.Status == 429 || e.Status >= 500:
		return true
	case e.Status != 0:
		return false
	case errors.Is(e.Err, context.Canceled), errors.Is(e.Err, errInvalidRequest), errors.Is(e.Err, ErrInvalidResponse):
		return false
	default:
		return true
	}
}

// IsGrantRevoked reports whether err is a Platform call that Convex answered
// 401: the team token no longer works, so its grant is to be marked revoked
// and the user offered to authorize the team again (CONTRACT §2.1). An SSO
// refusal is not a revocation: authorizing again does not help until the
// user has logged in with single sign-on.
func IsGrantRevoked(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.platform && e.Status == 401 && !e.sso && !strings.Contains(e.Code, "SSORequired")
}

// UserMessage returns the text to show a user for any error from this package
// (or wrapping one): an *Error gives its UserMessage; a deadline or timeout
// with no answer gives "Failed to connect to project"; anything else gives a
// generic message that reveals nothing.
func UserMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.UserMessage()
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return msgNoAnswer
	}
	return msgGeneric
}

func isTimeout(err error) bool {
	if err == nil {
		return false
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// statusError builds the *Error for a non-2xx answer from its (bounded) body.
func statusError(op string, status int, body []byte, secrets []string) *Error {
	e := &Error{Op: op, Status: status, sso: bytes.Contains(body, []byte("SSORequired"))}
	var fields struct {
		Code    any `json:"code"`
		Message any `json:"message"`
	}
	// The body may be anything (HTML from a proxy, a truncated prefix); only a
	// JSON object with string fields contributes a code and message.
	if json.Unmarshal(body, &fields) == nil {
		if s, ok := fields.Code.(string); ok && isCode(s) {
			e.Code = s
		}
		if s, ok := fields.Message.(string); ok {
			e.Message = cleanMessage(s, secrets)
		}
	}
	return e
}

// isCode accepts identifier-like codes only, so a hostile "code" cannot smuggle
// text into logs through Error().
func isCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' || r == '.' || r == ':')) {
			return false
		}
	}
	return true
}

// cleanMessage makes a server message fit to show: known secrets redacted,
// control characters turned to spaces, at most maxMessageRunes runes.
func cleanMessage(s string, secrets []string) string {
	s = redact(s, secrets)
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxMessageRunes {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
