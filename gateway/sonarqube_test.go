package gateway_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/sonarqube"
	"github.com/deploybot/deploybot/internal/testenv"
)

const (
	sonarSecret = "sonar-webhook-secret-for-tests"
	sastChannel = "C0SECURITY"
)

// recordingStarter records the quality-gate runs it is asked to start and,
// like Temporal with REJECT_DUPLICATE, refuses an id it has seen.
type recordingStarter struct {
	gateway.Starter
	mu      sync.Mutex
	started map[string]contract.QualityGateInput
	calls   int
	err     error // if set, every start fails with it
}

func (r *recordingStarter) StartQualityGate(_ context.Context, in contract.QualityGateInput) (gateway.Run, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.err != nil {
		return gateway.Run{}, r.err
	}
	id := contract.SASTWorkflowID(in.Analysis.Key)
	if _, ok := r.started[id]; ok {
		return gateway.Run{}, &gateway.AlreadyStartedError{Run: gateway.Run{WorkflowID: id, RunID: "run-1"}}
	}
	if r.started == nil {
		r.started = map[string]contract.QualityGateInput{}
	}
	r.started[id] = in
	return gateway.Run{WorkflowID: id, RunID: fmt.Sprintf("run-%d", len(r.started))}, nil
}

// withSAST turns quality-gate approvals on with a webhook secret.
func withSAST(cfg *config.Config, _ *gateway.Options) {
	cfg.SonarQubeWebhookSecret = sonarSecret
	cfg.SASTChannel = sastChannel
	cfg.SASTApprovers = []string{bob}
	cfg.SASTApprovalTimeout = 24 * time.Hour
	cfg.SASTEmailTo = []string{"security@example.com"}
}

func withStarter(st gateway.Starter) harnessOpt {
	return func(_ *config.Config, o *gateway.Options) { o.Starter = st }
}

// sonarSign is SonarQube's signature, computed here independently of the
// gateway's and the sonarqube package's code.
func sonarSign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// sonar delivers body as SonarQube does, with signature sig ("" = none).
func (h *harness) sonar(body []byte, sig string) (response, map[string]any) {
	h.t.Helper()
	hdr := http.Header{"X-Sonarqube-Project": {"some-project"}}
	if sig != "" {
		hdr.Set(sonarqube.SignatureHeader, sig)
	}
	resp := h.post(gateway.SonarQubePath, "application/json", body, hdr)
	var m map[string]any
	_ = json.Unmarshal([]byte(resp.body), &m)
	return resp, m
}

// sonarSigned delivers body signed with the test secret.
func (h *harness) sonarSigned(body []byte) (response, map[string]any) {
	h.t.Helper()
	return h.sonar(body, sonarSign(sonarSecret, body))
}

func sonarTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "internal", "sonarqube", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sonarPayload is a fresh analysis of project's branch at revision with
// the quality gate status gate (OK or ERROR).
func sonarPayload(project, branch, revision, gate string) []byte {
	cond := map[string]any{"metric": "new_security_rating", "operator": "GREATER_THAN", "value": "1", "status": "OK", "errorThreshold": "1"}
	if gate == contract.GateError {
		cond["value"], cond["status"] = "3", "ERROR"
	}
	b, _ := json.Marshal(map[string]any{
		"serverUrl": "https://sonarqube.example.com", "taskId": uniq("AYtask"), "status": "SUCCESS",
		"analysedAt": time.Now().Format(sonarqube.TimeLayout), "revision": revision,
		"project":     map[string]any{"key": project, "name": project, "url": "https://sonarqube.example.com/dashboard?id=" + project},
		"branch":      map[string]any{"name": branch, "type": "BRANCH", "isMain": branch == "main"},
		"qualityGate": map[string]any{"name": "Sonar way", "status": gate, "conditions": []any{cond}},
	})
	return b
}

