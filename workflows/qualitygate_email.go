package workflows

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// decisionEmail is the email that records a quality-gate decision: what
// was analysed, what failed, who decided what and when, and the links. It
// is plain text so every mail client and ticket system shows it as sent.
func decisionEmail(r *gateRun) activities.SendEmailInput {
	a := r.in.Analysis
	by := contract.User{}
	if r.status.DecidedBy != nil {
		by = *r.status.DecidedBy
	}
	accepted := r.request.State == slackui.RequestAccepted
	decision := "REJECTED"
	verb := "Security exception rejected"
	if accepted {
		decision = "RISK ACCEPTED"
		verb = "Security risk accepted"
	}
	where := a.ProjectKey
	if b := a.BranchLabel(); b != "" {
		where += " (" + b + ")"
	}
	subject := fmt.Sprintf("[deploybot] %s: %s at %s", verb, where, orUnknown(shortSHA(a.Revision)))
	decidedAt := r.status.DecidedAt.UTC().Format("2006-01-02 15:04:05 UTC")

	var b strings.Builder
	if accepted {
		fmt.Fprintf(&b, "%s accepted the risk of the failed SonarQube quality gate below on %s.\n", slackui.PlainWho(by), decidedAt)
		b.WriteString("The failing code may now proceed; the conditions below remain open and should be fixed.\n\n")
	} else {
		fmt.Fprintf(&b, "%s rejected a security exception for the failed SonarQube quality gate below on %s.\n", slackui.PlainWho(by), decidedAt)
		b.WriteString("The quality gate must pass before this revision proceeds.\n\n")
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("Project", a.ProjectKey)
	if a.ProjectName != "" && a.ProjectName != a.ProjectKey {
		row("Project name", a.ProjectName)
	}
	if a.PullRequest {
		row("Pull request", a.Branch)
	} else {
		row("Branch", a.Branch)
	}
	row("Revision", orUnknown(a.Revision))
	if !a.AnalysedAt.IsZero() {
		row("Analysed at", a.AnalysedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	row("Quality gate", strings.TrimSpace(a.GateName+" ("+a.GateStatus+")"))
	row("Decision", decision)
	row("Decided by", slackui.PlainWho(by))
	row("Decided at", decidedAt)
	if ap := r.status.Approvals; len(ap) > 1 {
		who := make([]string, len(ap))
		for i, a := range ap {
			who[i] = slackui.PlainWho(a.User) + " at " + a.At.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		row("Approved by", strings.Join(who, ", "))
	}
	if rule := r.in.Rule; rule != nil {
		where := rule.Name
		if rule.Line > 0 {
			where += fmt.Sprintf(" (APPROVAL_POLICY_FILE line %d)", rule.Line)
		}
		row("Approval rule", where)
	}
	row("SonarQube", a.DashboardURL)
	row("Temporal run", r.runURL)
	row("Workflow id", r.request.WorkflowID)
	_ = tw.Flush()

	if failed := a.Failed(); len(failed) > 0 {
		b.WriteString("\nFailed conditions:\n")
		for _, line := range strings.Split(slackui.ConditionTable(failed), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	b.WriteString("\n-- \nSent by deploybot. Reply to this email does not reach deploybot; the decision is recorded in the Temporal run above.\n")

	info := r.request.WorkflowID
	return activities.SendEmailInput{
		To:      r.in.Policy.EmailTo,
		Subject: subject,
		Text:    b.String(),
		// Stable per run (the run id is a UUID): both rounds of attempts
		// send recognisably the same message.
		MessageID: "<" + r.runID + ".decision@deploybot>",
		Headers: map[string]string{
			"X-Deploybot-Project":  a.ProjectKey,
			"X-Deploybot-Revision": a.Revision,
			"X-Deploybot-Decision": strings.ToLower(strings.ReplaceAll(decision, " ", "_")),
			"X-Deploybot-Run":      info,
		},
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
