package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration.
type Config struct {
	// ListenAddress is the HTTP listen address (host:port).
	ListenAddress string `yaml:"LISTEN_ADDRESS"`
	// Role is what this process does: "web" serves HTTP and only enqueues
	// background jobs, "worker" works them (and answers health checks, no
	// registry), "all" (the default) does both.
	Role string `yaml:"ROLE"`
	// DataDir holds the SQLite database and the filesystem blob store.
	DataDir string `yaml:"DATA_DIR"`
	// ServerHostname is the externally visible host[:port] of the registry.
	ServerHostname string `yaml:"SERVER_HOSTNAME"`
	// DBURI selects the metadata database: empty for SQLite in DATA_DIR, or
	// a PostgreSQL URI (postgresql://user@host:5432/db).
	DBURI string `yaml:"DB_URI"`
	// DBConnectionArgs are passed to the PostgreSQL driver as connection
	// parameters, as Quay's DB_CONNECTION_ARGS: sslmode, sslrootcert,
	// sslcert, sslkey (certificate authentication), connect_timeout, ...
	DBConnectionArgs map[string]string `yaml:"DB_CONNECTION_ARGS"`
	// DBMaxConnections bounds the PostgreSQL connection pool per process.
	DBMaxConnections int `yaml:"DB_MAX_CONNECTIONS"`
	// Storage names the blob storage locations (Quay's
	// DISTRIBUTED_STORAGE_CONFIG); empty means the filesystem under DATA_DIR.
	Storage map[string]StorageLocation `yaml:"DISTRIBUTED_STORAGE_CONFIG"`
	// StoragePreference orders the locations this process uses; the first is
	// where it reads and writes (DISTRIBUTED_STORAGE_PREFERENCE).
	StoragePreference []string `yaml:"DISTRIBUTED_STORAGE_PREFERENCE"`
	// StorageReplication copies every blob to the locations it must reach
	// (FEATURE_STORAGE_REPLICATION; see storage.go).
	StorageReplication bool `yaml:"FEATURE_STORAGE_REPLICATION"`
	// StorageDefaultLocations are the locations every blob is replicated to
	// (DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS).
	StorageDefaultLocations []string `yaml:"DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS"`
	// MetricsListenAddress serves Prometheus /metrics on a separate address;
	// empty serves /metrics on the main listener.
	MetricsListenAddress string `yaml:"METRICS_LISTEN_ADDRESS"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"LOG_LEVEL"`
	// LogFormat is json or text.
	LogFormat string `yaml:"LOG_FORMAT"`
	// MaxBlobSizeBytes bounds one blob upload; 0 means no limit.
	MaxBlobSizeBytes int64 `yaml:"MAX_BLOB_SIZE_BYTES"`
	// BlobUploadExpiration is how long an idle upload session is kept
	// (Quay: BLOBUPLOAD_DELETION_DATE_THRESHOLD).
	BlobUploadExpiration Duration `yaml:"BLOBUPLOAD_DELETION_DATE_THRESHOLD"`
	// GarbageCollection turns on online garbage collection of unreachable
	// manifests and unreferenced blobs (periodic jobs).
	GarbageCollection bool `yaml:"FEATURE_GARBAGE_COLLECTION"`
	// GarbageCollectionGrace is how long a manifest pushed by digest and a
	// blob uploaded or mounted are safe from garbage collection before
	// anything references them; 0 is for tests.
	GarbageCollectionGrace Duration `yaml:"GARBAGE_COLLECTION_GRACE"`
	// RegistryState is normal or readonly (Quay's REGISTRY_STATE): a
	// read-only registry serves pulls and refuses every write. Superusers
	// can also switch the registry read-only at run time (PUT
	// /api/v1/superuser/registrystate); that switch cannot undo readonly
	// set here.
	RegistryState string `yaml:"REGISTRY_STATE"`
	// TagExpirationOptions are the time-machine windows a namespace may
	// choose: how long deleted and moved tags stay listed and restorable
	// (Quay's TAG_EXPIRATION_OPTIONS). DefaultTagExpiration applies to
	// namespaces that chose none and must be one of the options.
	TagExpirationOptions []Duration `yaml:"TAG_EXPIRATION_OPTIONS"`
	DefaultTagExpiration Duration   `yaml:"DEFAULT_TAG_EXPIRATION"`
	// DefaultAutoprunePolicy is the registry-wide auto-prune policy
	// (Quay's DEFAULT_NAMESPACE_AUTOPRUNE_POLICY, {method, value}): it
	// prunes the repositories of every namespace that has no auto-prune
	// policy of its own. Nil: none.
	DefaultAutoprunePolicy *AutoprunePolicy `yaml:"DEFAULT_NAMESPACE_AUTOPRUNE_POLICY"`
	// AllowSparseManifests accepts image manifests whose layers or config are
	// not in the repository (the OCI spec's sparse manifests).
	AllowSparseManifests bool `yaml:"FEATURE_SPARSE_MANIFESTS"`
	// SecurityScanner turns on the built-in vulnerability scanner: pushed
	// image manifests are indexed and matched against the data imported
	// with `wharf admin vulndb import`, and the security API answers.
	SecurityScanner bool `yaml:"FEATURE_SECURITY_SCANNER"`
	// VulnerabilityDataSources are URLs of vulnerability data downloaded
	// every VulnerabilityDataInterval when the network allows: OSV zip
	// archives (osv.dev's <ecosystem>/all.zip) or OSV, Debian tracker or
	// CSAF JSON files. Requests are conditional (ETag, Last-Modified) and
	// what changed is imported and rescanned. Empty (the default): nothing
	// is downloaded; data comes from `wharf admin vulndb import`.
	VulnerabilityDataSources  []string `yaml:"VULNERABILITY_DATA_SOURCES"`
	VulnerabilityDataInterval Duration `yaml:"VULNERABILITY_DATA_UPDATE_INTERVAL"`
	// Feature gates as Quay has them (all on by default here). Off, a
	// feature's API endpoints answer 404 as Quay's do: AutoPrune
	// (auto-prune policies and their jobs), QuotaManagement (quota API,
	// enforcement and quota events), ImmutableTags (immutability
	// policies), PermanentlyDeleteTags (the tag expire endpoint that takes
	// tags out of the time machine).
	AutoPrune             bool `yaml:"FEATURE_AUTO_PRUNE"`
	QuotaManagement       bool `yaml:"FEATURE_QUOTA_MANAGEMENT"`
	ImmutableTags         bool `yaml:"FEATURE_IMMUTABLE_TAGS"`
	PermanentlyDeleteTags bool `yaml:"PERMANENTLY_DELETE_TAGS"`
	// DefaultSystemRejectQuotaBytes limits namespaces without a quota of
	// their own: a push taking one to this size is refused. 0: no limit.
	DefaultSystemRejectQuotaBytes int64 `yaml:"DEFAULT_SYSTEM_REJECT_QUOTA_BYTES"`
	// ProxyCache turns on Quay's proxy cache organizations: an organization
	// configured through /api/v1/organization/{org}/proxycache serves pulls
	// from an upstream registry, caching what it fetches.
	ProxyCache bool `yaml:"FEATURE_PROXY_CACHE"`
	// ProxyCacheUpstreamAllowlist, when set, lists the only upstream hosts
	// proxy caches may use ("quay.io", "host:5000", "*.example.com");
	// ProxyCacheBlockInternalUpstreams refuses connections to loopback,
	// link-local, private and other internal addresses but those of
	// allowlisted hosts (organization admins choose upstreams).
	ProxyCacheUpstreamAllowlist      []string `yaml:"PROXY_CACHE_UPSTREAM_ALLOWLIST"`
	ProxyCacheBlockInternalUpstreams bool     `yaml:"PROXY_CACHE_BLOCK_INTERNAL_UPSTREAMS"`
	// RepoMirror enables repository mirroring (/api/v1/repository/{repo}/mirror
	// and the sync jobs); RepoMirrorInterval is how often due syncs are
	// looked for (Quay's REPO_MIRROR_INTERVAL).
	RepoMirror         bool     `yaml:"FEATURE_REPO_MIRROR"`
	RepoMirrorInterval Duration `yaml:"REPO_MIRROR_INTERVAL"`
	// PreferredURLScheme is http or https: the scheme of URLs the registry
	// hands out (token realm) when the request does not say.
	PreferredURLScheme string `yaml:"PREFERRED_URL_SCHEME"`
	// DatabaseSecretKey encrypts secrets at rest (robot tokens, signing
	// keys). When empty, a random key is generated once and kept in
	// DATA_DIR/secret.key; replicas sharing a database must set the same one.
	DatabaseSecretKey string `yaml:"DATABASE_SECRET_KEY"`
	// SuperUsers are usernames with superuser rights.
	SuperUsers []string `yaml:"SUPER_USERS"`
	// AnonymousAccess lets anyone pull public repositories.
	AnonymousAccess bool `yaml:"FEATURE_ANONYMOUS_ACCESS"`
	// UserCreation lets people sign up through the API.
	UserCreation bool `yaml:"FEATURE_USER_CREATION"`
	// DirectLogin lets people log in with their password (API and CLI).
	DirectLogin bool `yaml:"FEATURE_DIRECT_LOGIN"`
	// AppSpecificTokens enables $app tokens for CLI logins.
	AppSpecificTokens bool `yaml:"FEATURE_APP_SPECIFIC_TOKENS"`
	// AppSpecificTokenExpiration bounds the lifetime of new app tokens
	// (APP_SPECIFIC_TOKEN_EXPIRATION); empty or 0 means they do not expire.
	AppSpecificTokenExpiration Duration `yaml:"APP_SPECIFIC_TOKEN_EXPIRATION"`
	// UserInitialize enables POST /api/v1/user/initialize on an empty database.
	UserInitialize bool `yaml:"FEATURE_USER_INITIALIZE"`
	// SuperusersFullAccess gives superusers admin on every repository.
	SuperusersFullAccess bool `yaml:"FEATURE_SUPERUSERS_FULL_ACCESS"`
	// CreatePrivateRepoOnPush makes repositories created by a push private.
	CreatePrivateRepoOnPush bool `yaml:"CREATE_PRIVATE_REPO_ON_PUSH"`
	// CreateNamespaceOnPush creates a missing namespace (as an organization
	// owned by the pusher) on push.
	CreateNamespaceOnPush bool `yaml:"CREATE_NAMESPACE_ON_PUSH"`
	// ShutdownTimeout bounds how long in-flight requests may run after SIGTERM.
	ShutdownTimeout Duration `yaml:"SHUTDOWN_TIMEOUT"`
	// FederationCAFile is a PEM bundle of CA certificates trusted, besides
	// the system's, for the OIDC issuers of keyless robot federation.
	FederationCAFile string `yaml:"FEDERATION_CA_FILE"`
	// FederationAllowHTTPIssuers lets robot federation fetch keys from
	// plain http issuers (for tests; keep it off in production).
	FederationAllowHTTPIssuers bool `yaml:"FEDERATION_ALLOW_HTTP_ISSUERS"`

	// AuthenticationType is Database (local passwords), LDAP (people log
	// in against the directory; robots and tokens stay local) or OIDC
	// (people log in only through OIDC_PROVIDERS; the CLI uses app tokens
	// or robots).
	AuthenticationType string `yaml:"AUTHENTICATION_TYPE"`
	// LDAP settings, as Quay's. LDAP_BASE_DN and LDAP_USER_RDN are lists of
	// RDN pieces (["dc=example", "dc=org"]) or one DN string; the users are
	// searched under LDAP_USER_RDN, then each LDAP_SECONDARY_USER_RDNS,
	// below the base DN.
	LDAPURI               string   `yaml:"LDAP_URI"`
	LDAPBaseDN            DNPieces `yaml:"LDAP_BASE_DN"`
	LDAPAdminDN           string   `yaml:"LDAP_ADMIN_DN"`
	LDAPAdminPassword     string   `yaml:"LDAP_ADMIN_PASSWD"`
	LDAPUserRDN           DNPieces `yaml:"LDAP_USER_RDN"`
	LDAPSecondaryUserRDNs []string `yaml:"LDAP_SECONDARY_USER_RDNS"`
	LDAPUIDAttr           string   `yaml:"LDAP_UID_ATTR"`
	LDAPEmailAttr         string   `yaml:"LDAP_EMAIL_ATTR"`
	LDAPMemberOfAttr      string   `yaml:"LDAP_MEMBEROF_ATTR"`
	LDAPUserFilter        string   `yaml:"LDAP_USER_FILTER"`
	LDAPSuperuserFilter   string   `yaml:"LDAP_SUPERUSER_FILTER"`
	// LDAPCAFile is a PEM bundle of the CAs for ldaps:// and StartTLS;
	// empty means the system's.
	LDAPCAFile   string   `yaml:"LDAP_CA_FILE"`
	LDAPStartTLS bool     `yaml:"LDAP_STARTTLS"`
	LDAPTimeout  Duration `yaml:"LDAP_TIMEOUT"`

	// Failed logins allowed per account and per source address within
	// LOGIN_RATE_LIMIT_WINDOW before further attempts get 429; 0 turns a
	// limit off. The counts are kept in the database (shared by replicas).
	LoginRateLimitAccount int      `yaml:"LOGIN_RATE_LIMIT_ACCOUNT"`
	LoginRateLimitAddress int      `yaml:"LOGIN_RATE_LIMIT_ADDRESS"`
	LoginRateLimitWindow  Duration `yaml:"LOGIN_RATE_LIMIT_WINDOW"`
	// TrustedProxies are the addresses or CIDR blocks of reverse proxies
	// whose X-Forwarded-For header names the real client (for the
	// per-address login limit). Empty: the connection's peer is the client.
	TrustedProxies []string `yaml:"TRUSTED_PROXIES"`

	// OIDCProviders are the OpenID Connect providers people can log in
	// with, by name (the name is part of the login URLs, /oauth2/NAME/...).
	// Quay's top-level <NAME>_LOGIN_CONFIG keys are added here too (see
	// decodeFile). AUTHENTICATION_TYPE OIDC makes them the only way for
	// people to log in.
	OIDCProviders map[string]OIDCProvider `yaml:"OIDC_PROVIDERS"`

	// SMTP server of the email notification method (Quay's MAIL_*):
	// MAIL_USE_TLS upgrades with STARTTLS; MAIL_USERNAME turns on AUTH
	// PLAIN. MAIL_CA_FILE is a PEM bundle that verifies the server (empty:
	// the system's CAs).
	MailServer        string `yaml:"MAIL_SERVER"`
	MailPort          int    `yaml:"MAIL_PORT"`
	MailUseTLS        bool   `yaml:"MAIL_USE_TLS"`
	MailUsername      string `yaml:"MAIL_USERNAME"`
	MailPassword      string `yaml:"MAIL_PASSWORD"`
	MailDefaultSender string `yaml:"MAIL_DEFAULT_SENDER"`
	MailCAFile        string `yaml:"MAIL_CA_FILE"`
	// NotificationSendTimeout bounds one notification delivery (Quay's
	// NOTIFICATION_SEND_TIMEOUT). A config whose deliveries fail
	// NOTIFICATION_MAX_FAILURES times in a row is disabled until reset;
	// failed deliveries are retried after NOTIFICATION_RETRY_BACKOFF,
	// doubling each time (0: the job queue's backoff).
	NotificationSendTimeout  Duration `yaml:"NOTIFICATION_SEND_TIMEOUT"`
	NotificationMaxFailures  int      `yaml:"NOTIFICATION_MAX_FAILURES"`
	NotificationRetryBackoff Duration `yaml:"NOTIFICATION_RETRY_BACKOFF"`

	// Audit log: ACTION_LOG_PULLS is off, sampled (a fraction
	// ACTION_LOG_PULL_SAMPLE_RATE, 0..1, of pulls) or all (the default);
	// pulls are written in batches off the pull path. With
	// FEATURE_ACTION_LOG_ROTATION (off by default), entries older than
	// ACTION_LOG_ROTATION_THRESHOLD (default 30d) are deleted hourly.
	// ACTION_LOG_AUDIT_LOGINS (default true, as Quay) logs logins and failed
	// logins. Every other audited action is always logged.
	ActionLogAuditLogins       bool     `yaml:"ACTION_LOG_AUDIT_LOGINS"`
	ActionLogPulls             string   `yaml:"ACTION_LOG_PULLS"`
	ActionLogPullSampleRate    float64  `yaml:"ACTION_LOG_PULL_SAMPLE_RATE"`
	ActionLogRotation          bool     `yaml:"FEATURE_ACTION_LOG_ROTATION"`
	ActionLogRotationThreshold Duration `yaml:"ACTION_LOG_ROTATION_THRESHOLD"`
}

