package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"time"
)

// MailMessage is a plain-text message with an optional file attached, for
// Mail.Send.
type MailMessage struct {
	To      string // one address
	Subject string
	Text    string
	// Attachment, when not nil, is sent as a file named AttachmentName of
	// type AttachmentType (base64).
	Attachment     []byte
	AttachmentName string
	AttachmentType string
}

// Send delivers msg through the SMTP server m (the email method's
// transport: STARTTLS and AUTH as configured), from MAIL_DEFAULT_SENDER,
// dated now, each network step bounded by timeout.
func (m Mail) Send(ctx context.Context, timeout time.Duration, now time.Time, msg MailMessage) error {
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
	rcpt, err := mail.ParseAddress(msg.To)
	if err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\n",
		from.String(), rcpt.String(), mimeHeader(msg.Subject), now.UTC().Format(time.RFC1123Z))
	if msg.Attachment == nil {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		writeBase64Lines(&b, []byte(msg.Text))
		return sendMail(ctx, m, timeout, from.Address, rcpt.Address, b.Bytes())
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n", mw.Boundary())
	text, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type": {"text/plain; charset=utf-8"}, "Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return err
	}
	writeBase64Lines(text, []byte(msg.Text))
	ctype := msg.AttachmentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	file, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {ctype},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": msg.AttachmentName})},
	})
	if err != nil {
		return err
	}
	writeBase64Lines(file, msg.Attachment)
	if err := mw.Close(); err != nil {
		return err
	}
	b.Write(body.Bytes())
	return sendMail(ctx, m, timeout, from.Address, rcpt.Address, b.Bytes())
}

// writeBase64Lines writes p in base64, in lines of 76 characters.
func writeBase64Lines(w interface{ Write([]byte) (int, error) }, p []byte) {
	enc := base64.StdEncoding.EncodeToString(p)
	for len(enc) > 76 {
		_, _ = w.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	_, _ = w.Write([]byte(enc + "\r\n"))
}
