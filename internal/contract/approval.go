package contract

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ApprovalRule is what the approval policy says about one request: which
// rule matched, who may decide and how many must agree. The gateway picks
// it when the request arrives and passes it in the run's input, so a run
// keeps the rule it began with.
type ApprovalRule struct {
	// Name and Line say which rule of APPROVAL_POLICY_FILE matched; the
	// rule built from the environment (APPROVERS, SAST_APPROVERS, …) is
	// DefaultRuleName with Line 0.
	Name string `json:"name"`
	Line int    `json:"line,omitempty"`
	// Requesters may ask for it; empty means nobody may. Checked by the
	// gateway, shown by `policy`.
	Requesters Principals `json:"requesters,omitzero"`
	// Requires are the approvals needed: every requirement must be met.
	// Empty with NoApproval unset means nobody can approve.
	Requires []Requirement `json:"requires,omitempty"`
	// AllowSelfApproval lets the requester approve their own request.
	AllowSelfApproval bool `json:"allowSelfApproval,omitempty"`
	// AllowSameApprover lets one person's approval count toward more than
	// one requirement (one of @platform and one of @payments-leads from a
	// member of both); otherwise N approvals are N people.
	AllowSameApprover bool `json:"allowSameApprover,omitempty"`
	// NoApproval runs the action at once, audited, without asking.
	NoApproval bool `json:"noApproval,omitempty"`
	// Timeout is how long the request waits; Reminders are when, after the
	// request, the approvers are reminded.
	Timeout   time.Duration   `json:"timeout,omitempty"`
	Reminders []time.Duration `json:"reminders,omitempty"`
}

// ProjectRule is an approval rule for the apps of some Argo CD AppProjects.
type ProjectRule struct {
	// Projects it applies to; empty: any.
	Projects []string     `json:"projects,omitempty"`
	Rule     ApprovalRule `json:"rule"`
}

// ProjectRules are candidate rules in the policy's order.
type ProjectRules []ProjectRule

// For is the first rule that applies to an app of project; false if none.
func (rs ProjectRules) For(project string) (ApprovalRule, bool) {
	for _, r := range rs {
		if len(r.Projects) == 0 || slices.Contains(r.Projects, project) {
			return r.Rule, true
		}
	}
	return ApprovalRule{}, false
}

// Rules are the candidates' rules, in order.
func (rs ProjectRules) Rules() []ApprovalRule {
	out := make([]ApprovalRule, len(rs))
	for i, r := range rs {
		out[i] = r.Rule
	}
	return out
}

