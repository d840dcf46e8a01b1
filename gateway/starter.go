package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// Memo keys the gateway sets on every run it starts. MemoRequestID is how a
// retried or replayed Slack request is recognised as one already handled,
// without the gateway keeping any state of its own.
const (
	// MemoRequestID is the Slack request that started the run: the event_id
	// of a mention, the trigger_id of a slash command.
	MemoRequestID = "slack_event_id"
	// MemoRequestedBy is the Slack user id of the requester.
	MemoRequestedBy = "requested_by"
	// MemoAction is the deploy action (deploy runs only).
	MemoAction = "action"
	// MemoEmergency is the reason of a break-glass sync, so the Temporal
	// UI's list shows which runs went outside the usual rules.
	MemoEmergency = "emergency"
)

// Run identifies one workflow run.
type Run struct {
	WorkflowID string
	RunID      string
}

// RunInfo is what the gateway needs to know about a run.
type RunInfo struct {
	Run
	// Type is the workflow type, e.g. DeployWorkflow.
	Type string
	// Running is false once the run has closed, whatever the reason.
	Running bool
	// Status is Temporal's status in lowercase: running, completed, failed,
	// canceled, terminated, continued_as_new, timed_out.
	Status string
	// Outcome is the DeployOutcome or SastOutcome search attribute, if the
	// run set one.
	Outcome   string
	StartTime time.Time
	// CloseTime is zero while the run is open.
	CloseTime time.Time
	// Freeze is a freeze run's freeze (from its memo).
	Freeze *contract.Freeze
	// RequestID, RequestedBy and Action come from the memo the gateway set.
	RequestID   string
	RequestedBy string
	Action      string
	// Attrs are the run's Keyword search attributes by name (DeployApp,
	// ApprovedBy, SastProject, ...), as visibility last saw them.
	Attrs map[string]string
}

// Ended says how a closed run ended: its outcome if it recorded one, else
// Temporal's status.
func (i RunInfo) Ended() string {
	if i.Outcome != "" {
		return i.Outcome
	}
	return i.Status
}

// AlreadyStartedError is returned by the Starter when the workflow id is
// taken: a deploy run is in flight for the app, or a command workflow for
// the same Slack request exists.
type AlreadyStartedError struct {
	Run
}

// Error says which workflow id is taken and by which run.
func (e *AlreadyStartedError) Error() string {
	return fmt.Errorf("workflow %s is already started (run %s)", e.WorkflowID, e.RunID).Error()
}

// ErrNotFound means the workflow (or the run) does not exist, or has
// already closed when a signal was sent to it.
var ErrNotFound = errors.New("workflow not found or no longer running")

