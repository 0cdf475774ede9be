package app

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/notify"
	"github.com/wharfhq/wharf/internal/store"
)

// newNotifier builds the repository notification deliverer from the MAIL_*
// and NOTIFICATION_* settings.
func (a *App) newNotifier() error {
	cfg := a.cfg
	m, err := mailServer(cfg)
	if err != nil {
		return err
	}
	host := cfg.ServerHostname
	if host == "" {
		// Payloads name the registry; without SERVER_HOSTNAME, this
		// process's listen address is the best guess.
		h, port, err := net.SplitHostPort(cfg.ListenAddress)
		if err == nil && (h == "" || h == "0.0.0.0" || h == "::") {
			h = "localhost"
		}
		host = net.JoinHostPort(h, port)
		if err != nil {
			host = "localhost"
		}
	}
	a.notifier = notify.New(a.db, notify.Options{Hostname: host, Scheme: cfg.PreferredURLScheme,
		Timeout: cfg.NotificationSendTimeout.Std(), MaxFailures: cfg.NotificationMaxFailures, Mail: m, Log: a.log})
	return nil
}

// mailServer is the SMTP server of the MAIL_* settings (notification
// emails, log exports by email).
func mailServer(cfg config.Config) (notify.Mail, error) {
	m := notify.Mail{Server: cfg.MailServer, Port: cfg.MailPort, UseTLS: cfg.MailUseTLS, Username: cfg.MailUsername,
		Password: cfg.MailPassword, Sender: cfg.MailDefaultSender}
	if cfg.MailCAFile != "" {
		b, err := os.ReadFile(cfg.MailCAFile)
		if err != nil {
			return m, fmt.Errorf("MAIL_CA_FILE: %w", err)
		}
		m.RootCAs = x509.NewCertPool()
		if !m.RootCAs.AppendCertsFromPEM(b) {
			return m, fmt.Errorf("MAIL_CA_FILE %s: no PEM certificates", cfg.MailCAFile)
		}
	}
	return m, nil
}

// deliverNotification is the handler of store.JobNotification.
func (a *App) deliverNotification(ctx context.Context, j jobs.Job) error {
	var args store.NotificationJob
	if err := j.Decode(&args); err != nil {
		return err
	}
	return a.notifier.Deliver(ctx, args, j.Attempt)
}

// notificationBackoff waits NOTIFICATION_RETRY_BACKOFF after the first
// failed delivery, doubling each time up to an hour; nil (the queue's own
// backoff) when it is 0.
func (a *App) notificationBackoff() func(attempt int) time.Duration {
	base := a.cfg.NotificationRetryBackoff.Std()
	if base <= 0 {
		return nil
	}
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < time.Hour; i++ {
			d *= 2
		}
		return min(d, time.Hour)
	}
}
