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
	"github.com/deploybot/deploybot/internal/testenv"
)

// Start runs devenv on free loopback ports with its state in a temporary
// directory, waits until everything answers, and stops it at cleanup.
func Start(t testing.TB) devenv.URLs {
	t.Helper()
	cfg := config.Default()
	cfg.HTTPHost, cfg.HTTPPort = "127.0.0.1", testenv.FreePort(t)
	cfg.ArgoCDSimAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.LogLevel = "warn"
	ready := make(chan devenv.URLs, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- devenv.Run(ctx, devenv.Options{
			Config: cfg, Dir: t.TempDir(), TemporalBinary: testenv.TemporalCLI(t),
			TemporalPort: testenv.FreePort(t), TemporalUIPort: testenv.FreePort(t),
			OnReady: func(u devenv.URLs) { ready <- u },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("devenv: %v", err)
		}
	})
	select {
	case u := <-ready:
		return u
	case err := <-done:
		t.Fatalf("devenv stopped before it was ready: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("devenv not ready after 2 minutes")
	}
	return devenv.URLs{}
}
