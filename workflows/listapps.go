// Package workflows holds deploybot's deterministic orchestration: each
// workflow reads top to bottom as the business process, keeps its state in a
// struct, and does every side effect through an activity. Nothing here does
// I/O, reads the clock, starts goroutines or ranges over a map for output.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
)

// argoActivities is the nil receiver used to name ArgoCD activities; the
// worker registers a real one.
var argoActivities *activities.ArgoCD

// readOnlyActivityOptions fit a read that a person is waiting for in Slack:
// short attempts, a few quick retries, and no retry of errors that cannot heal.
var readOnlyActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    10 * time.Second,
		MaximumAttempts:    5,
		NonRetryableErrorTypes: []string{
			string(argocd.KindAppNotFound), string(argocd.KindPermissionDenied),
			string(argocd.KindUnauthenticated), string(argocd.KindInvalidArgument),
		},
	},
}

// ListAppsWorkflow answers `list_apps`: it reads the applications from Argo CD
// through an activity, so the read is audited in Temporal and the caller (the
// gateway) never needs Argo CD credentials.
func ListAppsWorkflow(ctx workflow.Context, in contract.ListAppsInput) (contract.ListAppsResult, error) {
	ctx = workflow.WithActivityOptions(ctx, readOnlyActivityOptions)
	var res activities.ListAppsResult
	if err := workflow.ExecuteActivity(ctx, argoActivities.ListApps, activities.ListAppsInput{Projects: in.Projects}).Get(ctx, &res); err != nil {
		return contract.ListAppsResult{}, err
	}
	return contract.ListAppsResult{Apps: res.Apps}, nil
}