// Validate says what is wrong with the candidates, or nil: each rule must
// be valid and the last must apply to any project, so every app has one.
func (rs ProjectRules) Validate() error {
	if len(rs) == 0 {
		return nil
	}
	var errs []error
	for _, r := range rs {
		if err := r.Rule.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if last := rs[len(rs)-1]; len(last.Projects) > 0 {
		errs = append(errs, fmt.Errorf("the last approval rule (%q) applies only to projects %s: the gateway must end the rules with one for any project (the environment's default)", last.Rule.Name, strings.Join(last.Projects, ", ")))
	}
	return errors.Join(errs...)
}

// DefaultRuleName names the rule built from the environment settings.
const DefaultRuleName = "default"

// Principals are Slack users and user groups.
type Principals struct {
	Users  []string    `json:"users,omitempty"`
	Groups []UserGroup `json:"groups,omitempty"`
	// Everyone: anyone in the workspace (requesters only).
	Everyone bool `json:"everyone,omitempty"`
}

// UserGroup is a Slack user group: its id (S…), which
// usergroups.users.list takes, and its handle (platform, shown @platform).
type UserGroup struct {
	ID     string `json:"id"`
	Handle string `json:"handle,omitempty"`
}

// Requirement is Count approvals from people of From.
type Requirement struct {
	Count int        `json:"count"`
	From  Principals `json:"from"`
}

// GroupMembers are the members of user groups: group id → user ids.
type GroupMembers map[string][]string

// Includes says whether user is one of p, given the groups' members.
func (p Principals) Includes(user string, members GroupMembers) bool {
	if p.Everyone || slices.Contains(p.Users, user) {
		return true
	}
	for _, g := range p.Groups {
		if slices.Contains(members[g.ID], user) {
			return true
		}
	}
	return false
}

// GroupIDs are the ids of every group the rule names, sorted, once each.
func (r ApprovalRule) GroupIDs() []string {
	var ids []string
	add := func(p Principals) {
		for _, g := range p.Groups {
			ids = append(ids, g.ID)
		}
	}
	add(r.Requesters)
	for _, q := range r.Requires {
		add(q.From)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Needed is how many approvals the rule needs in all.
func (r ApprovalRule) Needed() int {
	n := 0
	for _, q := range r.Requires {
		n += q.Count
	}
	return n
}

// Validate says what is wrong with a rule, or nil.
func (r ApprovalRule) Validate() error {
	var errs []error
	for i, q := range r.Requires {
		if q.Count < 1 {
			errs = append(errs, fmt.Errorf("requirement %d of rule %q needs a count of at least 1, e.g. 1", i+1, r.Name))
		}
		if !q.From.Everyone && len(q.From.Users) == 0 && len(q.From.Groups) == 0 {
			errs = append(errs, fmt.Errorf("requirement %d of rule %q names no approvers: list Slack user ids or groups, e.g. users: [U0BOB]", i+1, r.Name))
		}
		if q.From.Everyone {
			errs = append(errs, fmt.Errorf("requirement %d of rule %q: approvers must be named people or groups, not everyone", i+1, r.Name))
		}
		if len(q.From.Groups) == 0 && len(q.From.Users) < q.Count {
			errs = append(errs, fmt.Errorf("requirement %d of rule %q needs %d approvals but names only %d people: name more, or lower the count", i+1, r.Name, q.Count, len(q.From.Users)))
		}
	}
	if r.Timeout < 0 {
		errs = append(errs, fmt.Errorf("rule %q has a negative timeout", r.Name))
	}
	for _, d := range r.Reminders {
		if d <= 0 || r.Timeout > 0 && d >= r.Timeout {
			errs = append(errs, fmt.Errorf("rule %q: reminder after %s must fall inside its timeout (%s), e.g. 30m", r.Name, d, r.Timeout))
		}
	}
	return errors.Join(errs...)
}

// Handles lists the groups as @handle (or the id when no handle is known).
func (p Principals) Handles() []string {
	out := make([]string, 0, len(p.Groups))
	for _, g := range p.Groups {
		if g.Handle != "" {
			out = append(out, "@"+strings.TrimPrefix(g.Handle, "@"))
		} else {
			out = append(out, g.ID)
		}
	}
	return out
}

// Approval is one approval a run counted.
type Approval struct {
	User User      `json:"user"`
	At   time.Time `json:"at"`
	// For are the requirements (indexes into ApprovalRule.Requires) it
	// counts toward.
	For []int `json:"for,omitempty"`
}

// Tally assigns approvers (user ids, in the order they approved) to the
// rule's requirements: a requirement takes up to Count of the people it
// includes, and a person counts toward one requirement only, unless
// AllowSameApprover (then toward each that includes them, once). Without
// it the assignment is a maximum matching, so the order of approvals never
// decides whether a rule is met. assigned[i] are requirement i's approvers.
func (r ApprovalRule) Tally(approvers []string, members GroupMembers) (assigned [][]string, met bool) {
	assigned = make([][]string, len(r.Requires))
	if r.AllowSameApprover {
		for i, q := range r.Requires {
			for _, u := range approvers {
				if len(assigned[i]) < q.Count && q.From.Includes(u, members) && !slices.Contains(assigned[i], u) {
					assigned[i] = append(assigned[i], u)
				}
			}
		}
	} else {
		// Kuhn's augmenting paths over (approver, requirement slot).
		slotOf := map[string]int{} // approver → requirement
		var try func(u string, seen map[int]bool) bool
		try = func(u string, seen map[int]bool) bool {
			for i, q := range r.Requires {
				if seen[i] || !q.From.Includes(u, members) {
					continue
				}
				seen[i] = true
				if len(assigned[i]) < q.Count {
					assigned[i] = append(assigned[i], u)
					slotOf[u] = i
					return true
				}
				for k, v := range assigned[i] {
					if try(v, seen) {
						assigned[i][k] = u
						slotOf[u] = i
						return true
					}
				}
			}
			return false
		}
		for _, u := range slices.Compact(slices.Clone(approvers)) {
			if _, done := slotOf[u]; !done {
				try(u, map[int]bool{})
			}
		}
	}
	met = len(r.Requires) > 0
	for i, q := range r.Requires {
		if len(assigned[i]) < q.Count {
			met = false
		}
	}
	return assigned, met
}

// Counts says whether user's approval would add to what approvers give:
// false when every requirement that includes them is already met by
// others (or they approved already).
func (r ApprovalRule) Counts(user string, approvers []string, members GroupMembers) bool {
	if slices.Contains(approvers, user) {
		return false
	}
	total := func(a [][]string) (n int) {
		for _, x := range a {
			n += len(x)
		}
		return n
	}
	before, _ := r.Tally(approvers, members)
	after, _ := r.Tally(append(slices.Clone(approvers), user), members)
	return total(after) > total(before)
}

// MayApprove says whether user is among the approvers of any requirement.
func (r ApprovalRule) MayApprove(user string, members GroupMembers) bool {
	for _, q := range r.Requires {
		if q.From.Includes(user, members) {
			return true
		}
	}
	return false
}

// DefaultDeployRule is the rule of the environment settings, which applies
// when no rule of APPROVAL_POLICY_FILE matches (and to runs begun before
// there were rules): one approval from APPROVERS, ALLOW_SELF_APPROVAL,
// APPROVAL_TIMEOUT, no reminders; requesters are ALLOWED_USERS.
func DefaultDeployRule(p DeployPolicy, requesters []string) ApprovalRule {
	r := ApprovalRule{
		Name: DefaultRuleName, Requesters: Principals{Users: requesters},
		AllowSelfApproval: p.AllowSelfApproval, Timeout: p.ApprovalTimeout,
	}
	if len(p.Approvers) > 0 {
		r.Requires = []Requirement{{Count: 1, From: Principals{Users: p.Approvers}}}
	}
	return r
}

// DefaultGateRule is the rule of the environment settings for quality
// gates: one approval from SAST_APPROVERS within SAST_APPROVAL_TIMEOUT, a
// reminder at half of it. SonarQube requests, so there is no requester.
func DefaultGateRule(p SASTPolicy) ApprovalRule {
	r := ApprovalRule{Name: DefaultRuleName, Timeout: p.ApprovalTimeout, Reminders: []time.Duration{p.ApprovalTimeout / 2}}
	if len(p.Approvers) > 0 {
		r.Requires = []Requirement{{Count: 1, From: Principals{Users: p.Approvers}}}
	}
	return r
}
