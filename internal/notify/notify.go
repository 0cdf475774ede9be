package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// Method names (Quay's).
const (
	MethodWebhook = "webhook"
	MethodEmail   = "email"
	MethodSlack   = "slack"
	MethodQuay    = "quay_notification"
)

// DefaultMaxFailures is Quay's limit: a config with this many failed
// deliveries in a row is disabled.
const DefaultMaxFailures = 3

// Options configure delivery.
type Options struct {
	// Hostname (SERVER_HOSTNAME) and Scheme (PREFERRED_URL_SCHEME) make the
	// payload's docker_url and homepage.
	Hostname string
	Scheme   string
	// Timeout bounds one delivery (NOTIFICATION_SEND_TIMEOUT; default 10s).
	Timeout time.Duration
	// MaxFailures disables a config after this many failed deliveries in a
	// row (default 3).
	MaxFailures int
	// Mail is the SMTP server of the email method.
	Mail Mail
	Log  *slog.Logger
}

// Notifier validates configs and delivers notification jobs.
type Notifier struct {
	db   *store.DB
	opts Options
	now  func() time.Time
}

// New returns a Notifier on db.
func New(db *store.DB, opts Options) *Notifier {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = DefaultMaxFailures
	}
	if opts.Scheme == "" {
		opts.Scheme = "http"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{db: db, opts: opts, now: time.Now}
}

// MaxFailures is the failure count at which a config is disabled.
func (n *Notifier) MaxFailures() int { return n.opts.MaxFailures }

// SampleData is the event data of a test delivery.
func (n *Notifier) SampleData(event string, eventConfig map[string]any) any {
	return SampleData(event, eventConfig)
}

// Validate checks a config before it is stored: the event and its
// event_config, the method and its config.
func (n *Notifier) Validate(ctx context.Context, repo core.Repository, event, method string, cfg, eventCfg map[string]any) error {
	if err := ValidateEvent(event, eventCfg); err != nil {
		return err
	}
	switch method {
	case MethodWebhook:
		return validateWebhook(cfg)
	case MethodSlack:
		return validateSlack(cfg)
	case MethodEmail:
		return validateEmail(cfg)
	case MethodQuay:
		_, err := n.targets(ctx, repo.Namespace, cfg)
		return err
	}
	return core.Errorf(core.CodeInvalid, "unknown method %q", method)
}

// Deliver works one notification job: attempt is the job's attempt (1 on
// the first). A failed delivery counts a failure on the config and returns
// an error, so that the queue tries again later, until the config reaches
// MaxFailures and is disabled; a delivery to a disabled or deleted config
// does nothing.
func (n *Notifier) Deliver(ctx context.Context, job store.NotificationJob, attempt int) error {
	cfg, err := n.db.Notification(ctx, "", job.UUID)
	if core.IsCode(err, core.CodeNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.NumberOfFailures >= n.opts.MaxFailures && !job.Test {
		n.opts.Log.InfoContext(ctx, "notification disabled: not delivered", "notification", cfg.UUID, "event", job.Event)
		return nil
	}
	var data, methodCfg, eventCfg map[string]any
	if len(job.Data) > 0 {
		if err := json.Unmarshal(job.Data, &data); err != nil {
			return fmt.Errorf("notification %s: decode event data: %w", cfg.UUID, err)
		}
	}
	if err := json.Unmarshal(cfg.Config, &methodCfg); err != nil {
		return fmt.Errorf("notification %s: decode config: %w", cfg.UUID, err)
	}
	if err := json.Unmarshal(cfg.EventConfig, &eventCfg); err != nil {
		return fmt.Errorf("notification %s: decode event config: %w", cfg.UUID, err)
	}
	if !job.Test && !shouldPerform(job.Event, data, eventCfg) {
		return nil
	}
	payload := n.payload(cfg.Repository, job.Event, data)
	dctx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
	perr := n.perform(dctx, cfg, job.Event, methodCfg, payload)
	cancel()
	d := store.NotificationDelivery{Event: job.Event, Attempt: attempt, Success: perr == nil, Test: job.Test}
	if perr != nil {
		d.Error = perr.Error()
	}
	failures, err := n.db.RecordNotificationDelivery(context.WithoutCancel(ctx), cfg.ID, d)
	if err != nil {
		return errors.Join(perr, err)
	}
	if perr == nil {
		return nil
	}
	if job.Test {
		// A test is sent once; its outcome is in the delivery history.
		return nil
	}
	if failures >= n.opts.MaxFailures {
		n.opts.Log.WarnContext(ctx, "notification disabled after failed deliveries", "notification", cfg.UUID,
			"repository", cfg.Repository, "failures", failures, "err", perr)
		return nil
	}
	return fmt.Errorf("notification %s: %s delivery: %w", cfg.UUID, cfg.Method, perr)
}

// payload is Quay's event data: the repository's (or, for quota events,
// the namespace's) fields, then the event's own.
func (n *Notifier) payload(repository, event string, data map[string]any) map[string]any {
	host := n.opts.Hostname
	ns, name, _ := strings.Cut(repository, "/")
	var out map[string]any
	if events[event].namespaceScoped {
		out = map[string]any{
			"namespace": ns,
			"homepage":  fmt.Sprintf("%s://%s/organization/%s", n.opts.Scheme, host, ns),
		}
	} else {
		out = map[string]any{
			"repository": repository,
			"namespace":  ns,
			"name":       name,
			"docker_url": host + "/" + repository,
			"homepage":   fmt.Sprintf("%s://%s/repository/%s", n.opts.Scheme, host, repository),
		}
	}
	maps.Copy(out, data)
	return out
}

func (n *Notifier) perform(ctx context.Context, cfg store.Notification, event string, methodCfg, payload map[string]any) error {
	switch cfg.Method {
	case MethodWebhook:
		return n.webhook(ctx, methodCfg, payload)
	case MethodSlack:
		return n.slack(ctx, methodCfg, event, payload)
	case MethodEmail:
		return n.email(ctx, methodCfg, event, payload)
	case MethodQuay:
		users, err := n.targets(ctx, strings.SplitN(cfg.Repository, "/", 2)[0], methodCfg)
		if err != nil {
			return err
		}
		return n.db.AddUserNotifications(ctx, users, event, payload)
	}
	return fmt.Errorf("unknown method %q", cfg.Method)
}

// targets resolves a quay_notification target ({"target": {"kind",
// "name"}}) to user ids: a user, the namespace's organization (its
// owners) or a team of it.
func (n *Notifier) targets(ctx context.Context, namespace string, cfg map[string]any) ([]int64, error) {
	t, _ := cfg["target"].(map[string]any)
	kind, _ := t["kind"].(string)
	name, _ := t["name"].(string)
	if kind == "" {
		return nil, core.Errorf(core.CodeInvalid, "Missing target")
	}
	var team string
	switch kind {
	case "user":
		u, err := n.db.User(ctx, name)
		if err != nil || u.IsRobot() {
			return nil, core.Errorf(core.CodeInvalid, "Unknown user %s", name)
		}
		return []int64{u.ID}, nil
	case "org":
		if name != namespace {
			return nil, core.Errorf(core.CodeInvalid, "Organization name must match repository namespace")
		}
		team = "owners"
	case "team":
		team = name
	default:
		return nil, core.Errorf(core.CodeInvalid, "Unknown target kind %q", kind)
	}
	members, err := n.db.TeamMembers(ctx, namespace, team)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return nil, core.Errorf(core.CodeInvalid, "Unknown team %s", team)
		}
		return nil, err
	}
	var ids []int64
	for _, m := range members {
		if !m.IsRobot() {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}
