package worker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/metrics"
	"github.com/deploybot/deploybot/internal/testenv"
	"github.com/deploybot/deploybot/worker"
)

// TestHealth: on a real dev server, /readyz is 503 until the worker runs and
// Temporal has seen it poll its task queue, 200 while it does, 503 again
// once it stops; /healthz never depends on Temporal; /metrics carries the
// Temporal SDK's metrics next to the process collectors.
func TestHealth(t *testing.T) {
	srv := testenv.StartTemporal(t)
	argo, _ := simArgoCD(t)
	reg := metrics.NewRegistry("worker")
	handler, stopMetrics, err := metrics.Temporal(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stopMetrics(context.Background()) }()
	const identity = "deploybot-worker-test@health"
	tc, err := client.Dial(client.Options{HostPort: srv.Address, Identity: identity, MetricsHandler: handler, Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	const queue = "health-test"
	w, err := worker.New(worker.Options{Temporal: tc, TaskQueue: queue, StopTimeout: time.Second, Deps: worker.Deps{
		ArgoCD: argo, Slack: activities.NewSlackClient("xoxb-unused", "http://127.0.0.1:1/api/"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	health := &worker.Health{Temporal: tc, Identity: identity, TaskQueue: queue, Registry: reg}
	hs := httptest.NewServer(health.Handler())
	defer hs.Close()

	if code, body := testenv.Get(t, hs.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not running") {
		t.Errorf("/readyz before start = %d %s, want 503 not running", code, body)
	}
	for _, p := range []string{"/healthz", "/health"} {
		if code, body := testenv.Get(t, hs.URL+p); code != 200 || !strings.Contains(body, `"ok"`) {
			t.Errorf("%s = %d %s", p, code, body)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx, w, nil, health) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	deadline := time.Now().Add(30 * time.Second)
	var code int
	var body string
	for time.Now().Before(deadline) {
		if code, body = testenv.Get(t, hs.URL+"/readyz"); code == 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ready map[string]string
	_ = json.Unmarshal([]byte(body), &ready)
	if code != 200 || ready["status"] != "ready" || ready["taskQueue"] != queue {
		t.Fatalf("/readyz while polling = %d %s", code, body)
	}

	// Another identity on the same queue is not this worker.
	other := &worker.Health{Temporal: tc, Identity: "someone-else", TaskQueue: queue}
	other.SetStarted(true)
	otherSrv := httptest.NewServer(other.Handler())
	defer otherSrv.Close()
	if code, body := testenv.Get(t, otherSrv.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "has not seen this worker") {
		t.Errorf("/readyz for an identity that does not poll = %d %s", code, body)
	}

	_, m := testenv.Get(t, hs.URL+"/metrics")
	for _, want := range []string{"temporal_request_total{", "temporal_long_request_total{", "deploybot_build_info{", "go_goroutines ", "process_resident_memory_bytes "} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stopped = true
	if code, body := testenv.Get(t, hs.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after stop = %d %s, want 503", code, body)
	}
}
