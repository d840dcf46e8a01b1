// Package devtest starts the whole local environment (`deploybot dev`) in the
// test's process on free ports, for end-to-end and browser tests.
package devtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/devenv"
	"github.com/deploybot/deploybot/internal/smtpsink"
	"github.com/deploybot/deploybot/internal/testenv"
)

// Env is a running local environment.
type Env struct {
	devenv.URLs
	// Mail is the SMTP sink the worker sends to: read what it got with
	// Mail.Messages, make it refuse with Mail.FailNext.
	Mail *smtpsink.Sink
	// SonarQubeWebhookSecret signs webhooks to URLs.SonarQubeWebhook.
	SonarQubeWebhookSecret string
	// APIToken is a bearer token the runs API (URLs.RunsAPI) accepts.
	APIToken string
	// SigningSecret signs Slack requests to the gateway.
	SigningSecret string
}

// Start runs devenv on free loopback ports with its state in a temporary
// directory, waits until everything answers, and stops it at cleanup.
func Start(t testing.TB) devenv.URLs {
	t.Helper()
	return StartEnv(t).URLs
}

// StartEnv is Start, also giving the mail and the secrets the environment
// uses (its dev defaults).
func StartEnv(t testing.TB) *Env {
	t.Helper()
	cfg := config.Default()
	cfg.HTTPHost, cfg.HTTPPort = "127.0.0.1", testenv.FreePort(t)
	cfg.ArgoCDSimAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.LogLevel = "warn"
	mail, err := smtpsink.Start("127.0.0.1:0", smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Before the goroutine: TempDir's own cleanup (removing the directory)
	// must be registered first so it runs after the cleanup below has
	// stopped everything that writes there.
	dir := t.TempDir()
	tport, uiport, tbin := testenv.FreePort(t), testenv.FreePort(t), testenv.TemporalCLI(t)
	ready := make(chan devenv.URLs, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- devenv.Run(ctx, devenv.Options{
			Config: cfg, Dir: dir, TemporalBinary: tbin,
			TemporalPort: tport, TemporalUIPort: uiport,
			OnReady: func(u devenv.URLs) { ready <- u },
			Mail:    mail,
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("devenv: %v", err)
		}
		if err := mail.Close(); err != nil {
			t.Errorf("SMTP sink: %v", err)
		}
	})
	env := &Env{
		Mail:                   mail,
		SonarQubeWebhookSecret: devenv.DevSonarQubeWebhookSecret,
		APIToken:               devenv.DevAPIToken,
		SigningSecret:          devenv.DevSigningSecret,
	}
	select {
	case env.URLs = <-ready:
		return env
	case err := <-done:
		t.Fatalf("devenv stopped before it was ready: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("devenv not ready after 2 minutes")
	}
	return env
}
