package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// uploadActivityOptions: a file upload is three Slack calls, the middle one
// carrying the file, so an attempt gets longer than a post.
var uploadActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    time.Minute,
	ScheduleToCloseTimeout: 10 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: []string{activities.SlackErrorType, activities.SlackBadMessageErrorType},
	},
}

// maxInlineLogs bounds the logs shown inline when they cannot be uploaded
// (a slash command answered through its response_url): about ten blocks.
const maxInlineLogs = 28000

// LogsResult is the result of LogsWorkflow.
type LogsResult struct {
	App string `json:"app"`
	// Pods and Lines count what was sent; OmittedLines the older lines
	// dropped to keep the file small.
	Pods         int `json:"pods"`
	Lines        int `json:"lines"`
	OmittedLines int `json:"omittedLines,omitempty"`
	// FileID is the uploaded file ("" if the logs went inline or there were none).
	FileID string `json:"fileId,omitempty"`
	// Error says why the command could not answer (the asker was told in
	// Slack); ErrorType is its kind, e.g. ArgoCDPermissionDenied.
	Error     string `json:"error,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
}

var _ = define(contract.WorkflowLogs, LogsWorkflow)

// LogsWorkflow answers `logs APP`:
//
//  1. check the app name;
//  2. read the last TailLines lines of every pod of the app from Argo CD;
//  3. upload them, grouped by pod, as <app>-logs.txt in the thread, with a
//     comment saying how many pods and lines it holds.
//
// Without a channel to upload to (a slash command answered through its
// response_url) the logs are shown inline, cut to fit. An unknown app is
// answered in Slack and ends the run successfully with Error set.
func LogsWorkflow(ctx workflow.Context, in contract.CommandInput) (LogsResult, error) {
	run := newCommandRun(ctx, "logs", in)
	res := LogsResult{App: in.App}
	if err := contract.ValidateAppName(in.App); err != nil {
		res.Error, res.ErrorType, err = run.refuse(ctx, invalidInput(err))
		return res, err
	}
	tail := in.TailLines
	if tail <= 0 {
		tail = activities.DefaultTailLines
	}

	var logs activities.PodLogsResult
	actx := workflow.WithActivityOptions(ctx, readOnlyActivityOptions)
	if err := workflow.ExecuteActivity(actx, argoActivities.PodLogs, activities.PodLogsInput{App: in.App, TailLines: tail}).Get(ctx, &logs); err != nil {
		res.Error, res.ErrorType, err = run.refuse(ctx, err)
		return res, err
	}
	res.Pods, res.Lines, res.OmittedLines = len(logs.Pods), logs.Lines, logs.OmittedLines
	if res.Pods == 0 || res.Lines == 0 {
		return res, run.replyText(ctx, slackui.NoLogs(in.App), "no-logs")
	}

	pods := make([]slackui.PodLines, len(logs.Pods))
	for i, p := range logs.Pods {
		pods[i] = slackui.PodLines{Pod: p.Pod, Lines: p.Lines}
	}
	content := slackui.LogsFile(in.App, tail, pods, logs.Lines, logs.OmittedLines)
	comment := slackui.LogsComment(in.App, tail, len(pods), logs.Lines, logs.OmittedLines)
	if in.Reply.Channel == "" {
		return res, run.replyText(ctx, inlineLogs(in.BotName, comment, content), "logs")
	}
	var err error
	res.FileID, err = run.share(ctx, activities.UploadFileInput{
		Channel: in.Reply.Channel, ThreadTS: in.Reply.ThreadTS, Filename: in.App + "-logs.txt",
		// The time makes the title unique to this run (see UploadFileInput).
		Title:   slackui.LogsTitle(in.App, workflow.Now(ctx).UTC().Format("2006-01-02 15:04:05 UTC")),
		Content: content, InitialComment: comment,
	}, inlineLogs(in.BotName, comment, content), "logs")
	return res, err
}

// inlineLogs shows the logs in the message itself, newest kept if cut.
func inlineLogs(bot, comment, content string) string {
	content = strings.ReplaceAll(content, "```", "'''") // would end the code block
	if len(content) > maxInlineLogs {
		tail := content[len(content)-maxInlineLogs:]
		if i := strings.IndexByte(tail, '\n'); i >= 0 {
			tail = tail[i+1:] // start at a whole line (and a whole rune)
		}
		content = "…\n" + tail
		comment += " " + slackui.LogsCutShort(bot)
	}
	return comment + "\n```\n" + slackui.Escape(strings.TrimRight(content, "\n")) + "\n```"
}
