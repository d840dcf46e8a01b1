package workflows_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
	"github.com/deploybot/deploybot/workflows"
)

var (
	alice   = contract.User{ID: "U0ALICE", Name: "alice"}
	bob     = contract.User{ID: "U0BOB", Name: "bob"}
	mallory = contract.User{ID: "U0MALLORY", Name: "mallory"}
)

// harness runs DeployWorkflow in the test environment with Argo CD and Slack
// activities mocked, and records what Slack was asked to show.
type harness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	slackRecorder
	starts   []activities.StartOperationInput
	prepared []activities.PrepareDeployInput
	disables int
	polls    int
	// states are returned by GetAppState in order; the last one repeats.
	states []activities.AppStateResult
	// pollErr, if set, decides an error for poll n (1-based).
	pollErr func(n int) error
	// prepareErr, if set, is PrepareDeploy's answer.
	prepareErr error
	// prepare, if its Project is set, replaces the default PrepareDeploy result.
	prepare activities.PrepareDeployResult
	// startErrs are returned by StartOperation calls in order (nil = success).
	startErrs []error
	// disabled, if its Removed is set, is DisableAutoSync's answer.
	disabled activities.DisableAutoSyncResult
	// preview is SyncPreview's answer, previewErr its error.
	preview    contract.Preview
	previewErr error
	previewed  []activities.SyncPreviewInput
	// freezes are ActiveFreezes' answer, freezesErr its error; freezeTargets
	// what it was asked.
	freezes       []contract.Freeze
	freezesErr    error
	freezeTargets []string
}

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func newHarness(t *testing.T) *harness {
	var s testsuite.WorkflowTestSuite
	h := &harness{t: t, env: testEnv(&s)}
	env := h.env
	env.RegisterWorkflow(workflows.DeployWorkflow)
	var argo *activities.ArgoCD
	env.RegisterActivity(argo)

	env.OnActivity(argo.PrepareDeploy, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PrepareDeployInput) (activities.PrepareDeployResult, error) {
			h.mu.Lock()
			h.prepared = append(h.prepared, in)
			h.mu.Unlock()
			if h.prepareErr != nil {
				return activities.PrepareDeployResult{}, h.prepareErr
			}
			if h.prepare.Project != "" {
				return h.prepare, nil
			}
			return activities.PrepareDeployResult{Project: "default", CurrentRevision: "aaaaaaa1111", TargetRevision: "bbbbbbb2222",
				SyncStatus: "OutOfSync", Health: "Healthy"}, nil
		}).Maybe()
	h.mockSlack(env)
	var tmp *activities.Temporal
	env.RegisterActivity(tmp)
	env.OnActivity(tmp.ActiveFreezes, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ActiveFreezesInput) ([]contract.Freeze, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.freezeTargets = in.Targets
			return h.freezes, h.freezesErr
		}).Maybe()
	env.OnActivity(argo.SyncPreview, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SyncPreviewInput) (contract.Preview, error) {
			h.mu.Lock()
			h.previewed = append(h.previewed, in)
			h.mu.Unlock()
			return h.preview, h.previewErr
		}).Maybe()
	env.OnActivity(argo.GetAppState, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.AppStateInput) (activities.AppStateResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.polls++
			if h.pollErr != nil {
				if err := h.pollErr(h.polls); err != nil {
					return activities.AppStateResult{}, err
				}
			}
			if len(h.states) == 0 {
				return activities.AppStateResult{}, nil
			}
			st := h.states[0]
			if len(h.states) > 1 {
				h.states = h.states[1:]
			}
			return st, nil
		}).Maybe()
	env.OnActivity(argo.StartOperation, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.StartOperationInput) (activities.StartOperationResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.starts = append(h.starts, in)
			if len(h.startErrs) > 0 {
				err := h.startErrs[0]
				h.startErrs = h.startErrs[1:]
				if err != nil {
					return activities.StartOperationResult{}, err
				}
			}
			return activities.StartOperationResult{}, nil
		}).Maybe()
	env.OnActivity(argo.DisableAutoSync, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.DisableAutoSyncInput) (activities.DisableAutoSyncResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.disables++
			if h.disabled.Removed != nil {
				return h.disabled, nil
			}
			return activities.DisableAutoSyncResult{Removed: &contract.AutoSyncPolicy{Prune: true, SelfHeal: true}}, nil
		}).Maybe()
	return h
}

