package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// pollerFreshness is how recently Temporal must have seen this worker poll
// for it to count as polling: a long poll lasts about a minute, so a healthy
// worker is seen well within two.
const pollerFreshness = 2 * time.Minute

// Health serves the worker's probes and metrics:
//
//	GET /healthz  the process is up (also /health, the old bot's path)
//	GET /readyz   Temporal answers and it has seen this worker poll the task queue
//	GET /metrics  Prometheus: the Temporal SDK's metrics, Go runtime, process, build info
type Health struct {
	// Temporal is the worker's client; Identity its identity, which Temporal
	// lists among the task queue's pollers.
	Temporal  client.Client
	Identity  string
	TaskQueue string
	Registry  *prometheus.Registry
	// Timeout bounds the Temporal calls of one /readyz; 0 = 2s.
	Timeout time.Duration

	started atomic.Bool
}

// SetStarted records whether the worker runs (between Start and Stop).
func (h *Health) SetStarted(on bool) { h.started.Store(on) }

// Handler returns the HTTP handler.
func (h *Health) Handler() http.Handler {
	mux := http.NewServeMux()
	alive := func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
	mux.HandleFunc("GET /healthz", alive)
	mux.HandleFunc("GET /health", alive)
	mux.HandleFunc("GET /readyz", h.readyz)
	reg := h.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

func (h *Health) readyz(w http.ResponseWriter, r *http.Request) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	if err := h.ready(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "temporal": "ok", "taskQueue": h.TaskQueue})
}

// ready says why the worker cannot do its job, or nil.
func (h *Health) ready(ctx context.Context) error {
	if !h.started.Load() {
		return errors.New("the worker is not running (starting or stopping)")
	}
	if _, err := h.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("Temporal does not answer: %w", err)
	}
	// The worker polls for workflow and activity tasks alike; being seen on
	// the workflow side proves the connection, namespace and queue are right.
	resp, err := h.Temporal.DescribeTaskQueue(ctx, h.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return fmt.Errorf("describe task queue %q: %w", h.TaskQueue, err)
	}
	for _, p := range resp.GetPollers() {
		if p.GetIdentity() == h.Identity && time.Since(p.GetLastAccessTime().AsTime()) < pollerFreshness {
			return nil
		}
	}
	return fmt.Errorf("Temporal has not seen this worker (%s) poll task queue %q yet", h.Identity, h.TaskQueue)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
