package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/testenv"
)

func serve(t *testing.T, c client.Client) string {
	t.Helper()
	gw, err := gateway.New(gateway.Options{Temporal: c})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gateway.Serve(ctx, l, gw, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + l.Addr().String()
}

func get(t *testing.T, url string) (int, map[string]any, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, string(b)
}

func TestHealthReadyAndMetricsWithTemporalUp(t *testing.T) {
	srv := testenv.StartTemporal(t)
	c, err := client.Dial(client.Options{HostPort: srv.Address, Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	base := serve(t, c)

	if code, body, raw := get(t, base+"/healthz"); code != 200 || body["status"] != "ok" {
		t.Errorf("/healthz = %d %s", code, raw)
	}
	if code, body, raw := get(t, base+"/readyz"); code != 200 || body["status"] != "ready" {
		t.Errorf("/readyz = %d %s", code, raw)
	}
	_, _, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`deploybot_gateway_requests_total{code="200",route="/healthz"} 1`,
		`deploybot_gateway_request_duration_seconds_count{route="/readyz"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Unknown paths are counted under one label, never the raw path.
	get(t, base+"/no/such/path/"+strings.Repeat("x", 50))
	_, _, metrics = get(t, base+"/metrics")
	if !strings.Contains(metrics, `route="unmatched"`) || strings.Contains(metrics, "xxxxxxxx") {
		t.Errorf("unmatched route not folded into one label:\n%s", metrics)
	}
}

func TestReadyzReportsTemporalDown(t *testing.T) {
	// A lazy client to a port nobody listens on: Temporal is down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := client.NewLazyClient(client.Options{HostPort: addr, Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	base := serve(t, c)
	code, body, raw := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || body["status"] != "unavailable" || body["temporal"] == "" {
		t.Errorf("/readyz with Temporal down = %d %s", code, raw)
	}
	if code, _, raw := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz must not depend on Temporal: %d %s", code, raw)
	}
}
