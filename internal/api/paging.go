package api

import (
	"encoding/base64"
)

// Quay's next_page tokens are opaque; ours are the base64 of the last key.
func encodePageToken(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(last))
}

func pageToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) > 1024 {
		return "", errInvalid("invalid next_page token")
	}
	return string(b), nil
}
