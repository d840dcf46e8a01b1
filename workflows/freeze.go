package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

var _ = define(contract.WorkflowFreeze, FreezeWorkflow)

// FreezeWorkflow is a freeze in force: it lasts until its end or until
// `unfreeze` signals it. Changes check for it by id (contract.FreezeTargets,
// activities.Temporal.ActiveFreezes) and read it from the memo the gateway
// set, so the check needs no worker to answer. When it runs its course, the
// channel is told.
func FreezeWorkflow(ctx workflow.Context, in contract.FreezeInput) (contract.FreezeResult, error) {
	if err := in.Validate(); err != nil {
		return contract.FreezeResult{}, invalidInput(err)
	}
	info := workflow.GetInfo(ctx)
	res := contract.FreezeResult{Freeze: contract.Freeze{
		Target: in.Target, Reason: in.Reason, By: in.By, Since: info.WorkflowStartTime, Until: in.Until,
		WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
	}}
	if err := workflow.SetQueryHandler(ctx, contract.QueryStatus, func() (contract.Freeze, error) { return res.Freeze, nil }); err != nil {
		return res, err
	}
	workflow.SetCurrentDetails(ctx, slackui.FreezeDetails(res.Freeze))

	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	ends := workflow.NewTimer(timerCtx, max(in.Until.Sub(workflow.Now(ctx)), time.Nanosecond))
	var lifted contract.User
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(ends, func(workflow.Future) {})
	sel.AddReceive(workflow.GetSignalChannel(ctx, contract.SignalUnfreeze), func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, &lifted)
	})
	sel.Select(ctx)
	if lifted.ID != "" {
		res.LiftedBy = &lifted
		workflow.SetCurrentDetails(ctx, slackui.FreezeLifted(res.Freeze, lifted))
		return res, nil // the gateway answered the unfreeze
	}
	workflow.SetCurrentDetails(ctx, slackui.FreezeEnded(res.Freeze))
	if in.Channel != "" {
		actx := workflow.WithActivityOptions(ctx, slackActivityOptions)
		err := workflow.ExecuteActivity(actx, slackActivities.PostMessage, activities.PostMessageInput{
			Channel: in.Channel, Message: slackui.Message{Text: slackui.FreezeEnded(res.Freeze)}, Key: "freeze/" + info.WorkflowExecution.RunID,
		}).Get(ctx, nil)
		if err != nil {
			workflow.GetLogger(ctx).Warn("could not say in the channel that the freeze ended", "error", err)
		}
	}
	return res, nil
}
