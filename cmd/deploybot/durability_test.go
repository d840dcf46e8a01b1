package main

import (
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/internal/smtpsink"
	"github.com/deploybot/deploybot/internal/testenv"
)

// workerProcess is `deploybot worker` running as a separate process.
type workerProcess struct{ *child }

func startWorker(t *testing.T, env []string) *workerProcess {
	t.Helper()
	// Each worker serves its health endpoints on a port of its own.
	return &workerProcess{startChild(t, "worker", append(os.Environ(), env...))}
}

// kill ends the worker with SIGKILL: no graceful shutdown, no cleanup.
func (w *workerProcess) kill(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-w.exited
}

// window holds a call that has made its change (a Sync in Argo CD, an
// email in the mailbox) before its caller hears, so that the test can kill
// the caller there: Temporal then has not recorded the activity's
// completion and retries it, and a retry that repeats the change shows.
type window struct {
	once    sync.Once
	reached chan struct{} // closed when the call is held
	release chan struct{} // closed by the test: the answer may go
}

func newWindow() *window {
	return &window{reached: make(chan struct{}), release: make(chan struct{})}
}

// hold holds the first call only; later ones (retries) pass at once.
func (w *window) hold() {
	first := false
	w.once.Do(func() { first = true })
	if !first {
		return
	}
	close(w.reached)
	select {
	case <-w.release:
	case <-time.After(3 * time.Minute): // never hold a server forever
	}
}

// killInside waits until the call is held, kills the worker making it,
// then lets the answer go (to nobody).
func (w *window) killInside(t *testing.T, what string, worker *workerProcess) {
	t.Helper()
	defer close(w.release)
	select {
	case <-w.reached:
	case <-time.After(90 * time.Second):
		t.Fatalf("the worker never got to %s", what)
	}
	worker.kill(t)
}

// activityAttempts is the attempt that completed activity typ in run id's
// history (0 if none did): above 1 means a retry finished it.
func activityAttempts(t *testing.T, tc client.Client, id, typ string) int32 {
	t.Helper()
	scheduled := map[int64]bool{}
	it := tc.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == typ {
			scheduled[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] {
			return a.GetAttempt()
		}
	}
	return 0
}

func queryStep(tc client.Client, id string) (contract.DeployStatus, error) {
	var st contract.DeployStatus
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := tc.QueryWorkflow(ctx, id, "", contract.QueryStatus)
	if err == nil {
		err = v.Get(&st)
	}
	return st, err
}

func waitForStep(t *testing.T, tc client.Client, id string, step contract.Step) contract.DeployStatus {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, err := queryStep(tc, id)
		if err == nil && st.Step == step {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("run never reached %s (last %+v, %v)", step, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDurabilityWorkerKilled kills the worker process with SIGKILL while the
// run waits for approval, and again inside the window where a duplicate
// Sync could come: Argo CD has taken the Sync but the worker has not heard,
// so Temporal has not recorded StartOperation's completion and retries it.
// A fresh worker finishes the run, and Argo CD got exactly one sync.
func TestDurabilityWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts worker processes")
	}
	srv := testenv.StartTemporal(t)
	syncCall := newWindow()
	simAddr, sim := simtest.Start(t, argocdsim.Options{AfterCall: func(method, app string) {
		if method == "Sync" && app == "guestbook" {
			syncCall.hold()
		}
	}})
	sl := slackapi.StartTest(t, slackapi.Options{
		Token:    "xoxb-durability",
		Users:    []slackapi.User{{ID: "U0ALICE", Name: "alice"}, {ID: "U0BOB", Name: "bob"}},
		Channels: []slackapi.Channel{{ID: "C0DEPLOY", Name: "deploys"}},
	})
	env := []string{
		"TEMPORAL_ADDRESS=" + srv.Address,
		"TEMPORAL_TASK_QUEUE=durability",
		"ARGOCD_URL=http://" + simAddr,
		"ARGOCD_TOKEN=" + argocdsim.DefaultToken,
		"SLACK_TOKEN=xoxb-durability",
		"SLACK_API_URL=" + sl.URL() + "/api/",
		"LOG_LEVEL=warn",
	}
	tc, err := client.Dial(client.Options{HostPort: srv.Address, Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()

	w1 := startWorker(t, env)
	id := contract.DeployWorkflowID("guestbook")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "durability"}, contract.WorkflowDeploy,
		contract.DeployInput{
			Request: contract.DeployRequest{App: "guestbook", Action: contract.ActionSync,
				RequestedBy: contract.User{ID: "U0ALICE", Name: "alice"}, Channel: "C0DEPLOY"},
			Policy: contract.DeployPolicy{Approvers: []string{"U0BOB"}, ApprovalTimeout: 10 * time.Minute,
				HealthTimeout: 3 * time.Minute, PollInterval: 500 * time.Millisecond},
		})
	if err != nil {
		t.Fatal(err)
	}
	waitForStep(t, tc, id, contract.StepAwaitingApproval)
	w1.kill(t)

	w2 := startWorker(t, env)
	if err := tc.SignalWorkflow(ctx, id, "", contract.SignalDecision,
		contract.Decision{Approve: true, User: contract.User{ID: "U0BOB", Name: "bob"}, Source: "test"}); err != nil {
		t.Fatal(err)
	}
	syncCall.killInside(t, "Sync", w2)
	if n := sim.Calls("Sync", "guestbook"); n != 1 {
		t.Fatalf("Sync calls when the worker was killed = %d, want 1", n)
	}

	startWorker(t, env)
	var res contract.DeployResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("result after two worker kills = %+v", res)
	}
	if n := sim.Calls("Sync", "guestbook"); n != 1 {
		t.Errorf("Argo CD got %d syncs for one approval, want exactly 1", n)
	}
	// The kill was in the window: the killed attempt never completed, a
	// retry did.
	if a := activityAttempts(t, tc, id, "StartOperation"); a < 2 {
		t.Errorf("StartOperation completed at attempt %d, want a retry (>= 2): the kill missed the window", a)
	}
	// The approval request was posted once, whatever the kills.
	requests := 0
	for _, m := range sl.Messages("C0DEPLOY") {
		if m.ThreadTS == "" && strings.Contains(string(m.Blocks), "guestbook") {
			requests++
		}
	}
	if requests != 1 {
		t.Errorf("%d approval requests in the channel, want 1", requests)
	}
}