// Starter is everything the gateway asks of Temporal. TemporalStarter is
// the real one; it is an interface so handlers can be tested against
// failures Temporal cannot easily be made to produce.
type Starter interface {
	// StartDeploy starts DeployWorkflow with id contract.DeployWorkflowID(app),
	// refusing (AlreadyStartedError) while one runs for the app.
	StartDeploy(ctx context.Context, in contract.DeployInput, requestID string) (Run, error)
	// StartCommand starts a read-only command workflow under id, refusing
	// (AlreadyStartedError) if id was ever used: the id is derived from the
	// Slack request, so a second start is a retry.
	StartCommand(ctx context.Context, workflowType, id string, in contract.CommandInput, requestID string) (Run, error)
	// SignalDecision delivers d to the run (runID "" = the current run);
	// ErrNotFound if it is not running.
	SignalDecision(ctx context.Context, workflowID, runID string, d contract.Decision) error
	// DescribeRun describes the run (runID "" = the latest); ErrNotFound if
	// there is none.
	DescribeRun(ctx context.Context, workflowID, runID string) (RunInfo, error)
	// StartQualityGate starts QualityGateWorkflow with id
	// contract.SASTWorkflowID(in.Analysis.Key), refusing
	// (AlreadyStartedError) if the id was ever used: SonarQube may deliver
	// an analysis twice, and it must be decided once.
	StartQualityGate(ctx context.Context, in contract.QualityGateInput) (Run, error)
	// QueryStatus decodes the run's answer to contract.QueryStatus into v
	// (a DeployStatus or a QualityGateStatus).
	QueryStatus(ctx context.Context, workflowID, runID string, v any) error
	// Result decodes the result of a completed run into v.
	Result(ctx context.Context, workflowID, runID string, v any) error
	// StartFreeze starts FreezeWorkflow with id
	// contract.FreezeWorkflowID(in.Target), refusing (AlreadyStartedError)
	// while one runs; the freeze is kept in its memo.
	StartFreeze(ctx context.Context, in contract.FreezeInput, requestID string) (Run, error)
	// SignalUnfreeze lifts target's freeze; ErrNotFound if none runs.
	SignalUnfreeze(ctx context.Context, target string, by contract.User) error
	// ListRuns returns at most limit runs matching a visibility query, in
	// the order visibility gives them.
	ListRuns(ctx context.Context, query string, limit int) ([]RunInfo, error)
	// Decide sends d as the contract.UpdateDecide update and waits for the
	// run's answer. A refusal by the run is a *temporal.ApplicationError
	// whose type is one of contract's Decision*ErrorType; ErrNotFound if
	// the run does not exist or has closed; a
	// *client.WorkflowUpdateServiceTimeoutOrCanceledError if no worker
	// answered before ctx ended.
	Decide(ctx context.Context, workflowID, runID string, d contract.Decision) (contract.DecisionResult, error)
}

// TemporalStarter is the Starter over a Temporal client.
type TemporalStarter struct {
	Client    client.Client
	TaskQueue string
	// Instances routes the runs of an app@instance to the instance's task
	// queue (if it has one) and tags them with SearchAttrArgoCDInstance;
	// the zero value (one unnamed Argo CD) does neither.
	Instances config.ArgoCDInstances
}

// route is the task queue and search attributes of a run acting on app.
func (t *TemporalStarter) route(app string) (string, temporal.SearchAttributes) {
	_, name := contract.SplitInstance(app)
	inst, ok := t.Instances.Get(name)
	if !ok || inst.Name == "" {
		return t.TaskQueue, temporal.SearchAttributes{}
	}
	q := inst.TaskQueue
	if q == "" {
		q = t.TaskQueue
	}
	return q, temporal.NewSearchAttributes(contract.SearchAttrArgoCDInstance.ValueSet(inst.Name))
}

var _ Starter = (*TemporalStarter)(nil)

// StartDeploy implements Starter.
func (t *TemporalStarter) StartDeploy(ctx context.Context, in contract.DeployInput, requestID string) (Run, error) {
	id := contract.DeployWorkflowID(in.Request.App)
	queue, attrs := t.route(in.Request.App)
	opts := client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             queue,
		TypedSearchAttributes: attrs,
		// One mutating run per app: a second start while one runs fails; a
		// start after the last one closed is a new request and may run.
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		Memo: map[string]any{
			MemoRequestID:   requestID,
			MemoRequestedBy: in.Request.RequestedBy.ID,
			MemoAction:      string(in.Request.Action),
		},
		// The Temporal UI's run list and run page tell the request.
		StaticSummary: slackui.DeploySummary(in.Request, in.Emergency != nil),
		StaticDetails: slackui.DeployDetails(in),
	}
	if in.Emergency != nil {
		opts.Memo[MemoEmergency] = in.Emergency.Reason
	}
	return t.start(ctx, opts, contract.WorkflowDeploy, in)
}

// StartCommand implements Starter.
func (t *TemporalStarter) StartCommand(ctx context.Context, workflowType, id string, in contract.CommandInput, requestID string) (Run, error) {
	queue, attrs := t.route(in.App)
	opts := client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             queue,
		TypedSearchAttributes: attrs,
		// The id comes from the Slack request; reusing it, even after the
		// run closed, can only be a retry or a replay.
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		Memo: map[string]any{
			MemoRequestID:   requestID,
			MemoRequestedBy: in.RequestedBy.ID,
		},
		StaticSummary: slackui.CommandSummary(in.Command, in),
	}
	return t.start(ctx, opts, workflowType, in)
}