// Process roles (ROLE, wharf serve --role).
const (
	RoleAll    = "all"
	RoleWeb    = "web"
	RoleWorker = "worker"
)

// ParsePrefixes parses addresses ("10.0.0.1") and CIDR blocks ("10.0.0.0/8").
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR block", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// DNPieces is a DN given as a list of RDN pieces (Quay's form) or as one
// string.
type DNPieces []string

// UnmarshalYAML accepts a string or a list of strings.
func (d *DNPieces) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*d = DNPieces{s}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*d = l
	return nil
}

// String joins the pieces into a DN.
func (d DNPieces) String() string {
	var parts []string
	for _, p := range d {
		if p = strings.Trim(strings.TrimSpace(p), ","); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ",")
}

// Default returns the configuration `wharf serve` runs with when nothing is set.
func Default() Config {
	return Config{
		ListenAddress:            ":5000",
		Role:                     RoleAll,
		DataDir:                  "wharf-data",
		LogLevel:                 "info",
		LogFormat:                "json",
		BlobUploadExpiration:     Duration(48 * time.Hour),
		GarbageCollection:        true,
		GarbageCollectionGrace:   Duration(time.Hour),
		RegistryState:            "normal",
		TagExpirationOptions:     []Duration{0, Duration(24 * time.Hour), Duration(7 * 24 * time.Hour), Duration(14 * 24 * time.Hour), Duration(28 * 24 * time.Hour)},
		DefaultTagExpiration:     Duration(14 * 24 * time.Hour),
		ShutdownTimeout:          Duration(30 * time.Second),
		PreferredURLScheme:       "http",
		AnonymousAccess:          true,
		UserCreation:             true,
		DirectLogin:              true,
		AppSpecificTokens:        true,
		UserInitialize:           true,
		CreatePrivateRepoOnPush:  true,
		AuthenticationType:       "Database",
		LDAPUIDAttr:              "uid",
		LDAPEmailAttr:            "mail",
		LDAPTimeout:              Duration(10 * time.Second),
		LoginRateLimitAccount:    10,
		LoginRateLimitAddress:    50,
		LoginRateLimitWindow:     Duration(5 * time.Minute),
		MailPort:                 587,
		NotificationSendTimeout:  Duration(10 * time.Second),
		NotificationMaxFailures:  3,
		NotificationRetryBackoff: Duration(30 * time.Second),
		RepoMirror:               true,
		RepoMirrorInterval:       Duration(30 * time.Second),
		// Vulnerability data downloads (off while no source is set).
		VulnerabilityDataInterval: Duration(6 * time.Hour),
		AutoPrune:                 true,
		QuotaManagement:           true,
		ImmutableTags:             true,
		PermanentlyDeleteTags:     true,

		// Audit log.
		ActionLogAuditLogins:       true,
		ActionLogPulls:             "all",
		ActionLogPullSampleRate:    0.1,
		ActionLogRotationThreshold: Duration(30 * 24 * time.Hour),
	}
}

