package worker_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
	"github.com/deploybot/deploybot/internal/smtpsink"
	"github.com/deploybot/deploybot/internal/sonarqube"
	"github.com/deploybot/deploybot/internal/testenv"
)

// startMailStack is startStack plus a real SMTP server (STARTTLS and AUTH
// required, like a submission server) that the worker's email activity
// sends to over the network.
func startMailStack(t testing.TB) (*stack, *smtpsink.Sink) {
	t.Helper()
	sink, err := smtpsink.Start("127.0.0.1:0", smtpsink.Options{Username: "deploybot", Password: "s3cret", STARTTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	host, port := splitHostPort(t, sink.Addr())
	sender, err := activities.NewSMTPSender(activities.SMTPSettings{
		Host: host, Port: port, Username: "deploybot", Password: "s3cret",
		From: "deploybot <deploybot@example.com>", TLS: activities.SMTPTLSStartTLS, CACertPEM: sink.CertPEM(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return startStack(t, stackOptions{operation: 1500 * time.Millisecond, email: sender}), sink
}

// analysis reads one of sonarqube's documented payloads as the gateway would.
func analysis(t testing.TB, file string) contract.Analysis {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "internal", "sonarqube", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	p, err := sonarqube.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	return p.Analysis()
}

func gateInput(a contract.Analysis) contract.QualityGateInput {
	return contract.QualityGateInput{Analysis: a, Policy: contract.SASTPolicy{
		Channel: deployChannel, Approvers: []string{"U0BOB"}, ApprovalTimeout: 10 * time.Minute,
		EmailTo: []string{"security@example.com"}, TemporalUIURL: "http://localhost:8233",
	}}
}

// startGate starts a run the way the gateway does (id from the analysis,
// search attributes at start).
func startGate(t testing.TB, s *stack, in contract.QualityGateInput) client.WorkflowRun {
	t.Helper()
	a := in.Analysis
	run, err := s.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: contract.SASTWorkflowID(a.Key), TaskQueue: s.taskQueue,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(contract.SASTSearchAttributes(a)...),
	}, contract.WorkflowQualityGate, in)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func waitGateStep(t testing.TB, tc client.Client, id string, step contract.SASTStep) contract.QualityGateStatus {
	t.Helper()
	return waitStatus(t, tc, id, func(st contract.QualityGateStatus) bool { return st.Step == step })
}

func decideByUpdate(ctx context.Context, tc client.Client, id string, d contract.Decision) (contract.DecisionResult, error) {
	h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: contract.UpdateDecide, Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return contract.DecisionResult{}, err
	}
	var res contract.DecisionResult
	err = h.Get(ctx, &res)
	return res, err
}

// TestQualityGateAcceptedEmailEndToEnd: a failed gate is posted, a
// non-approver's API decision is refused, bob accepts, and the email goes
// out once through a real SMTP server that was down for the first attempts.
func TestQualityGateAcceptedEmailEndToEnd(t *testing.T) {
	s, sink := startMailStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := gateInput(analysis(t, "branch_error.json"))
	run := startGate(t, s, in)
	id := run.GetID()
	st := waitGateStep(t, s.tc, id, contract.SASTStepAwaitingDecision)

	req, ok := s.slack.Message(deployChannel, st.RequestTS)
	if !ok {
		t.Fatalf("request %s not in Slack", st.RequestTS)
	}
	for _, want := range []string{"Quality gate failed", "new_security_rating", "new_coverage", slackui.ActionSASTAccept, id} {
		if !strings.Contains(string(req.Blocks), want) {
			t.Errorf("request lacks %q: %s", want, req.Blocks)
		}
	}

	_, err := decideByUpdate(ctx, s.tc, id, contract.Decision{Approve: true, User: contract.User{ID: "U0MALLORY", Name: "mallory"}, Source: "api"})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != contract.DecisionNotAllowedErrorType {
		t.Fatalf("mallory's decision: %v, want %s", err, contract.DecisionNotAllowedErrorType)
	}
	sink.FailNext(2) // SMTP answers 451 twice, then accepts
	res, err := decideByUpdate(ctx, s.tc, id, contract.Decision{Approve: true, User: contract.User{ID: "U0BOB", Name: "bob"}, Source: "api"})
	if err != nil || res.Outcome != contract.OutcomeAccepted {
		t.Fatalf("bob's decision: %+v, %v", res, err)
	}
	var out contract.QualityGateResult
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.Outcome != contract.OutcomeAccepted || out.DecidedBy.ID != "U0BOB" || out.EmailError != "" || out.EmailMessageID == "" {
		t.Fatalf("result = %+v", out)
	}

	msgs := sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("SMTP server received %d messages, want exactly 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "deploybot@example.com" || len(m.To) != 1 || m.To[0] != "security@example.com" {
		t.Errorf("envelope from %q to %v", m.From, m.To)
	}
	for h, want := range map[string]string{
		"From":                 "deploybot@example.com",
		"To":                   "security@example.com",
		"Message-Id":           out.EmailMessageID,
		"X-Deploybot-Project":  "deploybot:payments-api",
		"X-Deploybot-Decision": "risk_accepted",
		"X-Deploybot-Revision": "9f2c1b7e5a3d4c6b8a0e1f2d3c4b5a6978675645",
	} {
		if got := m.Header.Get(h); !strings.Contains(got, want) {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if !strings.Contains(m.Subject, "Security risk accepted: deploybot:payments-api (release/2024.03) at 9f2c1b7") {
		t.Errorf("subject = %q", m.Subject)
	}
	for _, want := range []string{
		"bob (U0BOB) accepted the risk", "release/2024.03", "9f2c1b7e5a3d4c6b8a0e1f2d3c4b5a6978675645",
		"RISK ACCEPTED", "new_security_rating", "new_coverage", "42.5",
		"https://sonarqube.example.com/dashboard?id=deploybot%3Apayments-api&branch=release%2F2024.03",
		"http://localhost:8233/namespaces/default/workflows/" + url.PathEscape(id) + "/",
	} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("email body lacks %q:\n%s", want, m.Text)
		}
	}

	req, _ = s.slack.Message(deployChannel, st.RequestTS)
	if !strings.Contains(string(req.Blocks), `Risk accepted by \u003c@U0BOB\u003e`) || strings.Contains(string(req.Blocks), slackui.ActionSASTAccept) {
		t.Errorf("request after the decision: %s", req.Blocks)
	}
	saveHistory(t, s.tc, id, run.GetRunID(), "qualitygate_accepted")
}

// TestQualityGatePassingAnalysisSupersedes: a passing analysis of the same
// branch closes the pending request of an older failed one, through
// Temporal visibility and a signal.
func TestQualityGatePassingAnalysisSupersedes(t *testing.T) {
	s, sink := startMailStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	failed := analysis(t, "branch_error.json")
	older := startGate(t, s, gateInput(failed))
	st := waitGateStep(t, s.tc, older.GetID(), contract.SASTStepAwaitingDecision)

	passed := failed
	passed.Key = strings.Replace(failed.Key, "task-", "task-NEWER", 1)
	passed.TaskID = "NEWER"
	passed.Revision = "abcdef0123456789abcdef0123456789abcdef01"
	passed.AnalysedAt = failed.AnalysedAt.Add(time.Hour)
	passed.GateStatus = contract.GateOK
	newer := startGate(t, s, gateInput(passed))

	var nres, ores contract.QualityGateResult
	if err := newer.Get(ctx, &nres); err != nil {
		t.Fatal(err)
	}
	if err := older.Get(ctx, &ores); err != nil {
		t.Fatal(err)
	}
	if nres.Outcome != contract.OutcomePassed || len(nres.Superseded) != 1 || nres.Superseded[0] != older.GetID() {
		t.Errorf("newer result = %+v, want passed, superseding %s", nres, older.GetID())
	}
	if ores.Outcome != contract.OutcomeSuperseded || ores.SupersededBy != newer.GetID() {
		t.Errorf("older result = %+v, want superseded by %s", ores, newer.GetID())
	}
	req, _ := s.slack.Message(deployChannel, st.RequestTS)
	if !strings.Contains(string(req.Blocks), "Superseded") || !strings.Contains(string(req.Blocks), "abcdef0") {
		t.Errorf("older request after the passing analysis: %s", req.Blocks)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Errorf("%d emails for a superseded request, want none", n)
	}
	saveHistory(t, s.tc, older.GetID(), older.GetRunID(), "qualitygate_superseded")
}

func splitHostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return host, n
}
