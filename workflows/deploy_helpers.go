package workflows

import (
	"errors"
	"reflect"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/slackui"
)

// upsert sets search attributes; a failure only costs findability, so it is
// logged rather than failing the run.
func (r *deployRun) upsert(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) {
	upsert(ctx, updates...)
}

func upsert(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("could not upsert search attributes", "error", err)
	}
}

// messenger posts and edits a run's Slack messages in one channel. key
// ("<workflowID>/<runID>") prefixes the message keys that make a retried
// post find the message instead of posting it twice.
type messenger struct {
	channel string
	key     string
}

// post posts a message (in thread if given); key makes retries idempotent.
func (m messenger) post(ctx workflow.Context, thread string, msg slackui.Message, key string) (string, error) {
	return m.postWith(ctx, slackActivityOptions, thread, msg, key)
}

// postWith is post with its own activity options.
func (m messenger) postWith(ctx workflow.Context, opts workflow.ActivityOptions, thread string, msg slackui.Message, key string) (string, error) {
	var res activities.PostMessageResult
	err := m.postAsync(ctx, opts, thread, msg, key).Get(ctx, &res)
	return res.TS, err
}

// postAsync starts posting; the future ends with an activities.PostMessageResult.
func (m messenger) postAsync(ctx workflow.Context, opts workflow.ActivityOptions, thread string, msg slackui.Message, key string) workflow.Future {
	actx := workflow.WithActivityOptions(ctx, opts)
	return workflow.ExecuteActivity(actx, slackActivities.PostMessage, activities.PostMessageInput{
		Channel: m.channel, ThreadTS: thread, Message: msg, Key: m.key + "/" + key,
	})
}

// updateAsync starts editing a message; the future ends with the edit.
func (m messenger) updateAsync(ctx workflow.Context, ts string, msg slackui.Message) workflow.Future {
	return m.updateWith(ctx, slackActivityOptions, ts, msg)
}

// updateWith is updateAsync with its own activity options.
func (m messenger) updateWith(ctx workflow.Context, opts workflow.ActivityOptions, ts string, msg slackui.Message) workflow.Future {
	actx := workflow.WithActivityOptions(ctx, opts)
	return workflow.ExecuteActivity(actx, slackActivities.UpdateMessage, activities.UpdateMessageInput{
		Channel: m.channel, TS: ts, Message: msg,
	})
}

// ephemeral tells one user something only they see; best effort.
func (m messenger) ephemeral(ctx workflow.Context, user, thread, text string) {
	actx := workflow.WithActivityOptions(ctx, slackActivityOptions)
	err := workflow.ExecuteActivity(actx, slackActivities.PostEphemeral, activities.PostEphemeralInput{
		Channel: m.channel, User: user, ThreadTS: thread, Text: text,
	}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("could not send an ephemeral message", "user", user, "error", err)
	}
}

// note posts a plain message in a thread; best effort.
func (m messenger) note(ctx workflow.Context, thread, text, key string) {
	if _, err := m.post(ctx, thread, slackui.Message{Text: text}, key); err != nil {
		workflow.GetLogger(ctx).Warn("could not post a note in the thread", "error", err)
	}
}

// post posts a message (in thread if given); key makes retries idempotent.
func (r *deployRun) post(ctx workflow.Context, thread string, m slackui.Message, key string) (string, error) {
	return r.msg.post(ctx, thread, m, key)
}

// update edits a message deploybot posted earlier.
func (r *deployRun) update(ctx workflow.Context, ts string, m slackui.Message) error {
	return r.updateAsync(ctx, ts, m).Get(ctx, nil)
}

// updateAsync starts editing a message; the future ends with the edit.
func (r *deployRun) updateAsync(ctx workflow.Context, ts string, m slackui.Message) workflow.Future {
	return r.msg.updateAsync(ctx, ts, m)
}

// awaitRequestEdit waits for the best-effort edit of the approval request
// and logs its failure.
func (r *deployRun) awaitRequestEdit(ctx workflow.Context, f workflow.Future) {
	if f == nil {
		return // nothing was started (a rule without approval edits nothing)
	}
	if err := f.Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("could not update the approval request", "error", err)
	}
}

// ephemeral tells one user something only they see; best effort.
func (r *deployRun) ephemeral(ctx workflow.Context, user, text string) {
	r.msg.ephemeral(ctx, user, r.thread(), text)
}

// note posts a plain message in the run's thread; best effort.
func (r *deployRun) note(ctx workflow.Context, text, key string) {
	r.msg.note(ctx, r.thread(), text, key)
}

// errType is the ApplicationError type behind an activity error ("" if none).
func errType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return ""
}

// errMessage is the innermost useful message of an activity error, without
// Temporal's wrapping ("activity error (type: …)").
func errMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		last := ""
		if cause := timeoutErr.Unwrap(); cause != nil {
			last = errMessage(cause)
		}
		return slackui.TimedOut(timeoutErr.TimeoutType().String(), last)
	}
	return err.Error()
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// sameStatus reports whether two status views render the same, ignoring the
// elapsed time, which changes on every poll.
func sameStatus(a, b slackui.DeployStatus) bool {
	a.Elapsed, b.Elapsed = 0, 0
	return reflect.DeepEqual(a, b)
}