// TestDurabilityQualityGateWorkerKilled kills the worker while a failed
// quality gate waits for a security approver, and again inside the window
// where a duplicate email could come: the SMTP server has accepted the
// decision email but the worker has not heard, so Temporal has not
// recorded SendEmail's completion and retries it. A fresh worker finishes
// the run, and the request and the email each exist exactly once (the
// email as its recipients see it: copies of one Message-ID).
func TestDurabilityQualityGateWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts worker processes")
	}
	srv := testenv.StartTemporal(t)
	simAddr, _ := simtest.Start(t, argocdsim.Options{})
	sl := slackapi.StartTest(t, slackapi.Options{
		Token:    "xoxb-durability",
		Users:    []slackapi.User{{ID: "U0BOB", Name: "bob"}},
		Channels: []slackapi.Channel{{ID: "C0SEC", Name: "security"}},
	})
	mail := newWindow()
	sink, err := smtpsink.Start("127.0.0.1:0", smtpsink.Options{AfterAccept: func(smtpsink.Message) { mail.hold() }})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	host, port, _ := strings.Cut(sink.Addr(), ":")
	env := []string{
		"TEMPORAL_ADDRESS=" + srv.Address, "TEMPORAL_TASK_QUEUE=durability-sast",
		"ARGOCD_URL=http://" + simAddr, "ARGOCD_TOKEN=" + argocdsim.DefaultToken,
		"SLACK_TOKEN=xoxb-durability", "SLACK_API_URL=" + sl.URL() + "/api/",
		"SMTP_HOST=" + host, "SMTP_PORT=" + port, "SMTP_TLS=none", "SMTP_FROM=deploybot <deploybot@example.com>",
		"LOG_LEVEL=warn",
	}
	tc, err := client.Dial(client.Options{HostPort: srv.Address, Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()

	w1 := startWorker(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	id := contract.SASTWorkflowID("payments~branch-main~task-DURABLE")
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "durability-sast"}, contract.WorkflowQualityGate,
		contract.QualityGateInput{
			Analysis: contract.Analysis{Key: "payments~branch-main~task-DURABLE", ProjectKey: "payments", Branch: "main",
				Revision: "9f2c1b7e5a3d4c6b8a0e1f2d3c4b5a6978675645", AnalysedAt: time.Now().UTC(), GateStatus: contract.GateError,
				Conditions: []contract.GateCondition{{Metric: "new_coverage", Operator: "LESS_THAN", Value: "42.5", Status: "ERROR", ErrorThreshold: "80"}}},
			Policy: contract.SASTPolicy{Channel: "C0SEC", Approvers: []string{"U0BOB"}, ApprovalTimeout: 10 * time.Minute,
				EmailTo: []string{"security@example.com"}},
		})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		var st contract.QualityGateStatus
		v, err := tc.QueryWorkflow(ctx, id, "", contract.QueryStatus)
		if err == nil && v.Get(&st) == nil && st.Step == contract.SASTStepAwaitingDecision {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run never waited for a decision (last %+v, %v)", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	w1.kill(t)

	w2 := startWorker(t, env)
	if err := tc.SignalWorkflow(ctx, id, "", contract.SignalDecision,
		contract.Decision{Approve: true, User: contract.User{ID: "U0BOB", Name: "bob"}, Source: "test"}); err != nil {
		t.Fatal(err)
	}
	mail.killInside(t, "the SMTP server's accepting the email", w2)
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d emails when the worker was killed, want 1", n)
	}

	startWorker(t, env)
	var res contract.QualityGateResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != contract.OutcomeAccepted || res.EmailError != "" {
		t.Fatalf("result after the worker was killed = %+v", res)
	}
	// SMTP cannot tell a sender whether a message whose 250 it never heard
	// arrived, so the retry sends it again (at least once beats a lost
	// decision). It must be the same email: one Message-ID, which mail
	// clients show once. A retry with a new one is a second email.
	attempts := activityAttempts(t, tc, id, "SendEmail")
	if attempts < 2 {
		t.Errorf("SendEmail completed at attempt %d, want a retry (>= 2): the kill missed the window", attempts)
	}
	msgs := sink.Messages()
	emails := map[string]int{}
	for _, m := range msgs {
		if m.Header == nil || m.Header.Get("Message-Id") == "" {
			t.Fatalf("a copy without a Message-ID: %q", m.Raw)
		}
		emails[m.Header.Get("Message-Id")+" "+m.Subject]++
	}
	if len(emails) != 1 || len(msgs) > int(attempts) {
		t.Errorf("%d emails (Message-ID and subject: copies) in %d copies for one decision sent in %d attempts, want exactly 1 and at most a copy per attempt: %v",
			len(emails), len(msgs), attempts, emails)
	}
	t.Logf("the decision email: %d copies, one per attempt that reached the server", len(msgs))
	requests := 0
	for _, m := range sl.Messages("C0SEC") {
		if m.ThreadTS == "" && strings.Contains(string(m.Blocks), "Quality gate failed") {
			requests++
		}
	}
	if requests != 1 {
		t.Errorf("%d quality-gate requests in the channel, want 1", requests)
	}
}
