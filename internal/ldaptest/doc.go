// Package ldaptest starts a throwaway OpenLDAP server (Debian's slapd
// package) in a temporary directory for tests: a generated slapd.conf with
// the mdb backend and the memberof overlay, a test CA and server
// certificate, slapd in the foreground on ldap:// and ldaps:// loopback
// ports, and a seeded directory (a service account, people, groups). Stop
// ends it and removes the directory. It is imported only by tests.
package ldaptest
