package ldaptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"text/template"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wharfhq/wharf/internal/testproc"
)

// ErrNotInstalled means slapd or its schema and modules were not found.
var ErrNotInstalled = errors.New("OpenLDAP server not found (Debian packages slapd and ldap-utils)")

// The seeded directory.
const (
	BaseDN    = "dc=example,dc=org"
	PeopleDN  = "ou=people," + BaseDN
	GroupsDN  = "ou=groups," + BaseDN
	ServiceDN = "cn=wharf,ou=services," + BaseDN // the service account
	// ServicePassword is the service account's password.
	ServicePassword = "service-secret-0123"
	// AdminsGroup and DevelopersGroup are seeded groupOfNames entries.
	AdminsGroup     = "cn=admins," + GroupsDN
	DevelopersGroup = "cn=developers," + GroupsDN
)

// User is a person in the directory (inetOrgPerson under PeopleDN).
type User struct {
	UID      string
	Mail     string // optional
	Password string // stored as {SSHA}
}

// SeedUsers are the people every server starts with: alice and bob are
// developers, carol is in admins, dave is in no group and has no email.
func SeedUsers() []User {
	return []User{
		{UID: "alice", Mail: "alice@example.org", Password: "alice-password-1"},
		{UID: "bob", Mail: "bob@example.org", Password: "bob-password-1"},
		{UID: "carol", Mail: "carol@example.org", Password: "carol-password-1"},
		{UID: "dave", Password: "dave-password-1"},
	}
}

// Server is a running slapd.
type Server struct {
	Dir    string // temporary directory: config, data, certificates, log
	URL    string // ldap://127.0.0.1:port (StartTLS available)
	TLSURL string // ldaps://127.0.0.1:port
	// CAFile holds the PEM certificate of the test CA that signed the
	// server's certificate (for 127.0.0.1 and localhost).
	CAFile string
	// RootDN and RootPassword are the directory manager (rootdn).
	RootDN       string
	RootPassword string

	cmd  *exec.Cmd
	done chan struct{}
}

// Options tune the server.
type Options struct {
	// Debug is slapd's -d level; 0 logs little. The log is Dir/slapd.log.
	Debug int
}

// paths of the Debian installation.
type install struct{ slapd, schema, modules string }

func findInstall() (install, error) {
	var in install
	if p, err := exec.LookPath("slapd"); err == nil {
		in.slapd = p
	} else if _, err := os.Stat("/usr/sbin/slapd"); err == nil {
		in.slapd = "/usr/sbin/slapd"
	} else {
		return in, ErrNotInstalled
	}
	in.schema, in.modules = "/etc/ldap/schema", "/usr/lib/ldap"
	for _, p := range []string{filepath.Join(in.schema, "inetorgperson.schema"), filepath.Join(in.modules, "back_mdb.so")} {
		if _, err := os.Stat(p); err != nil {
			return in, fmt.Errorf("%w: %s missing", ErrNotInstalled, p)
		}
	}
	return in, nil
}

var confTemplate = template.Must(template.New("slapd.conf").Parse(`include {{.Schema}}/core.schema
include {{.Schema}}/cosine.schema
include {{.Schema}}/inetorgperson.schema
pidfile {{.Dir}}/slapd.pid
argsfile {{.Dir}}/slapd.args
modulepath {{.Modules}}
moduleload back_mdb
{{if .MemberOf}}moduleload memberof
{{end}}TLSCACertificateFile {{.Dir}}/ca.pem
TLSCertificateFile {{.Dir}}/server.pem
TLSCertificateKeyFile {{.Dir}}/server.key

database mdb
maxsize 67108864
suffix "{{.BaseDN}}"
rootdn "{{.RootDN}}"
rootpw {{.RootPassword}}
directory {{.Dir}}/data
index objectClass eq
index uid,mail eq
access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by users read
  by anonymous auth
{{if .MemberOf}}overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint true
{{end}}`))

