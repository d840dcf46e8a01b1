package activities_test

import (
	"errors"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/smtpsink"
)

func startSink(t *testing.T, opts smtpsink.Options) *smtpsink.Sink {
	t.Helper()
	s, err := smtpsink.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func sinkSettings(t *testing.T, s *smtpsink.Sink) activities.SMTPSettings {
	t.Helper()
	host, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return activities.SMTPSettings{Host: host, Port: p, From: "deploybot <deploybot@example.com>", TLS: activities.SMTPTLSNone}
}

func emailEnv(t *testing.T, settings activities.SMTPSettings) (*testsuite.TestActivityEnvironment, *activities.Email) {
	t.Helper()
	sender, err := activities.NewSMTPSender(settings)
	if err != nil {
		t.Fatal(err)
	}
	e := &activities.Email{Sender: sender}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(e)
	return env, e
}

func sendEmail(t *testing.T, env *testsuite.TestActivityEnvironment, e *activities.Email, in activities.SendEmailInput) (activities.SendEmailResult, error) {
	t.Helper()
	val, err := env.ExecuteActivity(e.SendEmail, in)
	if err != nil {
		return activities.SendEmailResult{}, err
	}
	var res activities.SendEmailResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res, nil
}

func emailAppError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error %v is not an ApplicationError", err)
	}
	return appErr
}

