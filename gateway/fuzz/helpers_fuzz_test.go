// Package fuzz holds the gateway's fuzz targets. They live apart from the
// gateway's own tests so that their test binary links the gateway alone,
// not the workflows and Argo CD client those tests use: a fuzz build
// instruments every linked package, and that binary is a fifth the size,
// far quicker to build and to start.
package fuzz

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/contract"
)

// The fuzz targets run the gateway in-process (httptest, no listener)
// against fakes of Temporal and Slack, so they need no server and no
// network.

const (
	fzSecret      = "fuzz-signing-secret"
	fzSonarSecret = "fuzz-sonar-secret"
	fzChannel     = "C0FUZZ"
	fzSASTChannel = "C0FUZZSEC"
	fzAlice       = "U0ALICE"
	fzBob         = "U0BOB"
	// Runs API tokens: fzDecider decides as fzBob, fzReader only reads.
	fzDecider = "fuzz-token-decides"
	fzReader  = "fuzz-token-reads"
	fzRunID   = "0195f3c4-7d1e-7a0b-9c2d-3e4f5a6b7c8d"
)

// fzTemporal satisfies client.Client for gateway.New; every call through it
// panics (nil embedded interface), so a handler that bypassed the Starter
// shows up as a 500.
type fzTemporal struct{ client.Client }

// fzCall is one call the gateway made to the fake Starter.
type fzCall struct {
	method     string
	workflowID string
	runID      string
	requestID  string
	deploy     *contract.DeployInput
	command    *contract.CommandInput
	gate       *contract.QualityGateInput
	decision   *contract.Decision
	query      string
}

// fzStarter is a Temporal that answers everything at once: every run
// exists and is running, every start and decision succeeds. Like the real
// client it encodes inputs with Temporal's data converter and refuses
// what gRPC would refuse (invalid UTF-8 in a string field of the
// request: ids, types, queries), so a value the gateway lets through but
// Temporal cannot take is caught here.
type fzStarter struct {
	mu    sync.Mutex
	calls []fzCall
	// bad records what reached "Temporal" that Temporal would refuse.
	bad []string
}

var _ gateway.Starter = (*fzStarter)(nil)

func (s *fzStarter) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.bad = nil, nil
}

func (s *fzStarter) snapshot() ([]fzCall, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fzCall(nil), s.calls...), append([]string(nil), s.bad...)
}

// record notes c and returns the error Temporal would answer with.
func (s *fzStarter) record(c fzCall, payload any, strs ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	for _, v := range strs {
		if !utf8.ValidString(v) {
			s.bad = append(s.bad, fmt.Sprintf("%s: invalid UTF-8 %q", c.method, v))
			return status.Error(codes.Internal, "grpc: error while marshaling: string field contains invalid UTF-8")
		}
	}
	if payload != nil {
		if _, err := converter.GetDefaultDataConverter().ToPayloads(payload); err != nil {
			s.bad = append(s.bad, fmt.Sprintf("%s: input cannot be encoded: %v", c.method, err))
			return err
		}
	}
	return nil
}

func (s *fzStarter) StartDeploy(_ context.Context, in contract.DeployInput, requestID string) (gateway.Run, error) {
	id := contract.DeployWorkflowID(in.Request.App)
	err := s.record(fzCall{method: "StartDeploy", workflowID: id, requestID: requestID, deploy: &in}, in, id)
	return gateway.Run{WorkflowID: id, RunID: fzRunID}, err
}

func (s *fzStarter) StartCommand(_ context.Context, workflowType, id string, in contract.CommandInput, requestID string) (gateway.Run, error) {
	err := s.record(fzCall{method: "StartCommand", workflowID: id, requestID: requestID, command: &in}, in, workflowType, id)
	return gateway.Run{WorkflowID: id, RunID: fzRunID}, err
}

