// Package testenv holds helpers that tests across deploybot share to find the
// tools they need (the Temporal CLI, Chromium) and to decide what a missing
// tool means: a loud skip on a developer laptop, a failure in CI where
// `.ci/run` installs everything.
package testenv

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	tlog "go.temporal.io/sdk/log"

	"github.com/deploybot/deploybot/internal/temporaldev"
)

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate testenv source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// InCI reports whether the tests run under CI (CI=true), where every tool is
// installed by .ci/run and a missing one is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing reports a tool the test needs but cannot find: it fails under CI and
// skips elsewhere, always saying how to get the tool.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is missing: %s", what, how)
	}
	t.Skipf("SKIPPED: %s is missing, so this test did not run: %s", what, how)
}

// TemporalCLI returns the path of the pinned Temporal CLI (./bin/temporal or
// $TEMPORAL_CLI), or marks the test as missing it.
func TemporalCLI(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		return p
	}
	p := filepath.Join(RepoRoot(t), "bin", "temporal")
	if _, err := os.Stat(p); err != nil {
		Missing(t, "the Temporal CLI ("+p+")", "run `make bin/temporal`")
	}
	return p
}

// StartTemporal starts a throwaway Temporal dev server (in memory, no UI) for
// the test and stops it at cleanup.
func StartTemporal(t testing.TB) *temporaldev.Server {
	t.Helper()
	return StartTemporalOn(t, 0)
}

// StartTemporalOn is StartTemporal on a chosen frontend port (0 = a free
// one), for tests that start a client before its server.
func StartTemporalOn(t testing.TB, port int) *temporaldev.Server {
	t.Helper()
	bin := TemporalCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The port is picked free, then bound by the child: another test
	// package may take it in between, so a failed start is tried again.
	var srv *temporaldev.Server
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if srv, err = temporaldev.Start(ctx, temporaldev.Options{Binary: bin, Port: port, UIPort: -1}); err == nil || ctx.Err() != nil || port != 0 {
			break
		}
		t.Logf("start Temporal dev server, attempt %d: %v", attempt, err)
	}
	if err != nil {
		t.Fatalf("start Temporal dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return srv
}

// TemporalLogger is a Temporal SDK logger for tests that shows warnings and
// errors only; the SDK's default logs every activity at debug level.
func TemporalLogger() tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// SyncBuffer collects output (a child's, a logger's) safely from several
// goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Get fetches url and returns its status code and body; a request that
// fails outright fails the test.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// ReportLatencies reports the p50, p99 and max of lat (in milliseconds) as
// the benchmark's metrics p50-ms, p99-ms and max-ms. It sorts lat.
func ReportLatencies(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(ms(pct(0.50)), "p50-ms")
	b.ReportMetric(ms(pct(0.99)), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}
