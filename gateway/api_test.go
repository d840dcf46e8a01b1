package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/runsapi"
)

const (
	apiToken1 = "api-token-one"
	apiToken2 = "api-token-two"
	apiToken3 = "api-token-three"
)

// withAPI turns the runs API on with two tokens, and quality-gate
// approvals on (bob approves both kinds of run).
func withAPI(cfg *config.Config, o *gateway.Options) {
	withSAST(cfg, o)
	// The first decides as bob; the second, bare (the older form), only reads.
	cfg.APITokens = []string{"ci@" + bob + ":" + apiToken1, apiToken2, "ops@" + mallory + ":" + apiToken3}
}

type apiResponse struct {
	code int
	hdr  http.Header
	body []byte
}

// decode decodes the answer into v, or fails.
func (r apiResponse) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d %s: %v", r.code, r.body, err)
	}
}

// errorText is the error of a refusal.
func (r apiResponse) errorText() string {
	var e runsapi.Error
	_ = json.Unmarshal(r.body, &e)
	return e.Error
}

// api calls the runs API with token ("" = no Authorization header).
func (h *harness) api(method, path, token string, body any) apiResponse {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResponse{code: resp.StatusCode, hdr: resp.Header, body: b}
}

// runPath is the API path of run id, escaped as runsapi's client does.
func runPath(id string) string { return runsapi.BasePath + "/" + url.PathEscape(id) }

// getRun reads run id through the API, or fails.
func (h *harness) getRun(id string) runsapi.Run {
	h.t.Helper()
	resp := h.api(http.MethodGet, runPath(id), apiToken1, nil)
	if resp.code != 200 {
		h.t.Fatalf("GET %s = %d %s", id, resp.code, resp.body)
	}
	var r runsapi.Run
	resp.decode(h.t.(*testing.T), &r)
	return r
}

// decide posts a decision on id.
func (h *harness) decide(id, decision, user string) apiResponse {
	h.t.Helper()
	return h.api(http.MethodPost, runPath(id)+"/decision", apiToken1, runsapi.DecisionRequest{Decision: decision, User: user})
}

// sastRun delivers a failed (or passed) analysis and returns its run id.
func (h *harness) sastRun(project, branch, revision, gate string) string {
	h.t.Helper()
	resp, got := h.sonarSigned(sonarPayload(project, branch, revision, gate))
	if resp.code != 200 {
		h.t.Fatalf("webhook: %d %s", resp.code, resp.body)
	}
	return fmt.Sprint(got["workflowId"])
}

