package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// LDAPConfig is Quay's LDAP configuration (AUTHENTICATION_TYPE: LDAP).
type LDAPConfig struct {
	// URI is ldap://host[:port] or ldaps://host[:port] (LDAP_URI).
	URI string
	// BaseDN is the directory's base DN, "dc=example,dc=org" (LDAP_BASE_DN).
	BaseDN string
	// AdminDN and AdminPassword are the service account that searches for
	// users (LDAP_ADMIN_DN, LDAP_ADMIN_PASSWD).
	AdminDN       string
	AdminPassword string
	// UserRDNs are the subtrees searched for users, each relative to BaseDN
	// ("ou=people"), in order; an empty one, or none, is BaseDN itself
	// (LDAP_USER_RDN, then LDAP_SECONDARY_USER_RDNS).
	UserRDNs []string
	// UIDAttr and EmailAttr name the username and email attributes
	// (LDAP_UID_ATTR, default uid; LDAP_EMAIL_ATTR, default mail).
	UIDAttr   string
	EmailAttr string
	// UserFilter, when set, must also match for a user to log in
	// (LDAP_USER_FILTER), e.g. "(memberOf=cn=registry,ou=groups,dc=example,dc=org)".
	UserFilter string
	// SuperuserFilter, when set, makes the users it matches superusers, and
	// the others not (LDAP_SUPERUSER_FILTER).
	SuperuserFilter string
	// CAFile is a PEM bundle of the CAs that sign the server's certificate
	// (LDAP_CA_FILE); empty: the system's roots.
	CAFile string
	// StartTLS upgrades an ldap:// connection to TLS before binding
	// (LDAP_STARTTLS).
	StartTLS bool
	// Timeout bounds each exchange with the server, from connecting to the
	// last reply (LDAP_TIMEOUT); default 10s.
	Timeout time.Duration
	// MemberOfAttr is the attribute that lists a user's groups, for team
	// sync (LDAP_MEMBEROF_ATTR, default memberOf).
	MemberOfAttr string
}

// LDAP verifies people's passwords against an LDAP directory, as Quay does:
// bind as the service account, search the user by username or email under
// each user subtree, then bind as the user's DN with the password.
type LDAP struct {
	cfg     LDAPConfig
	addr    string // host:port
	ldaps   bool
	tls     *tls.Config
	userDNs []string
	log     *slog.Logger
}

// DirectoryUser is a person the directory vouched for.
type DirectoryUser struct {
	DN       string
	Username string // the uid attribute, lowercased
	Email    string // "" when the entry has none
	// Superuser is whether LDAP_SUPERUSER_FILTER matches the user; nil when
	// no superuser filter is configured.
	Superuser *bool
}

// NewLDAP checks the configuration and returns an LDAP client. It does not
// connect.
func NewLDAP(cfg LDAPConfig, log *slog.Logger) (*LDAP, error) {
	u, err := url.Parse(cfg.URI)
	if err != nil || u.Host == "" || (u.Scheme != "ldap" && u.Scheme != "ldaps") {
		return nil, fmt.Errorf("LDAP_URI %q: want ldap://host[:port] or ldaps://host[:port]", cfg.URI)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &LDAP{cfg: cfg, ldaps: u.Scheme == "ldaps", log: log}
	port := u.Port()
	if port == "" {
		port = "389"
		if l.ldaps {
			port = "636"
		}
	}
	l.addr = net.JoinHostPort(u.Hostname(), port)
	if l.ldaps && cfg.StartTLS {
		return nil, errors.New("LDAP_STARTTLS: an ldaps:// connection is already encrypted")
	}
	if cfg.BaseDN == "" {
		return nil, errors.New("LDAP_BASE_DN must be set")
	}
	if cfg.AdminDN == "" || cfg.AdminPassword == "" {
		return nil, errors.New("LDAP_ADMIN_DN and LDAP_ADMIN_PASSWD must be set")
	}
	if l.cfg.UIDAttr == "" {
		l.cfg.UIDAttr = "uid"
	}
	if l.cfg.EmailAttr == "" {
		l.cfg.EmailAttr = "mail"
	}
	if l.cfg.MemberOfAttr == "" {
		l.cfg.MemberOfAttr = "memberOf"
	}
	if l.cfg.Timeout <= 0 {
		l.cfg.Timeout = 10 * time.Second
	}
	for _, f := range []*string{&l.cfg.UserFilter, &l.cfg.SuperuserFilter} {
		if *f == "" {
			continue
		}
		*f = parenthesize(*f)
		if _, err := ldap.CompileFilter(*f); err != nil {
			return nil, fmt.Errorf("LDAP filter %q: %w", *f, err)
		}
	}
	rdns := cfg.UserRDNs
	if len(rdns) == 0 {
		rdns = []string{""}
	}
	for _, rdn := range rdns {
		if rdn = strings.Trim(strings.TrimSpace(rdn), ","); rdn == "" {
			l.userDNs = append(l.userDNs, cfg.BaseDN)
		} else {
			l.userDNs = append(l.userDNs, rdn+","+cfg.BaseDN)
		}
	}
	if l.ldaps || cfg.StartTLS {
		l.tls = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("LDAP_CA_FILE: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("LDAP_CA_FILE %s: no PEM certificates", cfg.CAFile)
			}
			l.tls.RootCAs = pool
		}
	}
	return l, nil
}

