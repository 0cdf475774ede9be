package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/wharfhq/wharf/internal/core"
)

// apiError is Quay's error body.
type apiError struct {
	Status       int    `json:"status"`
	ErrorMessage string `json:"error_message"`
	Detail       string `json:"detail"`
	ErrorType    string `json:"error_type"`
	Title        string `json:"title"`
	Type         string `json:"type"`
}

// errorRow maps a core code to Quay's status, error_type and title.
type errorRow struct {
	status    int
	errorType string
	title     string
}

var errorTable = map[core.Code]errorRow{
	core.CodeNotFound:        {http.StatusNotFound, "not_found", "not_found"},
	core.CodeNameUnknown:     {http.StatusNotFound, "not_found", "not_found"},
	core.CodeManifestUnknown: {http.StatusNotFound, "not_found", "not_found"},
	core.CodeBlobUnknown:     {http.StatusNotFound, "not_found", "not_found"},
	core.CodeInvalid:         {http.StatusBadRequest, "invalid_request", "invalid_request"},
	core.CodeNameInvalid:     {http.StatusBadRequest, "invalid_request", "invalid_request"},
	core.CodeTagInvalid:      {http.StatusBadRequest, "invalid_request", "invalid_request"},
	core.CodeDigestInvalid:   {http.StatusBadRequest, "invalid_request", "invalid_request"},
	core.CodeConflict:        {http.StatusBadRequest, "invalid_request", "invalid_request"},
	core.CodeTooLarge:        {http.StatusRequestEntityTooLarge, "invalid_request", "invalid_request"},
	core.CodeUnauthorized:    {http.StatusUnauthorized, "invalid_token", "invalid_token"},
	core.CodeDenied:          {http.StatusForbidden, "insufficient_scope", "unauthorized"},
	core.CodeUnsupported:     {http.StatusNotFound, "not_found", "not_found"},
	core.CodeTooManyRequests: {http.StatusTooManyRequests, "exceeds_rate_limit", "too_many_requests"},
	core.CodeUnavailable:     {http.StatusServiceUnavailable, "downstream_issue", "unavailable"},
	core.CodeTagImmutable:    {http.StatusConflict, "tag_immutable", "tag_immutable"},
	core.CodeTagExpired:      {http.StatusNotFound, "not_found", "not_found"},
	// Quay answers API writes to a read-only registry or to a repository
	// that is not NORMAL with 503.
	core.CodeReadOnly: {http.StatusServiceUnavailable, "read_only", "read_only"},
}

// Errors the handlers return.
func errNotFound(msg string) error   { return core.Errorf(core.CodeNotFound, "%s", msg) }
func errInvalid(msg string) error    { return core.Errorf(core.CodeInvalid, "%s", msg) }
func errForbidden() error            { return core.Errorf(core.CodeDenied, "Unauthorized") }
func errUnauthorized(m string) error { return core.Errorf(core.CodeUnauthorized, "%s", m) }

// writeError writes err in Quay's shape; internal errors are logged and
// answered without details.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	row := errorRow{http.StatusInternalServerError, "internal_error", "internal_error"}
	msg := "Internal server error"
	var ce *core.Error
	if errors.As(err, &ce) {
		if rr, ok := errorTable[ce.Code]; ok {
			row, msg = rr, ce.Msg
			if msg == "" {
				msg = ce.Code.String()
			}
		}
	}
	if row.status >= 500 && !core.IsCode(err, core.CodeReadOnly) {
		h.log.ErrorContext(r.Context(), "api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body := apiError{
		Status: row.status, ErrorMessage: msg, Detail: msg, ErrorType: row.errorType, Title: row.title,
		Type: h.baseURL(r) + "/api/v1/error/" + row.errorType,
	}
	if row.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+h.baseURL(r)+`"`)
	}
	writeJSON(w, row.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"status":500,"error_message":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decode reads a JSON request body of at most 1 MiB into v.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return core.Errorf(core.CodeTooLarge, "request body too large")
		}
		return errInvalid("malformed JSON body: " + truncate(err.Error(), 200))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
