package workflows

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
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
	r.note(ctx, fmt.Sprintf(":x: The break-glass email to %s could not be sent: %s. Tell them yourself, and ask an admin to check the SMTP_* settings of the worker.",
		slackui.Escape(strings.Join(r.in.Emergency.EmailTo, ", ")), slackui.Escape(res.EmergencyEmailError)), "emergency-email-failed")
}

// emergencyEmail is the audit email of a break-glass sync.
func emergencyEmail(ctx workflow.Context, r *deployRun, res contract.DeployResult) activities.SendEmailInput {
	req, e := r.in.Request, r.in.Emergency
	run := workflow.GetInfo(ctx).WorkflowExecution
	subject := fmt.Sprintf("[deploybot] BREAK-GLASS sync of %s by %s: %s", req.App, slackui.PlainWho(req.RequestedBy), res.Outcome)
	var b strings.Builder
	fmt.Fprintf(&b, "%s asked for an emergency (break-glass) sync of %s, outside its usual approval rules.\n\n", slackui.PlainWho(req.RequestedBy), req.App)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("App", req.App)
	row("Project", r.view.Project)
	row("Reason", e.Reason)
	row("Requested by", slackui.PlainWho(req.RequestedBy))
	row("Requested at", r.status.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	for _, a := range res.Approvals {
		row("Approved by", slackui.PlainWho(a.User)+" at "+a.At.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if res.DecidedBy != nil && res.Outcome == contract.OutcomeRejected {
		row("Rejected by", slackui.PlainWho(*res.DecidedBy))
	}
	row("Outcome", string(res.Outcome))
	row("Message", res.Message)
	row("Revision", res.Revision)
	row("Temporal run", r.runURL)
	row("Workflow id", run.ID)
	_ = tw.Flush()
	b.WriteString("\n-- \nSent by deploybot for every break-glass request (breakGlass.emailTo of APPROVAL_POLICY_FILE).\n")
	return activities.SendEmailInput{
		To: e.EmailTo, Subject: subject, Text: b.String(),
		MessageID: "<" + run.RunID + ".emergency@deploybot>",
		Headers:   map[string]string{"X-Deploybot-Run": run.ID, "X-Deploybot-Emergency": "true"},
	}
}
