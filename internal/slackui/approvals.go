package slackui

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/contract"
)

// BlockIDApprovals is the block that says how far the approval rule is met.
const BlockIDApprovals = "deploybot.approvals"

// ApprovalProgress is how far a request's approval rule is met. Requests
// whose rule needs one approval from named people (the environment's
// default) leave it nil and read as they always did.
type ApprovalProgress struct {
	// Rule and Line name the rule of APPROVAL_POLICY_FILE that matched.
	Rule string `json:"rule,omitempty"`
	Line int    `json:"line,omitempty"`
	// Needs are the rule's requirements with who met them so far.
	Needs []Need `json:"needs"`
}

// Need is one requirement: Count approvals from Users or Groups, met by By.
type Need struct {
	Count  int             `json:"count"`
	Users  []string        `json:"users,omitempty"`
	Groups []string        `json:"groups,omitempty"` // handles, shown @handle
	By     []contract.User `json:"by,omitempty"`
}

// NewApprovalProgress builds the view of rule given who approved, as
// contract.ApprovalRule.Tally assigned them; nil when the rule is a single
// approval from named people, which the request already says.
func NewApprovalProgress(rule contract.ApprovalRule, assigned [][]contract.User) *ApprovalProgress {
	if len(rule.Requires) == 0 || rule.Needed() == 1 && len(rule.GroupIDs()) == 0 {
		return nil
	}
	p := &ApprovalProgress{Rule: rule.Name, Line: rule.Line}
	for i, q := range rule.Requires {
		n := Need{Count: q.Count, Users: q.From.Users}
		for _, g := range q.From.Groups {
			n.Groups = append(n.Groups, g.Handle)
		}
		if i < len(assigned) {
			n.By = assigned[i]
		}
		p.Needs = append(p.Needs, n)
	}
	return p
}

// needed is the number of approvals in all; given, those given so far.
func (p *ApprovalProgress) counts() (needed, given int) {
	for _, n := range p.Needs {
		needed += n.Count
		given += min(len(n.By), n.Count)
	}
	return needed, given
}

// from says whom a need is from: "@platform", "<@U0BOB> or <@U0DAN>".
func (n Need) from(person func(contract.User) string) string {
	var who []string
	for _, g := range n.Groups {
		who = append(who, "@"+Escape(strings.TrimPrefix(g, "@")))
	}
	for _, u := range n.Users {
		who = append(who, person(contract.User{ID: u}))
	}
	return strings.Join(who, " or ")
}

// Text is the progress line: "Needs 2 approvals: 1 of @platform (✓ <@U0BOB>),
// 1 of @payments-leads (waiting)".
func (p *ApprovalProgress) Text() string { return p.text(contract.User.Mention) }

// PlainText is Text with people named in plain text ("✓ bob (U0BOB)"),
// for places that are not Slack.
func (p *ApprovalProgress) PlainText() string { return p.text(PlainWho) }

func (p *ApprovalProgress) text(person func(contract.User) string) string {
	needed, _ := p.counts()
	parts := make([]string, len(p.Needs))
	for i, n := range p.Needs {
		state := "waiting"
		if len(n.By) > 0 {
			names := make([]string, len(n.By))
			for k, u := range n.By {
				names[k] = "✓ " + person(u)
			}
			state = strings.Join(names, ", ")
			if len(n.By) < n.Count {
				state += fmt.Sprintf(", %d more", n.Count-len(n.By))
			}
		}
		parts[i] = fmt.Sprintf("%d of %s (%s)", n.Count, n.from(person), state)
	}
	return fmt.Sprintf("Needs %d approval%s: %s", needed, plural(needed), strings.Join(parts, ", "))
}

// approvalsBlock shows the progress with the rule that asks for it.
func approvalsBlock(p *ApprovalProgress) slack.Block {
	text := "*Approvals*\n" + p.Text()
	if p.Rule != "" {
		// Not in italics: the underscores of the variable's name would end them.
		rule := "Rule " + code(p.Rule)
		if p.Line > 0 {
			rule += fmt.Sprintf(" (APPROVAL_POLICY_FILE line %d)", p.Line)
		}
		text += "\n" + rule
	}
	return section(BlockIDApprovals, Truncate(text, maxSectionText))
}

// plainProgress is the progress for a message's fallback text: "1 of 2 approvals".
func plainProgress(p *ApprovalProgress) string {
	needed, given := p.counts()
	return fmt.Sprintf("%d of %d approvals", given, needed)
}

// ApprovalCounted answers an approval that counted but does not complete
// the rule.
func ApprovalCounted(p *ApprovalProgress) string {
	if p == nil {
		return "Approval counted."
	}
	needed, given := p.counts()
	return fmt.Sprintf("Approval counted (%d of %d); the request waits for the rest. %s", given, needed, p.Text())
}

// AlreadyApproved refuses a second approval from the same person.
func AlreadyApproved(p *ApprovalProgress) string {
	s := "You have already approved this request; one person's approval counts once."
	if p != nil {
		s += " " + p.Text()
	}
	return s
}