// healthyTimeline is what Argo CD shows for a sync that goes well: before
// (baseline), pending, running, succeeded but progressing, healthy.
func healthyTimeline() []activities.AppStateResult {
	op := t0.Add(time.Hour)
	return []activities.AppStateResult{
		{OperationStartedAt: t0, Phase: "Succeeded", SyncStatus: "OutOfSync", Health: "Healthy"},
		{OperationPending: true, OperationStartedAt: t0, Phase: "Succeeded", SyncStatus: "OutOfSync", Health: "Healthy"},
		{OperationStartedAt: op, Phase: "Running", SyncStatus: "OutOfSync", Health: "Progressing"},
		{OperationStartedAt: op, Phase: "Succeeded", SyncStatus: "Synced", Health: "Progressing", Revision: "bbbbbbb2222"},
		{OperationStartedAt: op, Phase: "Succeeded", SyncStatus: "Synced", Health: "Healthy", Revision: "bbbbbbb2222"},
	}
}

func input(action contract.Action, historyID int64) contract.DeployInput {
	app := "guestbook"
	if action == contract.ActionRollback {
		app = "payments"
	}
	return contract.DeployInput{
		Request: contract.DeployRequest{App: app, Action: action, HistoryID: historyID, RequestedBy: alice, Channel: "C0DEPLOY"},
		Policy: contract.DeployPolicy{
			Approvers: []string{alice.ID, bob.ID}, ApprovalTimeout: 30 * time.Minute, HealthTimeout: 10 * time.Minute,
			PollInterval: 5 * time.Second, TemporalUIURL: "http://localhost:8233",
		},
	}
}

func (h *harness) click(after time.Duration, u contract.User, approve bool) {
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(contract.SignalDecision, contract.Decision{Approve: approve, User: u, Source: "slack"})
	}, after)
}

func (h *harness) run(in contract.DeployInput) contract.DeployResult {
	h.t.Helper()
	return execute[contract.DeployResult](h.t, h.env, workflows.DeployWorkflow, in)
}

// requestStates lists the states the approval request message went through.
func (h *harness) requestStates() []slackui.RequestState {
	var out []slackui.RequestState
	for _, p := range h.posts {
		if p.Message.DeployRequest != nil {
			out = append(out, p.Message.DeployRequest.State)
		}
	}
	for _, u := range h.updates {
		if u.Message.DeployRequest != nil {
			out = append(out, u.Message.DeployRequest.State)
		}
	}
	return out
}

// lastStatus is the status message as Slack last had it.
func (h *harness) lastStatus() *slackui.DeployStatus {
	for i := len(h.updates) - 1; i >= 0; i-- {
		if s := h.updates[i].Message.DeployStatus; s != nil {
			return s
		}
	}
	return nil
}

func (h *harness) texts() string {
	var b strings.Builder
	for _, p := range h.posts {
		b.WriteString(p.Message.Text + "\n")
	}
	return b.String()
}

func TestDeployApproved(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	h.click(time.Minute, bob, true)
	var atWait contract.DeployStatus
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(contract.QueryStatus)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Get(&atWait); err != nil {
			t.Fatal(err)
		}
	}, 30*time.Second)

	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeSucceeded || res.DecidedBy == nil || res.DecidedBy.ID != bob.ID {
		t.Fatalf("result = %+v", res)
	}
	if res.Revision != "bbbbbbb2222" {
		t.Errorf("revision = %q", res.Revision)
	}
	if atWait.Step != contract.StepAwaitingApproval || atWait.RequestTS == "" || atWait.ExpiresAt.IsZero() {
		t.Errorf("status while waiting = %+v", atWait)
	}
	if len(h.starts) != 1 || h.starts[0].Action != contract.ActionSync || !h.starts[0].BaselineStartedAt.Equal(t0) {
		t.Errorf("StartOperation calls = %+v, want one sync with the baseline", h.starts)
	}
	// Argo CD's operation view is told who asked, who approved, and the run.
	if st := h.starts[0]; st.RequestedBy.ID != input(contract.ActionSync, 0).Request.RequestedBy.ID ||
		st.ApprovedBy == nil || st.ApprovedBy.ID != bob.ID || !strings.Contains(st.Run, "/workflows/") {
		t.Errorf("StartOperation names requester %+v, approver %+v, run %q", st.RequestedBy, st.ApprovedBy, st.Run)
	}
	req := h.posts[0]
	if req.Message.DeployRequest == nil || req.Channel != "C0DEPLOY" || req.ThreadTS != "" {
		t.Fatalf("first post is not the approval request in the channel: %+v", req)
	}
	if r := req.Message.DeployRequest; r.WorkflowID == "" || r.FromRevision != "aaaaaaa1111" || r.ToRevision != "bbbbbbb2222" || !strings.Contains(r.RunURL, "/workflows/") {
		t.Errorf("request view = %+v", r)
	}
	if got := h.requestStates(); len(got) != 2 || got[1] != slackui.RequestApproved {
		t.Errorf("request states = %v, want pending then approved", got)
	}
	// Every later message is in the request's thread, and there is one
	// status message that is edited, not one message per poll.
	statusPosts := 0
	for _, p := range h.posts[1:] {
		if p.ThreadTS != h.posts[0].ThreadTS && p.ThreadTS == "" {
			t.Errorf("message outside the thread: %+v", p)
		}
		if p.Message.DeployStatus != nil {
			statusPosts++
		}
	}
	if statusPosts != 1 {
		t.Errorf("%d status messages posted, want 1", statusPosts)
	}
	last := h.lastStatus()
	if last == nil || last.Outcome != contract.OutcomeSucceeded || last.Health != "Healthy" || last.SyncStatus != "Synced" {
		t.Errorf("final status message = %+v", last)
	}
	if h.polls < 5 {
		t.Errorf("polled %d times, want at least through the whole timeline", h.polls)
	}
}

