package notify_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/notify"
	"github.com/wharfhq/wharf/internal/smtptest"
)

// Mail.Send delivers a text with an attached file over STARTTLS and AUTH,
// and refuses what it cannot send.
func TestMailSend(t *testing.T) {
	tlsCfg, pool, _ := smtptest.TestCA(t)
	sink := smtptest.Start(t, smtptest.Options{TLS: tlsCfg, Username: "mailer", Password: "mail-pw"})
	host, p, _ := net.SplitHostPort(sink.Addr)
	port, _ := strconv.Atoi(p)
	m := notify.Mail{Server: host, Port: port, UseTLS: true, Username: "mailer", Password: "mail-pw",
		Sender: "Wharf <wharf@example.com>", RootCAs: pool}
	file := []byte(strings.Repeat(`{"kind":"push_repo"}`, 50))
	err := m.Send(t.Context(), 5*time.Second, time.Unix(1700000000, 0), notify.MailMessage{
		To: "ops@example.com", Subject: "Audit logs\r\nBcc: evil@example.com", Text: "Your export is attached.",
		Attachment: file, AttachmentName: "export.json", AttachmentType: "application/json",
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].Auth != "mailer" || msgs[0].From != "wharf@example.com" ||
		len(msgs[0].To) != 1 || msgs[0].To[0] != "ops@example.com" {
		t.Fatalf("messages %+v", msgs)
	}
	parsed, err := mail.ReadMessage(strings.NewReader(msgs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header.Get("Bcc") != "" {
		t.Fatal("the subject injected a header")
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
	if err != nil || subject != "Audit logs\r\nBcc: evil@example.com" {
		t.Fatalf("subject %q (%v)", subject, err)
	}
	mt, params, err := mime.ParseMediaType(parsed.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q (%v)", parsed.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(parsed.Body, params["boundary"])
	var parts []string
	var got []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(part)
		dec, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, part.Header.Get("Content-Type"))
		if part.FileName() == "export.json" {
			got = dec
		} else if string(dec) != "Your export is attached." {
			t.Fatalf("text %q", dec)
		}
	}
	if len(parts) != 2 || parts[1] != "application/json" || !bytes.Equal(got, file) {
		t.Fatalf("parts %v, attachment %d bytes", parts, len(got))
	}

	// Without a server, with a bad recipient, or a wrong password: errors.
	for name, c := range map[string]struct {
		m  notify.Mail
		to string
	}{
		"no server":      {notify.Mail{}, "ops@example.com"},
		"bad recipient":  {m, "not an address"},
		"wrong password": {notify.Mail{Server: host, Port: port, UseTLS: true, Username: "mailer", Password: "x", RootCAs: pool}, "ops@example.com"},
	} {
		if err := c.m.Send(t.Context(), 5*time.Second, time.Now(), notify.MailMessage{To: c.to, Subject: "s", Text: "t"}); err == nil {
			t.Errorf("%s: sent", name)
		}
	}
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages after the refusals", n)
	}
}
