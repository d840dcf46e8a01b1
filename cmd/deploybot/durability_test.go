package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/internal/smtpsink"
	"github.com/deploybot/deploybot/internal/testenv"
)

// workerProcess is `deploybot worker` running as a separate process.
type workerProcess struct {
	cmd *exec.Cmd
	out *testenv.SyncBuffer
}

func startWorker(t *testing.T, env []string) *workerProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "worker")
	// Each worker serves its health endpoints on a port of its own.
	port := fmt.Sprintf("HTTP_PORT=%d", testenv.FreePort(t))
	cmd.Env = append(os.Environ(), append([]string{"DEPLOYBOT_RUN_MAIN=1", "HTTP_HOST=127.0.0.1", port}, env...)...)
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProcess{cmd: cmd, out: out}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("worker pid %d output:\n%s", cmd.Process.Pid, out.String())
		}
	})
	return w
}

// kill ends the worker with SIGKILL: no graceful shutdown, no cleanup.
func (w *workerProcess) kill(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w.cmd.Wait()
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
// run waits for approval and again while it follows the operation; fresh
// workers pick the run up, it completes, and Argo CD got exactly one sync.
func TestDurabilityWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts worker processes")
	}
	srv := testenv.StartTemporal(t)
	// A long operation so the second kill lands while the run follows it.
	simAddr, sim := simtest.Start(t, argocdsim.Options{OperationDuration: 8 * time.Second})
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
	waitForStep(t, tc, id, contract.StepFollowing)
	if n := sim.Calls("Sync", "guestbook"); n != 1 {
		t.Fatalf("Sync calls before the second kill = %d, want 1", n)
	}
	w2.kill(t)

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
// quality gate waits for a security approver; a fresh worker takes the
// decision, and the request and the email each exist exactly once.
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
	sink, err := smtpsink.Start("127.0.0.1:0", smtpsink.Options{})
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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

	startWorker(t, env)
	if err := tc.SignalWorkflow(ctx, id, "", contract.SignalDecision,
		contract.Decision{Approve: true, User: contract.User{ID: "U0BOB", Name: "bob"}, Source: "test"}); err != nil {
		t.Fatal(err)
	}
	var res contract.QualityGateResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != contract.OutcomeAccepted || res.EmailError != "" {
		t.Fatalf("result after the worker was killed = %+v", res)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("%d emails for one decision, want exactly 1", n)
	}
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
