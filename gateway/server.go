// Package gateway is deploybot's HTTP front door (gin): it verifies, authorizes
// and parses what Slack and SonarQube send, then starts a Temporal workflow or
// signals one and answers at once. It never calls Argo CD and holds no Argo CD
// credentials; all state lives in Temporal, so any number of gateways can run.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
)

// Options configures the gateway.
type Options struct {
	// Temporal is the client used to start and signal workflows and to answer /readyz.
	Temporal client.Client
	// Logger receives request and audit logs.
	Logger *slog.Logger
	// Registry receives the gateway's metrics; nil = a fresh registry.
	Registry *prometheus.Registry
}

// Server is the gateway's HTTP handler.
type Server struct {
	opts    Options
	engine  *gin.Engine
	metrics *metrics
}

// New builds the gateway's routes.
func New(opts Options) (*Server, error) {
	if opts.Temporal == nil {
		return nil, errors.New("gateway: a Temporal client is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{opts: opts, engine: gin.New(), metrics: newMetrics(opts.Registry)}
	s.engine.Use(gin.Recovery(), s.observe)
	s.engine.GET("/healthz", s.healthz)
	s.engine.GET("/readyz", s.readyz)
	s.engine.GET("/metrics", gin.WrapH(promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{Registry: opts.Registry})))
	return s, nil
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// healthz says the process is up; it checks nothing else so a slow Temporal
// never gets the pod restarted.
func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// readyz says whether this gateway can do its job: Temporal must answer.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.opts.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "temporal": err.Error()})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "temporal": "ok"})
}

// Serve runs h on l until ctx ends, then shuts down gracefully, giving
// in-flight requests up to 10 seconds.
func Serve(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gateway HTTP server on %s stopped: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("gateway shutdown: %w", err)
	}
	if log != nil {
		log.Info("gateway stopped", "addr", l.Addr().String())
	}
	return nil
}
