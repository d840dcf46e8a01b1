package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

func isAutoSyncAction(a contract.Action) bool {
	return a == contract.ActionAutoSyncOn || a == contract.ActionAutoSyncOff
}

// argoDefaultAutoSync is what `argocd app set --sync-policy automated` sets:
// no prune, no self-heal, no empty syncs.
var argoDefaultAutoSync = contract.AutoSyncPolicy{}

// changeAutoSync turns the app's automated sync policy off (recording what
// it was) or on, the way the server's version means it: on Argo CD 3.1+ with
// automated.enabled, keeping the policy in the spec; before that by removing
// automated and later restoring what deploybot removed (else Argo CD's
// default). It says in the thread which was done.
func (r *deployRun) changeAutoSync(ctx workflow.Context, prep activities.PrepareDeployResult) (contract.Outcome, string) {
	app := r.in.Request.App
	if r.in.Request.Action == contract.ActionAutoSyncOff {
		if !prep.AutoSync.On() {
			return contract.OutcomeSucceeded, slackui.AutoSyncAlreadyOff(app, prep.AutoSync)
		}
		off, err := r.disableAutoSync(ctx, prep)
		if err != nil {
			return contract.OutcomeFailed, slackui.AutoSyncChangeFailed(false, errMessage(err))
		}
		r.status.RemovedAutoSync = off.Removed
		return contract.OutcomeSucceeded, slackui.AutoSyncNowOff(app, autoSyncOff(off))
	}

	if prep.AutoSync.On() {
		return contract.OutcomeSucceeded, slackui.AutoSyncAlreadyOn(app, prep.AutoSync)
	}
	r.at(ctx, contract.StepStarting)
	policy, change := argoDefaultAutoSync, slackui.AutoSyncChange{}
	if prep.AutoSync != nil {
		// Argo CD 3.1+ kept the policy with enabled: false: nothing to look up.
		policy = *prep.AutoSync
	} else {
		var last activities.LastRemovedAutoSyncResult
		lctx := workflow.WithActivityOptions(ctx, readOnlyActivityOptions)
		if err := workflow.ExecuteActivity(lctx, temporalActivities.LastRemovedAutoSync, activities.LastRemovedAutoSyncInput{
			App: app, Namespace: r.in.Policy.Namespace,
		}).Get(ctx, &last); err != nil {
			return contract.OutcomeFailed, slackui.LastRemovedUnreadable(errMessage(err))
		}
		change.Default = last.Policy == nil
		if last.Policy != nil {
			policy = *last.Policy
			change.RestoredRun = last.WorkflowID
			change.RestoredURL = contract.RunURL(r.in.Policy.TemporalUIURL, r.in.Policy.Namespace, last.WorkflowID, last.RunID)
		}
	}
	actx := workflow.WithActivityOptions(ctx, summarized(startOperationOptions, slackui.AutoSyncSummary(true, app)))
	var on activities.EnableAutoSyncResult
	if err := workflow.ExecuteActivity(actx, argoActivities.EnableAutoSync, activities.EnableAutoSyncInput{App: app, Policy: policy}).Get(ctx, &on); err != nil {
		return contract.OutcomeFailed, slackui.AutoSyncChangeFailed(true, errMessage(err))
	}
	if on.AlreadyOn {
		return contract.OutcomeSucceeded, slackui.AutoSyncAlreadyOn(app, nil)
	}
	if on.Policy != nil {
		policy = *on.Policy
	}
	change.Policy, change.Method, change.ArgoCDVersion = &policy, on.Method, on.ArgoCDVersion
	return contract.OutcomeSucceeded, slackui.AutoSyncNowOn(app, change)
}

// autoSyncOff is what turning auto-sync off did, for its words.
func autoSyncOff(off activities.DisableAutoSyncResult) slackui.AutoSyncChange {
	return slackui.AutoSyncChange{Policy: off.Removed, Method: off.Method, ArgoCDVersion: off.ArgoCDVersion}
}