// awaitStep waits until run id answers its status query with step.
func (h *harness) awaitStep(id, step string) runsapi.Run {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.getRun(id)
		if r.Step == step || time.Now().After(deadline) {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The API takes any of API_TOKENS as a bearer token and nothing else;
// with none configured it is off. Refusals say why, carry
// WWW-Authenticate, and are logged and counted without the token.
func TestRunsAPIAuth(t *testing.T) {
	h := newHarness(t, temporalClient(t), withAPI)
	ghost := runPath("sast-" + uniq("ghost"))
	for name, tc := range map[string]struct {
		header string
		want   string
	}{
		"no header":     {"", "missing bearer token"},
		"basic":         {"Basic " + apiToken1, "missing bearer token"},
		"empty bearer":  {"Bearer ", "missing bearer token"},
		"wrong token":   {"Bearer nope", "wrong bearer token"},
		"token prefix":  {"Bearer " + apiToken1[:5], "wrong bearer token"},
		"token + extra": {"Bearer " + apiToken1 + "x", "wrong bearer token"},
	} {
		req, _ := http.NewRequest(http.MethodGet, h.url+ghost, nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s (WWW-Authenticate %q), want 401 %q", name, resp.StatusCode, b, resp.Header.Get("WWW-Authenticate"), tc.want)
		}
	}
	for i, tok := range []string{apiToken1, apiToken2} {
		if resp := h.api(http.MethodGet, ghost, tok, nil); resp.code != http.StatusNotFound {
			t.Errorf("token %d: %d %s, want 404 (authenticated)", i, resp.code, resp.body)
		}
	}
	if got := h.counter("deploybot_gateway_api_refusals_total"); got != 6 {
		t.Errorf("api_refusals_total = %v, want 6", got)
	}
	if strings.Contains(h.logs.String(), apiToken1) || len(logLines(h.logs, "runs API request refused", "reason=wrong")) != 3 {
		t.Errorf("refusal logs (must not hold the token):\n%s", h.logs)
	}

	off := newHarness(t, temporalClient(t), withSAST)
	resp := off.api(http.MethodGet, runsapi.BasePath, "anything", nil)
	if resp.code != http.StatusUnauthorized || resp.errorText() != "the runs API is off: set API_TOKENS to one or more bearer tokens" {
		t.Errorf("no tokens: %d %s", resp.code, resp.body)
	}
}

// Only deploy and quality-gate runs are served.
func TestRunsAPIServesOnlyDeployAndSASTRuns(t *testing.T) {
	h := newHarness(t, temporalClient(t), withAPI)
	h.startRunsWorker()
	m, _ := h.mention(alice, "status "+uniq("app"))
	cmdID := contract.CommandWorkflowID("status", m.eventID)
	h.result(cmdID, nil)
	for _, id := range []string{cmdID, "deploy-" + uniq("never"), "no-such-run"} {
		if resp := h.api(http.MethodGet, runPath(id), apiToken2, nil); resp.code != http.StatusNotFound || resp.errorText() == "" {
			t.Errorf("GET %s = %d %s, want 404", id, resp.code, resp.body)
		}
		if resp := h.decide(id, "approve", bob); resp.code != http.StatusNotFound {
			t.Errorf("decide %s = %d %s, want 404", id, resp.code, resp.body)
		}
	}
	if resp := h.api(http.MethodGet, runsapi.BasePath+"/a/b/c", apiToken1, nil); resp.code != http.StatusNotFound || resp.errorText() == "" {
		t.Errorf("unknown route = %d %s, want a JSON 404", resp.code, resp.body)
	}
}

// A deploy run reads as waiting with what it waits for, is decided through
// the API on behalf of bob, and then reads as done with its result.
func TestRunsAPIDeployRunLifecycle(t *testing.T) {
	h := newHarness(t, temporalClient(t), withAPI)
	h.startRunsWorker()
	app := uniq("api")
	id := contract.DeployWorkflowID(app)
	h.mention(alice, "sync "+app)
	r := h.awaitStep(id, string(contract.StepAwaitingApproval))
	if r.Type != runsapi.TypeDeploy || r.State != runsapi.StateWaiting || r.Status != "running" || r.App != app || r.Action != "sync" ||
		r.RequestedBy == nil || r.RequestedBy.ID != alice || r.ExpiresAt.IsZero() || r.RunID == "" || r.StartedAt.IsZero() ||
		r.URL != contract.RunURL(testUIURL, "default", id, r.RunID) || r.DecidedBy != nil || r.Outcome != "" {
		t.Errorf("waiting run = %+v", r)
	}

	resp := h.decide(id, "approve", bob)
	var dr runsapi.DecisionResponse
	resp.decode(t, &dr)
	if resp.code != 200 || dr.Outcome != string(contract.OutcomeApproved) || dr.Run.ID != id || dr.Run.RunID != r.RunID {
		t.Errorf("decision = %d %s", resp.code, resp.body)
	}
	var res contract.DeployResult
	h.result(id, &res)
	if res.DecidedBy == nil || *res.DecidedBy != (contract.User{ID: bob, Via: "token ci"}) {
		t.Errorf("the run was decided by %+v, want bob via token ci", res.DecidedBy)
	}
	r = h.getRun(id)
	if r.State != runsapi.StateDone || r.Status != "completed" || r.Outcome != "succeeded" || r.DecidedBy == nil || r.DecidedBy.ID != bob ||
		r.ClosedAt.IsZero() || r.App != app || !strings.Contains(r.Message, "Healthy") {
		t.Errorf("completed run = %+v", r)
	}
	if got := h.counter("deploybot_gateway_api_decisions_total", "result", "decided"); got != 1 {
		t.Errorf("api_decisions{decided} = %v", got)
	}
	if len(logLines(h.logs, "audit: API decision", "token=ci", "user="+bob, "result=decided", "workflowId="+id)) != 1 {
		t.Errorf("no audit line for the decision:\n%s", h.logs)
	}
}

// A quality-gate run's decision is refused for a non-approver (403), a bad
// request (400) and a run no longer waiting (409); bob's is taken.
func TestRunsAPISASTDecisions(t *testing.T) {
	h := newHarness(t, temporalClient(t), withAPI)
	h.startRunsWorker()
	project := uniq("proj")
	id := h.sastRun(project, "main", "c0ffee", contract.GateError)
	r := h.awaitStep(id, string(contract.SASTStepAwaitingDecision))
	if r.Type != runsapi.TypeSAST || r.State != runsapi.StateWaiting || r.Project != project || r.Branch != "main" || r.Revision != "c0ffee" || r.ExpiresAt.IsZero() {
		t.Errorf("waiting run = %+v", r)
	}
	for _, tc := range []struct {
		decision, user string
		code           int
		want           string
	}{
		// A token decides as the user it is bound to, never as whoever the
		// body names (Step 7, defect 11).
		{"accept", mallory, http.StatusForbidden, "token ci decides as " + bob + " only, not as " + mallory},
		{"maybe", bob, http.StatusBadRequest, `decision "maybe" is not one of approve, accept, reject`},
		{"accept", "bob", http.StatusBadRequest, "is not a Slack user id"},
	} {
		resp := h.decide(id, tc.decision, tc.user)
		if resp.code != tc.code || !strings.Contains(resp.errorText(), tc.want) {
			t.Errorf("%s by %q: %d %s, want %d %q", tc.decision, tc.user, resp.code, resp.body, tc.code, tc.want)
		}
	}
	// A token without a user only reads; one bound to a non-approver is
	// refused by the run's own rules.
	for tok, want := range map[string]string{apiToken2: "token #2 may read runs but not decide", apiToken3: "You are not a security approver"} {
		resp := h.api(http.MethodPost, runPath(id)+"/decision", tok, runsapi.DecisionRequest{Decision: "accept"})
		if resp.code != http.StatusForbidden || !strings.Contains(resp.errorText(), want) {
			t.Errorf("decision with token %s: %d %s, want 403 %q", tok, resp.code, resp.body, want)
		}
	}
	resp := h.api(http.MethodPost, runPath(id)+"/decision", apiToken1, "not an object")
	if resp.code != http.StatusBadRequest || !strings.Contains(resp.errorText(), "must be JSON like") {
		t.Errorf("bad body: %d %s", resp.code, resp.body)
	}

	// The user is optional, and a display name cannot carry a line break
	// into Slack or the email.
	resp = h.api(http.MethodPost, runPath(id)+"/decision", apiToken1, runsapi.DecisionRequest{Decision: "ACCEPT", UserName: "bob\r\nBcc: evil@example.com"})
	var dr runsapi.DecisionResponse
	resp.decode(t, &dr)
	if resp.code != 200 || dr.Outcome != "accepted" || dr.Run.ID != id {
		t.Errorf("bob accepts: %d %s", resp.code, resp.body)
	}
	var res contract.QualityGateResult
	h.result(id, &res)
	if res.DecidedBy == nil || *res.DecidedBy != (contract.User{ID: bob, Name: "bob Bcc: evil@example.com", Via: "token ci"}) {
		t.Errorf("decided by %+v, want bob via token ci with the line break gone", res.DecidedBy)
	}
	resp = h.decide(id, "reject", bob)
	if resp.code != http.StatusConflict || !strings.Contains(resp.errorText(), "no longer waiting") || !strings.Contains(resp.errorText(), "accepted") {
		t.Errorf("decision on a closed run: %d %s", resp.code, resp.body)
	}
	r = h.getRun(id)
	if r.State != runsapi.StateDone || r.Outcome != "accepted" || r.DecidedBy == nil || r.DecidedBy.ID != bob || r.Project != project {
		t.Errorf("accepted run = %+v", r)
	}
	for result, want := range map[string]float64{"decided": 1, "refused": 3, "bad_request": 3, "not_waiting": 1} {
		if got := h.counter("deploybot_gateway_api_decisions_total", "result", result); got != want {
			t.Errorf("api_decisions{%s} = %v, want %v", result, got, want)
		}
	}
}

// Without a worker a run cannot answer: GET still answers from what
// Temporal knows (the search attributes set at start) and says so, and a
// decision times out with a hint.
func TestRunsAPIWithoutWorker(t *testing.T) {
	short := func(_ *config.Config, o *gateway.Options) { o.DecisionTimeout = time.Second }
	h := newHarness(t, temporalClient(t), withAPI, short)
	project := uniq("proj")
	id := h.sastRun(project, "main", "beef", contract.GateError)
	r := h.getRun(id)
	if r.State != runsapi.StateRunning || r.Status != "running" || r.Project != project || r.Branch != "main" || r.Revision != "beef" ||
		!strings.Contains(r.Message, "worker did not answer") {
		t.Errorf("run without a worker = %+v", r)
	}
	start := time.Now()
	resp := h.decide(id, "accept", bob)
	if resp.code != http.StatusGatewayTimeout || !strings.Contains(resp.errorText(), "no worker answered within 1s: is `deploybot worker` running?") {
		t.Errorf("decision without a worker: %d %s", resp.code, resp.body)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("decision answered after %v", took)
	}
}

// The list filters on type, project, branch, revision and app, newest
// first, limited; values that could break out of the query are refused.
func TestRunsAPIList(t *testing.T) {
	h := newHarness(t, temporalClient(t), withAPI)
	h.startRunsWorker()
	project := uniq("proj")
	older := h.sastRun(project, "main", "rev1", contract.GateError)
	time.Sleep(20 * time.Millisecond)
	newer := h.sastRun(project, "feature/y", "rev2", contract.GateOK)
	h.result(newer, nil)
	app := uniq("listed")
	h.mention(alice, "sync "+app)
	deployID := contract.DeployWorkflowID(app)

	list := func(query string, want int) []runsapi.Run {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp := h.api(http.MethodGet, runsapi.BasePath+"?"+query, apiToken1, nil)
			var l runsapi.RunList
			resp.decode(t, &l)
			if resp.code != 200 {
				t.Fatalf("list %s: %d %s", query, resp.code, resp.body)
			}
			// Visibility catches up with a run's latest state a moment later.
			if len(l.Runs) == want || time.Now().After(deadline) {
				return l.Runs
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ids := func(runs []runsapi.Run) []string {
		var out []string
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return out
	}
	both := list("type=sast&project="+project, 2)
	if got := ids(both); len(got) != 2 || got[0] != newer || got[1] != older {
		t.Fatalf("sast runs of %s = %v, want [%s %s] (newest first)", project, got, newer, older)
	}
	if both[1].State != runsapi.StateWaiting || both[1].Step != string(contract.SASTStepAwaitingDecision) || both[1].Branch != "main" {
		t.Errorf("waiting item = %+v", both[1])
	}
	for query, want := range map[string][]string{
		"project=" + project + "&branch=main":      {older},
		"project=" + project + "&branch=feature/y": {newer},
		"project=" + project + "&revision=rev2":    {newer},
		"project=" + project + "&limit=1":          {newer},
		"project=" + project + "&type=deploy":      nil,
		"app=" + app:                               {deployID},
		"type=deploy&app=" + app:                   {deployID},
	} {
		if got := ids(list(query, len(want))); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", query, got, want)
		}
	}
	done := list("project="+project+"&revision=rev2", 1)[0]
	if done.State != runsapi.StateDone || done.Status != "completed" || done.Outcome != "passed" || done.ClosedAt.IsZero() {
		t.Errorf("done item = %+v", done)
	}
	for _, q := range []string{"type=cron", "project=a'b", `app=a\b`, `branch=a"b`, "limit=0", "limit=101", "limit=x", "revision=a%0Ab"} {
		if resp := h.api(http.MethodGet, runsapi.BasePath+"?"+q, apiToken1, nil); resp.code != http.StatusBadRequest || resp.errorText() == "" {
			t.Errorf("%s: %d %s, want 400", q, resp.code, resp.body)
		}
	}
	if resp := h.api(http.MethodGet, runsapi.BasePath+"?project="+uniq("none"), apiToken1, nil); resp.code != 200 || !strings.Contains(string(resp.body), `"runs":[]`) {
		t.Errorf("empty list: %d %s", resp.code, resp.body)
	}
}

// decidingStarter answers every decide update with err, and describes
// every run as a running quality-gate run, or with describeErr once the
// update has been sent.
type decidingStarter struct {
	gateway.Starter
	err         error
	describeErr error
	decided     bool
}

func (s *decidingStarter) DescribeRun(_ context.Context, id, _ string) (gateway.RunInfo, error) {
	if s.decided && s.describeErr != nil {
		return gateway.RunInfo{}, s.describeErr
	}
	return gateway.RunInfo{Run: gateway.Run{WorkflowID: id, RunID: "r1"}, Type: contract.WorkflowQualityGate, Running: !s.decided, Status: map[bool]string{true: "completed", false: "running"}[s.decided], Outcome: map[bool]string{true: "accepted"}[s.decided]}, nil
}

func (s *decidingStarter) Decide(context.Context, string, string, contract.Decision) (contract.DecisionResult, error) {
	s.decided = true
	return contract.DecisionResult{}, s.err
}

// Every way a decide update can fail maps to its status code.
func TestRunsAPIDecisionErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		describeErr error
		code        int
		want        string
	}{
		{"not allowed", temporal.NewApplicationError("mallory is not an approver", contract.DecisionNotAllowedErrorType), nil, 403, "mallory is not an approver"},
		{"not waiting", temporal.NewApplicationError("already decided", contract.DecisionNotWaitingErrorType), nil, 409, "already decided"},
		{"invalid", temporal.NewApplicationError("no user", contract.DecisionInvalidErrorType), nil, 400, "no user"},
		{"closed meanwhile", fmt.Errorf("%w: workflow execution already completed", gateway.ErrNotFound), nil, 409, "it ended accepted"},
		{"gone", fmt.Errorf("%w: not found", gateway.ErrNotFound), gateway.ErrNotFound, 404, "no run with id"},
		{"no worker", client.NewWorkflowUpdateServiceTimeoutOrCanceledError(context.DeadlineExceeded), nil, 504, "no worker answered within 5s"},
		{"temporal down", client.NewWorkflowUpdateServiceTimeoutOrCanceledError(serviceerror.NewUnavailable("connection refused")), nil, 503, "unreachable"},
		{"other failure", temporal.NewApplicationError("unknown update decide", "Boom"), nil, 500, "could not take the decision: unknown update decide"},
		{"refused", errors.New("namespace not found"), nil, 500, "Temporal refused the decision"},
	} {
		st := &decidingStarter{err: tc.err, describeErr: tc.describeErr}
		h := newHarness(t, downTemporalClient(t), withAPI, withStarter(st))
		resp := h.decide("sast-p~branch-main~task-T1", "accept", bob)
		if resp.code != tc.code || !strings.Contains(resp.errorText(), tc.want) {
			t.Errorf("%s: %d %s, want %d %q", tc.name, resp.code, resp.body, tc.code, tc.want)
		}
		if len(logLines(h.logs, "audit: API decision", fmt.Sprintf("code=%d", tc.code), "user="+bob, "token=ci")) != 1 {
			t.Errorf("%s: no audit line:\n%s", tc.name, h.logs)
		}
	}
}

// With Temporal unreachable the API says so (503) rather than "not found".
func TestRunsAPITemporalDown(t *testing.T) {
	h := newHarness(t, downTemporalClient(t), withAPI)
	for _, resp := range []apiResponse{
		h.api(http.MethodGet, runPath("sast-p~branch-main~task-T1"), apiToken1, nil),
		h.api(http.MethodGet, runsapi.BasePath+"?type=sast", apiToken1, nil),
		h.decide("sast-p~branch-main~task-T1", "accept", bob),
	} {
		if resp.code != http.StatusServiceUnavailable || !strings.Contains(resp.errorText(), "unreachable") {
			t.Errorf("%d %s, want 503", resp.code, resp.body)
		}
	}
}

// TestRunsAPIBadIDsAndBodies (Step 7, defect 12): a run id with control
// characters is the caller's mistake (400 naming it), never Temporal's
// internal text in a 500; a decision body over the cap is 413, not 400.
func TestRunsAPIBadIDsAndBodies(t *testing.T) {
	h := newHarness(t, temporalClient(t), withAPI)
	for _, id := range []string{"\x00", "deploy-guest\nbook", strings.Repeat("x", 1001)} {
		resp := h.api(http.MethodGet, runPath(id), apiToken1, nil)
		if resp.code != http.StatusBadRequest || !strings.Contains(resp.errorText(), "run id") {
			t.Errorf("GET %q = %d %s, want 400 about the run id", id, resp.code, resp.body)
		}
		if resp := h.decide(id, "approve", bob); resp.code != http.StatusBadRequest {
			t.Errorf("decide %q = %d %s, want 400", id, resp.code, resp.body)
		}
	}
	if resp := h.api(http.MethodGet, runPath("deploy-x")+"?runId=%00", apiToken1, nil); resp.code != http.StatusBadRequest || !strings.Contains(resp.errorText(), "runId") {
		t.Errorf("runId with a NUL = %d %s, want 400 about runId", resp.code, resp.body)
	}
	big := map[string]string{"decision": "approve", "user": bob, "userName": strings.Repeat("b", gateway.MaxBodyBytes)}
	if resp := h.api(http.MethodPost, runPath("deploy-x")+"/decision", apiToken1, big); resp.code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized decision = %d %s, want 413", resp.code, resp.body)
	}
}
