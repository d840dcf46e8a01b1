// Package workflows holds deploybot's deterministic orchestration: each
// workflow reads top to bottom as the business process, keeps its state in a
// struct, and does every side effect through an activity. Nothing here does
// I/O, reads the clock, starts goroutines or ranges over a map for output.
package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
)

// ListAppsWorkflow answers `list_apps`: it reads the applications from Argo CD
// through an activity, so the read is audited in Temporal and the caller (the
// gateway) never needs Argo CD credentials.
func ListAppsWorkflow(ctx workflow.Context, in contract.CommandInput) (contract.ListAppsResult, error) {
	ctx = workflow.WithActivityOptions(ctx, readOnlyActivityOptions)
	var res activities.ListAppsResult
	if err := workflow.ExecuteActivity(ctx, argoActivities.ListApps, activities.ListAppsInput{Projects: in.Projects}).Get(ctx, &res); err != nil {
		return contract.ListAppsResult{}, err
	}
	return contract.ListAppsResult{Apps: res.Apps}, nil
}
