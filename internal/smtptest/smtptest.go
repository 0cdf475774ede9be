package smtptest

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// Message is one delivered mail.
type Message struct {
	From string
	To   []string
	Data string // the message as sent, with dot-stuffing undone
	// TLS and Auth say whether the connection used STARTTLS and who
	// authenticated ("" for nobody).
	TLS  bool
	Auth string
}

// Options configure a Server.
type Options struct {
	// TLS, when set, offers STARTTLS with this configuration.
	TLS *tls.Config
	// Username and Password, when set, are required (AUTH PLAIN) before
	// MAIL FROM.
	Username, Password string
}

// Server is a running SMTP sink.
type Server struct {
	Addr string // host:port
	opts Options
	ln   net.Listener

	mu       sync.Mutex
	messages []Message
	arrived  chan struct{}
	wg       sync.WaitGroup
}

// Start starts a sink on 127.0.0.1; it stops when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), opts: opts, ln: ln, arrived: make(chan struct{}, 100)}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// Messages returns the messages received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Arrived is signalled once per received message.
func (s *Server) Arrived() <-chan struct{} { return s.arrived }

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.handle(c)
		}()
	}
}

type smtpConn struct {
	tp   *textproto.Conn
	tls  bool
	auth string
	from string
	to   []string
}

func (s *Server) handle(c net.Conn) {
	ss := &smtpConn{tp: textproto.NewConn(c)}
	_ = ss.tp.PrintfLine("220 smtptest ESMTP ready")
	for {
		line, err := ss.tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ss.from, ss.to = "", nil
			lines := []string{"smtptest", "8BITMIME"}
			if s.opts.TLS != nil && !ss.tls {
				lines = append(lines, "STARTTLS")
			}
			if s.opts.Username != "" {
				lines = append(lines, "AUTH PLAIN")
			}
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				_ = ss.tp.PrintfLine("250%s%s", sep, l)
			}
		case "STARTTLS":
			if s.opts.TLS == nil || ss.tls {
				_ = ss.tp.PrintfLine("502 not offered")
				continue
			}
			_ = ss.tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.opts.TLS)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			ss = &smtpConn{tp: textproto.NewConn(tc), tls: true}
		case "AUTH":
			if err := s.authPlain(ss, arg); err != nil {
				_ = ss.tp.PrintfLine("535 %s", err)
				continue
			}
			_ = ss.tp.PrintfLine("235 authenticated")
		case "MAIL":
			if s.opts.Username != "" && ss.auth == "" {
				_ = ss.tp.PrintfLine("530 authentication required")
				continue
			}
			ss.from = addr(arg)
			_ = ss.tp.PrintfLine("250 ok")
		case "RCPT":
			if ss.from == "" {
				_ = ss.tp.PrintfLine("503 need MAIL first")
				continue
			}
			ss.to = append(ss.to, addr(arg))
			_ = ss.tp.PrintfLine("250 ok")
		case "DATA":
			if len(ss.to) == 0 {
				_ = ss.tp.PrintfLine("503 need RCPT first")
				continue
			}
			_ = ss.tp.PrintfLine("354 end with <CRLF>.<CRLF>")
			b, err := ss.tp.ReadDotBytes()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.messages = append(s.messages, Message{From: ss.from, To: ss.to, Data: string(b), TLS: ss.tls, Auth: ss.auth})
			s.mu.Unlock()
			select {
			case s.arrived <- struct{}{}:
			default:
			}
			ss.from, ss.to = "", nil
			_ = ss.tp.PrintfLine("250 queued")
		case "RSET":
			ss.from, ss.to = "", nil
			_ = ss.tp.PrintfLine("250 ok")
		case "NOOP":
			_ = ss.tp.PrintfLine("250 ok")
		case "QUIT":
			_ = ss.tp.PrintfLine("221 bye")
			return
		default:
			_ = ss.tp.PrintfLine("502 unknown command")
		}
	}
}

// authPlain checks "AUTH PLAIN <base64>" or the two-step form.
func (s *Server) authPlain(ss *smtpConn, arg string) error {
	mech, resp, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") || s.opts.Username == "" {
		return errors.New("unsupported mechanism")
	}
	if resp == "" {
		_ = ss.tp.PrintfLine("334 ")
		l, err := ss.tp.ReadLine()
		if err != nil {
			return err
		}
		resp = l
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(resp))
	if err != nil {
		return errors.New("bad encoding")
	}
	parts := strings.Split(string(b), "\x00")
	if len(parts) != 3 || parts[1] != s.opts.Username || parts[2] != s.opts.Password {
		return errors.New("bad credentials")
	}
	ss.auth = parts[1]
	return nil
}

// addr extracts the address of "FROM:<a@b> ..." or "TO:<a@b>".
func addr(arg string) string {
	_, v, _ := strings.Cut(arg, ":")
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '>'); strings.HasPrefix(v, "<") && i > 0 {
		return v[1:i]
	}
	return strings.Fields(v + " ")[0]
}
