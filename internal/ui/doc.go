// Package ui serves Wharf's web UI: a single-page application in plain ES
// modules (no build step), embedded in the binary. It serves the static
// assets under /static/ (content-addressed URLs cached as immutable) and
// index.html for the UI's routes, with a strict Content-Security-Policy and
// the other browser security headers on every response.
//
// The UI reads and changes everything through the Quay-compatible API on
// /api/v1/ with the session cookie, so authorization is exactly the API's.
// This package therefore never imports store or auth (archtest allows only
// core and httpx; today it needs neither).
package ui
