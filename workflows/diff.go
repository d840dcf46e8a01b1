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

var _ = define(contract.WorkflowDiff, DiffWorkflow)

// DiffWorkflow answers `diff APP [ID]`, the preview an approver sees, on
// demand:
//
//  1. ask Argo CD what a sync (or the rollback to history entry ID) would
//     change through an activity;
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
	pin := activities.SyncPreviewInput{App: in.App, Rollback: in.HistoryID != 0, HistoryID: in.HistoryID}
	if err := workflow.ExecuteActivity(actx, argoActivities.SyncPreview, pin).Get(ctx, &res.Preview); err != nil {
		res.Error, res.ErrorType, err = run.refuse(ctx, err)
		return res, err
	}
	summary := slackui.PreviewHeading(in.App, res.Preview) + " " + slackui.PreviewSummary(&res.Preview)
	if in.Reply.Channel == "" || len(res.Preview.Resources) == 0 {
		return res, run.replyText(ctx, summary, "diff")
	}
	var err error
	res.FileID, err = run.share(ctx, previewUpload(ctx, in.App, res.Preview, in.Reply.Channel, in.Reply.ThreadTS, summary), summary, "diff")
	return res, err
}

// previewUpload is the file that shares preview p of app in a thread, with
// comment, for a request and for `diff` alike.
func previewUpload(ctx workflow.Context, app string, p contract.Preview, channel, thread, comment string) activities.UploadFileInput {
	return activities.UploadFileInput{
		Channel: channel, ThreadTS: thread, Filename: safeFileName(app) + slackui.PreviewFileSuffix(p),
		Title:   slackui.PreviewTitle(app, p, workflow.GetInfo(ctx).WorkflowExecution.RunID),
		Content: slackui.PreviewFile(app, p), InitialComment: comment,
	}
}