func TestDeployRejected(t *testing.T) {
	h := newHarness(t)
	h.click(time.Minute, bob, false)
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeRejected || res.DecidedBy.ID != bob.ID {
		t.Fatalf("result = %+v", res)
	}
	if len(h.starts) != 0 {
		t.Errorf("Argo CD was called after a rejection: %+v", h.starts)
	}
	if got := h.requestStates(); got[len(got)-1] != slackui.RequestRejected {
		t.Errorf("request states = %v", got)
	}
}

func TestDeployExpires(t *testing.T) {
	h := newHarness(t)
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeExpired {
		t.Fatalf("result = %+v", res)
	}
	if got := h.requestStates(); got[len(got)-1] != slackui.RequestExpired {
		t.Errorf("request states = %v", got)
	}
	if len(h.starts) != 0 {
		t.Error("Argo CD was called for an expired request")
	}
}

func TestDeployNotAllowedApproverThenAllowed(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	h.click(time.Minute, mallory, true)
	h.click(2*time.Minute, bob, true)
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeSucceeded || res.DecidedBy.ID != bob.ID {
		t.Fatalf("result = %+v", res)
	}
	if len(h.ephemerals) != 1 || h.ephemerals[0].User != mallory.ID || !strings.Contains(h.ephemerals[0].Text, "not an approver") {
		t.Errorf("ephemerals = %+v, want one refusal to mallory", h.ephemerals)
	}
}

func TestDeploySelfApproval(t *testing.T) {
	t.Run("refused by default", func(t *testing.T) {
		h := newHarness(t)
		h.states = healthyTimeline()
		h.click(time.Minute, alice, true)
		h.click(2*time.Minute, bob, true)
		res := h.run(input(contract.ActionSync, 0))
		if res.DecidedBy.ID != bob.ID {
			t.Fatalf("decided by %+v, want bob", res.DecidedBy)
		}
		if len(h.ephemerals) != 1 || h.ephemerals[0].User != alice.ID || !strings.Contains(h.ephemerals[0].Text, "ALLOW_SELF_APPROVAL") {
			t.Errorf("ephemerals = %+v", h.ephemerals)
		}
	})
	t.Run("allowed when configured", func(t *testing.T) {
		h := newHarness(t)
		h.states = healthyTimeline()
		h.click(time.Minute, alice, true)
		in := input(contract.ActionSync, 0)
		in.Policy.AllowSelfApproval = true
		res := h.run(in)
		if res.Outcome != contract.OutcomeSucceeded || res.DecidedBy.ID != alice.ID {
			t.Fatalf("result = %+v", res)
		}
		if len(h.ephemerals) != 0 {
			t.Errorf("ephemerals = %+v", h.ephemerals)
		}
	})
	t.Run("requester may withdraw", func(t *testing.T) {
		h := newHarness(t)
		h.click(time.Minute, alice, false)
		res := h.run(input(contract.ActionSync, 0))
		if res.Outcome != contract.OutcomeRejected {
			t.Fatalf("result = %+v", res)
		}
	})
}

func autoSyncRefusal() error {
	return temporal.NewNonRetryableApplicationError("rollback payments: rollback cannot be initiated when auto-sync is enabled", string(argocd.KindAutoSyncEnabled), nil)
}

func TestRollbackAutoSyncOnFlagOn(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	h.startErrs = []error{autoSyncRefusal(), nil}
	h.click(time.Minute, bob, true)
	in := input(contract.ActionRollback, 3)
	in.Policy.AutoDisableSyncOnRollback = true
	res := h.run(in)
	if res.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("result = %+v", res)
	}
	if h.disables != 1 || len(h.starts) != 2 || h.starts[1].HistoryID != 3 {
		t.Errorf("disables=%d starts=%+v, want 1 disable and the rollback retried once", h.disables, h.starts)
	}
	if res.RemovedAutoSync == nil || !res.RemovedAutoSync.Prune || !res.RemovedAutoSync.SelfHeal {
		t.Errorf("removed policy not recorded: %+v", res.RemovedAutoSync)
	}
	if !strings.Contains(h.texts(), "autosync payments on") {
		t.Errorf("thread does not say how to restore auto-sync:\n%s", h.texts())
	}
}

