// Package archtest holds the test that keeps the dependency arrows of
// docs/ARCHITECTURE.md honest. It has no code of its own.
package archtest
