package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
)

func isAutoSyncAction(a contract.Action) bool {
	return a == contract.ActionAutoSyncOn || a == contract.ActionAutoSyncOff
}

// argoDefaultAutoSync is what `argocd app set --sync-policy automated` sets:
// no prune, no self-heal, no empty syncs.
var argoDefaultAutoSync = contract.AutoSyncPolicy{}

// changeAutoSync turns the app's automated sync policy off (recording what
// it was) or on (restoring what deploybot last removed, else Argo CD's
// default), and says which in the thread.
func (r *deployRun) changeAutoSync(ctx workflow.Context, prep activities.PrepareDeployResult) (contract.Outcome, string) {
	app := r.in.Request.App
	if r.in.Request.Action == contract.ActionAutoSyncOff {
		if prep.AutoSync == nil {
			return contract.OutcomeSucceeded, fmt.Sprintf("Auto-sync was already off for %s; nothing changed.", app)
		}
		removed, err := r.disableAutoSync(ctx, prep)
		if err != nil {
			return contract.OutcomeFailed, "could not turn auto-sync off: " + errMessage(err)
		}
		r.status.RemovedAutoSync = removed
		return contract.OutcomeSucceeded, fmt.Sprintf("Auto-sync is now off for %s (it was %s). Turn it back on with `autosync %s on`; deploybot will restore exactly this policy.", app, describePolicy(removed), app)
	}

	if prep.AutoSync != nil {
		return contract.OutcomeSucceeded, fmt.Sprintf("Auto-sync was already on for %s (%s); nothing changed.", app, describePolicy(prep.AutoSync))
	}
	r.status.Step = contract.StepStarting
	var last activities.LastRemovedAutoSyncResult
	lctx := workflow.WithActivityOptions(ctx, readOnlyActivityOptions)
	if err := workflow.ExecuteActivity(lctx, temporalActivities.LastRemovedAutoSync, activities.LastRemovedAutoSyncInput{
		App: app, Namespace: r.in.Policy.Namespace,
	}).Get(ctx, &last); err != nil {
		return contract.OutcomeFailed, "could not look up the auto-sync policy deploybot removed earlier: " + errMessage(err)
	}
	policy, source := argoDefaultAutoSync, "no earlier policy removed by deploybot was found, so Argo CD's default automated policy was set"
	if last.Policy != nil {
		policy = *last.Policy
		source = fmt.Sprintf("restored the policy removed by run %s", last.WorkflowID)
		// A bare URL: status messages are plain text, and Slack links it.
		if link := contract.RunURL(r.in.Policy.TemporalUIURL, r.in.Policy.Namespace, last.WorkflowID, last.RunID); link != "" {
			source += " " + link
		}
	}
	actx := workflow.WithActivityOptions(ctx, startOperationOptions)
	if err := workflow.ExecuteActivity(actx, argoActivities.EnableAutoSync, activities.EnableAutoSyncInput{App: app, Policy: policy}).Get(ctx, nil); err != nil {
		return contract.OutcomeFailed, "could not turn auto-sync on: " + errMessage(err)
	}
	return contract.OutcomeSucceeded, fmt.Sprintf("Auto-sync is on again for %s: %s (%s). Argo CD will now sync it whenever it is OutOfSync.", app, describePolicy(&policy), source)
}
