package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/store"
)

// localAccounts reports whether people's accounts and passwords are Wharf's
// own (AUTHENTICATION_TYPE Database). Otherwise, as in Quay, sign-up and
// user initialization are off: accounts come from the directory.
func localAccounts(cfg config.Config) bool { return cfg.AuthenticationType != "LDAP" }

// loginOptions builds the login rate limiter and, for AUTHENTICATION_TYPE
// LDAP, the directory client.
func loginOptions(cfg config.Config, db *store.DB, log *slog.Logger) ([]auth.Option, error) {
	opts := []auth.Option{auth.WithLimiter(auth.NewLimiter(db, auth.RateLimit{
		AccountFailures: cfg.LoginRateLimitAccount, AddressFailures: cfg.LoginRateLimitAddress,
		Window: cfg.LoginRateLimitWindow.Std(),
	}, time.Now, log))}
	if localAccounts(cfg) {
		return opts, nil
	}
	rdns := append([]string{cfg.LDAPUserRDN.String()}, cfg.LDAPSecondaryUserRDNs...)
	l, err := auth.NewLDAP(auth.LDAPConfig{
		URI: cfg.LDAPURI, BaseDN: cfg.LDAPBaseDN.String(), AdminDN: cfg.LDAPAdminDN, AdminPassword: cfg.LDAPAdminPassword,
		UserRDNs: rdns, UIDAttr: cfg.LDAPUIDAttr, EmailAttr: cfg.LDAPEmailAttr, MemberOfAttr: cfg.LDAPMemberOfAttr,
		UserFilter: cfg.LDAPUserFilter, SuperuserFilter: cfg.LDAPSuperuserFilter,
		CAFile: cfg.LDAPCAFile, StartTLS: cfg.LDAPStartTLS, Timeout: cfg.LDAPTimeout.Std(),
	}, log)
	if err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	return append(opts, auth.WithLDAP(l, db)), nil
}

// withClientAddr hands the caller's address to the login rate limiter: the
// connection's peer, or, when the peer is one of TRUSTED_PROXIES, the
// right-most address in X-Forwarded-For that is not a trusted proxy.
func withClientAddr(cfg config.Config, next http.Handler) http.Handler {
	trusted, _ := config.ParsePrefixes(cfg.TrustedProxies) // checked by Validate
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(auth.WithClientAddr(r.Context(), clientAddr(r, trusted))))
	})
}

func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	addr := r.RemoteAddr
	isTrusted := func(s string) bool {
		if h, _, err := net.SplitHostPort(s); err == nil {
			s = h
		}
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return false
		}
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	if len(trusted) == 0 || !isTrusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		addr = h
		if !isTrusted(h) {
			break
		}
	}
	return addr
}
