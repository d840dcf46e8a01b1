package activities

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Error types of the ApplicationErrors SendEmail returns.
const (
	// EmailUnavailableErrorType is a retryable failure: the SMTP server
	// answered 4xx, refused the connection or timed out.
	EmailUnavailableErrorType = "EmailUnavailable"
	// EmailRejectedErrorType is a non-retryable 5xx answer or TLS/AUTH
	// misconfiguration; its message names the SMTP_* variable to check.
	EmailRejectedErrorType = "EmailRejected"
	// EmailBadMessageErrorType is a non-retryable error before anything was
	// sent: the input cannot be turned into an email (a bug in the caller).
	EmailBadMessageErrorType = "EmailBadMessage"
)

// SMTP TLS modes for SMTPSettings.TLS.
const (
	// SMTPTLSStartTLS upgrades the connection with STARTTLS and refuses to
	// send without it. The default.
	SMTPTLSStartTLS = "starttls"
	// SMTPTLSImplicit speaks TLS from the first byte (port 465).
	SMTPTLSImplicit = "tls"
	// SMTPTLSOpportunistic uses STARTTLS when offered; loopback hosts only.
	SMTPTLSOpportunistic = "opportunistic"
	// SMTPTLSNone never uses TLS; loopback hosts only.
	SMTPTLSNone = "none"
)

// smtpTimeout bounds connecting and each SMTP exchange, well below any sane
// StartToCloseTimeout, so a stuck server fails the attempt, not the activity.
const smtpTimeout = 30 * time.Second

// SendEmailInput is the input of Email.SendEmail.
type SendEmailInput struct {
	To      []string
	Subject string
	// Text is the plain-text body; HTML, if set, is sent as its alternative.
	Text, HTML string
	// MessageID should be stable per run and decision, e.g.
	// "<runID.decision@deploybot>", so a retried send is recognisably the
	// same message. "" derives one from the activity's workflow run and id.
	MessageID string
	// Headers are extra headers (e.g. X-Deploybot-App). They cannot
	// replace From, To, Subject, Date, Message-ID or MIME headers.
	Headers map[string]string
}

// SendEmailResult is the result of Email.SendEmail.
type SendEmailResult struct {
	// MessageID is the Message-ID sent, with angle brackets.
	MessageID string
}

// EmailSender sends one message; SMTPSender is the real one, tests may
// use fakes. in.MessageID is already set, with angle brackets.
type EmailSender interface {
	Send(ctx context.Context, in SendEmailInput) error
}

// Email groups the email activities.
type Email struct {
	Sender EmailSender
}

// SendEmail sends in to in.To. The message keeps in.MessageID across
// retries; a retry after a lost answer can still deliver twice, which mail
// clients tolerate better than a lost approval email.
func (e *Email) SendEmail(ctx context.Context, in SendEmailInput) (SendEmailResult, error) {
	if e.Sender == nil {
		return SendEmailResult{}, temporal.NewNonRetryableApplicationError(
			"email: this worker has no SMTP server: set SMTP_HOST and SMTP_FROM (and SMTP_PORT, SMTP_TLS, SMTP_USERNAME/SMTP_PASSWORD as needed) on the worker",
			EmailRejectedErrorType, nil)
	}
	if len(in.To) == 0 {
		return SendEmailResult{}, emailBadMessage("SendEmail needs at least one recipient")
	}
	for _, to := range in.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return SendEmailResult{}, emailBadMessage(fmt.Sprintf("recipient %q is not an email address: check SAST_EMAIL_TO", to))
		}
	}
	if in.Text == "" && in.HTML == "" {
		return SendEmailResult{}, emailBadMessage("SendEmail needs a Text or HTML body")
	}
	for name, value := range in.Headers {
		if reservedEmailHeaders[textproto.CanonicalMIMEHeaderKey(name)] || strings.HasPrefix(strings.ToLower(name), "content-") {
			return SendEmailResult{}, emailBadMessage(fmt.Sprintf("header %s is set by SendEmail itself", name))
		}
		if !validHeaderName(name) || strings.ContainsAny(value, "\r\n") {
			return SendEmailResult{}, emailBadMessage(fmt.Sprintf("header %q cannot be sent: names are ASCII letters, digits and '-', values a single line", name))
		}
	}
	id, err := messageID(ctx, in.MessageID)
	if err != nil {
		return SendEmailResult{}, err
	}
	in.MessageID = id
	if err := e.Sender.Send(ctx, in); err != nil {
		return SendEmailResult{}, wrapEmailError(ctx, err)
	}
	return SendEmailResult{MessageID: id}, nil
}

