package fuzz

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/sonarqube"
)

// FuzzSonarQubeWebhook posts any body to /webhooks/sonarqube. Signed with
// the secret (as SonarQube signs: lowercase hex, or uppercase and padded,
// which the header may also carry), the answer is 200 or a 400 with a
// message, never a 401, a 5xx or a panic, and it agrees with
// sonarqube.Parse: a body that parses to a gate of OK or ERROR starts
// exactly one quality-gate run, whose input passes the contract's
// validation under the analysis' own key; any other body starts nothing.
// With a byte flipped, the signature missing, or one digit changed, it is
// a 401 and nothing starts.
func FuzzSonarQubeWebhook(f *testing.F) {
	for _, name := range []string{"doc_task_ok.json", "branch_error.json", "pull_request_ok.json", "issue_change_error_no_task.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "internal", "sonarqube", "testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0), uint16(0))
		f.Add(b, uint8(1), uint16(len(b)/2))
	}
	f.Add([]byte(`{"project":{"key":"p"},"taskId":"T1","status":"FAILED"}`), uint8(0), uint16(0))
	f.Add([]byte(`{"project":{"key":"p"},"taskId":"T1","qualityGate":{"status":"WARN"}}`), uint8(0), uint16(0))
	f.Add([]byte(`{"project":{"key":"p"},"analysedAt":"not a time"}`), uint8(2), uint16(0))
	f.Add([]byte(`[]`), uint8(3), uint16(7))
	g := newFzGateway(f)
	f.Fuzz(func(t *testing.T, body []byte, mode uint8, at uint16) {
		sig := sonarqube.Sign(fzSonarSecret, body)
		send := func(body []byte, sig string) fzResult {
			hdr := http.Header{"X-Sonarqube-Project": {"some-project"}}
			if sig != "" {
				hdr.Set(sonarqube.SignatureHeader, sig)
			}
			return g.do(t, fzPost(gateway.SonarQubePath, "application/json", body, hdr))
		}
		switch mode % 4 {
		case 1: // one body byte flipped
			if len(body) == 0 {
				return
			}
			flipped := bytes.Clone(body)
			flipped[int(at)%len(flipped)] ^= 1 << (at % 8)
			fzRefusedWebhook(t, send(flipped, sig))
			return
		case 2: // no signature
			fzRefusedWebhook(t, send(body, ""))
			return
		case 3: // one signature digit changed
			b := []byte(sig)
			i := int(at) % len(b)
			b[i] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", b[i])+1+int(at>>8)%15)%16]
			fzRefusedWebhook(t, send(body, string(b)))
			return
		}
		if at%2 == 1 {
			sig = " " + strings.ToUpper(sig) + "\t"
		}
		res := send(body, sig)
		if res.code != http.StatusOK && res.code != http.StatusBadRequest {
			t.Fatalf("signed delivery answered %d %s, want 200 or 400", res.code, res.body)
		}
		checkStarts(t, res.calls)
		starts := fzCount(res.calls, "StartQualityGate")
		p, err := sonarqube.Parse(body)
		startable := err == nil && p.Gate != nil && (p.Gate.Status == contract.GateOK || p.Gate.Status == contract.GateError)
		switch {
		case startable && (res.code != 200 || starts != 1):
			t.Fatalf("a delivery that parses with gate %q answered %d %s and started %d runs, want 200 and one", p.Gate.Status, res.code, res.body, starts)
		case !startable && starts != 0:
			t.Fatalf("a delivery that does not parse to a gate started %d runs (Parse: %v)", starts, err)
		case starts == 1:
			c := res.calls[len(res.calls)-1]
			if c.gate.Analysis.Key != p.RunKey() || c.gate.Policy.Channel != fzSASTChannel {
				t.Fatalf("started %+v, want the analysis %q in %s", c.gate, p.RunKey(), fzSASTChannel)
			}
			var got struct {
				WorkflowID string `json:"workflowId"`
			}
			if json.Unmarshal(res.body, &got) != nil || got.WorkflowID != c.workflowID {
				t.Fatalf("answer %s does not name the run %s", res.body, c.workflowID)
			}
		}
	})
}

// fzRefusedWebhook: a 401 with a message, and nothing started.
func fzRefusedWebhook(t *testing.T, res fzResult) {
	t.Helper()
	if res.code != http.StatusUnauthorized || len(res.calls) > 0 || fzErrorText(res.body) == "" {
		t.Fatalf("badly signed delivery answered %d %s with %d calls; want a 401", res.code, res.body, len(res.calls))
	}
}
