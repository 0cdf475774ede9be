// Package httpx holds the HTTP middleware every edge shares: request ids,
// panic recovery and the structured access log. It imports only the standard
// library.
package httpx