// Every form SonarQube sends (with and without taskId, branch and pull
// request, gate OK and ERROR) starts one run under the analysis' id with
// the analysis and SAST policy as input; a redelivery starts nothing.
func TestSonarQubeWebhookStartsOneRunPerAnalysis(t *testing.T) {
	rec := &recordingStarter{}
	h := newHarness(t, downTemporalClient(t), withSAST, withStarter(rec))
	for _, tc := range []struct {
		file, id, branchAttr, gate string
	}{
		{"branch_error.json", "sast-deploybot:payments-api~branch-release%2F2024.03~task-AYx1XdE2Fq0bOqu1Xy9A", "release/2024.03", "ERROR"},
		{"doc_task_ok.json", "sast-myproject~default~task-AVh21JS2JepAEhwQ-b3u", "", "OK"},
		{"issue_change_error_no_task.json", "sast-deploybot:payments-api~branch-main~rev-9f2c1b7e5a3d4c6b8a0e1f2d3c4b5a6978675645@20240305T140211Z~chg-20240305T164002.000Z-error", "main", "ERROR"},
		{"pull_request_ok.json", "sast-deploybot:payments-api~pr-482~task-AYx2PrQ7Fq0bOqu1Xz3B", "pr-482", "OK"},
	} {
		body := sonarTestdata(t, tc.file)
		resp, got := h.sonarSigned(body)
		if resp.code != 200 || got["workflowId"] != tc.id || got["runId"] == "" || !strings.HasPrefix(fmt.Sprint(got["url"]), testUIURL+"/namespaces/default/workflows/") {
			t.Errorf("%s: %d %s, want 200 with workflowId %s", tc.file, resp.code, resp.body, tc.id)
			continue
		}
		in, ok := rec.started[tc.id]
		if !ok {
			t.Errorf("%s: no run started under %s (started: %v)", tc.file, tc.id, rec.started)
			continue
		}
		p, _ := sonarqube.Parse(body)
		want := contract.QualityGateInput{Analysis: p.Analysis(), Policy: contract.SASTPolicy{
			Channel: sastChannel, Approvers: []string{bob}, ApprovalTimeout: 24 * time.Hour,
			EmailTo: []string{"security@example.com"}, TemporalUIURL: testUIURL, Namespace: "default",
		}}
		rule := contract.DefaultGateRule(want.Policy)
		want.Rule = &rule
		if a, b := mustJSON(t, in), mustJSON(t, want); a != b {
			t.Errorf("%s: input\n%s\nwant\n%s", tc.file, a, b)
		}
		if in.Analysis.GateStatus != tc.gate || contract.SASTBranchAttr(in.Analysis) != tc.branchAttr {
			t.Errorf("%s: gate %q branch %q", tc.file, in.Analysis.GateStatus, contract.SASTBranchAttr(in.Analysis))
		}
	}
	// SonarQube delivers the same analysis again (a manual redelivery).
	resp, got := h.sonarSigned(sonarTestdata(t, "branch_error.json"))
	if resp.code != 200 || got["duplicate"] != true || got["workflowId"] != "sast-deploybot:payments-api~branch-release%2F2024.03~task-AYx1XdE2Fq0bOqu1Xy9A" {
		t.Errorf("redelivery: %d %s", resp.code, resp.body)
	}
	if len(rec.started) != 4 || rec.calls != 5 {
		t.Errorf("started %d runs in %d calls, want 4 in 5", len(rec.started), rec.calls)
	}
	for outcome, want := range map[string]float64{"started": 4, "duplicate": 1} {
		if got := h.counter("deploybot_gateway_sonarqube_webhooks_total", "outcome", outcome); got != want {
			t.Errorf("webhooks{%s} = %v, want %v", outcome, got, want)
		}
	}
	if got := h.counter("deploybot_gateway_workflows_started_total", "workflow", contract.WorkflowQualityGate); got != 4 {
		t.Errorf("workflows_started{QualityGateWorkflow} = %v, want 4", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// With a secret, only deliveries signed with it get through; the library's
// reason is the answer, and each refusal is logged and counted.
func TestSonarQubeWebhookSignature(t *testing.T) {
	rec := &recordingStarter{}
	h := newHarness(t, downTemporalClient(t), withSAST, withStarter(rec))
	body := sonarPayload(uniq("proj"), "main", "abc123", contract.GateError)
	for _, tc := range []struct {
		name, sig, want string
	}{
		{"missing", "", "missing X-Sonar-Webhook-HMAC-SHA256 header"},
		{"malformed", "not-hex", "malformed X-Sonar-Webhook-HMAC-SHA256 header"},
		{"wrong secret", sonarSign("another-secret", body), "wrong X-Sonar-Webhook-HMAC-SHA256 signature"},
		{"altered body", sonarSign(sonarSecret, append([]byte(" "), body...)), "wrong X-Sonar-Webhook-HMAC-SHA256 signature"},
	} {
		resp, got := h.sonar(body, tc.sig)
		if resp.code != http.StatusUnauthorized || !strings.HasPrefix(fmt.Sprint(got["error"]), tc.want) {
			t.Errorf("%s: %d %s, want 401 %q", tc.name, resp.code, resp.body, tc.want)
		}
	}
	if rec.calls != 0 {
		t.Fatalf("unsigned deliveries started %d runs", rec.calls)
	}
	if resp, _ := h.sonarSigned(body); resp.code != 200 || rec.calls != 1 {
		t.Errorf("signed: %d %s, calls %d", resp.code, resp.body, rec.calls)
	}
	if got := h.counter("deploybot_gateway_sonarqube_webhooks_total", "outcome", "bad_signature"); got != 4 {
		t.Errorf("webhooks{bad_signature} = %v, want 4", got)
	}
	if n := len(logLines(h.logs, "SonarQube webhook refused", "level=WARN")); n != 4 {
		t.Errorf("%d refusal log lines, want 4:\n%s", n, h.logs)
	}
}

// Without a secret every delivery is refused, unless unsigned ones are
// explicitly allowed, which the gateway warns about once, at start.
func TestSonarQubeWebhookWithoutSecret(t *testing.T) {
	noSecret := func(cfg *config.Config, _ *gateway.Options) { cfg.SonarQubeWebhookSecret = "" }
	body := sonarPayload(uniq("proj"), "main", "abc123", contract.GateError)

	rec := &recordingStarter{}
	h := newHarness(t, downTemporalClient(t), withSAST, noSecret, withStarter(rec))
	resp, got := h.sonar(body, sonarSign(sonarSecret, body))
	if resp.code != http.StatusServiceUnavailable || !strings.HasPrefix(fmt.Sprint(got["error"]), "SonarQube webhooks are refused: SONARQUBE_WEBHOOK_SECRET is not set") || rec.calls != 0 {
		t.Errorf("no secret: %d %s, calls %d", resp.code, resp.body, rec.calls)
	}
	if got := h.counter("deploybot_gateway_sonarqube_webhooks_total", "outcome", "unsigned_refused"); got != 1 {
		t.Errorf("webhooks{unsigned_refused} = %v", got)
	}

	rec = &recordingStarter{}
	allow := func(cfg *config.Config, _ *gateway.Options) { cfg.SonarQubeAllowUnsigned = true }
	h = newHarness(t, downTemporalClient(t), withSAST, noSecret, allow, withStarter(rec))
	if resp, _ := h.sonar(body, ""); resp.code != 200 || rec.calls != 1 {
		t.Errorf("unsigned allowed: %d %s, calls %d", resp.code, resp.body, rec.calls)
	}
	if n := len(logLines(h.logs, "level=WARN", "SONARQUBE WEBHOOKS ARE NOT AUTHENTICATED")); n != 1 {
		t.Errorf("%d startup warnings about unsigned webhooks, want 1:\n%s", n, h.logs)
	}
}

// Without SAST_CHANNEL there is nowhere to post a failed gate: the
// delivery is refused, saying what to set.
func TestSonarQubeWebhookWithoutSASTChannel(t *testing.T) {
	rec := &recordingStarter{}
	noChannel := func(cfg *config.Config, _ *gateway.Options) { cfg.SASTChannel = "" }
	h := newHarness(t, downTemporalClient(t), withSAST, noChannel, withStarter(rec))
	resp, got := h.sonarSigned(sonarPayload(uniq("proj"), "main", "abc123", contract.GateError))
	if resp.code != http.StatusServiceUnavailable || !strings.HasPrefix(fmt.Sprint(got["error"]), "quality-gate approvals are off: set SAST_CHANNEL") || rec.calls != 0 {
		t.Errorf("%d %s, calls %d", resp.code, resp.body, rec.calls)
	}
}

// Deliveries that cannot start a run are refused with the reason; one
// without a quality gate (the analysis task failed) is acknowledged and
// ignored.
func TestSonarQubeWebhookRefusesBadDeliveries(t *testing.T) {
	rec := &recordingStarter{}
	h := newHarness(t, downTemporalClient(t), withSAST, withStarter(rec))
	big := []byte(`{"serverUrl":"` + strings.Repeat("x", gateway.MaxBodyBytes) + `"}`)
	if resp, _ := h.sonarSigned(big); resp.code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: %d %s", resp.code, resp.body)
	}
	for name, tc := range map[string]struct {
		body string
		want string
	}{
		"not JSON":      {`{"project":`, "body is not valid JSON"},
		"no project":    {`{"taskId":"T1","status":"SUCCESS","qualityGate":{"status":"ERROR"}}`, "project.key is missing"},
		"bad timestamp": {`{"analysedAt":"yesterday","project":{"key":"p"}}`, "analysedAt"},
		"unknown gate":  {`{"taskId":"T1","project":{"key":"p"},"qualityGate":{"status":"WARN"}}`, `quality gate status "WARN"`},
	} {
		resp, got := h.sonarSigned([]byte(tc.body))
		if resp.code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(got["error"]), tc.want) {
			t.Errorf("%s: %d %s, want 400 %q", name, resp.code, resp.body, tc.want)
		}
	}
	failed := `{"serverUrl":"https://sq","taskId":"AYfailed","status":"FAILED","analysedAt":"2024-03-05T14:02:11+0000","project":{"key":"p"}}`
	resp, got := h.sonarSigned([]byte(failed))
	if resp.code != 200 || !strings.Contains(fmt.Sprint(got["ignored"]), "FAILED") {
		t.Errorf("task FAILED: %d %s", resp.code, resp.body)
	}
	if rec.calls != 0 {
		t.Errorf("bad deliveries started %d runs", rec.calls)
	}
	for outcome, want := range map[string]float64{"too_large": 1, "bad_request": 4, "ignored": 1} {
		if got := h.counter("deploybot_gateway_sonarqube_webhooks_total", "outcome", outcome); got != want {
			t.Errorf("webhooks{%s} = %v, want %v", outcome, got, want)
		}
	}
}

// SonarQube never retries, so a delivery Temporal could not take is
// answered 503 and logged at Error level with what identifies the
// analysis; a Temporal that refuses is a 500, logged the same way.
func TestSonarQubeWebhookTemporalDown(t *testing.T) {
	short := func(_ *config.Config, o *gateway.Options) { o.WebhookTimeout = time.Second }
	h := newHarness(t, downTemporalClient(t), withSAST, short)
	project := uniq("lost")
	start := time.Now()
	resp, got := h.sonarSigned(sonarPayload(project, "main", "deadbeef", contract.GateError))
	if resp.code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(got["error"]), "unreachable") {
		t.Errorf("%d %s", resp.code, resp.body)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("answered after %v: the webhook deadline did not hold", took)
	}
	lost := logLines(h.logs, "level=ERROR", "LOST", "project="+project, "branch=main", "revision=deadbeef", "analysisKey="+project+"~branch-main~task-")
	if len(lost) != 1 {
		t.Errorf("no Error line naming the lost analysis:\n%s", h.logs)
	}

	rec := &recordingStarter{err: serviceerror.NewInvalidArgument("search attribute SastProject is not defined")}
	h = newHarness(t, downTemporalClient(t), withSAST, withStarter(rec))
	resp, got = h.sonarSigned(sonarPayload(project, "main", "deadbeef", contract.GateError))
	if resp.code != http.StatusInternalServerError || !strings.Contains(fmt.Sprint(got["error"]), "SastProject is not defined") {
		t.Errorf("refused: %d %s", resp.code, resp.body)
	}
	if len(logLines(h.logs, "level=ERROR", "LOST", "project="+project)) != 1 {
		t.Errorf("no Error line for the refused start:\n%s", h.logs)
	}
}

