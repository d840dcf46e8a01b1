// Package devtest starts the whole local environment (`deploybot dev`) in the
// test's process on free ports, for end-to-end and browser tests.
package devtest

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
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
	tbin := testenv.TemporalCLI(t)
	mail, err := smtpsink.Start("127.0.0.1:0", smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: after dev has stopped sending.
	t.Cleanup(func() {
		if err := mail.Close(); err != nil {
			t.Errorf("SMTP sink: %v", err)
		}
	})
	// Before any start: TempDir's own cleanup (removing the directory)
	// must run after the cleanup that stops everything writing there.
	dir := t.TempDir()
	env := &Env{
		Mail:                   mail,
		SonarQubeWebhookSecret: devenv.DevSonarQubeWebhookSecret,
		APIToken:               devenv.DevAPIToken,
		SigningSecret:          devenv.DevSigningSecret,
	}
	// A port found free can be taken by another process (other test
	// packages run in parallel) before dev binds it; dev then stops and
	// says so, and another set of ports is tried.
	for attempt := 1; ; attempt++ {
		urls, err := startOnce(t, tbin, filepath.Join(dir, strconv.Itoa(attempt)), mail)
		if err == nil {
			env.URLs = urls
			return env
		}
		if attempt < 3 && (strings.Contains(err.Error(), "is taken") || strings.Contains(err.Error(), "address already in use")) {
			t.Logf("attempt %d: %v; retrying on other ports", attempt, err)
			continue
		}
		t.Fatal(err)
	}
}

// startOnce runs devenv on fresh free ports until it is ready, and
// registers its stop as a cleanup; it returns an error if dev stopped
// before it was ready.
func startOnce(t testing.TB, tbin, dir string, mail *smtpsink.Sink) (devenv.URLs, error) {
	t.Helper()
	cfg := config.Default()
	cfg.HTTPHost, cfg.HTTPPort = "127.0.0.1", testenv.FreePort(t)
	cfg.ArgoCDSimAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.LogLevel = "warn"
	opts := devenv.Options{
		Config: cfg, Dir: dir, TemporalBinary: tbin,
		TemporalPort: testenv.FreePort(t), TemporalUIPort: testenv.FreePort(t),
		Mail: mail,
	}
	ready := make(chan devenv.URLs, 1)
	opts.OnReady = func(u devenv.URLs) { ready <- u }
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		runErr = devenv.Run(ctx, opts)
	}()
	select {
	case u := <-ready:
		t.Cleanup(func() {
			cancel()
			<-stopped
			if runErr != nil {
				t.Errorf("devenv: %v", runErr)
			}
		})
		return u, nil
	case <-stopped:
		cancel()
		return devenv.URLs{}, fmt.Errorf("devenv stopped before it was ready: %v", runErr)
	case <-time.After(2 * time.Minute):
		cancel()
		<-stopped
		return devenv.URLs{}, fmt.Errorf("devenv not ready after 2 minutes (stopped with %v)", runErr)
	}
}
