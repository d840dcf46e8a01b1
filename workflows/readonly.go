package workflows

import (
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// This file is the plumbing the read-only command workflows (list_apps,
// status, rollback_revisions, logs) share: where the answer goes, and how a
// failure is told to the person who asked.

// maxResponsePosts is how many messages Slack takes on one response_url.
const maxResponsePosts = 5

// temporalLookupOptions: a look at deploybot's own runs for `status`. It is
// an extra, so it gets a few quick tries and the answer goes out without it.
var temporalLookupOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        500 * time.Millisecond,
		BackoffCoefficient:     2,
		MaximumInterval:        4 * time.Second,
		MaximumAttempts:        3,
		NonRetryableErrorTypes: []string{activities.TemporalErrorType},
	},
}

// commandRun is a read-only command run: its input, and the key prefix that
// makes each Slack post idempotent across activity retries.
type commandRun struct {
	in      contract.CommandInput
	command string // as the user typed it, e.g. "status guestbook"
	key     string // "<workflowID>/<runID>"
	posts   int    // messages sent so far
	viaURL  int    // of which through the response_url
	// channelRefused is set once Slack refused the channel for good; the
	// rest of the answer goes to the response_url.
	channelRefused bool
}

func newCommandRun(ctx workflow.Context, command string, in contract.CommandInput) *commandRun {
	info := workflow.GetInfo(ctx)
	if in.App != "" {
		command += " " + in.App
	}
	return &commandRun{in: in, command: command, key: info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID}
}

// hasReply reports whether the answer has somewhere to go. A run started
// without one (the runs API, tests) only returns its result.
func (c *commandRun) hasReply() bool {
	return c.in.Reply.Channel != "" || c.in.Reply.ResponseURL != ""
}

// reply posts one message of the answer: in the channel (in the asking
// message's thread), or to the slash command's response_url when there is
// no channel or Slack refuses the channel (e.g. the bot is not a member).
// part names the message within the run, for dedupe.
func (c *commandRun) reply(ctx workflow.Context, m slackui.Message, part string) error {
	if !c.hasReply() {
		return nil
	}
	actx := workflow.WithActivityOptions(ctx, slackActivityOptions)
	if c.in.Reply.Channel != "" && !c.channelRefused {
		err := workflow.ExecuteActivity(actx, slackActivities.PostMessage, activities.PostMessageInput{
			Channel: c.in.Reply.Channel, ThreadTS: c.in.Reply.ThreadTS, Message: m, Key: c.key + "/" + part,
		}).Get(ctx, nil)
		if err == nil || !c.canFallBack(err) {
			if err == nil {
				c.posts++
			}
			return err
		}
		workflow.GetLogger(ctx).Warn("cannot post in the channel; answering through the response_url", "error", err)
		c.channelRefused = true
	}
	if c.viaURL >= maxResponsePosts {
		return temporal.NewNonRetryableApplicationError(
			slackui.AnswerTooLong(maxResponsePosts), activities.SlackErrorType, nil)
	}
	err := workflow.ExecuteActivity(actx, slackActivities.PostResponse, activities.PostResponseInput{
		ResponseURL: c.in.Reply.ResponseURL, Message: m,
	}).Get(ctx, nil)
	if err == nil {
		c.posts++
		c.viaURL++
	}
	return err
}

// canFallBack reports whether a refused channel post can go to the
// response_url instead: Slack refused the channel for good (not an outage,
// which the response_url would share).
func (c *commandRun) canFallBack(err error) bool {
	return c.in.Reply.ResponseURL != "" && errType(err) == activities.SlackErrorType
}

// replyText posts a plain mrkdwn message (escape user text in it).
func (c *commandRun) replyText(ctx workflow.Context, text, part string) error {
	return c.reply(ctx, slackui.Message{Text: text}, part)
}

// commandUserErrors are the asker's to fix: a bad or unknown app name (Argo
// CD says PermissionDenied for unknown apps). A refused ARGOCD_TOKEN or a
// TLS failure is not among them: it is the operators' to fix, so the run
// fails and shows up in Temporal.
var commandUserErrors = []string{
	InvalidInputErrorType,
	string(argocd.KindAppNotFound), string(argocd.KindPermissionDenied),
	string(argocd.KindInvalidArgument), string(argocd.KindUnknownHistoryID),
}

// isUserError reports whether err is the asker's to fix rather than an
// outage or misconfiguration: such a command ends with a clear answer and a
// successful run.
func isUserError(err error) bool {
	return slices.Contains(commandUserErrors, errType(err))
}

// refuse tells the asker why the command could not answer. It returns the
// result's Error and ErrorType and, when the run must fail (an outage that
// outlasted the retries, or Slack refusing the answer), the error to fail
// it with.
func (c *commandRun) refuse(ctx workflow.Context, err error) (msg, typ string, fatal error) {
	msg, typ = errMessage(err), errType(err)
	if typ == "" {
		typ = "Error"
	}
	text := slackui.CommandFailed(c.command, msg, isUserError(err))
	if !isUserError(err) {
		fatal = err
	}
	if rerr := c.replyText(ctx, text, "error"); rerr != nil {
		workflow.GetLogger(ctx).Error("could not tell the asker why the command failed", "error", rerr)
		if fatal == nil {
			fatal = rerr
		}
	}
	return msg, typ, fatal
}

// invalidInput is the error of a run refused for its input: not retried.
func invalidInput(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), InvalidInputErrorType, nil)
}

// share uploads a file where the command was asked and returns its id;
// when the channel refuses it (the bot is not in it) and there is a
// response_url, the asker gets inline instead.
func (c *commandRun) share(ctx workflow.Context, up activities.UploadFileInput, inline, key string) (string, error) {
	var res activities.UploadFileResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, uploadActivityOptions), slackActivities.UploadFile, up).Get(ctx, &res)
	switch {
	case err == nil:
		return res.FileID, nil
	case c.canFallBack(err):
		workflow.GetLogger(ctx).Warn("cannot upload the file to the channel; answering through the response_url", "file", up.Filename, "error", err)
		c.channelRefused = true
		return "", c.replyText(ctx, inline, key)
	}
	return "", err
}

// fitResponse keeps a split table within the posts a response_url takes
// when that is the only way to answer; the last page kept says how many
// rows were left out and what to do (hint).
func (c *commandRun) fitResponse(pages []slackui.Table, hint string) []slackui.Table {
	if c.in.Reply.Channel != "" || c.in.Reply.ResponseURL == "" || len(pages) <= maxResponsePosts {
		return pages
	}
	omitted := 0
	for _, p := range pages[maxResponsePosts:] {
		omitted += len(p.Rows)
	}
	pages = pages[:maxResponsePosts]
	for i := range pages {
		pages[i].Pages = maxResponsePosts
	}
	pages[maxResponsePosts-1].Note = slackui.RowsNotShown(omitted, maxResponsePosts, hint)
	return pages
}