// Load reads a YAML file over the defaults, expanding ${VAR} references from
// the environment. An empty path returns the defaults.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	expanded := os.Expand(string(b), func(k string) string { return getenv(k) })
	if err := decodeFile(expanded, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ApplyEnv overrides fields from WHARF_<KEY> variables (for example
// WHARF_LISTEN_ADDRESS).
func (c *Config) ApplyEnv(getenv func(string) string) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		key := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if key == "" || key == "-" {
			continue
		}
		val := getenv("WHARF_" + key)
		if val == "" {
			continue
		}
		if err := yaml.Unmarshal([]byte(quoteScalar(v.Field(i), val)), v.Field(i).Addr().Interface()); err != nil {
			return fmt.Errorf("WHARF_%s: %w", key, err)
		}
	}
	return nil
}

// quoteScalar makes an environment value a YAML scalar of the field's kind.
func quoteScalar(f reflect.Value, val string) string {
	switch f.Kind() {
	case reflect.String:
		return strconv.Quote(val)
	case reflect.Slice:
		// A comma-separated list: WHARF_SUPER_USERS=alice,bob
		if strings.HasPrefix(strings.TrimSpace(val), "[") {
			return val
		}
		var items []string
		for _, it := range strings.Split(val, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, strconv.Quote(it))
			}
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return val
}

