package config

import (
	"errors"
	"fmt"
	"io"
	"net"
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
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"LOG_LEVEL"`
	// LogFormat is json or text.
	LogFormat string `yaml:"LOG_FORMAT"`
	// MaxBlobSizeBytes bounds one blob upload; 0 means no limit.
	MaxBlobSizeBytes int64 `yaml:"MAX_BLOB_SIZE_BYTES"`
	// BlobUploadExpiration is how long an idle upload session is kept
	// (Quay: BLOBUPLOAD_DELETION_DATE_THRESHOLD).
	BlobUploadExpiration Duration `yaml:"BLOBUPLOAD_DELETION_DATE_THRESHOLD"`
	// AllowSparseManifests accepts image manifests whose layers or config are
	// not in the repository (the OCI spec's sparse manifests).
	AllowSparseManifests bool `yaml:"FEATURE_SPARSE_MANIFESTS"`
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
}

// Default returns the configuration `wharf serve` runs with when nothing is set.
func Default() Config {
	return Config{
		ListenAddress:           ":5000",
		DataDir:                 "wharf-data",
		LogLevel:                "info",
		LogFormat:               "json",
		BlobUploadExpiration:    Duration(48 * time.Hour),
		ShutdownTimeout:         Duration(30 * time.Second),
		PreferredURLScheme:      "http",
		AnonymousAccess:         true,
		UserCreation:            true,
		DirectLogin:             true,
		AppSpecificTokens:       true,
		UserInitialize:          true,
		CreatePrivateRepoOnPush: true,
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
	dec := yaml.NewDecoder(strings.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
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
	if c.BlobUploadExpiration <= 0 {
		errs = append(errs, errors.New("BLOBUPLOAD_DELETION_DATE_THRESHOLD must be positive"))
	}
	if c.DBURI != "" && !strings.HasPrefix(c.DBURI, "postgres://") && !strings.HasPrefix(c.DBURI, "postgresql://") {
		errs = append(errs, fmt.Errorf("DB_URI: only postgresql:// URIs are supported (leave it empty for SQLite)"))
	}
	if c.PreferredURLScheme != "http" && c.PreferredURLScheme != "https" {
		errs = append(errs, fmt.Errorf("PREFERRED_URL_SCHEME %q: want http or https", c.PreferredURLScheme))
	}
	if c.DatabaseSecretKey != "" && len(c.DatabaseSecretKey) < 16 {
		errs = append(errs, errors.New("DATABASE_SECRET_KEY must be at least 16 characters"))
	}
	return errors.Join(errs...)
}
