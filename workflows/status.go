package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// temporalActivities names the Temporal activities; the worker registers real ones.
var temporalActivities *activities.Temporal

// AppStatusResult is the result of AppStatusWorkflow.
type AppStatusResult struct {
	// Status is what the answer showed.
	Status slackui.AppStatus `json:"status"`
	// Error says why the command could not answer (the asker was told in
	// Slack); ErrorType is its kind, e.g. ArgoCDPermissionDenied.
	Error     string `json:"error,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
}

var _ = define(contract.WorkflowAppStatus, AppStatusWorkflow)

// AppStatusWorkflow answers `status APP`:
//
//  1. check the app name;
//  2. ask Argo CD for the app (sync, health, current or last operation,
//     auto-sync) and, at the same time, Temporal for the app's deploybot run;
//  3. post both in one message, with a link to the run in the Temporal UI.
//
// An unknown app is answered in Slack and ends the run successfully with
// Error set. If the run lookup fails the answer goes out without it.
func AppStatusWorkflow(ctx workflow.Context, in contract.CommandInput) (AppStatusResult, error) {
	run := newCommandRun(ctx, "status", in)
	var res AppStatusResult
	if err := contract.ValidateAppName(in.App); err != nil {
		res.Error, res.ErrorType, err = run.refuse(ctx, invalidInput(err))
		return res, err
	}

	argo := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, readOnlyActivityOptions),
		argoActivities.AppStatus, activities.AppStatusInput{App: in.App})
	deploy := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, temporalLookupOptions),
		temporalActivities.DeployRun, activities.DeployRunInput{App: in.App})

	var app activities.AppStatusResult
	if err := argo.Get(ctx, &app); err != nil {
		res.Error, res.ErrorType, err = run.refuse(ctx, err)
		return res, err
	}
	res.Status = slackui.AppStatus{
		App:            in.App,
		Project:        app.Project,
		SyncStatus:     app.SyncStatus,
		Health:         app.Health,
		HealthMessage:  app.HealthMessage,
		Revision:       app.Revision,
		TargetRevision: app.TargetRevision,
		AutoSync:       app.AutoSync,
		Operation:      app.Operation,
	}
	// Freezes in force on the app, its project or all (runs begun before
	// freezes replay without looking).
	if workflow.GetVersion(ctx, freezeCheckVersion, workflow.DefaultVersion, 1) == 1 {
		fctx := workflow.WithActivityOptions(ctx, summarized(temporalLookupOptions, slackui.FreezeCheckSummary(in.App)))
		if err := workflow.ExecuteActivity(fctx, temporalActivities.ActiveFreezes, activities.ActiveFreezesInput{
			Targets: contract.FreezeTargets(in.App, app.Project),
		}).Get(ctx, &res.Status.Freezes); err != nil {
			res.Status.FreezeNote = errMessage(err)
		}
	}
	var dr activities.DeployRunResult
	if err := deploy.Get(ctx, &dr); err != nil {
		workflow.GetLogger(ctx).Warn("could not look up the app's deploybot run", "error", err)
		res.Status.RunNote = errMessage(err)
	} else if dr.Found {
		res.Status.Run = runInfo(ctx, in, dr)
		res.Status.RunNote = dr.QueryError
	}

	view := res.Status
	if err := run.reply(ctx, slackui.Message{Command: &slackui.CommandReply{AppStatus: &view}}, "status"); err != nil {
		return res, err
	}
	return res, nil
}

// runInfo turns the run lookup into the view, with its Temporal UI link.
func runInfo(ctx workflow.Context, in contract.CommandInput, dr activities.DeployRunResult) *slackui.RunInfo {
	ns := in.Namespace
	if ns == "" {
		ns = workflow.GetInfo(ctx).Namespace
	}
	return &slackui.RunInfo{
		WorkflowID: dr.WorkflowID,
		URL:        contract.RunURL(in.TemporalUIURL, ns, dr.WorkflowID, dr.RunID),
		Running:    dr.Running,
		State:      dr.State,
		StartedAt:  dr.StartedAt,
		ClosedAt:   dr.ClosedAt,
		Status:     dr.Status,
	}
}
