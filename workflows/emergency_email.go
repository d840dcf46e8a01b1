package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/emailview"
	"github.com/deploybot/deploybot/internal/slackui"
)

// emailEmergency tells breakGlass.emailTo how a break-glass sync ended.
// One round of attempts: the run's end is not held up for long, and a
// failure is said in the thread and the result.
func (r *deployRun) emailEmergency(ctx workflow.Context, res *contract.DeployResult) {
	in := emergencyEmail(ctx, r, *res)
	var sent activities.SendEmailResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, emailFirstOptions), emailActivities.SendEmail, in).Get(ctx, &sent)
	if err == nil {
		return
	}
	res.EmergencyEmailError = errMessage(err)
	r.note(ctx, slackui.EmailNotSent(slackui.BreakGlassEmail, r.in.Emergency.EmailTo, res.EmergencyEmailError), "emergency-email-failed")
}

// emergencyEmail is the audit email of a break-glass sync (emailview
// writes it).
func emergencyEmail(ctx workflow.Context, r *deployRun, res contract.DeployResult) activities.SendEmailInput {
	run := workflow.GetInfo(ctx).WorkflowExecution
	e := emailview.BreakGlass{
		Request: r.in.Request, Project: r.view.Project, Reason: r.in.Emergency.Reason,
		RequestedAt: r.status.StartedAt, Result: res, RunURL: r.runURL, RunID: run.ID,
	}.Email()
	return activities.SendEmailInput{
		To: r.in.Emergency.EmailTo, Subject: e.Subject, Text: e.Text,
		MessageID: "<" + run.RunID + ".emergency@deploybot>",
		Headers:   map[string]string{"X-Deploybot-Run": run.ID, "X-Deploybot-Emergency": "true"},
	}
}