// parenthesize wraps a filter in parentheses unless it has them, as Quay
// accepts "memberOf=..." for "(memberOf=...)".
func parenthesize(f string) string {
	f = strings.TrimSpace(f)
	if !strings.HasPrefix(f, "(") || !strings.HasSuffix(f, ")") {
		f = "(" + f + ")"
	}
	return f
}

func errLDAPUnavailable(what string, err error) error {
	return fmt.Errorf("ldap %s: %w: %w", what, core.Errorf(core.CodeUnavailable, "the LDAP server is unavailable"), err)
}

// session connects, binds as the service account and runs fn; the whole
// exchange ends by the configured timeout (or ctx's deadline, if sooner).
func (l *LDAP) session(ctx context.Context, fn func(c *ldap.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", l.addr)
	if err != nil {
		return errLDAPUnavailable("connect", err)
	}
	// Every read and write, TLS handshakes included, ends by the deadline;
	// cancelling ctx ends them at once.
	_ = raw.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	nc := raw
	if l.ldaps {
		tc := tls.Client(raw, l.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return errLDAPUnavailable("TLS handshake", err)
		}
		nc = tc
	}
	c := ldap.NewConn(nc, l.ldaps)
	c.Start()
	defer c.Close()
	c.SetTimeout(time.Until(deadline))
	if l.cfg.StartTLS {
		if err := c.StartTLS(l.tls); err != nil {
			return errLDAPUnavailable("StartTLS", err)
		}
	}
	if err := c.Bind(l.cfg.AdminDN, l.cfg.AdminPassword); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			l.log.ErrorContext(ctx, "LDAP service account bind refused: check LDAP_ADMIN_DN and LDAP_ADMIN_PASSWD", "dn", l.cfg.AdminDN)
		}
		return errLDAPUnavailable("service account bind", err)
	}
	return fn(c)
}

// Ping binds as the service account.
func (l *LDAP) Ping(ctx context.Context) error {
	return l.session(ctx, func(*ldap.Conn) error { return nil })
}

// Verify checks a username (or email address) and password against the
// directory. A wrong password, an unknown user, an empty password (which
// many servers would take for an anonymous bind) and a user the user filter
// excludes are all core.CodeUnauthorized; a server that cannot be reached
// or refuses the service account is core.CodeUnavailable.
func (l *LDAP) Verify(ctx context.Context, username, password string) (DirectoryUser, error) {
	var du DirectoryUser
	if username == "" || password == "" {
		return du, errBadCredentials()
	}
	err := l.session(ctx, func(c *ldap.Conn) error {
		e, err := l.findUser(c, username)
		if err != nil {
			return err
		}
		if du, err = l.directoryUser(e); err != nil {
			return err
		}
		if l.cfg.SuperuserFilter != "" {
			res, err := c.Search(ldap.NewSearchRequest(e.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
				l.cfg.SuperuserFilter, []string{"1.1"}, nil))
			if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				return errLDAPUnavailable("superuser search", err)
			}
			su := res != nil && len(res.Entries) > 0
			du.Superuser = &su
		}
		// Last, as it drops the service account's bind on this connection.
		if err := c.Bind(e.DN, password); err != nil {
			if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				return errBadCredentials()
			}
			return errLDAPUnavailable("user bind", err)
		}
		return nil
	})
	return du, err
}

// userFilter matches username as the uid or the email attribute, and the
// user filter.
func (l *LDAP) userFilter(username string) string {
	v := ldap.EscapeFilter(username)
	q := fmt.Sprintf("(|(%s=%s)(%s=%s))", l.cfg.UIDAttr, v, l.cfg.EmailAttr, v)
	if l.cfg.UserFilter != "" {
		q = "(&" + q + l.cfg.UserFilter + ")"
	}
	return q
}