func TestRollbackAutoSyncOnFlagOff(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	h.startErrs = []error{autoSyncRefusal()}
	h.click(time.Minute, bob, true)
	res := h.run(input(contract.ActionRollback, 3))
	if res.Outcome != contract.OutcomeFailed || !strings.Contains(res.Message, "autosync payments off") || !strings.Contains(res.Message, "AUTO_DISABLE_SYNC_ON_ROLLBACK") {
		t.Fatalf("result = %+v", res)
	}
	if h.disables != 0 {
		t.Error("auto-sync was disabled although the flag is off")
	}
	if last := h.lastStatus(); last == nil || last.Outcome != contract.OutcomeFailed {
		t.Errorf("final status = %+v", last)
	}
}

// A rollback's request shows only the Helm parameters ROLLBACK_TABLE_FIELDS
// names, as rollback_revisions does: the policy's ParamNames reach
// PrepareDeploy (they were never passed, so every value was listed).
func TestRollbackRequestShowsTheConfiguredParams(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	h.click(time.Minute, bob, true)
	in := input(contract.ActionRollback, 3)
	in.Policy.ParamNames = []string{"image.tag", "replicaCount"}
	h.run(in)
	if len(h.prepared) != 1 || !reflect.DeepEqual(h.prepared[0].ParamNames, in.Policy.ParamNames) {
		t.Errorf("PrepareDeploy inputs %+v, want ParamNames %v", h.prepared, in.Policy.ParamNames)
	}
}

// A rollback's request previews the rollback to its history entry (the
// entry's manifests against the live state, the entry as PrepareDeploy
// read it) and shares it like a sync's.
func TestRollbackRequestShowsThePreview(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	target := &activities.RollbackTarget{HistoryID: 3, Revision: "ccccccc3333", Namespace: "default"}
	h.prepare = activities.PrepareDeployResult{Project: "default", CurrentRevision: "aaaaaaa1111", TargetRevision: "ccccccc3333",
		SyncStatus: "Synced", Health: "Healthy", RollbackTarget: target}
	h.preview = contract.Preview{Rollback: &contract.PreviewedRollback{HistoryID: 3, Revision: "ccccccc3333"}, Resources: []contract.ResourceChange{{
		Group: "apps", Kind: "Deployment", Namespace: "default", Name: "payments", Change: contract.ChangeUpdate,
		Fields: []contract.FieldChange{{Path: "spec.template.spec.containers[0].image", From: "pay:1.5", To: "pay:1.4"}},
	}}}
	h.click(time.Minute, bob, true)
	if res := h.run(input(contract.ActionRollback, 3)); res.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("result = %+v", res)
	}
	if len(h.previewed) != 1 || !h.previewed[0].Rollback || h.previewed[0].HistoryID != 3 || !reflect.DeepEqual(h.previewed[0].Target, target) {
		t.Fatalf("SyncPreview inputs %+v, want the rollback to 3 with PrepareDeploy's entry %+v", h.previewed, target)
	}
	if req := h.lastRequest(); req.Preview == nil || req.Preview.Rollback == nil {
		t.Fatalf("request preview = %+v", req.Preview)
	}
	if len(h.uploads) != 1 || !strings.Contains(h.uploads[0].Content, "rollback of payments to history entry 3") ||
		!strings.Contains(h.uploads[0].Filename, "rollback-3-preview") {
		t.Fatalf("uploads = %+v", h.uploads)
	}
}

// A sync's request says what it would change, from Argo CD, and the whole
// preview is shared in its thread; a preview that fails is said and the
// request goes on.
func TestSyncRequestShowsThePreview(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	h.preview = contract.Preview{Resources: []contract.ResourceChange{{
		Group: "apps", Kind: "Deployment", Namespace: "default", Name: "payments", Change: contract.ChangeUpdate,
		Fields: []contract.FieldChange{{Path: "spec.replicas", From: "2", To: "3"}},
	}}}
	h.click(time.Minute, bob, true)
	if res := h.run(input(contract.ActionSync, 0)); res.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("result = %+v", res)
	}
	req := h.lastRequest()
	if req.Preview == nil || len(req.Preview.Resources) != 1 {
		t.Fatalf("request preview = %+v", req.Preview)
	}
	if len(h.uploads) != 1 || h.uploads[0].ThreadTS == "" || !strings.Contains(h.uploads[0].Content, "+ spec.replicas: 3") {
		t.Errorf("uploads = %+v, want the preview file in the request's thread", h.uploads)
	}

	h = newHarness(t)
	h.states = healthyTimeline()
	h.previewErr = temporal.NewNonRetryableApplicationError("permission denied", string(argocd.KindPermissionDenied), nil)
	h.click(time.Minute, bob, true)
	if res := h.run(input(contract.ActionSync, 0)); res.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("with a failed preview: result = %+v", res)
	}
	if req := h.lastRequest(); req.Preview == nil || !strings.Contains(req.Preview.Error, "permission denied") || len(h.uploads) != 0 {
		t.Errorf("with a failed preview: request preview %+v, uploads %d", req.Preview, len(h.uploads))
	}
}

