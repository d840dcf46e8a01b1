package activities

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/internal/contract"
)

// LastRemovedAutoSyncInput is the input of Temporal.LastRemovedAutoSync.
type LastRemovedAutoSyncInput struct {
	App string
	// Namespace to search; "" = the activity's own.
	Namespace string
}

// LastRemovedAutoSyncResult is the automated policy the most recent
// deploybot run removed from the app, if any.
type LastRemovedAutoSyncResult struct {
	Policy *contract.AutoSyncPolicy
	// WorkflowID and RunID name the run that removed it.
	WorkflowID, RunID string
	RemovedAt         time.Time
}

// lastRemovedScan bounds how many finished runs are read: enough for any
// realistic gap between turning auto-sync off and back on.
const lastRemovedScan = 100

// LastRemovedAutoSync finds the most recent finished deploy run of the app
// that turned auto-sync off (a rollback under AUTO_DISABLE_SYNC_ON_ROLLBACK,
// or `autosync APP off`) and returns the policy it recorded, so
// `autosync APP on` restores exactly that.
func (t *Temporal) LastRemovedAutoSync(ctx context.Context, in LastRemovedAutoSyncInput) (LastRemovedAutoSyncResult, error) {
	// The name goes into a visibility query: accept only valid app names.
	if err := contract.ValidateAppName(in.App); err != nil {
		return LastRemovedAutoSyncResult{}, temporal.NewNonRetryableApplicationError(err.Error(), TemporalErrorType, nil)
	}
	ns := in.Namespace
	if ns == "" {
		ns = activity.GetInfo(ctx).WorkflowNamespace
	}
	query := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' AND ExecutionStatus = 'Completed' AND %s = '%s'",
		contract.WorkflowDeploy, contract.SearchAttrDeployApp.GetName(), in.App,
		contract.SearchAttrDeployOutcome.GetName(), contract.OutcomeSucceeded)
	type run struct {
		id, runID string
		closed    time.Time
	}
	var runs []run
	var token []byte
	for len(runs) < lastRemovedScan {
		resp, err := t.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: ns, Query: query, PageSize: lastRemovedScan, NextPageToken: token,
		})
		if err != nil {
			return LastRemovedAutoSyncResult{}, fmt.Errorf("list deploy runs of %s in Temporal: %w", in.App, err)
		}
		for _, e := range resp.Executions {
			runs = append(runs, run{id: e.Execution.WorkflowId, runID: e.Execution.RunId, closed: e.CloseTime.AsTime()})
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			break
		}
	}
	// Newest first, whatever order the visibility store returns.
	sort.Slice(runs, func(i, j int) bool { return runs[i].closed.After(runs[j].closed) })
	for _, r := range runs {
		var res contract.DeployResult
		if err := t.Client.GetWorkflow(ctx, r.id, r.runID).Get(ctx, &res); err != nil {
			return LastRemovedAutoSyncResult{}, fmt.Errorf("read the result of run %s/%s: %w", r.id, r.runID, err)
		}
		if res.Action == contract.ActionAutoSyncOn {
			// Restored since: nothing deploybot removed is pending.
			return LastRemovedAutoSyncResult{}, nil
		}
		if res.RemovedAutoSync != nil {
			return LastRemovedAutoSyncResult{Policy: res.RemovedAutoSync, WorkflowID: r.id, RunID: r.runID, RemovedAt: r.closed}, nil
		}
	}
	return LastRemovedAutoSyncResult{}, nil
}