// findUser searches the user subtrees in order; the first that has matches
// wins, and among several matches the first with an email address.
func (l *LDAP) findUser(c *ldap.Conn, username string) (*ldap.Entry, error) {
	filter := l.userFilter(username)
	for _, base := range l.userDNs {
		res, err := c.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 20, 0, false,
			filter, []string{l.cfg.UIDAttr, l.cfg.EmailAttr}, nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				continue
			}
			return nil, errLDAPUnavailable("user search", err)
		}
		if res == nil {
			continue
		}
		var found []*ldap.Entry
		for _, e := range res.Entries {
			if e.DN != "" {
				found = append(found, e)
			}
		}
		if len(found) == 0 {
			continue
		}
		for _, e := range found {
			if e.GetEqualFoldAttributeValue(l.cfg.EmailAttr) != "" {
				return e, nil
			}
		}
		return found[0], nil
	}
	return nil, errBadCredentials()
}

// directoryUser maps an entry to its local username and email.
func (l *LDAP) directoryUser(e *ldap.Entry) (DirectoryUser, error) {
	uid := strings.ToLower(e.GetEqualFoldAttributeValue(l.cfg.UIDAttr))
	if err := oci.ValidateNamespace(uid); err != nil {
		l.log.Warn("LDAP user has no usable username", "dn", e.DN, "attribute", l.cfg.UIDAttr, "error", err)
		return DirectoryUser{}, errBadCredentials()
	}
	return DirectoryUser{DN: e.DN, Username: uid, Email: e.GetEqualFoldAttributeValue(l.cfg.EmailAttr)}, nil
}

// GroupMembers lists the users of a group (those whose member-of attribute
// names groupDN), found under the user subtrees and passing the user filter.
func (l *LDAP) GroupMembers(ctx context.Context, groupDN string) ([]DirectoryUser, error) {
	var out []DirectoryUser
	err := l.session(ctx, func(c *ldap.Conn) error {
		filter := fmt.Sprintf("(%s=%s)", l.cfg.MemberOfAttr, ldap.EscapeFilter(groupDN))
		if l.cfg.UserFilter != "" {
			filter = "(&" + filter + l.cfg.UserFilter + ")"
		}
		seen := map[string]bool{}
		for _, base := range l.userDNs {
			res, err := c.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
				filter, []string{l.cfg.UIDAttr, l.cfg.EmailAttr}, nil), 500)
			if err != nil {
				if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
					continue
				}
				return errLDAPUnavailable("group search", err)
			}
			for _, e := range res.Entries {
				du, err := l.directoryUser(e)
				if err != nil || seen[du.Username] {
					continue
				}
				seen[du.Username] = true
				out = append(out, du)
			}
		}
		return nil
	})
	return out, err
}

// UserProvisioner creates and updates the local accounts of directory users
// (*store.DB).
type UserProvisioner interface {
	CreateUser(ctx context.Context, nu store.NewUser) (core.User, error)
	UpdateUser(ctx context.Context, name string, up store.UserUpdate) (core.User, error)
}

// WithLDAP makes people log in against the directory (AUTHENTICATION_TYPE:
// LDAP). Their local account, without a local password, is created on their
// first login and found by username afterwards; its email and superuser flag
// follow the directory's. Robots, $app and $oauthtoken logins stay local.
func WithLDAP(l *LDAP, users UserProvisioner) Option {
	return func(a *Authenticator) { a.ldap, a.users = l, users }
}

// ldapLogin verifies a person against the directory and returns their local
// identity.
func (a *Authenticator) ldapLogin(ctx context.Context, username, password string) (Identity, error) {
	du, err := a.ldap.Verify(ctx, username, password)
	if err != nil {
		if !core.IsCode(err, core.CodeUnauthorized) {
			a.ldap.log.ErrorContext(ctx, "LDAP login", "username", username, "error", err)
		}
		return Identity{}, err
	}
	u, err := a.linkDirectoryUser(ctx, du)
	if err != nil {
		return Identity{}, err
	}
	if !u.Enabled {
		return Identity{}, errBadCredentials()
	}
	return a.identityFor(u, MethodPassword, nil), nil
}