func (s *fzStarter) StartFreeze(_ context.Context, in contract.FreezeInput, requestID string) (gateway.Run, error) {
	id := contract.FreezeWorkflowID(in.Target)
	err := s.record(fzCall{method: "StartFreeze", workflowID: id, requestID: requestID}, in, id, in.Reason)
	return gateway.Run{WorkflowID: id, RunID: fzRunID}, err
}

func (s *fzStarter) SignalUnfreeze(_ context.Context, target string, by contract.User) error {
	id := contract.FreezeWorkflowID(target)
	return s.record(fzCall{method: "SignalUnfreeze", workflowID: id}, by, id)
}

func (s *fzStarter) StartQualityGate(_ context.Context, in contract.QualityGateInput) (gateway.Run, error) {
	id := contract.SASTWorkflowID(in.Analysis.Key)
	err := s.record(fzCall{method: "StartQualityGate", workflowID: id, gate: &in}, in, id)
	return gateway.Run{WorkflowID: id, RunID: fzRunID}, err
}

func (s *fzStarter) SignalDecision(_ context.Context, workflowID, runID string, d contract.Decision) error {
	return s.record(fzCall{method: "SignalDecision", workflowID: workflowID, runID: runID, decision: &d}, d, workflowID, runID)
}

func (s *fzStarter) Decide(_ context.Context, workflowID, runID string, d contract.Decision) (contract.DecisionResult, error) {
	err := s.record(fzCall{method: "Decide", workflowID: workflowID, runID: runID, decision: &d}, d, workflowID, runID)
	out := contract.OutcomeRejected
	if d.Approve {
		out = contract.OutcomeApproved
	}
	return contract.DecisionResult{Outcome: out, Message: "decided by " + d.User.Mention()}, err
}

// DescribeRun describes every id as a running run of the type its prefix
// names (an unknown prefix is some other workflow), started long ago.
func (s *fzStarter) DescribeRun(_ context.Context, workflowID, runID string) (gateway.RunInfo, error) {
	if err := s.record(fzCall{method: "DescribeRun", workflowID: workflowID, runID: runID}, nil, workflowID, runID); err != nil {
		return gateway.RunInfo{}, err
	}
	typ := "SomeOtherWorkflow"
	switch {
	case strings.HasPrefix(workflowID, "deploy-"):
		typ = contract.WorkflowDeploy
	case strings.HasPrefix(workflowID, contract.SASTWorkflowPrefix):
		typ = contract.WorkflowQualityGate
	}
	if runID == "" {
		runID = fzRunID
	}
	return gateway.RunInfo{
		Run: gateway.Run{WorkflowID: workflowID, RunID: runID}, Type: typ, Running: true, Status: "running",
		StartTime: time.Unix(1_000_000_000, 0), RequestID: "an-earlier-request", Attrs: map[string]string{},
	}, nil
}

// QueryStatus and Result never answer, like a run without a worker.
func (s *fzStarter) QueryStatus(_ context.Context, workflowID, runID string, _ any) error {
	if err := s.record(fzCall{method: "QueryStatus", workflowID: workflowID, runID: runID}, nil, workflowID, runID); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

func (s *fzStarter) Result(_ context.Context, workflowID, runID string, _ any) error {
	if err := s.record(fzCall{method: "Result", workflowID: workflowID, runID: runID}, nil, workflowID, runID); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

func (s *fzStarter) ListRuns(_ context.Context, query string, _ int) ([]gateway.RunInfo, error) {
	return nil, s.record(fzCall{method: "ListRuns", query: query}, nil, query)
}

// fzReplier records the gateway's own replies instead of sending them.
type fzReplier struct {
	mu      sync.Mutex
	replies []gateway.Reply
}

func (r *fzReplier) Reply(_ context.Context, rep gateway.Reply) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies = append(r.replies, rep)
	return nil
}

func (r *fzReplier) Replied(context.Context, string, string, string) (bool, error) { return false, nil }

func (r *fzReplier) take() []gateway.Reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.replies
	r.replies = nil
	return out
}

