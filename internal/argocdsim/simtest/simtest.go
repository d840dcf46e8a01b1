// Package simtest starts an Argo CD simulator for tests.
package simtest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/argocdsim"
)

// Start serves a new simulator on 127.0.0.1:0 and returns its address
// (host:port) and the server. It is shut down when the test ends.
func Start(t testing.TB, opts argocdsim.Options) (addr string, s *argocdsim.Server) {
	t.Helper()
	s, err := argocdsim.New(opts)
	if err != nil {
		t.Fatalf("argocdsim.New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("argocdsim shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("argocdsim serve: %v", err)
		}
	})
	return l.Addr().String(), s
}