// Validate checks the configuration for mistakes a user can fix.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.ListenAddress); err != nil {
		errs = append(errs, fmt.Errorf("LISTEN_ADDRESS %q: %w", c.ListenAddress, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("DATA_DIR must not be empty"))
	}
	switch c.Role {
	case RoleAll, RoleWeb, RoleWorker:
	default:
		errs = append(errs, fmt.Errorf("ROLE %q: want all, web or worker", c.Role))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT %q: want json or text", c.LogFormat))
	}
	if c.MaxBlobSizeBytes < 0 {
		errs = append(errs, errors.New("MAX_BLOB_SIZE_BYTES must not be negative"))
	}
	if c.GarbageCollectionGrace < 0 {
		errs = append(errs, errors.New("GARBAGE_COLLECTION_GRACE must not be negative"))
	}
	if c.BlobUploadExpiration <= 0 {
		errs = append(errs, errors.New("BLOBUPLOAD_DELETION_DATE_THRESHOLD must be positive"))
	}
	if c.RegistryState != "normal" && c.RegistryState != "readonly" {
		errs = append(errs, fmt.Errorf("REGISTRY_STATE %q: want normal or readonly", c.RegistryState))
	}
	errs = append(errs, c.validateTagExpiration()...)
	errs = append(errs, c.validateVulnerabilityData()...)
	if p := c.DefaultAutoprunePolicy; p != nil {
		if err := p.validate(); err != nil {
			errs = append(errs, fmt.Errorf("DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: %w", err))
		}
	}
	if c.DBURI != "" && !strings.HasPrefix(c.DBURI, "postgres://") && !strings.HasPrefix(c.DBURI, "postgresql://") {
		errs = append(errs, fmt.Errorf("DB_URI: only postgresql:// URIs are supported (leave it empty for SQLite)"))
	}
	if len(c.Storage) > 0 {
		if _, _, err := c.PrimaryStorage(); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, c.validateReplication()...)
	if c.PreferredURLScheme != "http" && c.PreferredURLScheme != "https" {
		errs = append(errs, fmt.Errorf("PREFERRED_URL_SCHEME %q: want http or https", c.PreferredURLScheme))
	}
	if c.DatabaseSecretKey != "" && len(c.DatabaseSecretKey) < 16 {
		errs = append(errs, errors.New("DATABASE_SECRET_KEY must be at least 16 characters"))
	}
	switch c.AuthenticationType {
	case "Database", "OIDC":
	case "LDAP":
		if !strings.HasPrefix(c.LDAPURI, "ldap://") && !strings.HasPrefix(c.LDAPURI, "ldaps://") {
			errs = append(errs, fmt.Errorf("LDAP_URI %q: want ldap://host[:port] or ldaps://host[:port]", c.LDAPURI))
		}
		if c.LDAPBaseDN.String() == "" || c.LDAPAdminDN == "" || c.LDAPAdminPassword == "" {
			errs = append(errs, errors.New("AUTHENTICATION_TYPE LDAP needs LDAP_BASE_DN, LDAP_ADMIN_DN and LDAP_ADMIN_PASSWD"))
		}
		if c.LDAPStartTLS && strings.HasPrefix(c.LDAPURI, "ldaps://") {
			errs = append(errs, errors.New("LDAP_STARTTLS: an ldaps:// LDAP_URI is already encrypted"))
		}
	default:
		errs = append(errs, fmt.Errorf("AUTHENTICATION_TYPE %q: want Database, LDAP or OIDC", c.AuthenticationType))
	}
	if c.LoginRateLimitAccount < 0 || c.LoginRateLimitAddress < 0 {
		errs = append(errs, errors.New("LOGIN_RATE_LIMIT_ACCOUNT and LOGIN_RATE_LIMIT_ADDRESS must not be negative"))
	}
	if (c.LoginRateLimitAccount > 0 || c.LoginRateLimitAddress > 0) && c.LoginRateLimitWindow <= 0 {
		errs = append(errs, errors.New("LOGIN_RATE_LIMIT_WINDOW must be positive"))
	}
	errs = append(errs, c.validateOIDC()...)
	if _, err := ParsePrefixes(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %w", err))
	}
	errs = append(errs, c.validateActionLog()...)
	return errors.Join(errs...)
}

