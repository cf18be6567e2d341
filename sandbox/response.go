package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxJSONBody bounds every JSON request body except environment updates.
const maxJSONBody = 1 << 20

// apiError is an error answer of the provision API: {"code","message"}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

var (
	errUnauthenticated = &apiError{Status: http.StatusUnauthorized, Code: "Unauthenticated", Message: "Missing or invalid access token."}
	errTeamNotFound    = &apiError{Status: http.StatusNotFound, Code: "TeamNotFound", Message: "Team not found."}
	errProjectNotFound = &apiError{Status: http.StatusNotFound, Code: "ProjectNotFound", Message: "Project not found."}
	errInternal        = &apiError{Status: http.StatusInternalServerError, Code: "InternalServerError", Message: "Something went wrong on the sandbox."}
	errUnavailable     = &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "The sandbox is shutting down."}
)

// writeJSON answers v as JSON. Nothing an API answers is cacheable: most
// answers carry secrets.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"InternalServerError","message":"encode failed"}`)
	}
	writeRawJSON(w, status, b)
}

func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers err; anything but an *apiError is an internal error
// whose text stays in the log.
func (s *Sandbox) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.Error("sandbox: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errInternal
	}
	writeJSON(w, ae.Status, ae)
}

// decodeJSON reads a bounded JSON body into dst. Unknown fields are
// tolerated, like the real service; trailing data is not.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any) *apiError {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return errorf(http.StatusBadRequest, "BadJsonBody", "Content-Type must be application/json.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errorf(http.StatusRequestEntityTooLarge, "RequestTooLarge", "Request body is larger than %d bytes.", limit)
		}
		return errorf(http.StatusBadRequest, "BadJsonBody", "Could not read the request body.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		return errorf(http.StatusBadRequest, "BadJsonBody", "Invalid JSON body: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, "BadJsonBody", "Invalid JSON body: unexpected data after the object.")
	}
	return nil
}

// jsonProblem describes a decode error without echoing the body, which may
// hold secrets.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q must be %s.", typeErr.Field, typeErr.Type)
	}
	if errors.Is(err, io.EOF) {
		return "empty body."
	}
	return "not valid JSON."
}