// linkDirectoryUser returns the local account of a directory user, creating
// it on first sight and bringing its email and superuser flag up to date.
func (a *Authenticator) linkDirectoryUser(ctx context.Context, du DirectoryUser) (core.User, error) {
	u, err := a.store.User(ctx, du.Username)
	if core.IsCode(err, core.CodeNotFound) {
		return a.createDirectoryUser(ctx, du)
	}
	if err != nil {
		return u, err
	}
	if u.IsRobot() {
		return u, errBadCredentials()
	}
	var up store.UserUpdate
	if du.Email != "" && !strings.EqualFold(du.Email, u.Email) {
		up.Email = &du.Email
	}
	if du.Superuser != nil && *du.Superuser != u.Superuser {
		up.Superuser = du.Superuser
	}
	if up.Email == nil && up.Superuser == nil {
		return u, nil
	}
	nu, err := a.users.UpdateUser(ctx, u.Username, up)
	if err != nil && up.Email != nil {
		// Most likely another account has that email: keep the old one.
		a.ldap.log.WarnContext(ctx, "LDAP user's email not updated", "username", u.Username, "email", du.Email, "error", err)
		up.Email = nil
		if up.Superuser == nil {
			return u, nil
		}
		nu, err = a.users.UpdateUser(ctx, u.Username, up)
	}
	if err != nil {
		return u, err
	}
	return nu, nil
}

func (a *Authenticator) createDirectoryUser(ctx context.Context, du DirectoryUser) (core.User, error) {
	nu := store.NewUser{Username: du.Username, Email: du.Email, Superuser: du.Superuser != nil && *du.Superuser}
	u, err := a.users.CreateUser(ctx, nu)
	if core.IsCode(err, core.CodeConflict) && nu.Email != "" {
		if _, lerr := a.store.User(ctx, du.Username); core.IsCode(lerr, core.CodeNotFound) {
			// Not the name: the email belongs to another account. Create
			// the account without it rather than refuse the login.
			a.ldap.log.WarnContext(ctx, "LDAP user's email is taken; creating the account without it",
				"username", du.Username, "email", du.Email)
			nu.Email = ""
			u, err = a.users.CreateUser(ctx, nu)
		}
	}
	if core.IsCode(err, core.CodeConflict) {
		// The name belongs to an organization, or a concurrent first login
		// created the account: use it if it is a person.
		if u, lerr := a.store.User(ctx, du.Username); lerr == nil && !u.IsRobot() {
			return u, nil
		}
		a.ldap.log.WarnContext(ctx, "LDAP user's name is taken by an organization", "username", du.Username)
		return core.User{}, errBadCredentials()
	}
	if err != nil {
		return core.User{}, err
	}
	a.ldap.log.InfoContext(ctx, "created the account of an LDAP user", "username", u.Username, "dn", du.DN)
	return u, nil
}

// SyncLDAPTeam makes a team's people the members of an LDAP group (found
// through LDAP_MEMBEROF_ATTR), creating the accounts of those who never
// logged in. Robots in the team stay. It returns the usernames added and
// removed.
func (a *Authenticator) SyncLDAPTeam(ctx context.Context, teams TeamStore, org, team, groupDN string) (added, removed []string, err error) {
	if a.ldap == nil {
		return nil, nil, core.Errorf(core.CodeUnsupported, "LDAP is not configured")
	}
	members, err := a.ldap.GroupMembers(ctx, groupDN)
	if err != nil {
		return nil, nil, err
	}
	current, err := teams.TeamMembers(ctx, org, team)
	if err != nil {
		return nil, nil, err
	}
	have := map[string]bool{}
	for _, u := range current {
		have[u.Username] = true
	}
	want := map[string]bool{}
	for _, du := range members {
		u, err := a.linkDirectoryUser(ctx, du)
		if err != nil {
			a.ldap.log.WarnContext(ctx, "team sync: skipping LDAP user", "username", du.Username, "error", err)
			continue
		}
		want[u.Username] = true
		if !have[u.Username] {
			if err := teams.AddTeamMember(ctx, org, team, u.Username); err != nil {
				return added, removed, err
			}
			added = append(added, u.Username)
		}
	}
	for _, u := range current {
		if u.IsRobot() || want[u.Username] {
			continue
		}
		if err := teams.RemoveTeamMember(ctx, org, team, u.Username); err != nil {
			return added, removed, err
		}
		removed = append(removed, u.Username)
	}
	return added, removed, nil
}

// TeamStore is what team sync needs from the store (*store.DB).
type TeamStore interface {
	TeamMembers(ctx context.Context, org, team string) ([]core.User, error)
	AddTeamMember(ctx context.Context, org, team, username string) error
	RemoveTeamMember(ctx context.Context, org, team, username string) error
}