// Against a real Temporal: the run carries its search attributes from the
// start (so the runs API finds it at once), and an analysis whose run has
// ended is not started again (REJECT_DUPLICATE).
func TestTemporalStarterStartQualityGate(t *testing.T) {
	h := newHarness(t, temporalClient(t), withSAST)
	h.startRunsWorker()
	project := uniq("proj")
	body := sonarPayload(project, "feature/x", "0a1b2c", contract.GateOK)
	resp, got := h.sonarSigned(body)
	id := fmt.Sprint(got["workflowId"])
	if resp.code != 200 || !strings.HasPrefix(id, "sast-"+project+"~branch-feature%2Fx~task-") {
		t.Fatalf("%d %s", resp.code, resp.body)
	}
	var res contract.QualityGateResult
	h.result(id, &res)
	if res.Outcome != contract.OutcomePassed {
		t.Errorf("result %+v", res)
	}
	info := h.describe(id)
	for k, want := range map[string]string{"SastProject": project, "SastBranch": "feature/x", "SastRevision": "0a1b2c", "SastOutcome": "passed"} {
		if info.Attrs[k] != want {
			t.Errorf("search attribute %s = %q, want %q (all: %v)", k, info.Attrs[k], want, info.Attrs)
		}
	}
	if info.Type != contract.WorkflowQualityGate || info.Running || info.Outcome != "passed" {
		t.Errorf("described %+v", info)
	}
	resp, got = h.sonarSigned(body)
	if resp.code != 200 || got["duplicate"] != true || got["workflowId"] != id {
		t.Errorf("redelivery after the run ended: %d %s", resp.code, resp.body)
	}
	if n := h.runs(id); n != 1 {
		t.Errorf("%d runs of %s, want 1", n, id)
	}
}
