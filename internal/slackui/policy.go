package slackui

import (
	"fmt"
	"strings"

	"github.com/deploybot/deploybot/internal/contract"
)

// PolicyActions are actions that get the same approval rules.
type PolicyActions struct {
	Actions []contract.Action
	// Rules are the candidates in order: the first whose projects hold the
	// app's AppProject applies (contract.ProjectRules.For).
	Rules contract.ProjectRules
}

// PolicyText answers `policy APP`: for each change of app, who may ask for
// it and whose approvals it needs. file is APPROVAL_POLICY_FILE ("" = none).
func PolicyText(app, file string, groups []PolicyActions, breakGlass *contract.ProjectRule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*Approval policy for %s*", code(app))
	if file == "" {
		b.WriteString(" (no APPROVAL_POLICY_FILE: the environment's ALLOWED_USERS, APPROVERS and APPROVAL_TIMEOUT)")
	}
	for _, g := range groups {
		acts := make([]string, len(g.Actions))
		for i, a := range g.Actions {
			acts[i] = string(a)
		}
		fmt.Fprintf(&b, "\n• *%s*: ", Escape(strings.Join(acts, ", ")))
		for i, r := range g.Rules {
			if i > 0 {
				b.WriteString(" Otherwise ")
			}
			b.WriteString(ruleSummary(r))
		}
	}
	if breakGlass != nil {
		fmt.Fprintf(&b, "\n• *sync %s --emergency REASON* (break-glass): %s", Escape(app), ruleSummary(*breakGlass))
	}
	return Truncate(b.String(), maxSectionText)
}

// ruleSummary reads "rule "payments" (APPROVAL_POLICY_FILE line 12), for
// apps of project payments: asked for by @payments-leads; needs 1 of
// @platform and 1 of @payments-leads; waits 30m."
func ruleSummary(r contract.ProjectRule) string {
	rule := r.Rule
	s := ruleWhere(rule)
	if len(r.Projects) > 0 {
		projects := make([]string, len(r.Projects))
		for i, p := range r.Projects {
			projects[i] = code(p)
		}
		s += ", for apps of project " + strings.Join(projects, " or ")
	}
	who := requesters(rule.Requesters)
	if who == "" {
		who = "nobody"
	}
	s += ": asked for by " + who + "; "
	switch {
	case rule.NoApproval:
		return s + "runs without approval (audited in the channel)."
	case len(rule.Requires) == 0:
		return s + "nobody can approve it."
	}
	needs := make([]string, len(rule.Requires))
	for i, q := range rule.Requires {
		n := Need{Count: q.Count, Users: q.From.Users}
		for _, g := range q.From.Groups {
			n.Groups = append(n.Groups, g.Handle)
		}
		needs[i] = fmt.Sprintf("%d of %s", q.Count, n.from(contract.User.Mention))
	}
	s += "needs " + strings.Join(needs, " and ")
	if rule.AllowSelfApproval {
		s += " (the requester's own approval counts)"
	}
	s += "; waits " + contract.FormatDuration(rule.Timeout) + "."
	return s
}