var reservedEmailHeaders = map[string]bool{
	"From": true, "To": true, "Cc": true, "Bcc": true, "Subject": true, "Date": true,
	"Message-Id": true, "Mime-Version": true, "Sender": true,
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// messageID returns id in angle brackets, or derives a stable one from
// the activity's run so that retries reuse it.
func messageID(ctx context.Context, id string) (string, error) {
	id = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
	if id == "" {
		var seed string
		if activity.IsActivity(ctx) {
			info := activity.GetInfo(ctx)
			seed = info.WorkflowExecution.ID + "\x00" + info.WorkflowExecution.RunID + "\x00" + info.ActivityID
		} else {
			seed = rand.Text()
		}
		sum := sha256.Sum256([]byte(seed))
		id = hex.EncodeToString(sum[:12]) + "@deploybot"
	}
	if !strings.Contains(id, "@") || strings.ContainsAny(id, "<> \t\r\n") {
		return "", emailBadMessage(fmt.Sprintf("MessageID %q must look like <id@domain>", id))
	}
	return "<" + id + ">", nil
}

func emailBadMessage(msg string) error {
	return temporal.NewNonRetryableApplicationError("email: "+msg, EmailBadMessageErrorType, nil)
}

func emailUnavailable(msg string, cause error) error {
	return temporal.NewApplicationErrorWithCause("email: "+msg, EmailUnavailableErrorType, cause)
}

func emailRejected(msg string, cause error) error {
	return temporal.NewNonRetryableApplicationError("email: "+msg, EmailRejectedErrorType, cause)
}

// wrapEmailError sorts a send error into retry-later and needs-a-person.
func wrapEmailError(ctx context.Context, err error) error {
	var appErr *temporal.ApplicationError
	if ctx.Err() != nil || errors.As(err, &appErr) {
		return err // cancelled/timed out, or already classified by the sender
	}

	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		switch {
		case se.IsTemp() || code/100 == 4:
			return emailUnavailable(fmt.Sprintf("the SMTP server deferred the message (%v); retrying", err), err)
		case code/100 == 5:
			hint := "the SMTP server refused the message"
			switch se.Reason {
			case gomail.ErrSMTPMailFrom:
				hint = "the SMTP server refused the sender: check SMTP_FROM is an address SMTP_USERNAME may send as"
			case gomail.ErrSMTPRcptTo:
				hint = "the SMTP server refused a recipient: check the addresses (SAST_EMAIL_TO)"
			case gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
				hint = "the SMTP server refused the message content or size"
			}
			return emailRejected(fmt.Sprintf("%s (%v)", hint, err), err)
		}
		// No SMTP code: the connection broke mid-transaction.
		return emailUnavailable(fmt.Sprintf("sending failed (%v); retrying", err), err)
	}

	var tpErr *textproto.Error
	if errors.As(err, &tpErr) {
		switch {
		case tpErr.Code/100 == 4:
			return emailUnavailable(fmt.Sprintf("the SMTP server is temporarily unavailable (%v); retrying", err), err)
		case tpErr.Code == 535 || tpErr.Code == 534 || tpErr.Code == 530 || tpErr.Code == 538 ||
			strings.Contains(err.Error(), "AUTH"):
			return emailRejected(fmt.Sprintf("the SMTP server refused the login (%v): check SMTP_USERNAME and SMTP_PASSWORD", err), err)
		default:
			return emailRejected(fmt.Sprintf("the SMTP server refused the session (%v): check SMTP_HOST and SMTP_PORT point at a mail submission server", err), err)
		}
	}

	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidErr  x509.CertificateInvalidError
		recordErr   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &invalidErr):
		return emailRejected(fmt.Sprintf("the SMTP server's TLS certificate is not trusted (%v): check SMTP_HOST is the name on its certificate", err), err)
	case errors.As(err, &recordErr):
		return emailRejected(fmt.Sprintf("TLS handshake failed (%v): SMTP_PORT 465 needs implicit TLS, 587/25 need STARTTLS", err), err)
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		return emailRejected(fmt.Sprintf("%v: check SMTP_HOST/SMTP_PORT (port 465 uses implicit TLS, not STARTTLS)", err), err)
	case isGoMailAuthSetupError(err):
		return emailRejected(fmt.Sprintf("%v: the server offers no login deploybot can use; check SMTP_HOST, SMTP_PORT and SMTP_USERNAME", err), err)
	}

	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		// Possibly a typo, possibly a DNS hiccup: retry, but say which.
		return emailUnavailable(fmt.Sprintf("cannot resolve the SMTP server (%v): check SMTP_HOST", err), err)
	}
	// Connection refused, reset, timeouts: the server may come back.
	return emailUnavailable(fmt.Sprintf("cannot reach the SMTP server (%v): retrying; if it persists check SMTP_HOST and SMTP_PORT", err), err)
}

