package playground_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/playground"
	"github.com/deploybot/deploybot/internal/sonarqube"
)

// TestSampleWebhookOfAnotherBranch: a sample may name its branch, so
// failures of two branches stand side by side (the chaos drill's gates);
// a bad branch name is refused with what to send instead.
func TestSampleWebhookOfAnotherBranch(t *testing.T) {
	gw := newFakeGateway(t, http.StatusOK, `{}`)
	srv := startPlayground(t, playground.Options{GatewayURL: gw.URL, SigningSecret: "s", SonarQubeSecret: "x"})
	resp, err := http.Post(srv.URL+"/playground/api/sonarqube", "application/json", strings.NewReader(`{"gate":"ERROR","branch":"release/2.1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ds := gw.deliveries()
	if resp.StatusCode != http.StatusOK || len(ds) != 1 {
		t.Fatalf("HTTP %d, %d deliveries", resp.StatusCode, len(ds))
	}
	p, err := sonarqube.Parse(ds[0].body)
	if err != nil || p.Branch == nil || p.Branch.Name != "release/2.1" || p.Branch.IsMain {
		t.Fatalf("delivered branch %+v (%v), want release/2.1, not main", p.Branch, err)
	}

	resp, err = http.Post(srv.URL+"/playground/api/sonarqube", "application/json", strings.NewReader(`{"gate":"ERROR","branch":"a\nb"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&a)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(a.Error, "e.g. feature/login") || len(gw.deliveries()) != 1 {
		t.Errorf("branch with a newline: HTTP %d %q", resp.StatusCode, a.Error)
	}
}
