package core

import (
	"errors"
	"fmt"
)

// Code classifies an error for the protocol edges. The registry maps each code to
// an OCI error code and HTTP status in one table; the REST API maps it to Quay's
// error shape.
type Code int

// Error codes. The zero value is CodeInternal.
const (
	CodeInternal Code = iota
	CodeBlobUnknown
	CodeBlobUploadInvalid
	CodeBlobUploadUnknown
	CodeDigestInvalid
	CodeManifestBlobUnknown
	CodeManifestInvalid
	CodeManifestUnknown
	CodeNameInvalid
	CodeNameUnknown
	CodeSizeInvalid
	CodeRangeInvalid
	CodeUnauthorized
	CodeDenied
	CodeUnsupported
	CodeTooManyRequests
	CodeTagInvalid
	CodeTooLarge
	CodeNotFound
	CodeInvalid
	CodeConflict
	CodeUnavailable
	CodeTagImmutable // an immutable tag would be moved, deleted or expired
	CodeTagExpired   // a tag was asked for after it expired
	CodeReadOnly     // the registry or the repository refuses writes
)

var codeNames = map[Code]string{
	CodeInternal:            "internal",
	CodeBlobUnknown:         "blob unknown",
	CodeBlobUploadInvalid:   "blob upload invalid",
	CodeBlobUploadUnknown:   "blob upload unknown",
	CodeDigestInvalid:       "digest invalid",
	CodeManifestBlobUnknown: "manifest blob unknown",
	CodeManifestInvalid:     "manifest invalid",
	CodeManifestUnknown:     "manifest unknown",
	CodeNameInvalid:         "name invalid",
	CodeNameUnknown:         "name unknown",
	CodeSizeInvalid:         "size invalid",
	CodeRangeInvalid:        "range invalid",
	CodeUnauthorized:        "unauthorized",
	CodeDenied:              "denied",
	CodeUnsupported:         "unsupported",
	CodeTooManyRequests:     "too many requests",
	CodeTagInvalid:          "tag invalid",
	CodeTooLarge:            "too large",
	CodeNotFound:            "not found",
	CodeInvalid:             "invalid",
	CodeConflict:            "conflict",
	CodeUnavailable:         "unavailable",
	CodeTagImmutable:        "tag immutable",
	CodeTagExpired:          "tag expired",
	CodeReadOnly:            "read-only",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code(%d)", int(c))
}

// Error is an error with a code, a message safe to show to a client, optional
// structured detail for the client, and an optional wrapped cause that is never
// shown to clients.
type Error struct {
	Code   Code
	Msg    string
	Detail any
	Err    error
}

func (e *Error) Error() string {
	switch {
	case e.Msg != "" && e.Err != nil:
		return e.Msg + ": " + e.Err.Error()
	case e.Msg != "":
		return e.Msg
	case e.Err != nil:
		return e.Code.String() + ": " + e.Err.Error()
	default:
		return e.Code.String()
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns a *Error with a formatted client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns a *Error with the given code and message wrapping err.
func Wrap(code Code, err error, msg string) *Error {
	return &Error{Code: code, Msg: msg, Err: err}
}

// CodeOf returns the code of the first *Error in err's chain, or CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code Code) bool { return err != nil && CodeOf(err) == code }
