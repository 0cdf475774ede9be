package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/httpx"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/notify"
	"github.com/wharfhq/wharf/internal/registry"
	"github.com/wharfhq/wharf/internal/scanner"
	"github.com/wharfhq/wharf/internal/store"
)

// App is a running Wharf: its stores, handlers and workers.
type App struct {
	cfg   config.Config
	log   *slog.Logger
	db    *store.DB
	jobs  *jobs.Queue
	blobs blob.Store
	box   *auth.Box
	keys  *auth.Keys
	authn *auth.Authenticator
	authz *auth.Authorizer
	h     http.Handler

	metrics *prometheus.Registry
	// scanner is the built-in vulnerability scanner (scanner.go).
	scanner *scanner.Service
	// notifier delivers repository notifications (notify.go).
	notifier *notify.Notifier
	// work are the metrics of background work (metrics_work.go).
	work *workMetrics
	// pulls writes pull_repo audit log entries in batches (auditlog.go).
	pulls *store.PullLog
}

// New opens the stores and builds the handlers.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	// The job queue opens first: the store enqueues jobs in its own
	// transactions.
	queue, err := openJobs(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	db, err := openDB(ctx, cfg, queue)
	if err != nil {
		queue.Close()
		return nil, err
	}
	built := false
	defer func() {
		if !built {
			queue.Close()
		}
	}()
	blobs, err := openBlobs(cfg, log, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	a := &App{cfg: cfg, log: log, db: db, jobs: queue, blobs: blobs}
	box, err := secretBox(cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	a.box = box
	a.keys = auth.NewKeys(db, box, time.Now, 0)
	loginOpts, err := loginOptions(cfg, db, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	// Robots may log in with tokens from the federation exchange.
	loginOpts = append(loginOpts, auth.WithFederatedTokens(a.keys, cfg.ServerHostname))
	a.authn = auth.NewAuthenticator(db, box, auth.Policy{
		DirectLogin: directLogin(cfg), AppTokens: cfg.AppSpecificTokens, SuperUsers: cfg.SuperUsers,
	}, time.Now, loginOpts...)
	a.authz = auth.NewAuthorizer(db, auth.AccessPolicy{
		AnonymousAccess: cfg.AnonymousAccess, SuperusersFullAccess: cfg.SuperusersFullAccess,
		CreateNamespaceOnPush: cfg.CreateNamespaceOnPush, ReadOnly: cfg.RegistryState == core.RegistryStateReadOnly,
		ProxyCache: cfg.ProxyCache,
	})
	// Create the first signing key now rather than on the first login.
	if _, err := a.keys.JWKS(ctx); err != nil {
		db.Close()
		return nil, err
	}
	access := &registry.Access{Keys: a.keys, Authn: a.authn, Authz: a.authz, Hostname: cfg.ServerHostname,
		Scheme: cfg.PreferredURLScheme, PrivateOnPush: cfg.CreatePrivateRepoOnPush}
	proxyCache := a.newProxyCache()
	reg := registry.New(db, blobs, log, registry.Options{MaxBlobSize: cfg.MaxBlobSizeBytes,
		AllowSparseManifests: cfg.AllowSparseManifests, Access: access, Upstream: registryUpstream(proxyCache),
		Audit: loginAuditor(cfg, db), Pulls: pullSink{a}})
	mux := http.NewServeMux()
	if err := a.newScanner(); err != nil {
		db.Close()
		return nil, err
	}
	mux.Handle("/v2/", a.scanOnPush(reg))
	mux.Handle("/v2", reg)
	mux.Handle("/v2/auth", reg.TokenHandler())
	mux.Handle("GET /.well-known/jwks.json", reg.JWKSHandler())
	fed, err := auth.NewFederation(db, a.keys, auth.FederationOptions{
		CAFile: cfg.FederationCAFile, AllowHTTPIssuers: cfg.FederationAllowHTTPIssuers,
		OnExchange: a.logFederatedExchange,
	}, log, time.Now)
	if err != nil {
		db.Close()
		return nil, err
	}
	mux.Handle("/oauth2/federation/robot/token", api.NewFederationTokenHandler(fed, log, cfg.ServerHostname).WithAudit(federationAuditor(cfg, db)))
	oidc, err := oidcLogin(cfg, db, box, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := a.newNotifier(); err != nil {
		db.Close()
		return nil, err
	}
	apiHandler := api.New(db, a.authn, a.authz, box, log, api.Options{
		Hostname: cfg.ServerHostname, Scheme: cfg.PreferredURLScheme, UserCreation: cfg.UserCreation && localAccounts(cfg),
		UserInitialize: cfg.UserInitialize && localAccounts(cfg), DirectLogin: directLogin(cfg), AppTokens: cfg.AppSpecificTokens,
		AppTokenExpiration: cfg.AppSpecificTokenExpiration.Std(), OIDC: oidc, Security: a.securityReports(),
		TagExpirationOptions: tagExpirationOptions(cfg), TagExpirationDefault: cfg.DefaultTagExpiration.Std(),
		Notifications: a.notifier, JobStats: a.jobStats, Mirrors: a.mirrorValidator(),
		ProxyCache: apiProxyCache(proxyCache), NoLoginAudit: !cfg.ActionLogAuditLogins,
		Blobs: apiBlobs{blobs},
	})
	mux.Handle("/api/v1/", a.apiFeatureGates(apiHandler))
	if err := mountUI(mux); err != nil {
		db.Close()
		return nil, err
	}
	// OIDC login in the browser (/oauth2/{provider}/authorize, /callback).
	oauth2 := apiHandler.OAuth2Handler()
	mux.Handle("GET /oauth2/{provider}/authorize", oauth2)
	mux.Handle("GET /oauth2/{provider}/callback", oauth2)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /health/instance", a.healthHandler(false))
	mux.Handle("GET /health/endtoend", a.healthHandler(true))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := db.Ping(r.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	promReg, httpMetrics := newMetrics(db)
	a.metrics = promReg
	a.work = newWorkMetrics(promReg, queue)
	if cfg.MetricsListenAddress == "" {
		mux.Handle("GET /metrics", metricsHandler(promReg))
	}
	var root http.Handler = mux
	if cfg.Role == config.RoleWorker {
		root = workerOnly(mux)
	}
	a.h = httpx.Wrap(log, httpMetrics, withClientAddr(cfg, root))
	if cfg.Role != config.RoleWorker {
		a.pulls = a.newPullLog()
	}
	built = true
	return a, nil
}

// Handler returns the root HTTP handler.
func (a *App) Handler() http.Handler { return a.h }

// Run serves on the configured address until ctx is cancelled, then shuts down
// gracefully: in-flight requests get ShutdownTimeout to finish.
func (a *App) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return a.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.h,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	// Background work runs as jobs, on the processes whose role works them.
	var runner *jobs.Runner
	if a.cfg.Role != config.RoleWeb {
		r, err := a.jobs.Start(ctx, a.workers())
		if err != nil {
			ln.Close()
			return err
		}
		runner = r
	}
	stopWork := func() {
		if runner != nil {
			if err := runner.Stop(context.WithoutCancel(ctx)); err != nil {
				a.log.Warn("stopping background jobs", "err", err)
			}
		}
	}

	if a.cfg.MetricsListenAddress != "" {
		mln, err := net.Listen("tcp", a.cfg.MetricsListenAddress)
		if err != nil {
			ln.Close()
			stopWork()
			return fmt.Errorf("metrics listener: %w", err)
		}
		msrv := &http.Server{Handler: metricsHandler(a.metrics), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
		a.log.Info("metrics listening", "addr", mln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("wharf listening", "addr", ln.Addr().String(), "role", a.cfg.Role, "data_dir", a.cfg.DataDir)
	if n, err := a.db.CountUsers(ctx); err == nil && n == 0 {
		a.log.Info("no users yet: create the first superuser with `wharf admin create-user NAME --superuser` or POST /api/v1/user/initialize")
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout.Std().String())
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout.Std())
		serveErr = srv.Shutdown(sctx)
		cancel()
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) && serveErr == nil {
			serveErr = e
		}
	}
	stopWork()
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// Close releases the stores and the job queue.
func (a *App) Close() error {
	a.pulls.Close() // writes the pulls still queued
	return errors.Join(a.db.Close(), a.jobs.Close())
}