// PrimaryStorage returns the storage location this process writes to: the
// first of DISTRIBUTED_STORAGE_PREFERENCE, or the only configured one.
func (c *Config) PrimaryStorage() (string, StorageLocation, error) {
	name := ""
	switch {
	case len(c.StoragePreference) > 0:
		name = c.StoragePreference[0]
	case len(c.Storage) == 1:
		for k := range c.Storage {
			name = k
		}
	default:
		return "", StorageLocation{}, errors.New("DISTRIBUTED_STORAGE_PREFERENCE must name a location when several are configured")
	}
	loc, ok := c.Storage[name]
	if !ok {
		return "", StorageLocation{}, fmt.Errorf("DISTRIBUTED_STORAGE_PREFERENCE names %q, which DISTRIBUTED_STORAGE_CONFIG does not define", name)
	}
	switch loc.Driver {
	case DriverLocal, DriverS3:
	default:
		return "", StorageLocation{}, fmt.Errorf("storage location %q: unsupported driver %q (LocalStorage or S3Storage)", name, loc.Driver)
	}
	return name, loc, nil
}

// AutoprunePolicy is a registry-wide auto-prune policy: method
// number_of_tags (value: how many of the newest tags to keep) or
// creation_date (value: a duration such as 2w; older tags are pruned).
type AutoprunePolicy struct {
	Method string `yaml:"method"`
	Value  string `yaml:"value"`
}