func isGoMailAuthSetupError(err error) bool {
	for _, target := range []error{
		gomail.ErrPlainAuthNotSupported, gomail.ErrLoginAuthNotSupported, gomail.ErrNoSupportedAuthDiscovered,
		gomail.ErrCramMD5AuthNotSupported, gomail.ErrXOauth2AuthNotSupported,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return strings.Contains(err.Error(), "server does not support SMTP AUTH")
}

// SMTPSettings configures NewSMTPSender; the fields mirror SMTP_*.
type SMTPSettings struct {
	Host string
	// Port 0 means 587, or 465 with TLS "tls".
	Port               int
	Username, Password string
	// From is the sender, e.g. "deploybot <deploybot@example.com>".
	From string
	// TLS is SMTPTLSStartTLS (""), SMTPTLSImplicit, or for loopback hosts
	// only SMTPTLSOpportunistic or SMTPTLSNone.
	TLS string
	// InsecureSkipVerify disables certificate checks; for tests only.
	InsecureSkipVerify bool
	// CACertPEM, if set, replaces the system roots for the server's certificate.
	CACertPEM []byte
}

// SMTPSender sends email over SMTP with go-mail; one connection per message.
type SMTPSender struct {
	settings SMTPSettings
	from     *mail.Address
	opts     []gomail.Option
}

var _ EmailSender = (*SMTPSender)(nil)

// NewSMTPSender checks s and returns a sender. Errors name the SMTP_*
// variable to fix.
func NewSMTPSender(s SMTPSettings) (*SMTPSender, error) {
	if s.Host == "" {
		return nil, errors.New("SMTP_HOST is not set")
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return nil, fmt.Errorf("SMTP_FROM %q is not an address like deploybot <deploybot@example.com>: %w", s.From, err)
	}
	if (s.Username == "") != (s.Password == "") {
		return nil, errors.New("set SMTP_USERNAME and SMTP_PASSWORD together, or neither")
	}
	mode := strings.ToLower(s.TLS)
	if mode == "" {
		mode = SMTPTLSStartTLS
	}
	if s.Port == 0 {
		s.Port = 587
		if mode == SMTPTLSImplicit {
			s.Port = 465
		}
	}
	if s.Port < 1 || s.Port > 65535 {
		return nil, fmt.Errorf("SMTP_PORT %d is not a port", s.Port)
	}
	tlsConf := &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.InsecureSkipVerify} //nolint:gosec // tests only, documented
	if len(s.CACertPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(s.CACertPEM) {
			return nil, errors.New("the SMTP CA certificate is not PEM")
		}
		tlsConf.RootCAs = pool
	}
	opts := []gomail.Option{
		gomail.WithPort(s.Port),
		gomail.WithTimeout(smtpTimeout),
		gomail.WithTLSConfig(tlsConf),
		gomail.WithHELO("deploybot"),
	}
	loopback := isLoopback(s.Host)
	switch mode {
	case SMTPTLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case SMTPTLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case SMTPTLSOpportunistic, SMTPTLSNone:
		if !loopback {
			// Credentials and approval links would cross the network in clear.
			return nil, fmt.Errorf("SMTP TLS mode %q is only allowed for localhost, not SMTP_HOST %s: use starttls or tls", mode, s.Host)
		}
		policy := gomail.TLSOpportunistic
		if mode == SMTPTLSNone {
			policy = gomail.NoTLS
		}
		opts = append(opts, gomail.WithTLSPolicy(policy))
	default:
		return nil, fmt.Errorf("SMTP TLS mode %q is not one of starttls, tls, opportunistic, none", s.TLS)
	}
	if s.Username != "" {
		// Autodiscovery skips PLAIN/LOGIN without TLS; on loopback without
		// TLS, PLAIN is what a dev sink offers and go-mail allows it there.
		authType := gomail.SMTPAuthAutoDiscover
		if mode == SMTPTLSNone || mode == SMTPTLSOpportunistic {
			authType = gomail.SMTPAuthPlain
		}
		opts = append(opts, gomail.WithSMTPAuth(authType), gomail.WithUsername(s.Username), gomail.WithPassword(s.Password))
	}
	return &SMTPSender{settings: s, from: from, opts: opts}, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send builds the message and delivers it over a new connection.
func (s *SMTPSender) Send(ctx context.Context, in SendEmailInput) error {
	m := gomail.NewMsg()
	if err := m.FromFormat(s.from.Name, s.from.Address); err != nil {
		return emailBadMessage(fmt.Sprintf("SMTP_FROM: %v", err))
	}
	if err := m.To(in.To...); err != nil {
		return emailBadMessage(err.Error())
	}
	m.Subject(in.Subject)
	m.SetDate()
	m.SetMessageIDWithValue(strings.TrimSuffix(strings.TrimPrefix(in.MessageID, "<"), ">"))
	for name, value := range in.Headers {
		m.SetGenHeader(gomail.Header(textproto.CanonicalMIMEHeaderKey(name)), value)
	}
	switch {
	case in.Text != "" && in.HTML != "":
		m.SetBodyString(gomail.TypeTextPlain, in.Text)
		m.AddAlternativeString(gomail.TypeTextHTML, in.HTML)
	case in.HTML != "":
		m.SetBodyString(gomail.TypeTextHTML, in.HTML)
	default:
		m.SetBodyString(gomail.TypeTextPlain, in.Text)
	}
	c, err := gomail.NewClient(s.settings.Host, s.opts...)
	if err != nil {
		return emailRejected(fmt.Sprintf("bad SMTP settings: %v", err), err)
	}
	return c.DialAndSendWithContext(ctx, m)
}
