// Package auth decides who a caller is and what they may do: credential
// verification (local passwords or LDAP, robot tokens, federated robot
// tokens, app tokens, OAuth tokens), login rate limiting, the registry's
// token service (signed JWTs with database-held, rotating keys), robot
// federation (OIDC JWT exchange), secret handling (hashing and at-rest
// encryption), and authorization decisions on repositories and namespaces.
//
// It imports core and store (through interfaces it declares); never the HTTP
// edges.
package auth