// StartFreeze implements Starter.
func (t *TemporalStarter) StartFreeze(ctx context.Context, in contract.FreezeInput, requestID string) (Run, error) {
	f := contract.Freeze{Target: in.Target, Reason: in.Reason, By: in.By, Since: time.Now().UTC(), Until: in.Until}
	opts := client.StartWorkflowOptions{
		ID:        contract.FreezeWorkflowID(in.Target),
		TaskQueue: t.TaskQueue,
		// One freeze per target at a time; a new one may follow the last.
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// Changes read the freeze from here, needing no worker to answer.
		Memo:          map[string]any{contract.MemoFreeze: f, MemoRequestID: requestID, MemoRequestedBy: in.By.ID},
		StaticSummary: slackui.FreezeSummary(f),
	}
	return t.start(ctx, opts, contract.WorkflowFreeze, in)
}

// SignalUnfreeze implements Starter.
func (t *TemporalStarter) SignalUnfreeze(ctx context.Context, target string, by contract.User) error {
	return notFound(t.Client.SignalWorkflow(ctx, contract.FreezeWorkflowID(target), "", contract.SignalUnfreeze, by))
}

// StartQualityGate implements Starter.
func (t *TemporalStarter) StartQualityGate(ctx context.Context, in contract.QualityGateInput) (Run, error) {
	a := in.Analysis
	opts := client.StartWorkflowOptions{
		ID:        contract.SASTWorkflowID(a.Key),
		TaskQueue: t.TaskQueue,
		// The id is the analysis': a second start, even after the run
		// ended, is SonarQube delivering the same analysis again.
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// Set at start, not only by the workflow, so visibility (the runs
		// API, `sast wait`) finds the run as soon as the webhook is answered.
		TypedSearchAttributes: temporal.NewSearchAttributes(contract.SASTSearchAttributes(a)...),
		// Orders the runs of a branch (which delivery is the gate's current
		// state) from visibility alone, for the runs that supersede others.
		Memo:          map[string]any{contract.MemoSASTEvaluatedAt: a.EvaluatedAt().UTC().Format(time.RFC3339Nano)},
		StaticSummary: slackui.GateSummary(a),
	}
	return t.start(ctx, opts, contract.WorkflowQualityGate, in)
}

func (t *TemporalStarter) start(ctx context.Context, opts client.StartWorkflowOptions, workflowType string, in any) (Run, error) {
	run, err := t.Client.ExecuteWorkflow(ctx, opts, workflowType, in)
	if err != nil {
		var dup *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &dup) {
			return Run{}, &AlreadyStartedError{Run{WorkflowID: opts.ID, RunID: dup.RunId}}
		}
		return Run{}, err
	}
	return Run{WorkflowID: run.GetID(), RunID: run.GetRunID()}, nil
}

// SignalDecision implements Starter.
func (t *TemporalStarter) SignalDecision(ctx context.Context, workflowID, runID string, d contract.Decision) error {
	return notFound(t.Client.SignalWorkflow(ctx, workflowID, runID, contract.SignalDecision, d))
}

// DescribeRun implements Starter.
func (t *TemporalStarter) DescribeRun(ctx context.Context, workflowID, runID string) (RunInfo, error) {
	resp, err := t.Client.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return RunInfo{}, notFound(err)
	}
	return runInfo(resp.GetWorkflowExecutionInfo()), nil
}

// QueryStatus implements Starter.
func (t *TemporalStarter) QueryStatus(ctx context.Context, workflowID, runID string, v any) error {
	val, err := t.Client.QueryWorkflow(ctx, workflowID, runID, contract.QueryStatus)
	if err != nil {
		return notFound(err)
	}
	return val.Get(v)
}

