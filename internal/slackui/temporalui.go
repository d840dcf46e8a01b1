package slackui

import (
	"fmt"
	"strings"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
)

// The Temporal UI's words for a run: a one-line summary and details set at
// start (StartWorkflowOptions.StaticSummary/StaticDetails), and the current
// details the run keeps up to date (workflow.SetCurrentDetails). Temporal
// renders details as Markdown; people are named beside their ids.

// DeploySummary is a deploy run's line in the run list: "rollback payments
// → 2, asked by alice (U0ALICE)".
func DeploySummary(r contract.DeployRequest, emergency bool) string {
	s := ActionName(r.Action) + " " + r.App
	if r.Action == contract.ActionRollback && r.HistoryID != 0 {
		s += fmt.Sprintf(" → %d", r.HistoryID)
	}
	if emergency {
		s = "EMERGENCY " + s
	}
	return s + ", asked by " + PlainWho(r.RequestedBy)
}

// DeployDetails are a deploy run's facts as it began.
func DeployDetails(in contract.DeployInput) string {
	r := in.Request
	lines := []string{
		"**Requested by** " + PlainWho(r.RequestedBy),
		"**App** `" + r.App + "` · **Action** " + ActionName(r.Action),
	}
	if r.Action == contract.ActionRollback {
		lines = append(lines, fmt.Sprintf("**History id** %d", r.HistoryID))
	}
	if in.Emergency != nil {
		lines = append(lines, "**Break-glass** "+contract.CleanName(in.Emergency.Reason))
	}
	var rules []string
	for _, pr := range in.Rules {
		name := pr.Rule.Name
		if len(pr.Projects) > 0 {
			name += " (projects " + strings.Join(pr.Projects, ", ") + ")"
		}
		rules = append(rules, name)
	}
	if len(rules) > 0 {
		lines = append(lines, "**Approval rule** "+strings.Join(rules, ", otherwise "))
	}
	if r.Channel != "" {
		lines = append(lines, "**Slack channel** "+r.Channel)
	}
	return strings.Join(lines, "\n")
}

// CommandSummary is a read command's line: "status payments, asked by
// alice (U0ALICE)".
func CommandSummary(command string, in contract.CommandInput) string {
	return command + ", asked by " + PlainWho(in.RequestedBy)
}

// GateSummary is a quality-gate run's line: "quality gate ERROR: shop
// (main) at 6b08226".
func GateSummary(a contract.Analysis) string {
	s := "quality gate " + a.GateStatus + ": " + a.ProjectKey
	if a.Branch != "" {
		s += " (" + a.Branch + ")"
	}
	if a.Revision != "" {
		s += " at " + ShortRev(a.Revision)
	}
	return s
}

// WaitingDetails is the current step of a run waiting for approval until
// expires: "Waiting for approval until 2026-12-03 10:30 UTC. Needs 2
// approvals: 1 of @platform (✓ bob (U0BOB)), 1 of @payments-leads (waiting)".
func WaitingDetails(p *ApprovalProgress, expires time.Time) string {
	s := "Waiting for approval until " + plainDate(expires) + "."
	if p != nil {
		s += " " + p.PlainText()
	}
	return s
}

// GateStepDetails is the current step of a quality-gate run after its
// decision.
func GateStepDetails(step contract.SASTStep, outcome contract.Outcome) string {
	if outcome != "" {
		return "Done: " + string(outcome)
	}
	if step == contract.SASTStepEmailing {
		return "Emailing the decision"
	}
	return strings.ReplaceAll(string(step), "_", " ")
}

// DeployStepDetails is the current step of a deploy run after its approval.
func DeployStepDetails(s contract.DeployStatus) string {
	if s.Outcome != "" {
		return "Done: " + string(s.Outcome)
	}
	switch s.Step {
	case contract.StepPreparing:
		return "Reading the app from Argo CD"
	case contract.StepDisablingAutoSync:
		return "Turning off auto-sync"
	case contract.StepStarting:
		return "Starting the " + ActionName(s.Action) + " in Argo CD"
	case contract.StepFollowing:
		var state []string
		for _, kv := range [][2]string{{"phase", s.Phase}, {"sync", s.SyncStatus}, {"health", s.Health}} {
			if kv[1] != "" {
				state = append(state, kv[0]+" "+kv[1])
			}
		}
		if len(state) == 0 {
			return "Following Argo CD"
		}
		return "Following Argo CD: " + strings.Join(state, ", ")
	}
	return strings.ReplaceAll(string(s.Step), "_", " ")
}

// Activity summaries: the line the Temporal UI's event history shows for a
// step of a run, so the history reads as the process.

// ReadAppSummary is PrepareDeploy's: "read payments from Argo CD".
func ReadAppSummary(r contract.DeployRequest) string {
	if r.Action == contract.ActionRollback {
		return fmt.Sprintf("read %s and its history id %d from Argo CD", r.App, r.HistoryID)
	}
	return "read " + r.App + " from Argo CD"
}

// PreviewActivitySummary is SyncPreview's.
func PreviewActivitySummary(app string) string {
	return "ask Argo CD what a sync of " + app + " would change"
}

// FreezeCheckSummary is ActiveFreezes'.
func FreezeCheckSummary(app string) string { return "look for freezes of " + app }

// LookSummary is a look at the app's state: "look at payments in Argo CD".
func LookSummary(app string) string { return "look at " + app + " in Argo CD" }

// StartSummary is StartOperation's: "start the sync of payments in Argo CD".
func StartSummary(a contract.Action, app string) string {
	return "start the " + ActionName(a) + " of " + app + " in Argo CD"
}

// AutoSyncSummary is DisableAutoSync's or EnableAutoSync's.
func AutoSyncSummary(on bool, app string) string {
	if on {
		return "turn on auto-sync of " + app + " in Argo CD"
	}
	return "turn off auto-sync of " + app + " in Argo CD"
}

// RequestSummary is the post of an approval request.
func RequestSummary(channel string) string { return "post the approval request in " + channel }

// MembersSummary is the read of the approving groups' members.
func MembersSummary(rule contract.ApprovalRule) string {
	var handles []string
	for _, q := range rule.Requires {
		for _, g := range q.From.Groups {
			handles = append(handles, "@"+strings.TrimPrefix(g.Handle, "@"))
		}
	}
	return "read the members of " + strings.Join(handles, ", ") + " from Slack"
}

// InfoField is one of the name/value pairs Argo CD shows with an operation.
type InfoField struct{ Name, Value string }

// OperationInfo is what Argo CD shows with a sync deploybot started: who
// asked, who approved (or the rule that needs no approval), and the run.
func OperationInfo(requestedBy contract.User, approvers []contract.User, noApprovalRule, run string) []InfoField {
	var fields []InfoField
	add := func(name, value string) {
		if value != "" {
			fields = append(fields, InfoField{Name: name, Value: value})
		}
	}
	if requestedBy.ID != "" {
		add("Requested by", PlainWho(requestedBy))
	}
	names := make([]string, len(approvers))
	for i, u := range approvers {
		names[i] = PlainWho(u)
	}
	switch {
	case len(names) > 0:
		add("Approved by", strings.Join(names, ", "))
	case noApprovalRule != "":
		add("Approved by", "nobody: approval rule "+noApprovalRule+" needs none")
	}
	add("deploybot run", run)
	return fields
}
