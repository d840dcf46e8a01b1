package smtpsink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T, opts Options) *Sink {
	t.Helper()
	s, err := Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

const multipartMsg = "From: Deploybot <bot@example.com>\r\n" +
	"To: a@example.com, b@example.com\r\n" +
	"Subject: =?UTF-8?q?D=C3=A9ploiement_pr=C3=AAt?=\r\n" +
	"Message-ID: <run1.decision@deploybot>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=XYZ\r\n" +
	"\r\n" +
	"--XYZ\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"caf=C3=A9 is =\r\nready\r\n" +
	"--XYZ\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+aGk8L3A+\r\n" +
	"--XYZ--\r\n"

func TestPlainDelivery(t *testing.T) {
	s := start(t, Options{})
	if err := smtp.SendMail(s.Addr(), nil, "bot@example.com", []string{"a@example.com", "b@example.com"}, []byte(multipartMsg)); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "bot@example.com" || strings.Join(m.To, ",") != "a@example.com,b@example.com" {
		t.Errorf("envelope = %q -> %q", m.From, m.To)
	}
	if m.Subject != "Déploiement prêt" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if m.Header.Get("Message-ID") != "<run1.decision@deploybot>" {
		t.Errorf("Message-ID = %q", m.Header.Get("Message-ID"))
	}
	if m.Text != "café is ready\r\n" && m.Text != "café is ready" {
		t.Errorf("Text = %q", m.Text)
	}
	if m.HTML != "<p>hi</p>" {
		t.Errorf("HTML = %q", m.HTML)
	}
	if !strings.Contains(string(m.Raw), "boundary=XYZ") {
		t.Errorf("Raw lacks the original header")
	}
	if s.CertPEM() != nil {
		t.Error("CertPEM() without STARTTLS should be nil")
	}
}

func TestAuthRequired(t *testing.T) {
	s := start(t, Options{Username: "bot", Password: "pw"})
	msg := []byte("Subject: x\r\n\r\nbody\r\n")

	err := smtp.SendMail(s.Addr(), nil, "bot@example.com", []string{"a@example.com"}, msg)
	var tpErr *textproto.Error
	if !errors.As(err, &tpErr) || tpErr.Code != 530 {
		t.Errorf("without AUTH: %v, want 530", err)
	}
	err = smtp.SendMail(s.Addr(), smtp.PlainAuth("", "bot", "wrong", "127.0.0.1"), "bot@example.com", []string{"a@example.com"}, msg)
	if !errors.As(err, &tpErr) || tpErr.Code != 535 {
		t.Errorf("wrong password: %v, want 535", err)
	}
	if err := smtp.SendMail(s.Addr(), smtp.PlainAuth("", "bot", "pw", "127.0.0.1"), "bot@example.com", []string{"a@example.com"}, msg); err != nil {
		t.Fatal(err)
	}
	if got := s.Messages(); len(got) != 1 || got[0].Text != "body\r\n" {
		t.Errorf("Messages() = %+v", got)
	}
}

func TestSTARTTLSAndAuth(t *testing.T) {
	s := start(t, Options{Username: "bot", Password: "pw", STARTTLS: true})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.CertPEM()) {
		t.Fatal("CertPEM() is not a PEM certificate")
	}
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: roots}); err != nil {
		t.Fatalf("STARTTLS with the sink's certificate: %v", err)
	}
	if err := c.Auth(smtp.PlainAuth("", "bot", "pw", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("bot@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("a@example.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("Subject: tls\r\n\r\nsecret\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()
	if got := s.Messages(); len(got) != 1 || got[0].Subject != "tls" {
		t.Errorf("Messages() = %+v", got)
	}
}

func TestFailNext(t *testing.T) {
	s := start(t, Options{})
	msg := []byte("Subject: retry\r\n\r\nbody\r\n")
	s.FailNext(2)
	for i := range 2 {
		err := smtp.SendMail(s.Addr(), nil, "bot@example.com", []string{"a@example.com"}, msg)
		var tpErr *textproto.Error
		if !errors.As(err, &tpErr) || tpErr.Code != 451 {
			t.Errorf("attempt %d: %v, want 451", i+1, err)
		}
	}
	if err := smtp.SendMail(s.Addr(), nil, "bot@example.com", []string{"a@example.com"}, msg); err != nil {
		t.Fatalf("third attempt: %v", err)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("got %d messages, want 1 (failed ones are not kept)", n)
	}
}

// TestAfterAccept: the hook sees a message once it is kept and before
// the sender hears the 250, so a test can stop the sender in between.
func TestAfterAccept(t *testing.T) {
	held, release := make(chan Message, 1), make(chan struct{})
	s := start(t, Options{AfterAccept: func(m Message) { held <- m; <-release }})
	sent := make(chan error, 1)
	go func() {
		sent <- smtp.SendMail(s.Addr(), nil, "bot@example.com", []string{"a@example.com"}, []byte("Subject: held\r\n\r\nbody\r\n"))
	}()
	m := <-held
	if m.Subject != "held" || len(s.Messages()) != 1 {
		t.Errorf("in the hook: %+v, %d kept; want the message, kept", m, len(s.Messages()))
	}
	select {
	case err := <-sent:
		t.Fatalf("the sender heard (%v) before the hook returned", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

func TestCloseRightAfterStart(t *testing.T) {
	// Close must not hang when Serve has not started accepting yet.
	for range 20 {
		s, err := Start("127.0.0.1:0", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
}

// TestSubscribe: a live view hears of each accepted message (notifications
// coalesce), every message carries when it arrived, and Close ends the
// subscription.
func TestSubscribe(t *testing.T) {
	s, err := Start("127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ch, stop := s.Subscribe()
	defer stop()
	stopped, stopNow := s.Subscribe()
	stopNow()
	stopNow() // twice is harmless
	if _, ok := <-stopped; ok {
		t.Error("a stopped subscription's channel is still open")
	}

	before := time.Now()
	for range 2 {
		if err := smtp.SendMail(s.Addr(), nil, "bot@example.com", []string{"a@example.com"}, []byte("Subject: hi\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after two messages")
	}
	msgs := s.Messages()
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	for _, m := range msgs {
		if m.Received.Before(before) || m.Received.After(time.Now()) {
			t.Errorf("Received = %v, want between %v and now", m.Received, before)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range ch { // drains a pending notification, then sees the close
	}
	late, _ := s.Subscribe()
	if _, ok := <-late; ok {
		t.Error("Subscribe after Close returned an open channel")
	}
}
