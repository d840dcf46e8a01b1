package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// DiffResult is the result of DiffWorkflow.
type DiffResult struct {
	App     string           `json:"app"`
	Preview contract.Preview `json:"preview"`
	// FileID is the shared preview file ("" if answered inline).
	FileID string `json:"fileId,omitempty"`
	// Error says why the command could not answer (the asker was told in
	// Slack); ErrorType is its kind, e.g. ArgoCDPermissionDenied.
	Error     string `json:"error,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
}

// DiffWorkflow answers `diff APP`, the sync preview an approver sees, on
// demand:
//
//  1. ask Argo CD what a sync would change (its managed resources'
//     target, live and predicted state) through an activity;
//  2. share the whole preview as a file with the summary as its comment,
//     or, without a channel to upload to (a slash command's response_url),
//     answer with the summary.
func DiffWorkflow(ctx workflow.Context, in contract.CommandInput) (DiffResult, error) {
	run := newCommandRun(ctx, "diff", in)
	res := DiffResult{App: in.App}
	if err := contract.ValidateAppName(in.App); err != nil {
		res.Error, res.ErrorType, err = run.refuse(ctx, invalidInput(err))
		return res, err
	}
	actx := workflow.WithActivityOptions(ctx, summarized(readOnlyActivityOptions, slackui.PreviewActivitySummary(in.App)))
	if err := workflow.ExecuteActivity(actx, argoActivities.SyncPreview, activities.SyncPreviewInput{App: in.App}).Get(ctx, &res.Preview); err != nil {
		res.Error, res.ErrorType, err = run.refuse(ctx, err)
		return res, err
	}
	summary := slackui.PreviewHeading(in.App) + " " + slackui.PreviewSummary(&res.Preview)
	if in.Reply.Channel == "" || len(res.Preview.Resources) == 0 {
		return res, run.replyText(ctx, summary, "diff")
	}
	var err error
	res.FileID, err = run.share(ctx, activities.UploadFileInput{
		Channel: in.Reply.Channel, ThreadTS: in.Reply.ThreadTS, Filename: safeFileName(in.App) + "-sync-preview.txt",
		// The run id makes the title unique to this run (see UploadFileInput).
		Title:   "Sync preview of " + in.App + " (run " + workflow.GetInfo(ctx).WorkflowExecution.RunID + ")",
		Content: slackui.PreviewFile(in.App, res.Preview), InitialComment: summary,
	}, summary, "diff")
	return res, err
}
