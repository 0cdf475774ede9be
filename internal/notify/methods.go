package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

// SignatureHeader carries the HMAC-SHA256 of a webhook's body, keyed with
// the config's "secret": "sha256=" and the hex digest.
const SignatureHeader = "X-Wharf-Signature-256"

// Mail is the SMTP server of the email method (Quay's MAIL_* settings).
type Mail struct {
	Server string // MAIL_SERVER
	Port   int    // MAIL_PORT
	// UseTLS upgrades the connection with STARTTLS (MAIL_USE_TLS).
	UseTLS   bool
	Username string // MAIL_USERNAME (no authentication when empty)
	Password string // MAIL_PASSWORD
	Sender   string // MAIL_DEFAULT_SENDER
	// RootCAs verify the server's certificate (nil: the system's).
	RootCAs *x509.CertPool
}

func validateURL(cfg map[string]any, what string) (*url.URL, error) {
	s, _ := cfg["url"].(string)
	if s == "" {
		return nil, core.Errorf(core.CodeInvalid, "Missing %s URL", what)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, core.Errorf(core.CodeInvalid, "Invalid %s URL", what)
	}
	return u, nil
}

// validateWebhook checks {"url", "secret"?, "ca_cert"?} (ca_cert: PEM
// certificates that verify an https receiver, instead of the system's).
func validateWebhook(cfg map[string]any) error {
	if _, err := validateURL(cfg, "webhook"); err != nil {
		return err
	}
	if v, ok := cfg["secret"]; ok {
		if _, ok := v.(string); !ok {
			return core.Errorf(core.CodeInvalid, "webhook secret must be a string")
		}
	}
	if _, err := caPool(cfg); err != nil {
		return err
	}
	return nil
}

func validateSlack(cfg map[string]any) error {
	if _, err := validateURL(cfg, "Slack Callback"); err != nil {
		return err
	}
	return nil
}

func validateEmail(cfg map[string]any) error {
	s, _ := cfg["email"].(string)
	if s == "" {
		return core.Errorf(core.CodeInvalid, "Missing e-mail address")
	}
	if _, err := mail.ParseAddress(s); err != nil {
		return core.Errorf(core.CodeInvalid, "Invalid e-mail address")
	}
	return nil
}

func caPool(cfg map[string]any) (*x509.CertPool, error) {
	v, ok := cfg["ca_cert"]
	if !ok || v == nil || v == "" {
		return nil, nil
	}
	s, ok := v.(string)
	pool := x509.NewCertPool()
	if !ok || !pool.AppendCertsFromPEM([]byte(s)) {
		return nil, core.Errorf(core.CodeInvalid, "ca_cert must be PEM certificates")
	}
	return pool, nil
}

// post sends a JSON body; any status but 2xx is a failure.
func post(ctx context.Context, client *http.Client, rawURL string, body []byte, hdr http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wharf-notification")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%d response from %s", resp.StatusCode, redactURL(rawURL))
	}
	return nil
}

// redactURL drops a URL's query and user info (Slack's URL path is the
// secret, so only the host is kept).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

func (n *Notifier) httpClient(pool *x509.CertPool) *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: n.opts.Timeout}).DialContext,
		TLSHandshakeTimeout:   n.opts.Timeout,
		ResponseHeaderTimeout: n.opts.Timeout,
		DisableKeepAlives:     true,
	}
	if pool != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: n.opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// webhook POSTs the event data as JSON, signed when the config has a secret.
func (n *Notifier) webhook(ctx context.Context, cfg, payload map[string]any) error {
	u, err := validateURL(cfg, "webhook")
	if err != nil {
		return err
	}
	pool, err := caPool(cfg)
	if err != nil {
		return err
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode payload: %w", err)
	}
	hdr := http.Header{}
	if secret, _ := cfg["secret"].(string); secret != "" {
		hdr.Set(SignatureHeader, Sign([]byte(secret), body))
	}
	return post(ctx, n.httpClient(pool), u.String(), body, hdr)
}