// Result implements Starter.
func (t *TemporalStarter) Result(ctx context.Context, workflowID, runID string, v any) error {
	return notFound(t.Client.GetWorkflow(ctx, workflowID, runID).Get(ctx, v))
}

// ListRuns implements Starter.
func (t *TemporalStarter) ListRuns(ctx context.Context, query string, limit int) ([]RunInfo, error) {
	var out []RunInfo
	var token []byte
	for len(out) < limit {
		resp, err := t.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			PageSize: int32(limit - len(out)), NextPageToken: token, Query: query,
		})
		if err != nil {
			return nil, err
		}
		for _, wi := range resp.GetExecutions() {
			if len(out) < limit {
				out = append(out, runInfo(wi))
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return out, nil
}

// Decide implements Starter.
func (t *TemporalStarter) Decide(ctx context.Context, workflowID, runID string, d contract.Decision) (contract.DecisionResult, error) {
	var res contract.DecisionResult
	h, err := t.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, RunID: runID,
		UpdateName: contract.UpdateDecide, Args: []any{d},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &res)
	}
	return res, notFound(err)
}

// notFound wraps Temporal's NotFound in ErrNotFound; other errors pass as
// they are.
func notFound(err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}

// runInfo reads what the gateway needs from Temporal's description of a
// run (DescribeWorkflowExecution and visibility share the shape).
func runInfo(wi *workflowpb.WorkflowExecutionInfo) RunInfo {
	info := RunInfo{
		Run:     Run{WorkflowID: wi.GetExecution().GetWorkflowId(), RunID: wi.GetExecution().GetRunId()},
		Type:    wi.GetType().GetName(),
		Running: wi.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		Status:  statusName(wi.GetStatus()),
	}
	if ts := wi.GetStartTime(); ts != nil {
		info.StartTime = ts.AsTime()
	}
	if ts := wi.GetCloseTime(); ts != nil && !info.Running {
		info.CloseTime = ts.AsTime()
	}
	dc := converter.GetDefaultDataConverter()
	str := func(fields map[string]*commonpb.Payload, key string) string {
		var s string
		if p := fields[key]; p != nil {
			_ = dc.FromPayload(p, &s)
		}
		return s
	}
	memo := wi.GetMemo().GetFields()
	info.RequestID = str(memo, MemoRequestID)
	info.RequestedBy = str(memo, MemoRequestedBy)
	info.Action = str(memo, MemoAction)
	if p := memo[contract.MemoFreeze]; p != nil {
		var f contract.Freeze
		if dc.FromPayload(p, &f) == nil {
			f.WorkflowID, f.RunID = info.WorkflowID, info.RunID
			info.Freeze = &f
		}
	}
	info.Attrs = map[string]string{}
	for name, p := range wi.GetSearchAttributes().GetIndexedFields() {
		// Keyword lists and non-string system attributes do not decode
		// into a string; the gateway reads none of them.
		var v string
		if dc.FromPayload(p, &v) == nil && v != "" {
			info.Attrs[name] = v
		}
	}
	info.Outcome = info.Attrs[contract.SearchAttrDeployOutcome.GetName()]
	if info.Outcome == "" {
		info.Outcome = info.Attrs[contract.SearchAttrSASTOutcome.GetName()]
	}
	return info
}

func statusName(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued_as_new"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed_out"
	}
	return "unknown"
}

// temporalBusy reports whether Temporal did not answer within the gateway's
// deadline, or said it is overloaded: a server that is up but behind (at
// load, the local dev server), which a moment later may answer.
func temporalBusy(err error) bool {
	if err == nil {
		return false
	}
	var exhausted *serviceerror.ResourceExhausted
	var deadline *serviceerror.DeadlineExceeded
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &exhausted) || errors.As(err, &deadline) {
		return true
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return false
}

// temporalUnavailable reports errors that mean Temporal could not be
// reached in time, as opposed to Temporal answering "no".
func temporalUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	if errors.As(err, &unavailable) || errors.As(err, &deadline) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}
