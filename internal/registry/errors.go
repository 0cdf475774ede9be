package registry

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/wharfhq/wharf/internal/core"
)

// ociError is one row of the code table: the spec's error code and status.
type ociError struct {
	code   string
	status int
}

// errorTable maps every core code to the distribution spec's code and status.
var errorTable = map[core.Code]ociError{
	core.CodeBlobUnknown:         {"BLOB_UNKNOWN", http.StatusNotFound},
	core.CodeBlobUploadInvalid:   {"BLOB_UPLOAD_INVALID", http.StatusBadRequest},
	core.CodeBlobUploadUnknown:   {"BLOB_UPLOAD_UNKNOWN", http.StatusNotFound},
	core.CodeDigestInvalid:       {"DIGEST_INVALID", http.StatusBadRequest},
	core.CodeManifestBlobUnknown: {"MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest},
	core.CodeManifestInvalid:     {"MANIFEST_INVALID", http.StatusBadRequest},
	core.CodeManifestUnknown:     {"MANIFEST_UNKNOWN", http.StatusNotFound},
	core.CodeNameInvalid:         {"NAME_INVALID", http.StatusBadRequest},
	core.CodeNameUnknown:         {"NAME_UNKNOWN", http.StatusNotFound},
	core.CodeSizeInvalid:         {"SIZE_INVALID", http.StatusBadRequest},
	core.CodeRangeInvalid:        {"RANGE_INVALID", http.StatusRequestedRangeNotSatisfiable},
	core.CodeUnauthorized:        {"UNAUTHORIZED", http.StatusUnauthorized},
	core.CodeDenied:              {"DENIED", http.StatusForbidden},
	core.CodeUnsupported:         {"UNSUPPORTED", http.StatusUnsupportedMediaType},
	core.CodeTooManyRequests:     {"TOOMANYREQUESTS", http.StatusTooManyRequests},
	core.CodeTagInvalid:          {"TAG_INVALID", http.StatusBadRequest},
	core.CodeTooLarge:            {"SIZE_INVALID", http.StatusRequestEntityTooLarge},
	core.CodeNotFound:            {"NOT_FOUND", http.StatusNotFound},
	core.CodeInvalid:             {"UNSUPPORTED", http.StatusBadRequest},
	core.CodeConflict:            {"DENIED", http.StatusConflict},
	core.CodeUnavailable:         {"UNAVAILABLE", http.StatusServiceUnavailable},
	core.CodeTagImmutable:        {"TAG_IMMUTABLE", http.StatusConflict},
	core.CodeTagExpired:          {"TAG_EXPIRED", http.StatusNotFound},
	// Quay answers writes to a read-only registry or repository 405 DENIED.
	core.CodeReadOnly: {"DENIED", http.StatusMethodNotAllowed},
}

// statusError is a protocol-level error with an explicit status and code (for
// example 405 on an unsupported method).
type statusError struct {
	status int
	code   string
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func errMethod(method string) error {
	return &statusError{http.StatusMethodNotAllowed, "UNSUPPORTED", "method " + method + " not allowed here"}
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail"`
}

// writeError writes err as the spec's error body. Internal errors are logged
// and answered without their details.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, entry := translate(err)
	var ch *challenge
	if errors.As(err, &ch) {
		w.Header().Set("WWW-Authenticate", ch.header())
	}
	if status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	h.Del("Docker-Content-Digest")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(errorBody{Errors: []errorEntry{entry}})
}

func translate(err error) (int, errorEntry) {
	var ch *challenge
	if errors.As(err, &ch) {
		return http.StatusUnauthorized, errorEntry{Code: "UNAUTHORIZED", Message: ch.msg}
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.status, errorEntry{Code: se.code, Message: se.msg}
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		if row, ok := errorTable[ce.Code]; ok {
			msg := ce.Msg
			if msg == "" {
				msg = ce.Code.String()
			}
			return row.status, errorEntry{Code: row.code, Message: msg, Detail: ce.Detail}
		}
	}
	return http.StatusInternalServerError, errorEntry{Code: "UNKNOWN", Message: "internal server error"}
}