// A decision that comes while the preview file is still being shared
// counts: the wait is open as soon as the request shows.
func TestDecisionDuringThePreviewUploadCounts(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	h.preview = contract.Preview{Resources: []contract.ResourceChange{{Kind: "Deployment", Name: "payments", Change: contract.ChangeUpdate}}}
	var updErr error
	h.env.RegisterDelayedCallback(func() { // the upload takes 30 s
		h.env.UpdateWorkflow(contract.UpdateDecide, "bob", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { updErr = err }, OnComplete: func(_ any, err error) { updErr = err },
		}, contract.Decision{Approve: true, User: bob, Source: "api"})
	}, 10*time.Second)
	h.click(5*time.Minute, bob, true) // in case the update was refused
	res := h.run(input(contract.ActionSync, 0))
	if updErr != nil || res.Outcome != contract.OutcomeSucceeded {
		t.Errorf("bob's decision through the API: %v (result %+v); want it counted", updErr, res)
	}
}

func TestRollbackUnknownHistoryID(t *testing.T) {
	h := newHarness(t)
	h.prepareErr = temporal.NewNonRetryableApplicationError("application argocd/payments does not have deployment with id 99", string(argocd.KindUnknownHistoryID), nil)
	res := h.run(input(contract.ActionRollback, 99))
	if res.Outcome != contract.OutcomeFailed || !strings.Contains(res.Message, "does not have deployment with id 99") {
		t.Fatalf("result = %+v", res)
	}
	if len(h.posts) != 1 || h.posts[0].Message.DeployRequest != nil || !strings.Contains(h.posts[0].Message.Text, "id 99") {
		t.Errorf("want one explanation and no approval request, got %+v", h.posts)
	}
}

func TestDeployDegraded(t *testing.T) {
	h := newHarness(t)
	op := t0.Add(time.Hour)
	bad := []activities.AppStateResult{
		{OperationStartedAt: t0, Phase: "Succeeded", Health: "Healthy"},
		{OperationStartedAt: op, Phase: "Running", Health: "Progressing"},
		{OperationStartedAt: op, Phase: "Succeeded", SyncStatus: "Synced", Health: "Degraded", Unhealthy: []contract.Resource{
			{Kind: "Deployment", Name: "checkout", Health: "Degraded", Message: "Deployment \"checkout\" exceeded its progress deadline"}}},
	}
	h.states = bad
	h.click(time.Minute, bob, true)
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeDegraded || len(res.Unhealthy) != 1 || res.Unhealthy[0].Kind != "Deployment" {
		t.Fatalf("result = %+v", res)
	}
	if last := h.lastStatus(); last == nil || last.Outcome != contract.OutcomeDegraded || len(last.Unhealthy) != 1 {
		t.Errorf("final status = %+v", last)
	}
}

func TestDeployHealthTimeout(t *testing.T) {
	h := newHarness(t)
	op := t0.Add(time.Hour)
	h.states = []activities.AppStateResult{
		{OperationStartedAt: t0, Phase: "Succeeded", Health: "Healthy"},
		{OperationStartedAt: op, Phase: "Running", Health: "Progressing"},
	}
	h.click(time.Minute, bob, true)
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeTimedOut || !strings.Contains(res.Message, "HEALTH_TIMEOUT") {
		t.Fatalf("result = %+v", res)
	}
	if res.Duration < 10*time.Minute {
		t.Errorf("gave up after %s, before the 10m health timeout", res.Duration)
	}
}

func TestDeployArgoDownWhileFollowingThenBack(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	// Polls 3..8 fail as if Argo CD were unreachable; the run must ride it out.
	h.pollErr = func(n int) error {
		if n >= 3 && n <= 8 {
			return temporal.NewApplicationError("Argo CD unavailable", string(argocd.KindUnavailable))
		}
		return nil
	}
	h.click(time.Minute, bob, true)
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("result = %+v", res)
	}
	if len(h.starts) != 1 {
		t.Errorf("StartOperation called %d times, want 1", len(h.starts))
	}
}

func TestDeployOperationFailed(t *testing.T) {
	h := newHarness(t)
	op := t0.Add(time.Hour)
	h.states = []activities.AppStateResult{
		{OperationStartedAt: t0, Phase: "Succeeded", Health: "Healthy"},
		{OperationStartedAt: op, Phase: "Failed", OperationMessage: "one or more objects failed to apply", Health: "Healthy"},
	}
	h.click(time.Minute, bob, true)
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeFailed || !strings.Contains(res.Message, "failed to apply") {
		t.Fatalf("result = %+v", res)
	}
}

