// Package emailview writes the emails deploybot sends: the record of a
// quality-gate decision and the audit of a break-glass sync. Like slackui
// for Slack, it is the only place their words are written; workflows pass
// it the facts. Emails are plain text, so every mail client and ticket
// system shows them as sent.
package emailview

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// Email is a message's subject and body.
type Email struct {
	Subject string
	Text    string
}

// GateDecision is what a quality-gate decision email records.
type GateDecision struct {
	Analysis  contract.Analysis
	Accepted  bool
	DecidedBy contract.User
	DecidedAt time.Time
	// Approvals are every approval counted (listed when more than one).
	Approvals []contract.Approval
	Rule      *contract.ApprovalRule
	RunURL    string
	RunID     string // the workflow id
}

// Decision is the decision in one word, for a header: risk_accepted or rejected.
func (d GateDecision) Decision() string {
	if d.Accepted {
		return "risk_accepted"
	}
	return "rejected"
}

// Email is the decision email: what was analysed, what failed, who decided
// what and when, and the links.
func (d GateDecision) Email() Email {
	a := d.Analysis
	decision, verb := "REJECTED", "Security exception rejected"
	if d.Accepted {
		decision, verb = "RISK ACCEPTED", "Security risk accepted"
	}
	where := a.ProjectKey
	if b := a.BranchLabel(); b != "" {
		where += " (" + b + ")"
	}
	decidedAt := stamp(d.DecidedAt)
	var b strings.Builder
	if d.Accepted {
		fmt.Fprintf(&b, "%s accepted the risk of the failed SonarQube quality gate below on %s.\n", slackui.PlainWho(d.DecidedBy), decidedAt)
		b.WriteString("The failing code may now proceed; the conditions below remain open and should be fixed.\n\n")
	} else {
		fmt.Fprintf(&b, "%s rejected a security exception for the failed SonarQube quality gate below on %s.\n", slackui.PlainWho(d.DecidedBy), decidedAt)
		b.WriteString("The quality gate must pass before this revision proceeds.\n\n")
	}
	t := newTable(&b)
	t.row("Project", a.ProjectKey)
	if a.ProjectName != "" && a.ProjectName != a.ProjectKey {
		t.row("Project name", a.ProjectName)
	}
	if a.PullRequest {
		t.row("Pull request", a.Branch)
	} else {
		t.row("Branch", a.Branch)
	}
	t.row("Revision", slackui.OrUnknown(a.Revision))
	if !a.AnalysedAt.IsZero() {
		t.row("Analysed at", stamp(a.AnalysedAt))
	}
	t.row("Quality gate", strings.TrimSpace(a.GateName+" ("+a.GateStatus+")"))
	t.row("Decision", decision)
	t.row("Decided by", slackui.PlainWho(d.DecidedBy))
	t.row("Decided at", decidedAt)
	if len(d.Approvals) > 1 {
		t.row("Approved by", approvers(d.Approvals))
	}
	if d.Rule != nil {
		rule := d.Rule.Name
		if d.Rule.Line > 0 {
			rule += fmt.Sprintf(" (APPROVAL_POLICY_FILE line %d)", d.Rule.Line)
		}
		t.row("Approval rule", rule)
	}
	t.row("SonarQube", a.DashboardURL)
	t.row("Temporal run", d.RunURL)
	t.row("Workflow id", d.RunID)
	t.flush()
	if failed := a.Failed(); len(failed) > 0 {
		b.WriteString("\nFailed conditions:\n")
		for _, line := range strings.Split(slackui.ConditionTable(failed), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	b.WriteString("\n-- \nSent by deploybot. Reply to this email does not reach deploybot; the decision is recorded in the Temporal run above.\n")
	return Email{Subject: fmt.Sprintf("[deploybot] %s: %s at %s", verb, where, slackui.OrUnknown(slackui.ShortRev(a.Revision))), Text: b.String()}
}

// BreakGlass is what the audit email of a break-glass sync records.
type BreakGlass struct {
	Request     contract.DeployRequest
	Project     string
	Reason      string
	RequestedAt time.Time
	Result      contract.DeployResult
	RunURL      string
	RunID       string // the workflow id
}

// Email is the break-glass audit: who asked, why, who approved, how it ended.
func (e BreakGlass) Email() Email {
	req, res := e.Request, e.Result
	var b strings.Builder
	fmt.Fprintf(&b, "%s asked for an emergency (break-glass) sync of %s, outside its usual approval rules.\n\n", slackui.PlainWho(req.RequestedBy), req.App)
	t := newTable(&b)
	t.row("App", req.App)
	t.row("Project", e.Project)
	t.row("Reason", e.Reason)
	t.row("Requested by", slackui.PlainWho(req.RequestedBy))
	t.row("Requested at", stamp(e.RequestedAt))
	for _, a := range res.Approvals {
		t.row("Approved by", slackui.PlainWho(a.User)+" at "+stamp(a.At))
	}
	if res.DecidedBy != nil && res.Outcome == contract.OutcomeRejected {
		t.row("Rejected by", slackui.PlainWho(*res.DecidedBy))
	}
	t.row("Outcome", string(res.Outcome))
	t.row("Message", res.Message)
	t.row("Revision", res.Revision)
	t.row("Temporal run", e.RunURL)
	t.row("Workflow id", e.RunID)
	t.flush()
	b.WriteString("\n-- \nSent by deploybot for every break-glass request (breakGlass.emailTo of APPROVAL_POLICY_FILE).\n")
	return Email{
		Subject: fmt.Sprintf("[deploybot] BREAK-GLASS sync of %s by %s: %s", req.App, slackui.PlainWho(req.RequestedBy), res.Outcome),
		Text:    b.String(),
	}
}

// table lines up "Key:  value" rows; empty values are left out.
type table struct{ tw *tabwriter.Writer }

func newTable(b *strings.Builder) table { return table{tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)} }

func (t table) row(k, v string) {
	if v != "" {
		fmt.Fprintf(t.tw, "%s:\t%s\n", k, v)
	}
}

func (t table) flush() { _ = t.tw.Flush() }

func approvers(ap []contract.Approval) string {
	who := make([]string, len(ap))
	for i, a := range ap {
		who[i] = slackui.PlainWho(a.User) + " at " + stamp(a.At)
	}
	return strings.Join(who, ", ")
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