func TestSendEmailHeadersAndBody(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	env, e := emailEnv(t, sinkSettings(t, sink))

	before := time.Now().Add(-time.Second)
	res, err := sendEmail(t, env, e, activities.SendEmailInput{
		To:        []string{"sec@example.com", "Lead <lead@example.com>"},
		Subject:   "Security exception accepted: payments-api",
		Text:      "Next steps:\n1. Fix it.",
		HTML:      "<p>Next steps</p>",
		MessageID: "<run-42.accepted@deploybot>",
		Headers:   map[string]string{"X-Deploybot-App": "payments-api"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.MessageID != "<run-42.accepted@deploybot>" {
		t.Errorf("MessageID = %q", res.MessageID)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "deploybot@example.com" || strings.Join(m.To, ",") != "sec@example.com,lead@example.com" {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil || from.Name != "deploybot" || from.Address != "deploybot@example.com" {
		t.Errorf("From header = %q (%v)", m.Header.Get("From"), err)
	}
	to, err := m.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Name != "Lead" {
		t.Errorf("To header = %q (%v)", m.Header.Get("To"), err)
	}
	if m.Subject != "Security exception accepted: payments-api" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if got := m.Header.Get("Message-ID"); got != "<run-42.accepted@deploybot>" {
		t.Errorf("Message-ID = %q", got)
	}
	if d, err := m.Header.Date(); err != nil || d.Before(before) || d.After(time.Now().Add(time.Second)) {
		t.Errorf("Date = %q (%v)", m.Header.Get("Date"), err)
	}
	if got := m.Header.Get("X-Deploybot-App"); got != "payments-api" {
		t.Errorf("X-Deploybot-App = %q", got)
	}
	if got := strings.ReplaceAll(m.Text, "\r\n", "\n"); got != "Next steps:\n1. Fix it." {
		t.Errorf("Text = %q", m.Text)
	}
	if m.HTML != "<p>Next steps</p>" {
		t.Errorf("HTML = %q", m.HTML)
	}
}

func TestSendEmailStartTLSAndAuth(t *testing.T) {
	sink := startSink(t, smtpsink.Options{Username: "bot", Password: "pw", STARTTLS: true})
	settings := sinkSettings(t, sink)
	settings.TLS = "" // starttls, the default
	settings.Username, settings.Password = "bot", "pw"
	settings.CACertPEM = sink.CertPEM()
	env, e := emailEnv(t, settings)

	if _, err := sendEmail(t, env, e, activities.SendEmailInput{To: []string{"a@example.com"}, Subject: "tls", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if msgs := sink.Messages(); len(msgs) != 1 || msgs[0].Subject != "tls" {
		t.Errorf("Messages() = %+v", msgs)
	}

	// Without the sink's CA the certificate must not be trusted.
	settings.CACertPEM = nil
	env, e = emailEnv(t, settings)
	_, err := sendEmail(t, env, e, activities.SendEmailInput{To: []string{"a@example.com"}, Subject: "tls", Text: "hi"})
	if appErr := emailAppError(t, err); appErr.Type() != activities.EmailRejectedErrorType || !appErr.NonRetryable() ||
		!strings.Contains(appErr.Error(), "SMTP_HOST") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func TestSendEmailTemporaryFailureIsRetryable(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	env, e := emailEnv(t, sinkSettings(t, sink))
	in := activities.SendEmailInput{To: []string{"a@example.com"}, Subject: "retry", Text: "hi", MessageID: "run-1.retry@deploybot"}

	sink.FailNext(1)
	_, err := sendEmail(t, env, e, in)
	appErr := emailAppError(t, err)
	if appErr.Type() != activities.EmailUnavailableErrorType || appErr.NonRetryable() {
		t.Errorf("451: type=%s nonRetryable=%v: %v", appErr.Type(), appErr.NonRetryable(), err)
	}
	res, err := sendEmail(t, env, e, in)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || msgs[0].Header.Get("Message-ID") != res.MessageID || res.MessageID != "<run-1.retry@deploybot>" {
		t.Errorf("after retry: %d messages, result %q", len(msgs), res.MessageID)
	}
}

func TestSendEmailWrongPasswordIsPermanent(t *testing.T) {
	sink := startSink(t, smtpsink.Options{Username: "bot", Password: "pw"})
	settings := sinkSettings(t, sink)
	settings.Username, settings.Password = "bot", "wrong"
	env, e := emailEnv(t, settings)

	_, err := sendEmail(t, env, e, activities.SendEmailInput{To: []string{"a@example.com"}, Subject: "x", Text: "hi"})
	appErr := emailAppError(t, err)
	if appErr.Type() != activities.EmailRejectedErrorType || !appErr.NonRetryable() || !strings.Contains(appErr.Error(), "SMTP_PASSWORD") {
		t.Errorf("wrong password: type=%s nonRetryable=%v: %v", appErr.Type(), appErr.NonRetryable(), err)
	}
	if len(sink.Messages()) != 0 {
		t.Error("a message was accepted with a wrong password")
	}
}

func TestSendEmailConnectionRefusedIsRetryable(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	settings := sinkSettings(t, sink)
	_ = sink.Close() // nothing listens on the port any more
	env, e := emailEnv(t, settings)

	_, err := sendEmail(t, env, e, activities.SendEmailInput{To: []string{"a@example.com"}, Subject: "x", Text: "hi"})
	if appErr := emailAppError(t, err); appErr.Type() != activities.EmailUnavailableErrorType || appErr.NonRetryable() {
		t.Errorf("connection refused: type=%s nonRetryable=%v: %v", appErr.Type(), appErr.NonRetryable(), err)
	}
}

func TestSendEmailDerivesMessageID(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	env, e := emailEnv(t, sinkSettings(t, sink))
	in := activities.SendEmailInput{To: []string{"a@example.com"}, Subject: "x", Text: "hi"}
	r1, err := sendEmail(t, env, e, in)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := sendEmail(t, env, e, in)
	if err != nil {
		t.Fatal(err)
	}
	// The id is derived from workflow, run and activity id, which retries
	// keep; the test environment gives each execution a new activity id.
	if !strings.HasPrefix(r1.MessageID, "<") || !strings.HasSuffix(r1.MessageID, "@deploybot>") || r1.MessageID == r2.MessageID {
		t.Errorf("derived Message-IDs %q, %q: want distinct <…@deploybot> ids for distinct activities", r1.MessageID, r2.MessageID)
	}
	if got := sink.Messages()[0].Header.Get("Message-ID"); got != r1.MessageID {
		t.Errorf("sent Message-ID %q, result %q", got, r1.MessageID)
	}
}

func TestSendEmailBadInput(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	env, e := emailEnv(t, sinkSettings(t, sink))
	for name, in := range map[string]activities.SendEmailInput{
		"no recipient":      {Subject: "x", Text: "hi"},
		"bad recipient":     {To: []string{"not an address"}, Text: "hi"},
		"no body":           {To: []string{"a@example.com"}},
		"reserved header":   {To: []string{"a@example.com"}, Text: "hi", Headers: map[string]string{"subject": "x"}},
		"header injection":  {To: []string{"a@example.com"}, Text: "hi", Headers: map[string]string{"X-A": "1\r\nBcc: evil@example.com"}},
		"bad message id":    {To: []string{"a@example.com"}, Text: "hi", MessageID: "no-at-sign"},
		"content-* headers": {To: []string{"a@example.com"}, Text: "hi", Headers: map[string]string{"Content-Type": "text/html"}},
	} {
		_, err := sendEmail(t, env, e, in)
		if appErr := emailAppError(t, err); appErr.Type() != activities.EmailBadMessageErrorType || !appErr.NonRetryable() {
			t.Errorf("%s: type=%s nonRetryable=%v", name, appErr.Type(), appErr.NonRetryable())
		}
	}
	if len(sink.Messages()) != 0 {
		t.Error("a bad input was sent")
	}
}

func TestNewSMTPSenderValidation(t *testing.T) {
	ok := activities.SMTPSettings{Host: "smtp.example.com", From: "deploybot@example.com"}
	if _, err := activities.NewSMTPSender(ok); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*activities.SMTPSettings)
		want string
	}{
		{"no host", func(s *activities.SMTPSettings) { s.Host = "" }, "SMTP_HOST"},
		{"bad from", func(s *activities.SMTPSettings) { s.From = "deploybot" }, "SMTP_FROM"},
		{"user without password", func(s *activities.SMTPSettings) { s.Username = "bot" }, "SMTP_PASSWORD"},
		{"none on a remote host", func(s *activities.SMTPSettings) { s.TLS = activities.SMTPTLSNone }, "only allowed for localhost"},
		{"opportunistic on a remote host", func(s *activities.SMTPSettings) { s.TLS = activities.SMTPTLSOpportunistic }, "only allowed for localhost"},
		{"unknown mode", func(s *activities.SMTPSettings) { s.TLS = "ssl3" }, "not one of"},
		{"bad port", func(s *activities.SMTPSettings) { s.Port = 70000 }, "SMTP_PORT"},
		{"bad CA", func(s *activities.SMTPSettings) { s.CACertPEM = []byte("nope") }, "not PEM"},
	} {
		s := ok
		tc.edit(&s)
		if _, err := activities.NewSMTPSender(s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := activities.NewSMTPSender(activities.SMTPSettings{Host: host, From: "a@example.com", TLS: activities.SMTPTLSNone}); err != nil {
			t.Errorf("none on %s: %v", host, err)
		}
	}
	if _, err := activities.NewSMTPSender(activities.SMTPSettings{Host: "smtp.example.com", From: "a@example.com", TLS: activities.SMTPTLSImplicit}); err != nil {
		t.Errorf("implicit TLS: %v", err)
	}
}