func TestDeployCancelledWhileWaiting(t *testing.T) {
	h := newHarness(t)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Minute)
	h.env.ExecuteWorkflow(workflows.DeployWorkflow, input(contract.ActionSync, 0))
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("not completed")
	}
	var res contract.DeployResult
	if err := h.env.GetWorkflowResult(&res); err != nil {
		t.Fatalf("cancelled run should end with a result, got %v", err)
	}
	if res.Outcome != contract.OutcomeCancelled {
		t.Fatalf("result = %+v", res)
	}
	if got := h.requestStates(); got[len(got)-1] != slackui.RequestCancelled {
		t.Errorf("request states = %v", got)
	}
}

func TestDeployRefusesInvalidInput(t *testing.T) {
	for name, mutate := range map[string]func(*contract.DeployInput){
		"bad app name":         func(in *contract.DeployInput) { in.Request.App = "Guest_Book" },
		"rollback without id":  func(in *contract.DeployInput) { in.Request.Action = contract.ActionRollback },
		"unknown action":       func(in *contract.DeployInput) { in.Request.Action = "delete" },
		"no channel":           func(in *contract.DeployInput) { in.Request.Channel = "" },
		"zero approval window": func(in *contract.DeployInput) { in.Policy.ApprovalTimeout = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			in := input(contract.ActionSync, 0)
			mutate(&in)
			h.env.ExecuteWorkflow(workflows.DeployWorkflow, in)
			err := h.env.GetWorkflowError()
			if err == nil || !strings.Contains(err.Error(), workflows.InvalidInputErrorType) {
				t.Fatalf("error = %v, want %s", err, workflows.InvalidInputErrorType)
			}
			if len(h.posts) != 0 {
				t.Error("posted to Slack for an invalid request")
			}
		})
	}
}

func TestDeployWaitsForHealthAssessedAfterTheOperation(t *testing.T) {
	h := newHarness(t)
	op := t0.Add(time.Hour)
	done := op.Add(10 * time.Second)
	h.states = []activities.AppStateResult{
		{OperationStartedAt: t0, Phase: "Succeeded", Health: "Healthy"},
		// Succeeded, but health was assessed before the operation ended: stale.
		{OperationStartedAt: op, OperationFinishedAt: done, ReconciledAt: op, Phase: "Succeeded", SyncStatus: "Synced", Health: "Healthy"},
		{OperationStartedAt: op, OperationFinishedAt: done, ReconciledAt: done.Add(time.Second), Phase: "Succeeded", SyncStatus: "Synced", Health: "Degraded"},
	}
	h.click(time.Minute, bob, true)
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeDegraded {
		t.Fatalf("outcome = %s, want degraded (the stale Healthy must not count)", res.Outcome)
	}
}

func autosyncInput(action contract.Action) contract.DeployInput {
	in := input(contract.ActionSync, 0)
	in.Request.App, in.Request.Action = "payments", action
	return in
}

func TestAutoSyncOffRecordsThePolicy(t *testing.T) {
	h := newHarness(t)
	h.prepare = activities.PrepareDeployResult{Project: "payments", AutoSync: &contract.AutoSyncPolicy{Prune: true, SelfHeal: true}}
	h.click(time.Minute, bob, true)
	res := h.run(autosyncInput(contract.ActionAutoSyncOff))
	if res.Outcome != contract.OutcomeSucceeded || res.RemovedAutoSync == nil || !res.RemovedAutoSync.SelfHeal {
		t.Fatalf("result = %+v", res)
	}
	if h.disables != 1 || len(h.starts) != 0 {
		t.Errorf("disables=%d starts=%d, want 1 and 0", h.disables, len(h.starts))
	}
	if !strings.Contains(res.Message, "autosync payments on") {
		t.Errorf("message does not say how to turn it back on: %s", res.Message)
	}
}

