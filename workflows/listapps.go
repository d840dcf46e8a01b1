// Package workflows holds deploybot's deterministic orchestration: each
// workflow reads top to bottom as the business process, keeps its state in a
// struct, and does every side effect through an activity. Nothing here does
// I/O, reads the clock, starts goroutines or ranges over a map for output.
package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// ListAppsResult is the result of ListAppsWorkflow. It embeds
// contract.ListAppsResult, so its JSON decodes into that type too.
type ListAppsResult struct {
	contract.ListAppsResult
	// Messages is how many Slack messages the table took.
	Messages int `json:"messages,omitempty"`
	// Error says why the command could not answer (the asker was told in
	// Slack); ErrorType is its kind, e.g. ArgoCDPermissionDenied.
	Error     string `json:"error,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
}

var _ = define(contract.WorkflowListApps, ListAppsWorkflow)

// ListAppsWorkflow answers `list_apps`:
//
//  1. read the applications from Argo CD through an activity, so the read
//     is audited in Temporal and the gateway never needs Argo CD credentials;
//  2. post them as a table (app, project, sync, health, image tags, target
//     revision) in as many messages as Slack's limits need.
//
// A refusal by Argo CD (permission denied) is answered in Slack and ends the
// run successfully with Error set.
func ListAppsWorkflow(ctx workflow.Context, in contract.CommandInput) (ListAppsResult, error) {
	run := newCommandRun(ctx, "list_apps", in)
	var res ListAppsResult

	var apps activities.ListAppsResult
	actx := workflow.WithActivityOptions(ctx, readOnlyActivityOptions)
	if err := workflow.ExecuteActivity(actx, argoActivities.ListApps, activities.ListAppsInput{Projects: in.Projects}).Get(ctx, &apps); err != nil {
		res.Error, res.ErrorType, err = run.refuse(ctx, err)
		return res, err
	}
	res.Apps = apps.Apps

	pages := run.fitResponse(slackui.SplitTable(slackui.AppsTable(apps.Apps, in.Projects)), slackui.MoreAppsHint(in.BotName, in.Projects))
	for i := range pages {
		m := slackui.Message{Command: &slackui.CommandReply{Table: &pages[i]}}
		if err := run.reply(ctx, m, fmt.Sprintf("table-%d", i+1)); err != nil {
			return res, err
		}
	}
	res.Messages = run.posts
	return res, nil
}
