package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/testenv"
)

func get(t *testing.T, url string) (int, map[string]any, string) {
	t.Helper()
	code, b := testenv.Get(t, url)
	var m map[string]any
	_ = json.Unmarshal([]byte(b), &m)
	return code, m, b
}

func TestHealthReadyAndMetricsWithTemporalUp(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	base := h.url

	if code, body, raw := get(t, base+"/healthz"); code != 200 || body["status"] != "ok" {
		t.Errorf("/healthz = %d %s", code, raw)
	}
	if code, body, raw := get(t, base+"/readyz"); code != 200 || body["status"] != "ready" {
		t.Errorf("/readyz = %d %s", code, raw)
	}
	if _, _, m := get(t, base+"/metrics"); !strings.Contains(m, "deploybot_gateway_temporal_up 1") {
		t.Error("/metrics lacks deploybot_gateway_temporal_up 1")
	}
	h.mention(alice, "status "+uniq("app"))
	_, _, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`deploybot_gateway_requests_total{code="200",outcome="ok",route="/healthz"} 1`,
		`deploybot_gateway_requests_total{code="200",outcome="started",route="/slack/events"} 1`,
		`deploybot_gateway_request_duration_seconds_count{route="/readyz"} 1`,
		`deploybot_gateway_request_duration_seconds_bucket{route="/slack/events",le="3"} 1`,
		`deploybot_gateway_workflows_started_total{workflow="AppStatusWorkflow"} 1`,
		`# TYPE deploybot_gateway_signature_failures_total counter`,
		`# TYPE deploybot_gateway_signals_sent_total counter`,
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

// TestReadyzReportsTemporalDown: with Temporal down the gateway stays in
// rotation (it tells Slack users so) and says why it is degraded.
func TestReadyzReportsTemporalDown(t *testing.T) {
	h := newHarness(t, downTemporalClient(t))
	code, body, raw := get(t, h.url+"/readyz")
	if code != http.StatusOK || body["status"] != "degraded" || !strings.HasPrefix(body["temporal"].(string), "unreachable: ") {
		t.Errorf("/readyz with Temporal down = %d %s, want 200 degraded with the reason", code, raw)
	}
	if _, _, m := get(t, h.url+"/metrics"); !strings.Contains(m, "deploybot_gateway_temporal_up 0") {
		t.Error("/metrics lacks deploybot_gateway_temporal_up 0")
	}
	if code, _, raw := get(t, h.url+"/healthz"); code != 200 {
		t.Errorf("/healthz must not depend on Temporal: %d %s", code, raw)
	}
}

// TestOldHealthPath: the old bot's probes hit /health; it answers like
// /healthz so a migrated deployment is not restarted in a loop.
func TestOldHealthPath(t *testing.T) {
	h := newHarness(t, downTemporalClient(t))
	if code, body, raw := get(t, h.url+"/health"); code != 200 || body["status"] != "ok" {
		t.Errorf("/health = %d %s, want 200 like /healthz", code, raw)
	}
}

// TestUnknownPathIsPlain404: outside the runs API an unknown path gets
// gin's own plain 404, the gateway writing nothing.
func TestUnknownPathIsPlain404(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	if code, _, body := get(t, h.url+"/no/such/path"); code != http.StatusNotFound || body != "404 page not found" {
		t.Errorf("GET /no/such/path = %d %q, want 404 %q", code, body, "404 page not found")
	}
}