func TestAutoSyncOnRestoresWhatWasRemoved(t *testing.T) {
	for name, tc := range map[string]struct {
		last       activities.LastRemovedAutoSyncResult
		want       contract.AutoSyncPolicy
		wantSource string
	}{
		"restores the removed policy": {
			last:       activities.LastRemovedAutoSyncResult{Policy: &contract.AutoSyncPolicy{Prune: true, SelfHeal: true}, WorkflowID: "deploy-payments", RunID: "r1"},
			want:       contract.AutoSyncPolicy{Prune: true, SelfHeal: true},
			wantSource: "removed by run deploy-payments",
		},
		"falls back to Argo CD's default": {
			want:       contract.AutoSyncPolicy{},
			wantSource: "default automated policy",
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.prepare = activities.PrepareDeployResult{Project: "payments"}
			var argo *activities.ArgoCD
			var hist *activities.Temporal
			h.env.RegisterActivity(hist)
			h.env.OnActivity(hist.LastRemovedAutoSync, mock.Anything, mock.Anything).Return(tc.last, nil)
			var enabled []activities.EnableAutoSyncInput
			h.env.OnActivity(argo.EnableAutoSync, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.EnableAutoSyncInput) (activities.EnableAutoSyncResult, error) {
					enabled = append(enabled, in)
					return activities.EnableAutoSyncResult{}, nil
				})
			h.click(time.Minute, bob, true)
			res := h.run(autosyncInput(contract.ActionAutoSyncOn))
			if res.Outcome != contract.OutcomeSucceeded || !strings.Contains(res.Message, tc.wantSource) {
				t.Fatalf("result = %+v", res)
			}
			if len(enabled) != 1 || enabled[0].Policy != tc.want {
				t.Errorf("EnableAutoSync calls = %+v, want one with %+v", enabled, tc.want)
			}
		})
	}
}

func TestDeployDecidedThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	answers := map[string]error{}
	var bobResult contract.DecisionResult
	update := func(after time.Duration, name string, d contract.Decision) {
		h.env.RegisterDelayedCallback(func() {
			h.env.UpdateWorkflow(contract.UpdateDecide, name, &testsuite.TestUpdateCallback{
				OnAccept: func() {},
				OnReject: func(err error) { answers[name] = err },
				OnComplete: func(v any, err error) {
					answers[name] = err
					if name == "bob" && err == nil {
						bobResult = v.(contract.DecisionResult)
					}
				},
			}, d)
		}, after)
	}
	// alice asked, and self-approval is off: the API applies the same rule.
	update(time.Minute, "alice", contract.Decision{Approve: true, User: alice, Source: "api"})
	update(2*time.Minute, "mallory", contract.Decision{Approve: true, User: mallory, Source: "api"})
	update(3*time.Minute, "bob", contract.Decision{Approve: true, User: bob, Source: "api"})
	res := h.run(input(contract.ActionSync, 0))

	if res.Outcome != contract.OutcomeSucceeded || res.DecidedBy == nil || res.DecidedBy.ID != bob.ID {
		t.Fatalf("result = %+v, want succeeded after bob's API approval", res)
	}
	for _, name := range []string{"alice", "mallory"} {
		var appErr *temporal.ApplicationError
		if !errors.As(answers[name], &appErr) || appErr.Type() != contract.DecisionNotAllowedErrorType {
			t.Errorf("%s's update: %v, want %s", name, answers[name], contract.DecisionNotAllowedErrorType)
		}
	}
	if answers["bob"] != nil || bobResult.Outcome != contract.OutcomeApproved {
		t.Errorf("bob's update: %v, %+v", answers["bob"], bobResult)
	}
	if len(h.starts) != 1 || len(h.ephemerals) != 0 {
		t.Errorf("starts %d, ephemerals %+v; want one start and no Slack refusals", len(h.starts), h.ephemerals)
	}
}

// TestDeployRaceLosersAreAnswered (Step 7, defect 6): four approvals at
// the same moment, or an approval racing the requester's withdrawal: the
// first decides, and every other clicker is told who decided, both while
// the run goes on and for clicks still queued when it ends.
func TestDeployRaceLosersAreAnswered(t *testing.T) {
	carol := contract.User{ID: "U0CAROL", Name: "carol"}
	dave := contract.User{ID: "U0DAVE", Name: "dave"}
	t.Run("four approvals at once", func(t *testing.T) {
		h := newHarness(t)
		h.states = healthyTimeline()
		for _, u := range []contract.User{bob, carol, dave, bob} {
			h.click(time.Minute, u, true)
		}
		// A late click while the run follows Argo CD.
		h.click(time.Minute+time.Second, carol, true)
		in := input(contract.ActionSync, 0)
		in.Policy.Approvers = []string{bob.ID, carol.ID, dave.ID}
		res := h.run(in)
		if res.Outcome != contract.OutcomeSucceeded || res.DecidedBy == nil || res.DecidedBy.ID != bob.ID {
			t.Fatalf("result = %+v, want succeeded, approved by bob", res)
		}
		if len(h.starts) != 1 {
			t.Errorf("%d Argo CD operations, want exactly 1", len(h.starts))
		}
		if len(h.ephemerals) != 4 {
			t.Fatalf("%d answers to the losing clicks, want 4: %+v", len(h.ephemerals), h.ephemerals)
		}
		for _, e := range h.ephemerals {
			if !strings.Contains(e.Text, "already approved by <@U0BOB>") {
				t.Errorf("answer to %s = %q, want who approved", e.User, e.Text)
			}
		}
	})
	t.Run("approval races the withdrawal", func(t *testing.T) {
		h := newHarness(t)
		h.click(time.Minute, alice, false) // the requester withdraws
		h.click(time.Minute, bob, true)
		res := h.run(input(contract.ActionSync, 0))
		if res.Outcome != contract.OutcomeRejected || len(h.starts) != 0 {
			t.Fatalf("result = %+v with %d operations, want withdrawn and nothing done", res, len(h.starts))
		}
		if len(h.ephemerals) != 1 || h.ephemerals[0].User != bob.ID || !strings.Contains(h.ephemerals[0].Text, "already rejected by <@U0ALICE>") {
			t.Errorf("answers = %+v, want bob told it was already rejected by alice", h.ephemerals)
		}
	})
}

