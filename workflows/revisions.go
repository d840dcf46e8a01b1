package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// historyActivityOptions: like readOnlyActivityOptions, but one attempt
// may make dozens of (bounded-parallel) chart renders, so it gets longer.
var historyActivityOptions = func() workflow.ActivityOptions {
	o := readOnlyActivityOptions
	o.StartToCloseTimeout = 2 * time.Minute
	return o
}()

// RollbackRevisionsResult is the result of RollbackRevisionsWorkflow.
type RollbackRevisionsResult struct {
	App string `json:"app"`
	// Rows are the history entries shown, newest first.
	Rows []contract.RevisionRow `json:"rows"`
	// Note says why some parameters show "n/a" ("" if none do).
	Note     string `json:"note,omitempty"`
	Messages int    `json:"messages,omitempty"`
	// Error says why the command could not answer (the asker was told in
	// Slack); ErrorType is its kind, e.g. ArgoCDPermissionDenied.
	Error     string `json:"error,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
}

var _ = define(contract.WorkflowRollbackRevisions, RollbackRevisionsWorkflow)

// RollbackRevisionsWorkflow answers `rollback_revisions APP`:
//
//  1. check the app name;
//  2. read the app's deployment history from Argo CD with the Helm
//     parameters named in ROLLBACK_TABLE_FIELDS for each entry (looked up
//     in parallel, bounded; a failed lookup shows "n/a" in its rows);
//  3. post it newest first as a table, in as many messages as needed.
//
// An unknown app is answered in Slack and ends the run successfully with
// Error set.
func RollbackRevisionsWorkflow(ctx workflow.Context, in contract.CommandInput) (RollbackRevisionsResult, error) {
	run := newCommandRun(ctx, "rollback_revisions", in)
	res := RollbackRevisionsResult{App: in.App}
	if err := contract.ValidateAppName(in.App); err != nil {
		res.Error, res.ErrorType, err = run.refuse(ctx, invalidInput(err))
		return res, err
	}

	var hist activities.RevisionHistoryResult
	actx := workflow.WithActivityOptions(ctx, historyActivityOptions)
	err := workflow.ExecuteActivity(actx, argoActivities.RevisionHistory, activities.RevisionHistoryInput{
		// The bound on parallel chart renders is the worker's
		// (ARGOCD_LOOKUP_CONCURRENCY): it knows the Argo CD it talks to.
		App: in.App, Fields: in.RollbackFields,
	}).Get(ctx, &hist)
	if err != nil {
		res.Error, res.ErrorType, err = run.refuse(ctx, err)
		return res, err
	}
	res.Rows, res.Note = hist.Rows, hist.Note

	table := slackui.RevisionsTable(in.App, in.RollbackFields, hist.Rows, hist.Note)
	pages := run.fitResponse(slackui.SplitTable(table), slackui.MoreRevisionsHint(in.BotName, in.App))
	for i := range pages {
		m := slackui.Message{Command: &slackui.CommandReply{Table: &pages[i]}}
		if err := run.reply(ctx, m, fmt.Sprintf("table-%d", i+1)); err != nil {
			return res, err
		}
	}
	res.Messages = run.posts
	return res, nil
}
