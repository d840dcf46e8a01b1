package workflows

import (
	"fmt"

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
			if prep.AutoSync != nil {
				return contract.OutcomeSucceeded, fmt.Sprintf("Auto-sync was already off for %s (its policy, %s, is kept with `enabled: false`); nothing changed.", app, describePolicy(prep.AutoSync))
			}
			return contract.OutcomeSucceeded, fmt.Sprintf("Auto-sync was already off for %s; nothing changed.", app)
		}
		off, err := r.disableAutoSync(ctx, prep)
		if err != nil {
			return contract.OutcomeFailed, "could not turn auto-sync off: " + errMessage(err)
		}
		r.status.RemovedAutoSync = off.Removed
		if off.Method == contract.AutoSyncByEnabled {
			return contract.OutcomeSucceeded, fmt.Sprintf("Auto-sync is now off for %s (it was %s): %s. Turn it back on with `autosync %s on`.", app, describePolicy(off.Removed), howAutoSyncOff(off), app)
		}
		return contract.OutcomeSucceeded, fmt.Sprintf("Auto-sync is now off for %s (it was %s): %s. Turn it back on with `autosync %s on`; deploybot will restore exactly this policy.", app, describePolicy(off.Removed), howAutoSyncOff(off), app)
	}

	if prep.AutoSync.On() {
		return contract.OutcomeSucceeded, fmt.Sprintf("Auto-sync was already on for %s (%s); nothing changed.", app, describePolicy(prep.AutoSync))
	}
	r.at(ctx, contract.StepStarting)
	policy, source := argoDefaultAutoSync, ""
	if prep.AutoSync != nil {
		// Argo CD 3.1+ kept the policy with enabled: false: nothing to look up.
		policy = *prep.AutoSync
	} else {
		var last activities.LastRemovedAutoSyncResult
		lctx := workflow.WithActivityOptions(ctx, readOnlyActivityOptions)
		if err := workflow.ExecuteActivity(lctx, temporalActivities.LastRemovedAutoSync, activities.LastRemovedAutoSyncInput{
			App: app, Namespace: r.in.Policy.Namespace,
		}).Get(ctx, &last); err != nil {
			return contract.OutcomeFailed, "could not look up the auto-sync policy deploybot removed earlier: " + errMessage(err)
		}
		source = "no earlier policy removed by deploybot was found, so Argo CD's default automated policy was set"
		if last.Policy != nil {
			policy = *last.Policy
			source = fmt.Sprintf("restored the policy removed by run %s", last.WorkflowID)
			// A bare URL: status messages are plain text, and Slack links it.
			if link := contract.RunURL(r.in.Policy.TemporalUIURL, r.in.Policy.Namespace, last.WorkflowID, last.RunID); link != "" {
				source += " " + link
			}
		}
	}
	actx := workflow.WithActivityOptions(ctx, summarized(startOperationOptions, slackui.AutoSyncSummary(true, app)))
	var on activities.EnableAutoSyncResult
	if err := workflow.ExecuteActivity(actx, argoActivities.EnableAutoSync, activities.EnableAutoSyncInput{App: app, Policy: policy}).Get(ctx, &on); err != nil {
		return contract.OutcomeFailed, "could not turn auto-sync on: " + errMessage(err)
	}
	if on.AlreadyOn {
		return contract.OutcomeSucceeded, fmt.Sprintf("Auto-sync was already on for %s when deploybot asked Argo CD; nothing changed.", app)
	}
	if on.Policy != nil {
		policy = *on.Policy
	}
	switch on.Method {
	case contract.AutoSyncByEnabled:
		source = fmt.Sprintf("deploybot set `enabled: true` on the policy Argo CD %s kept in the spec", on.ArgoCDVersion)
	case contract.AutoSyncByAutomated:
		source += fmt.Sprintf("; deploybot wrote spec.syncPolicy.automated, as Argo CD %s (before 3.1) has no `enabled` flag", on.ArgoCDVersion)
	}
	return contract.OutcomeSucceeded, fmt.Sprintf("Auto-sync is on again for %s: %s (%s). Argo CD will now sync it whenever it is OutOfSync.", app, describePolicy(&policy), source)
}