// Sign is the value of SignatureHeader for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

var slackColors = map[string]string{
	eventLevelInfo: "#ffffff", eventLevelWarning: "warning", eventLevelError: "danger",
	eventLevelSuccess: "good", eventLevelPrimary: "good",
}

// summary is the event's one-line summary.
func summary(event string, payload map[string]any) string {
	if ev, ok := events[event]; ok {
		return ev.summary(payload)
	}
	return event
}

// message is a short plain-text body: the summary and the event's fields.
func message(event string, payload map[string]any) string {
	var b strings.Builder
	b.WriteString(summary(event, payload))
	if tags, ok := payload["updated_tags"].([]any); ok && len(tags) > 0 {
		parts := make([]string, len(tags))
		for i, t := range tags {
			parts[i] = fmt.Sprint(t)
		}
		b.WriteString("\nTags: " + strings.Join(parts, ", "))
	}
	if h := str(payload, "homepage"); h != "" {
		b.WriteString("\n" + h)
	}
	return b.String()
}

// slack POSTs Quay's Slack payload to an incoming webhook.
func (n *Notifier) slack(ctx context.Context, cfg map[string]any, event string, payload map[string]any) error {
	u, err := validateURL(cfg, "Slack Callback")
	if err != nil {
		return err
	}
	sum := summary(event, payload)
	color, ok := slackColors[events[event].level]
	if !ok {
		color = "#ffffff"
	}
	text := message(event, payload)
	if h := str(payload, "homepage"); h != "" {
		text = strings.Replace(text, h, "<"+h+"|"+str(payload, "repository")+">", 1)
	}
	body, err := json.Marshal(map[string]any{
		"text":     sum,
		"username": "wharfbot",
		"attachments": []map[string]any{{
			"fallback": sum, "text": text, "color": color, "mrkdwn_in": []string{"text"},
		}},
	})
	if err != nil {
		return fmt.Errorf("encode payload: %w", err)
	}
	return post(ctx, n.httpClient(nil), u.String(), body, nil)
}

// email sends the event to the config's address through the SMTP server.
func (n *Notifier) email(ctx context.Context, cfg map[string]any, event string, payload map[string]any) error {
	to, _ := cfg["email"].(string)
	if to == "" {
		return nil
	}
	m := n.opts.Mail
	if m.Server == "" {
		return errors.New("no mail server configured (MAIL_SERVER)")
	}
	sender := m.Sender
	if sender == "" {
		sender = "wharf@localhost"
	}
	from, err := mail.ParseAddress(sender)
	if err != nil {
		return fmt.Errorf("MAIL_DEFAULT_SENDER: %w", err)
	}
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	subject := summary(event, payload)
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n",
		from.String(), rcpt.String(), mimeHeader(subject), n.now().UTC().Format(time.RFC1123Z))
	body := "<p>" + strings.ReplaceAll(html.EscapeString(message(event, payload)), "\n", "<br>\r\n") + "</p>\r\n"
	msg.WriteString(body) // the DATA writer dot-stuffs
	return sendMail(ctx, m, n.opts.Timeout, from.Address, rcpt.Address, msg.Bytes())
}

func mimeHeader(s string) string { return mime.QEncoding.Encode("utf-8", s) }

// sendMail is one SMTP transaction: STARTTLS when configured, AUTH PLAIN
// when a username is set (refused without TLS, except to localhost).
func sendMail(ctx context.Context, m Mail, timeout time.Duration, from, to string, msg []byte) error {
	port := m.Port
	if port == 0 {
		port = 25
	}
	addr := net.JoinHostPort(m.Server, strconv.Itoa(port))
	conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, m.Server)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("smtp hello: %w", err)
	}
	if m.UseTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("smtp: server does not offer STARTTLS (MAIL_USE_TLS)")
		}
		if err := c.StartTLS(&tls.Config{ServerName: m.Server, RootCAs: m.RootCAs, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if m.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.Username, m.Password, m.Server)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("smtp rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp quit: %w", err)
	}
	return nil
}
