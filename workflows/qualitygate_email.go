package workflows

import (
	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/emailview"
	"github.com/deploybot/deploybot/internal/slackui"
)

// decisionEmail is the email that records a quality-gate decision
// (emailview writes it), with headers mail filters and tickets can match.
func decisionEmail(r *gateRun) activities.SendEmailInput {
	d := emailview.GateDecision{
		Analysis: r.in.Analysis, Accepted: r.request.State == slackui.RequestAccepted,
		DecidedAt: r.status.DecidedAt, Approvals: r.status.Approvals, Rule: r.in.Rule,
		RunURL: r.runURL, RunID: r.request.WorkflowID,
	}
	if r.status.DecidedBy != nil {
		d.DecidedBy = *r.status.DecidedBy
	}
	e := d.Email()
	return activities.SendEmailInput{
		To:      r.in.Policy.EmailTo,
		Subject: e.Subject,
		Text:    e.Text,
		// Stable per run (the run id is a UUID): both rounds of attempts
		// send recognisably the same message.
		MessageID: "<" + r.runID + ".decision@deploybot>",
		Headers: map[string]string{
			"X-Deploybot-Project":  r.in.Analysis.ProjectKey,
			"X-Deploybot-Revision": r.in.Analysis.Revision,
			"X-Deploybot-Decision": d.Decision(),
			"X-Deploybot-Run":      r.request.WorkflowID,
		},
	}
}