// Start writes a configuration and certificates to a new temporary
// directory, starts slapd in the foreground and seeds the directory.
func Start(ctx context.Context, opts Options) (*Server, error) {
	in, err := findInstall()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "wharf-ldap-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), RootDN: "cn=admin," + BaseDN, RootPassword: "root-secret-0123"}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		return fail(err)
	}
	if err := writeCerts(dir); err != nil {
		return fail(fmt.Errorf("certificates: %w", err))
	}
	_, memberOfErr := os.Stat(filepath.Join(in.modules, "memberof.so"))
	var conf bytes.Buffer
	if err := confTemplate.Execute(&conf, map[string]any{
		"Schema": in.schema, "Modules": in.modules, "Dir": dir, "BaseDN": BaseDN,
		"RootDN": s.RootDN, "RootPassword": s.RootPassword, "MemberOf": memberOfErr == nil,
	}); err != nil {
		return fail(err)
	}
	confPath := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o600); err != nil {
		return fail(err)
	}
	// Check the configuration first: a clear message beats a server that
	// exits at once.
	if out, err := exec.CommandContext(ctx, in.slapd, "-T", "test", "-u", "-f", confPath).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("slaptest: %v: %s", err, out))
	}
	for attempt := 0; attempt < 5; attempt++ {
		var p1, p2 int
		if p1, err = testproc.FreePort(); err != nil {
			break
		}
		if p2, err = testproc.FreePort(); err != nil {
			break
		}
		s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", p1)
		s.TLSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", p2)
		if err = s.start(in, confPath, opts); err != nil {
			break
		}
		if err = s.waitReady(ctx, 20*time.Second); err == nil {
			if err = s.seed(); err != nil {
				s.Stop()
				return nil, fmt.Errorf("seeding the directory: %w", err)
			}
			return s, nil
		}
		s.kill()
	}
	logb, _ := os.ReadFile(filepath.Join(dir, "slapd.log"))
	return fail(fmt.Errorf("slapd did not start: %v\n%s", err, logb))
}

func (s *Server) start(in install, confPath string, opts Options) error {
	logf, err := os.OpenFile(filepath.Join(s.Dir, "slapd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = exec.Command(in.slapd, "-d", strconv.Itoa(opts.Debug), "-f", confPath,
		"-h", s.URL+"/ "+s.TLSURL+"/")
	s.cmd.Dir = s.Dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(s.cmd, s.done)
	return nil
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("slapd exited")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		c, err := s.RootConn()
		if err == nil {
			c.Close()
			tc, terr := s.dial(s.TLSURL)
			if terr == nil {
				tc.Close()
				return nil
			}
			err = terr
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("timed out")
}

// TLSConfig trusts the test CA.
func (s *Server) TLSConfig() (*tls.Config, error) {
	b, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, nil
}

func (s *Server) dial(url string) (*ldap.Conn, error) {
	tc, err := s.TLSConfig()
	if err != nil {
		return nil, err
	}
	c, err := ldap.DialURL(url, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}), ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(10 * time.Second)
	return c, nil
}

// RootConn connects over ldap:// and binds as the directory manager.
func (s *Server) RootConn() (*ldap.Conn, error) {
	c, err := s.dial(s.URL)
	if err != nil {
		return nil, err
	}
	if err := c.Bind(s.RootDN, s.RootPassword); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// UserDN is the DN of a person.
func UserDN(uid string) string { return "uid=" + ldap.EscapeDN(uid) + "," + PeopleDN }

// GroupDN is the DN of a group.
func GroupDN(cn string) string { return "cn=" + ldap.EscapeDN(cn) + "," + GroupsDN }

func (s *Server) seed() error {
	c, err := s.RootConn()
	if err != nil {
		return err
	}
	defer c.Close()
	entries := []struct {
		dn    string
		attrs map[string][]string
	}{
		{BaseDN, map[string][]string{"objectClass": {"top", "dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}}},
		{PeopleDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}}},
		{GroupsDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}}},
		{"ou=services," + BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"services"}}},
		{ServiceDN, map[string][]string{"objectClass": {"organizationalRole", "simpleSecurityObject"}, "cn": {"wharf"},
			"userPassword": {SSHA(ServicePassword)}}},
	}
	for _, e := range entries {
		req := ldap.NewAddRequest(e.dn, nil)
		for k, v := range e.attrs {
			req.Attribute(k, v)
		}
		if err := c.Add(req); err != nil {
			return fmt.Errorf("add %s: %w", e.dn, err)
		}
	}
	for _, u := range SeedUsers() {
		if err := addUser(c, u); err != nil {
			return err
		}
	}
	if err := addGroup(c, "admins", "carol"); err != nil {
		return err
	}
	return addGroup(c, "developers", "alice", "bob")
}