// ApprovalNotNeeded refuses an approval whose part of the rule others met.
func ApprovalNotNeeded(p *ApprovalProgress) string {
	s := "Your approval was not counted: the approvals you may give are already given, and the request waits for other approvers."
	if p != nil {
		s += " " + p.Text()
	}
	return s
}

// NotAnApproverOfRule refuses someone the matched rule does not name.
func NotAnApproverOfRule(rule contract.ApprovalRule, what string) string {
	return fmt.Sprintf("You are not an approver of %s under %s, so your decision was not counted. Ask `policy` who may approve it.", what, ruleWhere(rule))
}

// ruleWhere names a rule and its line: rule "payments" (APPROVAL_POLICY_FILE line 12).
func ruleWhere(rule contract.ApprovalRule) string {
	where := fmt.Sprintf("rule %q", rule.Name)
	if rule.Line > 0 {
		where += fmt.Sprintf(" (APPROVAL_POLICY_FILE line %d)", rule.Line)
	}
	return where
}

// NotARequesterOfRule refuses a request from someone the matched rule does
// not let ask; what is "sync guestbook", app the app for `policy`.
func NotARequesterOfRule(requester contract.User, rule contract.ApprovalRule, what, app string) string {
	if rule.Name == contract.DefaultRuleName && rule.Line == 0 {
		return notInAllowedUsers(requester, what)
	}
	who := "only " + requesters(rule.Requesters)
	if who == "only " {
		who = "nobody"
	}
	return fmt.Sprintf(":no_entry: %s, you may not ask for `%s`: %s lets %s ask for it. `policy %s` shows who may ask and approve.", requester.Mention(), Escape(what), ruleWhere(rule), who, Escape(app))
}

// NotAllowedToRead refuses a read-only command from someone who may ask
// for nothing.
func NotAllowedToRead(requester contract.User, what string) string {
	return notInAllowedUsers(requester, what)
}

func notInAllowedUsers(requester contract.User, what string) string {
	return fmt.Sprintf(":no_entry: %s, you are not allowed to ask for `%s`: only the people listed in ALLOWED_USERS (and the requesters of APPROVAL_POLICY_FILE) may. Ask your deploybot admins to add you; `help` is open to everyone.",
		requester.Mention(), Escape(what))
}

// BreakGlassNotConfigured refuses `sync APP --emergency` when the policy
// has no breakGlass.
func BreakGlassNotConfigured(requester contract.User, app string) string {
	return fmt.Sprintf(":no_entry: %s, break-glass is not set up here: an admin must add breakGlass (who may, and whom to email) to APPROVAL_POLICY_FILE, e.g. breakGlass: {requesters: {groups: [sre-oncall]}, emailTo: [incidents@example.com]}. Ask for `sync %s` without --emergency meanwhile.", requester.Mention(), Escape(app))
}

// RequesterGroupsUnreadable refuses a request that only the rule's Slack
// user groups could allow, when Slack did not say who is in them.
func RequesterGroupsUnreadable(requester contract.User, rule contract.ApprovalRule, what, err string) string {
	return fmt.Sprintf(":x: %s, I could not check that you may ask for `%s`: %s lets Slack user groups ask, and reading their members failed (%s). Try again in a minute; if it keeps failing, ask an admin to check the bot's usergroups:read scope.", requester.Mention(), Escape(what), ruleWhere(rule), Escape(err))
}

// NoApprovalNote is the audit line of a request whose rule needs no approval.
func NoApprovalNote(rule contract.ApprovalRule) string {
	return fmt.Sprintf("%s needs no approval, so it runs at once; this message is its record.", ruleWhere(rule))
}

// requesters says who may ask: "<@U0ALICE>, @platform", "everyone".
func requesters(p contract.Principals) string {
	if p.Everyone {
		return "everyone"
	}
	who := p.Handles()
	for _, u := range p.Users {
		who = append(who, contract.User{ID: u}.Mention())
	}
	return strings.Join(who, ", ")
}

// GroupsUnreadable refuses a click that could count only if Slack said
// who is in the rule's groups, which it did not.
func GroupsUnreadable(err string) string {
	return "Your decision was not counted: deploybot could not read the members of the approving Slack user groups (" + Escape(err) + "). Try again in a minute; if it keeps failing, ask an admin to check the bot's usergroups:read scope."
}

// DecisionNamesNoUser refuses a decision (from the runs API) that says
// nobody made it.
func DecisionNamesNoUser() string {
	return "the decision names no user: pass the Slack user id it is made on behalf of, e.g. U0BOB"
}

// NotWaitingForDecision refuses a decision on a run that no longer waits
// for one; decidedBy is who decided it, if anyone.
func NotWaitingForDecision(decidedBy *contract.User) string {
	msg := "this run is not waiting for a decision"
	if decidedBy != nil {
		msg += ": it was already decided by " + PlainWho(*decidedBy)
	}
	return msg
}

// TooManyDecisions refuses a decision that found the run's queue full.
func TooManyDecisions() string { return "too many decisions arrived at once; send it again" }

// NotThisRequest is why a click on another message does not count: a
// button decides the run of the request it is on, whatever its value says.
func NotThisRequest() string {
	return "That button is not on this run's request message, so your click was not counted: click the buttons of the request itself."
}