// fzGateway is a gateway over the fakes, configured for every route: Slack
// signing, quality gates (signed webhooks), the runs API.
type fzGateway struct {
	gw  *gateway.Server
	st  *fzStarter
	rp  *fzReplier
	log *fzLog
}

func newFzGateway(t testing.TB) *fzGateway {
	t.Helper()
	cfg := config.Default()
	cfg.SigningSecret = fzSecret
	cfg.SlackToken = "xoxb-fuzz"
	cfg.AllowedUsers = []string{fzAlice, fzBob}
	cfg.Approvers = []string{fzBob}
	cfg.TemporalUIURL = "http://temporal-ui.test"
	cfg.SonarQubeWebhookSecret = fzSonarSecret
	cfg.SASTChannel = fzSASTChannel
	cfg.SASTApprovers = []string{fzBob}
	cfg.SASTApprovalTimeout = 24 * time.Hour
	cfg.APITokens = []string{"ci@" + fzBob + ":" + fzDecider, "dash:" + fzReader}
	g := &fzGateway{st: &fzStarter{}, rp: &fzReplier{}, log: &fzLog{}}
	gw, err := gateway.New(gateway.Options{Temporal: fzTemporal{}, Config: cfg, Starter: g.st, Replier: g.rp, Logger: slog.New(g.log)})
	if err != nil {
		t.Fatal(err)
	}
	g.gw = gw
	return g
}

// fzResult is one request's answer and everything it caused.
type fzResult struct {
	code    int
	body    []byte
	calls   []fzCall
	replies []gateway.Reply
	// refusals are the reasons of the signature refusals logged.
	refusals []string
}

// do serves req and waits for the replies it queued. It fails t on what
// every route must hold: no 5xx, a JSON error for every 4xx but gin's
// plain 404, nothing Temporal would refuse.
func (g *fzGateway) do(t *testing.T, req *http.Request) fzResult {
	t.Helper()
	g.st.reset()
	g.rp.take()
	g.log.take()
	rec := httptest.NewRecorder()
	g.gw.ServeHTTP(rec, req)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.gw.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	res := fzResult{code: rec.Code, body: rec.Body.Bytes(), replies: g.rp.take(), refusals: g.log.take()}
	var bad []string
	res.calls, bad = g.st.snapshot()
	if len(bad) > 0 {
		t.Errorf("%s %s reached Temporal with what it refuses: %s", req.Method, req.URL, strings.Join(bad, "; "))
	}
	if res.code >= 500 {
		t.Fatalf("%s %s = %d %s: a 5xx for a request, with a Temporal that answers", req.Method, req.URL, res.code, res.body)
	}
	if res.code >= 400 && !(res.code == 404 && string(res.body) == "404 page not found") {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(res.body, &e); err != nil || strings.TrimSpace(e.Error) == "" {
			t.Fatalf("%s %s = %d %q: a refusal without a JSON error message", req.Method, req.URL, res.code, res.body)
		}
	}
	checkReplies(t, res.replies)
	return res
}

// post builds a POST of body to path with headers.
func fzPost(path, contentType string, body []byte, hdr http.Header) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	return req
}

// slackSigned returns Slack's headers for body signed now with the secret.
func fzSlackHeaders(body []byte) http.Header {
	now := time.Now().Unix()
	return http.Header{
		"X-Slack-Request-Timestamp": {fmt.Sprint(now)},
		"X-Slack-Signature":         {gateway.Sign(fzSecret, now, body)},
	}
}

// fzLog keeps the reasons of the gateway's "slack request refused" log
// lines (the same call counts them in the metrics, which are far costlier
// to read per input).
type fzLog struct {
	mu      sync.Mutex
	reasons []string
}

func (h *fzLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *fzLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "slack request refused" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			h.mu.Lock()
			h.reasons = append(h.reasons, a.Value.String())
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *fzLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *fzLog) WithGroup(string) slog.Handler      { return h }

