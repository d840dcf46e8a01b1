package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/slackui"
)

// asyncStatusVersion marks runs whose status message is edited off the
// run's path: following Argo CD never waits on Slack (a rate-limited
// chat.update once turned a healthy sync into a timeout). Runs begun before
// it replay with the edits in line.
const asyncStatusVersion = "async-status-edits"

// statusEdits is the state of the status message's editor.
type statusEdits struct {
	async bool
	// pending is the newest state not yet shown; a newer one replaces it,
	// so only the latest state is ever sent.
	pending *slackui.DeployStatus
	// closing asks the editor to stop once pending is sent; done says it has.
	closing, done bool
}

// statusEditOptions: one best-effort edit. Slack's Retry-After is honoured,
// but an edit that cannot go through within a minute is given up: a newer
// state follows anyway.
var statusEditOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    15 * time.Second,
	ScheduleToCloseTimeout: time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		NonRetryableErrorTypes: []string{activities.SlackErrorType},
	},
}

// finalReportOptions: the run's last word in the thread is retried long
// enough to arrive through a Slack outage or a long rate limit.
var finalReportOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    15 * time.Second,
	ScheduleToCloseTimeout: time.Hour,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        2 * time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        2 * time.Minute,
		NonRetryableErrorTypes: []string{activities.SlackErrorType},
	},
}

// startStatusEdits runs the editor: once the status message is posted, it
// sends the pending state whenever there is one, one edit at a time.
func (r *deployRun) startStatusEdits(ctx workflow.Context, posted workflow.Future) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { r.edits.done = true }()
		r.awaitStatusPost(ctx, posted)
		if r.status.StatusTS == "" {
			return // not posted (logged): nothing to edit
		}
		for {
			if err := workflow.Await(ctx, func() bool { return r.edits.pending != nil || r.edits.closing }); err != nil {
				return
			}
			if r.edits.pending == nil {
				return
			}
			v := *r.edits.pending
			r.edits.pending = nil
			if sameStatus(v, r.shown) {
				continue
			}
			if err := r.msg.updateWith(ctx, statusEditOptions, r.status.StatusTS, slackui.Message{DeployStatus: &v}).Get(ctx, nil); err != nil {
				workflow.GetLogger(ctx).Warn("status message not updated; a later state will be", "error", err)
				continue
			}
			r.shown = v
		}
	})
}

// finalStatus writes the run's final state into the status message (or a
// new one if the status message never got posted), insisting until it
// arrives; the outcome is already decided by then, from Argo CD alone.
func (r *deployRun) finalStatus(ctx workflow.Context) {
	r.edits.pending, r.edits.closing = nil, true
	_ = workflow.Await(ctx, func() bool { return r.edits.done })
	v := r.view
	msg := slackui.Message{DeployStatus: &v}
	var err error
	if r.status.StatusTS != "" {
		err = r.msg.updateWith(ctx, finalReportOptions, r.status.StatusTS, msg).Get(ctx, nil)
	} else {
		// The same key as the first post: a post that did arrive is found.
		r.status.StatusTS, err = r.msg.postWith(ctx, finalReportOptions, r.thread(), msg, "status")
	}
	if err != nil {
		workflow.GetLogger(ctx).Error("could not report the outcome in Slack", "error", err)
		return
	}
	r.shown = v
}