// AddUser adds a person under PeopleDN.
func (s *Server) AddUser(u User) error {
	c, err := s.RootConn()
	if err != nil {
		return err
	}
	defer c.Close()
	return addUser(c, u)
}

// AddGroup adds a groupOfNames under GroupsDN with the given people.
func (s *Server) AddGroup(cn string, uids ...string) error {
	c, err := s.RootConn()
	if err != nil {
		return err
	}
	defer c.Close()
	return addGroup(c, cn, uids...)
}

// SetGroupMembers replaces the people of a group.
func (s *Server) SetGroupMembers(cn string, uids ...string) error {
	c, err := s.RootConn()
	if err != nil {
		return err
	}
	defer c.Close()
	req := ldap.NewModifyRequest(GroupDN(cn), nil)
	req.Replace("member", memberDNs(uids))
	return c.Modify(req)
}

func addUser(c *ldap.Conn, u User) error {
	req := ldap.NewAddRequest(UserDN(u.UID), nil)
	req.Attribute("objectClass", []string{"inetOrgPerson"})
	req.Attribute("uid", []string{u.UID})
	req.Attribute("cn", []string{u.UID})
	req.Attribute("sn", []string{u.UID})
	if u.Mail != "" {
		req.Attribute("mail", []string{u.Mail})
	}
	if u.Password != "" {
		req.Attribute("userPassword", []string{SSHA(u.Password)})
	}
	if err := c.Add(req); err != nil {
		return fmt.Errorf("add user %s: %w", u.UID, err)
	}
	return nil
}

func memberDNs(uids []string) []string {
	var out []string
	for _, u := range uids {
		out = append(out, UserDN(u))
	}
	if len(out) == 0 {
		out = []string{""} // groupOfNames needs a member; the empty DN is the usual placeholder
	}
	return out
}

func addGroup(c *ldap.Conn, cn string, uids ...string) error {
	req := ldap.NewAddRequest(GroupDN(cn), nil)
	req.Attribute("objectClass", []string{"groupOfNames"})
	req.Attribute("cn", []string{cn})
	req.Attribute("member", memberDNs(uids))
	if err := c.Add(req); err != nil {
		return fmt.Errorf("add group %s: %w", cn, err)
	}
	return nil
}

// SSHA hashes a password as slapd's {SSHA} scheme: SHA-1 over the password
// and a random salt, then base64 of the digest and the salt.
func SSHA(password string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// Stop shuts slapd down and removes its directory.
func (s *Server) Stop() {
	testproc.Stop(s.cmd, s.done, syscall.SIGTERM, 10*time.Second)
	os.RemoveAll(s.Dir)
}

func (s *Server) kill() { testproc.Kill(s.cmd, s.done) }

// writeCerts creates a test CA and a server certificate it signs for
// 127.0.0.1 and localhost: ca.pem, server.pem and server.key in dir.
func writeCerts(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wharf ldaptest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"ca.pem":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"server.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
