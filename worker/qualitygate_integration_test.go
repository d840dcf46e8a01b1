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

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/gateway"
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
	return delivery(t, file, func(*sonarqube.Payload) {})
}

func gateInput(a contract.Analysis) contract.QualityGateInput {
	in := contract.QualityGateInput{Analysis: a, Policy: contract.SASTPolicy{
		Channel: deployChannel, Approvers: []string{"U0BOB"}, ApprovalTimeout: 10 * time.Minute,
		EmailTo: []string{"security@example.com"}, TemporalUIURL: "http://localhost:8233",
	}}
	// As the gateway starts runs now: with the rule the policy matched.
	rule := contract.DefaultGateRule(in.Policy)
	in.Rule = &rule
	return in
}

// startGate starts a run exactly as the gateway does (its own starter: id
// from the analysis, search attributes and memo at start).
func startGate(t testing.TB, s *stack, in contract.QualityGateInput) client.WorkflowRun {
	t.Helper()
	st := &gateway.TemporalStarter{Client: s.tc, TaskQueue: s.taskQueue}
	run, err := st.StartQualityGate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return s.tc.GetWorkflow(context.Background(), run.WorkflowID, run.RunID)
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

// delivery is the payload in file, changed by change, as the gateway reads it.
func delivery(t testing.TB, file string, change func(*sonarqube.Payload)) contract.Analysis {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "internal", "sonarqube", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	p, err := sonarqube.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	change(&p)
	return p.Analysis()
}

// evaluation is the analysis in file re-evaluated by an issue change: no
// taskId, the gate's status gate and a changedAt that much later.
func evaluation(t testing.TB, file, gate string, changed time.Duration) contract.Analysis {
	t.Helper()
	return delivery(t, file, func(p *sonarqube.Payload) {
		p.TaskID = ""
		p.ChangedAt = sonarqube.Time{Time: p.AnalysedAt.Add(changed)}
		p.Gate.Status = gate
	})
}

func gateResult(t *testing.T, ctx context.Context, run client.WorkflowRun) contract.QualityGateResult {
	t.Helper()
	var res contract.QualityGateResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestQualityGateFailsAgainAfterPassing (Step 7, defect 1): an analysis
// fails, an issue change makes it pass, another makes it fail again: the
// third delivery is a new run waiting for a decision, not a "duplicate"
// of the passing one — in order and out of order.
func TestQualityGateFailsAgainAfterPassing(t *testing.T) {
	s, _ := startMailStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first := analysis(t, "branch_error.json")
	run1 := startGate(t, s, gateInput(first))
	waitGateStep(t, s.tc, run1.GetID(), contract.SASTStepAwaitingDecision)
	run2 := startGate(t, s, gateInput(evaluation(t, "branch_error.json", contract.GateOK, time.Minute)))
	if res := gateResult(t, ctx, run2); res.Outcome != contract.OutcomePassed {
		t.Fatalf("the passing evaluation ended %s, want passed", res.Outcome)
	}
	if res := gateResult(t, ctx, run1); res.Outcome != contract.OutcomeSuperseded {
		t.Errorf("the first failure ended %s, want superseded", res.Outcome)
	}
	third := evaluation(t, "branch_error.json", contract.GateError, 2*time.Minute)
	if third.Key == evaluation(t, "branch_error.json", contract.GateOK, time.Minute).Key {
		t.Fatal("the failing-again evaluation has the passing one's key")
	}
	run3 := startGate(t, s, gateInput(third))
	waitGateStep(t, s.tc, run3.GetID(), contract.SASTStepAwaitingDecision)

	// Out of order: a later failure arrives before the pass it follows.
	late := evaluation(t, "branch_error.json", contract.GateOK, 90*time.Second)
	run4 := startGate(t, s, gateInput(late))
	if res := gateResult(t, ctx, run4); res.Outcome != contract.OutcomeSuperseded || res.SupersededBy != run3.GetID() {
		t.Errorf("a late pass older than the pending failure ended %+v, want superseded by %s", res, run3.GetID())
	}
	if st := waitGateStep(t, s.tc, run3.GetID(), contract.SASTStepAwaitingDecision); st.Outcome != "" {
		t.Errorf("the failure that is the gate's current state ended: %+v", st)
	}
	saveHistory(t, s.tc, run4.GetID(), run4.GetRunID(), "qualitygate_late_superseded")
}

// TestQualityGateLookAlikeDeliveriesKeepOnePending (Step 7, defect 2): a
// taskId delivery and a taskless one with the same analysedAt (and two
// taskIds evaluated in the same second) arrive together: exactly one of
// each pair stays pending; the other is superseded.
func TestQualityGateLookAlikeDeliveriesKeepOnePending(t *testing.T) {
	s, _ := startMailStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for n, pair := range [][2]func(*sonarqube.Payload){
		{func(*sonarqube.Payload) {}, func(p *sonarqube.Payload) { p.TaskID = "" }},
		{func(*sonarqube.Payload) {}, func(p *sonarqube.Payload) { p.TaskID = "AYother" }},
	} {
		// A project of its own per pair.
		project := func(change func(*sonarqube.Payload)) func(*sonarqube.Payload) {
			return func(p *sonarqube.Payload) { p.Project.Key += "-" + strconv.Itoa(n); change(p) }
		}
		a, b := delivery(t, "branch_error.json", project(pair[0])), delivery(t, "branch_error.json", project(pair[1]))
		runs := make([]client.WorkflowRun, 2)
		done := make(chan int, 2)
		for i, an := range []contract.Analysis{a, b} {
			go func() { runs[i] = startGate(t, s, gateInput(an)); done <- i }()
		}
		<-done
		<-done
		pending := 0
		for _, run := range runs {
			st := waitStatus(t, s.tc, run.GetID(), func(st contract.QualityGateStatus) bool {
				return st.Step == contract.SASTStepAwaitingDecision || st.Step == contract.SASTStepDone
			})
			if st.Step == contract.SASTStepAwaitingDecision {
				pending++
			}
		}
		// Both may still be settling: the superseded one ends within moments.
		deadline := time.Now().Add(30 * time.Second)
		for pending > 1 && time.Now().Before(deadline) {
			pending = 0
			for _, run := range runs {
				var st contract.QualityGateStatus
				if v, err := s.tc.QueryWorkflow(ctx, run.GetID(), "", contract.QueryStatus); err == nil && v.Get(&st) == nil && st.Step == contract.SASTStepAwaitingDecision {
					pending++
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		if pending != 1 {
			t.Errorf("%s and %s: %d pending, want exactly 1", a.Key, b.Key, pending)
		}
	}
}
