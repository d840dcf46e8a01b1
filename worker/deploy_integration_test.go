package worker_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/internal/slackui"
	"github.com/deploybot/deploybot/internal/testenv"
	"github.com/deploybot/deploybot/worker"
)

// stack is a real Temporal dev server, the Argo CD simulator over gRPC, the
// in-memory Slack Web API over HTTP, and an in-process worker.
type stack struct {
	tc        client.Client
	sim       *argocdsim.Server
	slack     *slackapi.Server
	simAddr   string
	argo      *argocd.Client // the client the worker uses, unwrapped
	taskQueue string
}

const deployChannel = "C0DEPLOY"

// stackOptions vary the stack between tests and benchmarks.
type stackOptions struct {
	operation time.Duration // simulator operation length; 0 = 1.5s
	extraApps int
	// wrap, if set, wraps the Argo CD client the worker uses (to time calls).
	wrap func(*argocd.Client) activities.ArgoCDClient
	// email is the worker's email sender (nil = none configured).
	email activities.EmailSender
}

func startStack(t testing.TB, opts ...stackOptions) *stack {
	t.Helper()
	o := stackOptions{operation: 1500 * time.Millisecond}
	if len(opts) > 0 {
		o = opts[0]
	}
	srv := testenv.StartTemporal(t)
	addr, sim := simtest.Start(t, argocdsim.Options{OperationDuration: o.operation, ExtraApps: o.extraApps})
	sl := slackapi.StartTest(t, slackapi.Options{
		Token:    "xoxb-test",
		Users:    []slackapi.User{{ID: "U0ALICE", Name: "alice"}, {ID: "U0BOB", Name: "bob"}, {ID: "U0MALLORY", Name: "mallory"}},
		Channels: []slackapi.Channel{{ID: deployChannel, Name: "deploys"}},
	})
	argo, err := argocd.New(argocd.Options{URL: "http://" + addr, Token: argocdsim.DefaultToken, VerifySSL: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { argo.Close() })
	var argoDep activities.ArgoCDClient = argo
	if o.wrap != nil {
		argoDep = o.wrap(argo)
	}
	tc, err := client.Dial(client.Options{HostPort: srv.Address, Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	s := &stack{tc: tc, sim: sim, slack: sl, simAddr: addr, argo: argo, taskQueue: "deploy-it"}
	w, err := worker.New(worker.Options{Temporal: tc, TaskQueue: s.taskQueue, Deps: worker.Deps{
		ArgoCD: argoDep, Slack: activities.NewSlackClient("xoxb-test", sl.URL()+"/api/"), Email: o.email,
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx, w, nil, nil) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}

func deployInput(app string, action contract.Action, historyID int64, autoDisable bool) contract.DeployInput {
	in := contract.DeployInput{
		Request: contract.DeployRequest{App: app, Action: action, HistoryID: historyID,
			RequestedBy: contract.User{ID: "U0ALICE", Name: "alice"}, Channel: deployChannel},
		Policy: contract.DeployPolicy{
			Approvers: []string{"U0ALICE", "U0BOB"}, ApprovalTimeout: 10 * time.Minute, HealthTimeout: 2 * time.Minute,
			AutoDisableSyncOnRollback: autoDisable, PollInterval: 300 * time.Millisecond, TemporalUIURL: "http://localhost:8233",
		},
	}
	// As the gateway starts runs now: with the environment's rule as the
	// policy's only candidate (requesters: ALLOWED_USERS).
	in.Rules = contract.ProjectRules{{Rule: contract.DefaultDeployRule(in.Policy, []string{"U0ALICE", "U0BOB"})}}
	return in
}

// waitStep polls the status query until the run reaches step.
func waitStep(t *testing.T, tc client.Client, id string, step contract.Step) contract.DeployStatus {
	t.Helper()
	return waitStatus(t, tc, id, func(st contract.DeployStatus) bool { return st.Step == step })
}

// waitStatus polls a run's status query (for up to a minute) until done
// says yes, and returns that status.
func waitStatus[S any](t testing.TB, tc client.Client, id string, done func(S) bool) S {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var st S
		v, err := tc.QueryWorkflow(context.Background(), id, "", contract.QueryStatus)
		if err == nil && v.Get(&st) == nil && done(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s never reached the awaited status (last: %+v, err %v)", id, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func decide(t *testing.T, tc client.Client, id string, user contract.User, approve bool) {
	t.Helper()
	if err := tc.SignalWorkflow(context.Background(), id, "", contract.SignalDecision,
		contract.Decision{Approve: approve, User: user, Source: "test"}); err != nil {
		t.Fatal(err)
	}
}

// saveHistory writes the run's history to workflows/testdata when
// UPDATE_HISTORIES=1, for the replay tests that guard determinism.
func saveHistory(t *testing.T, tc client.Client, id, runID, name string) {
	t.Helper()
	if os.Getenv("UPDATE_HISTORIES") != "1" {
		return
	}
	iter := tc.GetWorkflowHistory(context.Background(), id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(testenv.RepoRoot(t), "workflows", "testdata", name+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s (%d events)", path, len(h.Events))
}

// activitySummaries are the Temporal UI's lines for the run's activities,
// by activity type, as the server keeps them.
func activitySummaries(t *testing.T, tc client.Client, id, runID string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	iter := tc.GetWorkflowHistory(context.Background(), id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		sched := ev.GetActivityTaskScheduledEventAttributes()
		if sched == nil {
			continue
		}
		var s string
		if p := ev.GetUserMetadata().GetSummary(); p != nil {
			if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
				t.Fatal(err)
			}
		}
		out[sched.GetActivityType().GetName()] = append(out[sched.GetActivityType().GetName()], s)
	}
	return out
}

func TestDeploySyncEndToEnd(t *testing.T) {
	s := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := contract.DeployWorkflowID("guestbook")
	run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.taskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL},
		contract.WorkflowDeploy, deployInput("guestbook", contract.ActionSync, 0, false))
	if err != nil {
		t.Fatal(err)
	}
	st := waitStep(t, s.tc, id, contract.StepAwaitingApproval)

	// A second mutating run on the same app is refused while this one runs.
	_, err = s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.taskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL, WorkflowExecutionErrorWhenAlreadyStarted: true},
		contract.WorkflowDeploy, deployInput("guestbook", contract.ActionSync, 0, false))
	if err == nil {
		t.Fatal("a second run for guestbook was started")
	}

	decide(t, s.tc, id, contract.User{ID: "U0MALLORY", Name: "mallory"}, true)
	decide(t, s.tc, id, contract.User{ID: "U0BOB", Name: "bob"}, true)
	var res contract.DeployResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != contract.OutcomeSucceeded || res.DecidedBy == nil || res.DecidedBy.ID != "U0BOB" {
		t.Fatalf("result = %+v", res)
	}
	if n := s.sim.Calls("Sync", "guestbook"); n != 1 {
		t.Errorf("simulator saw %d Sync calls for guestbook, want exactly 1", n)
	}

	// What Slack received: the request with buttons carrying the workflow id,
	// updated to approved; mallory's refusal only for her; one status message
	// in the thread, edited to Synced and Healthy.
	req, ok := s.slack.Message(deployChannel, st.RequestTS)
	if !ok {
		t.Fatalf("approval request %s not in Slack", st.RequestTS)
	}
	if !strings.Contains(string(req.Blocks), "Approved by") || strings.Contains(string(req.Blocks), slackui.ActionApprove) {
		t.Errorf("request after approval still has buttons or lacks who approved: %s", req.Blocks)
	}
	thread := s.slack.Thread(deployChannel, st.RequestTS)
	var statusMsgs, ephemerals int
	var final string
	for _, m := range thread {
		if m.Ephemeral {
			ephemerals++
			if m.EphemeralUser != "U0MALLORY" {
				t.Errorf("ephemeral for %s, want mallory", m.EphemeralUser)
			}
			continue
		}
		if m.TS != st.RequestTS && m.Updates > 0 {
			statusMsgs++
			final = m.Text + string(m.Blocks)
		}
	}
	if statusMsgs != 1 || !strings.Contains(final, "Synced and Healthy") {
		t.Errorf("want one edited status message ending Synced and Healthy; got %d, last %q", statusMsgs, final)
	}
	if ephemerals != 1 {
		t.Errorf("%d ephemeral refusals, want 1 (mallory)", ephemerals)
	}
	// The event history reads as the process in the Temporal UI.
	sums := activitySummaries(t, s.tc, id, run.GetRunID())
	for typ, want := range map[string]string{
		"PrepareDeploy":  "read guestbook from Argo CD",
		"StartOperation": "start the sync of guestbook in Argo CD",
		"GetAppState":    "look at guestbook in Argo CD",
		"PostMessage":    "post the approval request in " + deployChannel,
	} {
		if got := sums[typ]; len(got) == 0 || got[0] != want {
			t.Errorf("%s summaries %q, want the first %q", typ, got, want)
		}
	}
	saveHistory(t, s.tc, id, run.GetRunID(), "deploy_sync_approved")
}

func TestDeployRollbackEndToEnd(t *testing.T) {
	s := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := contract.DeployWorkflowID("payments")
	run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.taskQueue},
		contract.WorkflowDeploy, deployInput("payments", contract.ActionRollback, 2, true))
	if err != nil {
		t.Fatal(err)
	}
	st := waitStep(t, s.tc, id, contract.StepAwaitingApproval)
	req, _ := s.slack.Message(deployChannel, st.RequestTS)
	if !strings.Contains(string(req.Blocks), id) {
		t.Errorf("buttons do not carry the workflow id %s: %s", id, req.Blocks)
	}
	decide(t, s.tc, id, contract.User{ID: "U0BOB", Name: "bob"}, true)
	var res contract.DeployResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != contract.OutcomeSucceeded || res.RemovedAutoSync == nil {
		t.Fatalf("result = %+v", res)
	}
	// Refused once under auto-sync, then once more after the merge patch.
	if n := s.sim.Calls("Rollback", "payments"); n != 2 {
		t.Errorf("Rollback calls = %d, want 2 (refused, then done)", n)
	}
	if n := s.sim.Calls("Patch", "payments"); n != 1 {
		t.Errorf("Patch calls = %d, want 1", n)
	}
	var sawRestoreHint bool
	for _, m := range s.slack.Thread(deployChannel, st.RequestTS) {
		if strings.Contains(m.Text, "autosync payments on") {
			sawRestoreHint = true
		}
	}
	if !sawRestoreHint {
		t.Error("thread does not say how to restore auto-sync")
	}
	b, _ := json.Marshal(res.RemovedAutoSync)
	t.Logf("removed policy: %s", b)
	saveHistory(t, s.tc, id, run.GetRunID(), "deploy_rollback_autosync")
}

// TestAutoSyncOnRestoresWhatTheRollbackRemoved: a rollback under
// AUTO_DISABLE_SYNC_ON_ROLLBACK removes payments' automated policy; a later
// `autosync payments on` run finds that run in Temporal and restores exactly
// the same policy in Argo CD.
func TestAutoSyncOnRestoresWhatTheRollbackRemoved(t *testing.T) {
	s := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := contract.DeployWorkflowID("payments")
	bob := contract.User{ID: "U0BOB", Name: "bob"}

	run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.taskQueue},
		contract.WorkflowDeploy, deployInput("payments", contract.ActionRollback, 2, true))
	if err != nil {
		t.Fatal(err)
	}
	waitStep(t, s.tc, id, contract.StepAwaitingApproval)
	decide(t, s.tc, id, bob, true)
	var rb contract.DeployResult
	if err := run.Get(ctx, &rb); err != nil || rb.RemovedAutoSync == nil {
		t.Fatalf("rollback: %v %+v", err, rb)
	}

	run, err = s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.taskQueue},
		contract.WorkflowDeploy, deployInput("payments", contract.ActionAutoSyncOn, 0, false))
	if err != nil {
		t.Fatal(err)
	}
	waitStep(t, s.tc, id, contract.StepAwaitingApproval)
	decide(t, s.tc, id, bob, true)
	var on contract.DeployResult
	if err := run.Get(ctx, &on); err != nil || on.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("autosync on: %v %+v", err, on)
	}
	saveHistory(t, s.tc, id, run.GetRunID(), "deploy_autosync_on")
	if !strings.Contains(on.Message, "restored the policy removed by run "+id) {
		t.Errorf("message does not say which policy was restored: %s", on.Message)
	}
	argo, err := argocd.New(argocd.Options{URL: "http://" + s.simAddr, Token: argocdsim.DefaultToken, VerifySSL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer argo.Close()
	app, err := argo.GetApp(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	got := app.Spec.SyncPolicy.Automated
	if got == nil || got.Prune != rb.RemovedAutoSync.Prune || got.SelfHeal != rb.RemovedAutoSync.SelfHeal || got.AllowEmpty != rb.RemovedAutoSync.AllowEmpty {
		t.Errorf("automated policy after autosync on = %+v, want %+v", got, rb.RemovedAutoSync)
	}
	if n := s.sim.Calls("Patch", "payments"); n != 2 {
		t.Errorf("Patch calls = %d, want 2 (off by the rollback, on by autosync)", n)
	}
}

// TestDeployRaceEndToEnd (Step 7, defect 6) on a real server: four
// decisions sent at once — bob three times and the requester withdrawing —
// end with exactly one decision, at most one Argo CD operation, and every
// losing clicker told who decided.
func TestDeployRaceEndToEnd(t *testing.T) {
	s := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := contract.DeployWorkflowID("frontend")
	run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.taskQueue},
		contract.WorkflowDeploy, deployInput("frontend", contract.ActionSync, 0, false))
	if err != nil {
		t.Fatal(err)
	}
	st := waitStep(t, s.tc, id, contract.StepAwaitingApproval)
	bob, alice := contract.User{ID: "U0BOB", Name: "bob"}, contract.User{ID: "U0ALICE", Name: "alice"}
	errs := make(chan error, 4)
	for _, d := range []contract.Decision{{Approve: true, User: bob}, {Approve: false, User: alice}, {Approve: true, User: bob}, {Approve: true, User: bob}} {
		go func() { errs <- s.tc.SignalWorkflow(ctx, id, "", contract.SignalDecision, d) }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var res contract.DeployResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	syncs := s.sim.Calls("Sync", "frontend")
	switch {
	case res.DecidedBy == nil:
		t.Fatalf("result = %+v, want a decision", res)
	case res.Outcome == contract.OutcomeRejected && syncs != 0, res.Outcome != contract.OutcomeRejected && syncs != 1:
		t.Errorf("outcome %s with %d Sync calls", res.Outcome, syncs)
	}
	var answered int
	for _, m := range s.slack.Thread(deployChannel, st.RequestTS) {
		if m.Ephemeral && strings.Contains(m.Text, "was already") && strings.Contains(m.Text, res.DecidedBy.Mention()) {
			answered++
		}
	}
	if answered != 3 {
		t.Errorf("%d losing clicks told who decided, want 3", answered)
	}
	saveHistory(t, s.tc, id, run.GetRunID(), "deploy_race_answered")
}

// TestDeployArgoCDOutageAtApprovalEndToEnd (Step 7, defect 3) on a real
// server: Argo CD is down for 20 s right after the approval; the run waits
// for it, says so in the thread, and then syncs exactly once.
func TestDeployArgoCDOutageAtApprovalEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a 20 s outage")
	}
	s := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := contract.DeployWorkflowID("guestbook")
	run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.taskQueue},
		contract.WorkflowDeploy, deployInput("guestbook", contract.ActionSync, 0, false))
	if err != nil {
		t.Fatal(err)
	}
	st := waitStep(t, s.tc, id, contract.StepAwaitingApproval)
	s.sim.SetDown(true)
	decide(t, s.tc, id, contract.User{ID: "U0BOB", Name: "bob"}, true)
	// While Argo CD is down, the status message in the thread says so.
	told := false
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		for _, m := range s.slack.Thread(deployChannel, st.RequestTS) {
			if strings.Contains(m.Text+string(m.Blocks), "Waiting for Argo CD") {
				told = true
			}
		}
	}
	s.sim.SetDown(false)
	var res contract.DeployResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("outcome %s (%s), want succeeded after the outage", res.Outcome, res.Message)
	}
	if n := s.sim.Calls("Sync", "guestbook"); n != 1 {
		t.Errorf("%d Sync calls, want exactly 1", n)
	}
	if !told {
		t.Error("the thread was never told deploybot waits for Argo CD")
	}
	saveHistory(t, s.tc, id, run.GetRunID(), "deploy_argocd_outage")
}

