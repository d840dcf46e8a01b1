// Package httpserve runs an HTTP handler until its context ends and then
// shuts it down gracefully; the gateway and the worker's health endpoints
// share it.
package httpserve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout is how long in-flight requests get once ctx ends.
const ShutdownTimeout = 10 * time.Second

// Serve serves h on l until ctx ends, then shuts down, giving in-flight
// requests up to ShutdownTimeout. afterShutdown, if set, runs next with what
// is left of that time (the gateway waits for its replies there).
func Serve(ctx context.Context, l net.Listener, h http.Handler, afterShutdown func(context.Context) error) error {
	// ReadTimeout bounds a slow body too, so a trickled request cannot hold
	// a connection (Slack and probes send small bodies at once).
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 15 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("HTTP server on %s stopped: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("HTTP server on %s: shutdown: %w", l.Addr(), err)
	}
	if afterShutdown != nil {
		return afterShutdown(sctx)
	}
	return nil
}
