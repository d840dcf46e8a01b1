package activities

import (
	"context"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// Error types of the Temporal activities.
const (
	// TemporalErrorType is a non-retryable error from Temporal (no such
	// namespace, permission denied, no client configured).
	TemporalErrorType = "TemporalError"
)

// Temporal groups the activities that read deploybot's own runs through the
// Temporal client (workflows cannot call the client themselves).
type Temporal struct {
	Client client.Client
}

// DeployRunInput is the input of Temporal.DeployRun.
type DeployRunInput struct {
	App string
}

// DeployRunResult describes the app's deploybot run (DeployWorkflowID(app)).
type DeployRunResult struct {
	// Found is false when the app never had a run (or it is past retention).
	Found      bool
	Running    bool
	WorkflowID string
	RunID      string
	// State is Temporal's execution status: Running, Completed, Failed, ...
	State     string
	StartedAt time.Time
	ClosedAt  time.Time
	// Status is the running run's answer to contract.QueryStatus; nil when
	// the run is over or the query failed (QueryError says why).
	Status     *contract.DeployStatus
	QueryError string
}

// DeployRun looks up the latest run of the app's DeployWorkflow and, if it
// is running, asks it for its status. A failed query (e.g. no worker is
// polling) only sets QueryError: that the run is in flight is the main news.
func (t *Temporal) DeployRun(ctx context.Context, in DeployRunInput) (DeployRunResult, error) {
	if t.Client == nil {
		return DeployRunResult{}, temporal.NewNonRetryableApplicationError("temporal: the worker has no Temporal client for activities (worker.Deps.Temporal)", TemporalErrorType, nil)
	}
	id := contract.DeployWorkflowID(in.App)
	desc, err := t.Client.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return DeployRunResult{WorkflowID: id}, nil
	case err != nil:
		return DeployRunResult{}, temporalError("describe "+id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	res := DeployRunResult{
		Found:      true,
		WorkflowID: id,
		RunID:      info.GetExecution().GetRunId(),
		State:      statusName(info.GetStatus()),
		Running:    info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
	}
	if ts := info.GetStartTime(); ts != nil {
		res.StartedAt = ts.AsTime()
	}
	if ts := info.GetCloseTime(); ts != nil && !res.Running {
		res.ClosedAt = ts.AsTime()
	}
	if !res.Running {
		return res, nil
	}
	v, err := t.Client.QueryWorkflow(ctx, id, res.RunID, contract.QueryStatus)
	if err != nil {
		if ctx.Err() != nil {
			return DeployRunResult{}, err
		}
		res.QueryError = err.Error()
		return res, nil
	}
	var st contract.DeployStatus
	if err := v.Get(&st); err != nil {
		res.QueryError = "cannot decode the run's status: " + err.Error()
		return res, nil
	}
	res.Status = &st
	return res, nil
}

// statusName is "Running", "Completed", ... for an execution status.
func statusName(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "Running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "Completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "Failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "Canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "Terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "ContinuedAsNew"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "TimedOut"
	}
	return s.String()
}

// temporalError retries what may pass (unavailable, deadline, busy) and
// stops on what a person must fix.
func temporalError(op string, err error) error {
	var (
		nsNotFound *serviceerror.NamespaceNotFound
		denied     *serviceerror.PermissionDenied
		invalid    *serviceerror.InvalidArgument
	)
	switch {
	case errors.As(err, &nsNotFound):
		return temporal.NewNonRetryableApplicationError("temporal: "+op+": "+err.Error()+": check TEMPORAL_NAMESPACE", TemporalErrorType, err)
	case errors.As(err, &denied):
		return temporal.NewNonRetryableApplicationError("temporal: "+op+": "+err.Error()+": the worker's Temporal credentials may not read workflows", TemporalErrorType, err)
	case errors.As(err, &invalid):
		return temporal.NewNonRetryableApplicationError("temporal: "+op+": "+err.Error(), TemporalErrorType, err)
	}
	return err
}

// ActiveFreezesInput is the input of Temporal.ActiveFreezes.
type ActiveFreezesInput struct {
	// Targets are looked up by their freeze's workflow id (FreezeWorkflowID).
	Targets []string
}

// ActiveFreezes are the freezes in force on targets, read from their runs'
// memo: a lookup by id, so a freeze started a moment ago is seen (a
// visibility list might lag), and no worker needs to answer.
func (t *Temporal) ActiveFreezes(ctx context.Context, in ActiveFreezesInput) ([]contract.Freeze, error) {
	if t.Client == nil {
		return nil, temporal.NewNonRetryableApplicationError("temporal: the worker has no Temporal client for activities (worker.Deps.Temporal)", TemporalErrorType, nil)
	}
	var out []contract.Freeze
	for _, target := range in.Targets {
		id := contract.FreezeWorkflowID(target)
		desc, err := t.Client.DescribeWorkflowExecution(ctx, id, "")
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
			continue
		case err != nil:
			return nil, temporalError("describe "+id, err)
		}
		info := desc.GetWorkflowExecutionInfo()
		if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			continue
		}
		var f contract.Freeze
		p := info.GetMemo().GetFields()[contract.MemoFreeze]
		if p == nil || converter.GetDefaultDataConverter().FromPayload(p, &f) != nil {
			// A run without the memo is not one the gateway started: say
			// frozen anyway, rather than let a change through.
			f = contract.Freeze{Target: target, Reason: slackui.FreezeWithoutDetails(id)}
		}
		f.WorkflowID, f.RunID = id, info.GetExecution().GetRunId()
		if !f.Until.IsZero() && !f.Until.After(time.Now()) {
			continue // its timer is due: over
		}
		out = append(out, f)
	}
	return out, nil
}