func (p AutoprunePolicy) validate() error {
	switch p.Method {
	case "number_of_tags":
		if n, err := strconv.Atoi(p.Value); err != nil || n <= 0 {
			return fmt.Errorf("value %q: want a positive number of tags", p.Value)
		}
	case "creation_date":
		v := strings.TrimSpace(p.Value)
		if n, err := strconv.ParseInt(strings.TrimRight(v, "smhdwy"), 10, 64); err != nil || n <= 0 || len(v) < 2 || !strings.ContainsAny(v[len(v)-1:], "smhdwy") {
			return fmt.Errorf("value %q: want a duration such as 7d, 2w, 1m or 1y", p.Value)
		}
	default:
		return fmt.Errorf("method %q: want number_of_tags or creation_date", p.Method)
	}
	return nil
}

// validateTagExpiration checks the time-machine options and default.
func (c *Config) validateTagExpiration() []error {
	if len(c.TagExpirationOptions) == 0 {
		return []error{errors.New("TAG_EXPIRATION_OPTIONS must list at least one duration")}
	}
	found := false
	for _, o := range c.TagExpirationOptions {
		if o < 0 || o.Std()%time.Second != 0 {
			return []error{fmt.Errorf("TAG_EXPIRATION_OPTIONS: %s is not a whole, non-negative number of seconds", o.Std())}
		}
		found = found || o == c.DefaultTagExpiration
	}
	if !found {
		return []error{fmt.Errorf("DEFAULT_TAG_EXPIRATION %s must be one of TAG_EXPIRATION_OPTIONS", c.DefaultTagExpiration.Std())}
	}
	return nil
}

// validateVulnerabilityData checks the vulnerability data sources: http or
// https URLs, downloaded at most once a minute.
func (c *Config) validateVulnerabilityData() []error {
	var errs []error
	for _, u := range c.VulnerabilityDataSources {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("VULNERABILITY_DATA_SOURCES: %q is not an http(s) URL", u))
		}
	}
	if len(c.VulnerabilityDataSources) > 0 && c.VulnerabilityDataInterval < Duration(time.Minute) {
		errs = append(errs, errors.New("VULNERABILITY_DATA_UPDATE_INTERVAL must be at least 1m"))
	}
	if c.DefaultSystemRejectQuotaBytes < 0 {
		errs = append(errs, errors.New("DEFAULT_SYSTEM_REJECT_QUOTA_BYTES must not be negative"))
	}
	return errs
}