// TestDeploySlackRateLimitedEndToEnd (Step 7, defect 4) on a real server:
// chat.update answers 429 for a while after the approval; the sync is
// followed and reported from Argo CD as usual, and the final report arrives.
func TestDeploySlackRateLimitedEndToEnd(t *testing.T) {
	s := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := contract.DeployWorkflowID("search")
	run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.taskQueue},
		contract.WorkflowDeploy, deployInput("search", contract.ActionSync, 0, false))
	if err != nil {
		t.Fatal(err)
	}
	st := waitStep(t, s.tc, id, contract.StepAwaitingApproval)
	s.slack.RateLimitNext("chat.update", 5, 3*time.Second)
	decide(t, s.tc, id, contract.User{ID: "U0BOB", Name: "bob"}, true)
	var res contract.DeployResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != contract.OutcomeSucceeded || s.sim.Calls("Sync", "search") != 1 {
		t.Fatalf("outcome %s with %d Sync calls, want succeeded with 1", res.Outcome, s.sim.Calls("Sync", "search"))
	}
	final := ""
	for _, m := range s.slack.Thread(deployChannel, st.RequestTS) {
		if m.TS != st.RequestTS && !m.Ephemeral {
			final = m.Text + string(m.Blocks)
		}
	}
	if !strings.Contains(final, "Synced and Healthy") {
		t.Errorf("the final report did not arrive: last message %q", final)
	}
}