func (h *fzLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.reasons
	h.reasons = nil
	return out
}

// slackTokenRE finds Slack's control sequences in mrkdwn: <@U…>, <!here>,
// <#C…>, <url|label>.
var slackTokenRE = regexp.MustCompile(`<([@!#]?)([^>]*)>`)

// checkReplies: a reply is UTF-8 without control characters (but
// newlines), goes to a Slack user id if private, and mentions nobody but
// Slack user ids: nothing typed by the requester pings anyone.
func checkReplies(t *testing.T, replies []gateway.Reply) {
	t.Helper()
	for _, r := range replies {
		if bad := badText(r.Text, true); bad != "" {
			t.Errorf("reply %q: %s", r.Text, bad)
		}
		if r.User != "" && !contract.IsSlackUserID(r.User) {
			t.Errorf("ephemeral reply to %q, not a Slack user id", r.User)
		}
		for _, m := range slackTokenRE.FindAllStringSubmatch(r.Text, -1) {
			switch m[1] {
			case "@":
				if !contract.IsSlackUserID(m[2]) {
					t.Errorf("reply %q mentions %q, not a Slack user id", r.Text, m[2])
				}
			case "!":
				t.Errorf("reply %q has a broadcast %q", r.Text, m[0])
			}
		}
	}
}

// badText says what makes s unfit for Slack text, or "": invalid UTF-8,
// control or format characters (newlines only where allowed).
func badText(s string, newlines bool) string {
	if !utf8.ValidString(s) {
		return "is not UTF-8"
	}
	for _, r := range s {
		if r == '\n' && newlines {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Sprintf("has control or format character %U", r)
		}
	}
	return ""
}

// checkUser: a user the gateway passes on has a Slack member id and a
// display name that contract.CleanName would leave as it is.
func checkUser(t *testing.T, what string, u contract.User) {
	t.Helper()
	if !contract.IsSlackUserID(u.ID) {
		t.Errorf("%s: user id %q is not a Slack user id", what, u.ID)
	}
	if bad := badText(u.Name, false); bad != "" {
		t.Errorf("%s: name %q %s", what, u.Name, bad)
	}
	if u.Name != contract.CleanName(u.Name) || utf8.RuneCountInString(u.Name) > 80 {
		t.Errorf("%s: name %q is not clean (CleanName gives %q)", what, u.Name, contract.CleanName(u.Name))
	}
}

// checkStarts: whatever the gateway starts passes the contract's own
// validation and is requested by a valid user.
func checkStarts(t *testing.T, calls []fzCall) {
	t.Helper()
	for _, c := range calls {
		switch c.method {
		case "StartDeploy":
			if err := c.deploy.Validate(); err != nil {
				t.Errorf("StartDeploy with an invalid input %+v: %v", c.deploy, err)
			}
			checkUser(t, "deploy requester", c.deploy.Request.RequestedBy)
		case "StartCommand":
			if !strings.HasPrefix(c.workflowID, "cmd-") || len(c.workflowID) > 1000 || strings.ContainsAny(c.workflowID, " /\t\r\n") {
				t.Errorf("StartCommand with workflow id %q", c.workflowID)
			}
			checkUser(t, "command requester", c.command.RequestedBy)
		case "StartQualityGate":
			if err := c.gate.Validate(); err != nil {
				t.Errorf("StartQualityGate with an invalid input: %v", err)
			}
			if err := contract.ValidateSASTWorkflowID(c.workflowID); err != nil {
				t.Errorf("StartQualityGate: %v", err)
			}
		}
	}
}

func fzCount(calls []fzCall, methods ...string) int {
	n := 0
	for _, c := range calls {
		for _, m := range methods {
			if c.method == m {
				n++
			}
		}
	}
	return n
}

// errorText is the "error" of a JSON refusal.
func fzErrorText(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error
}
