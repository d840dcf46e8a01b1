// Package smtpsink is an in-memory SMTP server for `deploybot dev` and
// tests: it accepts mail over real SMTP (optionally with STARTTLS and AUTH
// PLAIN) and keeps it in memory instead of delivering it.
package smtpsink

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configures a Sink. The zero value accepts anyone over plain SMTP.
type Options struct {
	// Username and Password, if Username is set, make AUTH PLAIN required
	// before MAIL FROM.
	Username, Password string
	// STARTTLS offers STARTTLS with a fresh self-signed certificate for
	// localhost, 127.0.0.1 and ::1 (see Sink.CertPEM). AUTH is then only
	// accepted after STARTTLS, as a real submission server would.
	STARTTLS bool
	// Domain is the name the server greets with; "" means localhost.
	Domain string
	// AfterAccept, if set, is called with each message once it is kept
	// and before the client is told (250). A test can act there, in the
	// window where the mail is delivered but the sender has not heard:
	// e.g. kill the sender, and see whether its retry sends it again.
	AfterAccept func(Message)
}

// Message is one accepted message.
type Message struct {
	// From and To are the envelope sender and recipients.
	From string
	To   []string
	// Subject is the decoded Subject header.
	Subject string
	// Raw is the message exactly as received after DATA.
	Raw []byte
	// Header is the parsed header; nil if the message did not parse.
	Header mail.Header
	// Text and HTML are the decoded text/plain and text/html bodies (the
	// first of each, looking inside multipart messages).
	Text, HTML string
	// Received is when the sink accepted the message; unlike the Date
	// header it is always set and comes from this clock.
	Received time.Time
}

// Sink is a running in-memory SMTP server.
type Sink struct {
	opts     Options
	server   *smtp.Server
	listener net.Listener
	certPEM  []byte
	done     chan struct{}

	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	messages []Message
	failNext int
	subs     map[chan struct{}]struct{}
	closed   bool
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves SMTP
// until Close.
func Start(addr string, opts Options) (*Sink, error) {
	s := &Sink{opts: opts, done: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{sink: s}, nil
	}))
	srv.Domain = opts.Domain
	if srv.Domain == "" {
		srv.Domain = "localhost"
	}
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	// Without TLS there is no other way to test AUTH; with it, insist on
	// STARTTLS first so clients that skip it fail here, not in production.
	srv.AllowInsecureAuth = !opts.STARTTLS
	if opts.STARTTLS {
		cert, certPEM, err := selfSigned()
		if err != nil {
			return nil, fmt.Errorf("smtpsink: self-signed certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.certPEM = certPEM
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtpsink: listen on %s: %w", addr, err)
	}
	s.server, s.listener = srv, l
	go func() {
		defer close(s.done)
		_ = srv.Serve(l) // returns when Close closes the listener
	}()
	return s, nil
}

// Addr is the host:port the sink listens on.
func (s *Sink) Addr() string { return s.listener.Addr().String() }

// CertPEM is the PEM of the self-signed certificate offered with STARTTLS,
// for a client's trusted roots; nil without STARTTLS.
func (s *Sink) CertPEM() []byte { return bytes.Clone(s.certPEM) }

// Messages returns a copy of the messages accepted so far, oldest first.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Subscribe returns a channel that receives a value after messages are
// accepted, for live views. Notifications coalesce (the channel holds one),
// so read Messages after each; the channel is closed by stop or Close.
func (s *Sink) Subscribe() (ch <-chan struct{}, stop func()) {
	c := make(chan struct{}, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		close(c)
		return c, func() {}
	}
	if s.subs == nil {
		s.subs = map[chan struct{}]struct{}{}
	}
	s.subs[c] = struct{}{}
	return c, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[c]; ok {
			delete(s.subs, c)
			close(c)
		}
	}
}

// FailNext makes the next n transactions fail with 451 (temporary failure)
// after DATA, as a busy or greylisting server would.
func (s *Sink) FailNext(n int) {
	s.mu.Lock()
	s.failNext = n
	s.mu.Unlock()
}

// Close stops the server and drops open connections. It is safe to call
// more than once.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		err := s.server.Close()
		// Serve may not have registered the listener yet, in which case
		// server.Close cannot close it; closing it here ends Serve.
		_ = s.listener.Close()
		<-s.done
		s.mu.Lock()
		s.closed = true
		for c := range s.subs {
			close(c)
		}
		s.subs = nil
		s.mu.Unlock()
		if !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.closeErr = err
		}
	})
	return s.closeErr
}

var errTempFailure = &smtp.SMTPError{
	Code:         451,
	EnhancedCode: smtp.EnhancedCode{4, 3, 0},
	Message:      "Temporary failure (smtpsink FailNext), try again later",
}

// errAuthRequired is RFC 4954's answer; go-smtp's ErrAuthRequired is 502.
var errAuthRequired = &smtp.SMTPError{
	Code:         530,
	EnhancedCode: smtp.EnhancedCode{5, 7, 0},
	Message:      "Authentication required",
}

// session is one SMTP connection.
type session struct {
	sink   *Sink
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.sink.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.sink.opts.Username == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if (identity != "" && identity != username) ||
			username != ss.sink.opts.Username || password != ss.sink.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.sink.opts.Username != "" && !ss.authed {
		return errAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.sink
	s.mu.Lock()
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		return errTempFailure
	}
	m := parse(ss.from, ss.to, raw)
	m.Received = time.Now()
	s.messages = append(s.messages, m)
	for c := range s.subs {
		select {
		case c <- struct{}{}:
		default: // one pending notification covers this message too
		}
	}
	s.mu.Unlock()
	if s.opts.AfterAccept != nil {
		s.opts.AfterAccept(m)
	}
	return nil
}

func (ss *session) Reset() {
	ss.from, ss.to = "", nil
}

func (ss *session) Logout() error { return nil }

// parse fills a Message from raw; a message that does not parse is kept
// with only From, To and Raw, since tests may want to see what was sent.
func parse(from string, to []string, raw []byte) Message {
	m := Message{From: from, To: append([]string(nil), to...), Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m
	}
	m.Header = msg.Header
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
		m.Subject = subj
	} else {
		m.Subject = msg.Header.Get("Subject")
	}
	walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &m, 0)
	return m
}

// walk finds the first text/plain and text/html parts, descending into
// multipart bodies (to a bounded depth).
func walk(contentType, encoding string, body io.Reader, m *Message, depth int) {
	if contentType == "" {
		contentType = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if depth > 5 || params["boundary"] == "" {
			return
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart: multipart.Reader would otherwise decode
			// quoted-printable itself and hide the header from decode.
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, m, depth+1)
		}
	}
	var target *string
	switch mediaType {
	case "text/plain":
		target = &m.Text
	case "text/html":
		target = &m.HTML
	default:
		return
	}
	if *target != "" {
		return
	}
	if b, err := io.ReadAll(decode(encoding, body)); err == nil {
		*target = string(b)
	}
}

func decode(encoding string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &newlineStripper{r})
	}
	return r
}

// newlineStripper drops CR and LF, which base64 bodies contain every 76
// characters but base64.NewDecoder only partly tolerates.
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	for {
		c, err := n.r.Read(p)
		j := 0
		for _, b := range p[:c] {
			if b != '\r' && b != '\n' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// selfSigned makes a one-day ECDSA certificate for the loopback names.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtpsink"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so the PEM works directly as a trusted root
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	return cert, certPEM, err
}