// TestDeployCountsClicksOnItsOwnRequestOnly (Step 7, defect 7): a signed
// click whose button names this run but sits on another message (another
// app's request, an old request) is refused; a click on the run's own
// request message counts, and so does a decision without a message (the
// runs API).
func TestDeployCountsClicksOnItsOwnRequestOnly(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(contract.SignalDecision, contract.Decision{Approve: true, User: bob, Source: "slack", MessageTS: "1700000000.000100"})
	}, time.Minute)
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(contract.QueryStatus)
		if err != nil {
			t.Fatal(err)
		}
		var st contract.DeployStatus
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		h.env.SignalWorkflow(contract.SignalDecision, contract.Decision{Approve: true, User: bob, Source: "slack", MessageTS: st.RequestTS})
	}, 2*time.Minute)
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeSucceeded || len(h.starts) != 1 {
		t.Fatalf("result = %+v with %d operations", res, len(h.starts))
	}
	if len(h.ephemerals) != 1 || !strings.Contains(h.ephemerals[0].Text, "not on this run's request message") {
		t.Errorf("answers = %+v, want the click on another message refused", h.ephemerals)
	}
	if req := h.posts[0].Message.DeployRequest; req == nil || req.RunID == "" {
		t.Errorf("the request view has no run id for its buttons: %+v", req)
	}
}

// TestDeploySlackRateLimitedDoesNotChangeTheOutcome (Step 7, defect 4):
// while chat.update answers 429 for minutes, the run still follows Argo CD
// at its own pace and its outcome comes from Argo CD alone; the final
// report arrives once Slack takes edits again.
func TestDeploySlackRateLimitedDoesNotChangeTheOutcome(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	h.click(time.Minute, bob, true)
	// The first 12 edits are refused, 30s apart: six minutes of 429s,
	// longer than the health timeout.
	refused := 0
	h.updateErr = func() error {
		if refused < 12 {
			refused++
			return temporal.NewApplicationErrorWithOptions("slack chat.update: rate limited, retrying after 30s", activities.SlackRateLimitedErrorType,
				temporal.ApplicationErrorOptions{NextRetryDelay: 30 * time.Second})
		}
		return nil
	}
	in := input(contract.ActionSync, 0)
	in.Policy.HealthTimeout = 3 * time.Minute
	res := h.run(in)
	if res.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("outcome %s (%s) while Slack was rate limited, want succeeded: Argo CD says Healthy", res.Outcome, res.Message)
	}
	if h.polls < len(healthyTimeline()) {
		t.Errorf("polled Argo CD %d times, want the whole timeline", h.polls)
	}
	last := h.lastStatus()
	if last == nil || last.Outcome != contract.OutcomeSucceeded {
		t.Errorf("final status message = %+v, want the success shown once Slack took edits again", last)
	}
}

// TestDeployRidesOutAnArgoCDOutageAfterApproval (Step 7, defect 3): Argo CD
// unreachable right after the approval, for longer than the first round of
// retries, does not throw the approval away: the thread says deploybot is
// waiting for Argo CD, and once it answers exactly one operation starts.
func TestDeployRidesOutAnArgoCDOutageAfterApproval(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	h.click(time.Minute, bob, true)
	// The first 8 reads fail: more than readOnlyActivityOptions' 5 attempts.
	h.pollErr = func(n int) error {
		if n <= 8 {
			return temporal.NewApplicationError("get guestbook: Argo CD is unavailable (connection refused)", string(argocd.KindUnavailable))
		}
		return nil
	}
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("outcome %s (%s), want succeeded after the outage", res.Outcome, res.Message)
	}
	if len(h.starts) != 1 {
		t.Errorf("%d operations started, want exactly 1", len(h.starts))
	}
	waited := false
	for _, u := range h.updates {
		if s := u.Message.DeployStatus; s != nil && strings.Contains(s.Message, "Waiting for Argo CD") {
			waited = true
		}
	}
	if !waited {
		t.Error("the thread was never told deploybot waits for Argo CD")
	}
}
