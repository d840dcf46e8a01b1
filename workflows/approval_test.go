package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

var (
	carol = contract.User{ID: "U0CAROL", Name: "carol"}
	dan   = contract.User{ID: "U0DAN", Name: "dan"}
)

// groupsHarness is a deploy harness whose Slack knows two user groups:
// @platform (bob, dan, and alice, the requester) and @payments-leads
// (carol). readErr, if set, fails the next group reads.
type groupsHarness struct {
	*harness
	reads   int
	readErr []error
}

func newGroupsHarness(t *testing.T) *groupsHarness {
	g := &groupsHarness{harness: newHarness(t)}
	var sl *activities.Slack
	g.env.OnActivity(sl.GroupMembers, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.GroupMembersInput) (activities.GroupMembersResult, error) {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.reads++
			if len(g.readErr) > 0 {
				err := g.readErr[0]
				g.readErr = g.readErr[1:]
				return activities.GroupMembersResult{}, err
			}
			return activities.GroupMembersResult{Members: contract.GroupMembers{
				"S0PLATFORM": {alice.ID, bob.ID, dan.ID}, "S0PAYLEADS": {carol.ID},
			}}, nil
		}).Maybe()
	return g
}

// twoGroupRule needs one approval of @platform and one of @payments-leads.
func twoGroupRule() *contract.ApprovalRule {
	return &contract.ApprovalRule{Name: "payments-prod", Line: 12, Timeout: time.Hour, Requesters: contract.Principals{Users: []string{alice.ID}}, Requires: []contract.Requirement{
		{Count: 1, From: contract.Principals{Groups: []contract.UserGroup{{ID: "S0PLATFORM", Handle: "platform"}}}},
		{Count: 1, From: contract.Principals{Groups: []contract.UserGroup{{ID: "S0PAYLEADS", Handle: "payments-leads"}}}},
	}}
}

func ruleInput(rule *contract.ApprovalRule) contract.DeployInput {
	in := input(contract.ActionSync, 0)
	in.Rules = contract.ProjectRules{{Rule: *rule}}
	return in
}

// lastRequest is the request message as Slack last had it.
func (h *harness) lastRequest() *slackui.DeployRequest {
	for i := len(h.updates) - 1; i >= 0; i-- {
		if r := h.updates[i].Message.DeployRequest; r != nil {
			return r
		}
	}
	return h.posts[0].Message.DeployRequest
}

func (h *harness) ephemeralTo(u contract.User) string {
	var b strings.Builder
	for _, e := range h.ephemerals {
		if e.User == u.ID {
			b.WriteString(e.Text + "\n")
		}
	}
	return b.String()
}

// TestApprovalNofMWithGroups: bob's approval counts for @platform and the
// request shows it; his second click and dan's (whose @platform part is
// given) do not count; alice, the requester, may not approve her own;
// carol's meets the rule and the sync starts.
func TestApprovalNofMWithGroups(t *testing.T) {
	h := newGroupsHarness(t)
	h.states = healthyTimeline()
	h.click(time.Minute, bob, true)
	var afterBob *slackui.DeployRequest
	h.env.RegisterDelayedCallback(func() {
		h.mu.Lock()
		afterBob = h.lastRequest()
		h.mu.Unlock()
	}, 90*time.Second)
	h.click(2*time.Minute, bob, true)
	h.click(3*time.Minute, dan, true)
	h.click(4*time.Minute, alice, true)
	h.click(5*time.Minute, mallory, true)
	h.click(6*time.Minute, carol, true)
	res := h.run(ruleInput(twoGroupRule()))

	if res.Outcome != contract.OutcomeSucceeded || res.DecidedBy == nil || res.DecidedBy.ID != carol.ID {
		t.Fatalf("result = %+v, want succeeded, decided by carol", res)
	}
	if len(h.starts) != 1 || h.starts[0].ApprovedBy == nil {
		t.Fatalf("StartOperation calls = %+v, want one", h.starts)
	}
	if afterBob == nil || afterBob.State != slackui.RequestPending || afterBob.Approvals == nil ||
		!strings.Contains(afterBob.Approvals.Text(), "1 of @platform (✓ <@U0BOB>)") || !strings.Contains(afterBob.Approvals.Text(), "1 of @payments-leads (waiting)") {
		t.Errorf("request after bob = %+v, want pending with bob's approval shown", afterBob)
	}
	final := h.lastRequest()
	if final.State != slackui.RequestApproved || final.Approvals == nil || !strings.Contains(final.Approvals.Text(), "✓ <@U0CAROL>") || !strings.Contains(final.Approvals.Text(), "✓ <@U0BOB>") {
		t.Errorf("final request = %+v, want approved by bob and carol", final)
	}
	for u, want := range map[contract.User]string{bob: "already approved", dan: "already given", alice: "someone else must approve", mallory: `not an approver of the sync of guestbook under rule "payments-prod" (APPROVAL_POLICY_FILE line 12)`} {
		if got := h.ephemeralTo(u); !strings.Contains(got, want) {
			t.Errorf("%s was told %q, want %q", u.Name, got, want)
		}
	}
	if h.ephemeralTo(carol) != "" {
		t.Errorf("carol was refused: %s", h.ephemeralTo(carol))
	}
	// bob was not in the (empty) member list at first: one read; later
	// clicks of people in the groups need no more.
	if h.reads != 2 { // bob (first read), then mallory, who is in no group
		t.Errorf("groups read %d times, want 2", h.reads)
	}
}

// TestApprovalRejectedMidway: after bob's approval, carol rejects: the run
// ends rejected and nothing is started.
func TestApprovalRejectedMidway(t *testing.T) {
	h := newGroupsHarness(t)
	h.click(time.Minute, bob, true)
	h.click(2*time.Minute, carol, false)
	res := h.run(ruleInput(twoGroupRule()))
	if res.Outcome != contract.OutcomeRejected || res.DecidedBy == nil || res.DecidedBy.ID != carol.ID || len(h.starts) != 0 {
		t.Fatalf("result = %+v, starts %d; want rejected by carol, nothing started", res, len(h.starts))
	}
	if r := h.lastRequest(); r.State != slackui.RequestRejected || !strings.Contains(r.Approvals.Text(), "✓ <@U0BOB>") {
		t.Errorf("request = %+v, want rejected, still showing bob's approval", r)
	}
}

// TestApprovalExpiresWithPartialApprovals: one of two approvals, then the
// timeout: expired, and the request keeps showing who approved.
func TestApprovalExpiresWithPartialApprovals(t *testing.T) {
	h := newGroupsHarness(t)
	h.click(time.Minute, bob, true)
	res := h.run(ruleInput(twoGroupRule()))
	if res.Outcome != contract.OutcomeExpired || len(h.starts) != 0 {
		t.Fatalf("result = %+v, starts %d; want expired, nothing started", res, len(h.starts))
	}
	if r := h.lastRequest(); r.State != slackui.RequestExpired || !strings.Contains(r.Approvals.Text(), "✓ <@U0BOB>") || !strings.Contains(r.Note, "1h0m0s") {
		t.Errorf("request = %+v, want expired after the rule's hour, showing bob's approval", r)
	}
}

// TestApprovalSamePersonTwice: with allowSameApprover, bob (in both groups
// here) meets both requirements alone; without it he gives one of two.
func TestApprovalSamePersonTwice(t *testing.T) {
	rule := twoGroupRule()
	rule.Requires[1].From.Users = []string{bob.ID}
	rule.AllowSameApprover = true
	h := newGroupsHarness(t)
	h.states = healthyTimeline()
	h.click(time.Minute, bob, true)
	if res := h.run(ruleInput(rule)); res.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("with allowSameApprover: %+v, want succeeded on bob's one approval", res)
	}

	rule.AllowSameApprover = false
	h = newGroupsHarness(t)
	h.click(time.Minute, bob, true)
	if res := h.run(ruleInput(rule)); res.Outcome != contract.OutcomeExpired {
		t.Fatalf("without allowSameApprover: %+v, want expired waiting for a second person", res)
	}
}

// TestApprovalGroupsUnreadable: Slack fails to say who is in the groups; the
// click is refused saying so, and counts when clicked again.
func TestApprovalGroupsUnreadable(t *testing.T) {
	h := newGroupsHarness(t)
	h.states = healthyTimeline()
	down := temporal.NewNonRetryableApplicationError("Slack is down", activities.SlackUnavailableErrorType, nil)
	h.readErr = []error{down, down} // the first look, then the look again for bob
	rule := twoGroupRule()
	rule.Requires = rule.Requires[:1]
	h.click(time.Minute, bob, true)
	h.click(2*time.Minute, bob, true)
	res := h.run(ruleInput(rule))
	if res.Outcome != contract.OutcomeSucceeded || !strings.Contains(h.ephemeralTo(bob), "could not read the members") {
		t.Fatalf("result = %+v, bob told %q", res, h.ephemeralTo(bob))
	}
}

// TestApprovalPartialThroughTheAPI: the runs API's caller learns that an
// approval counted but the request waits for more.
func TestApprovalPartialThroughTheAPI(t *testing.T) {
	h := newGroupsHarness(t)
	var got contract.DecisionResult
	var gotErr error
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(contract.UpdateDecide, "bob", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { gotErr = err },
			OnComplete: func(v any, err error) {
				gotErr = err
				if err == nil {
					got = v.(contract.DecisionResult)
				}
			},
		}, contract.Decision{Approve: true, User: bob, Source: "api"})
	}, time.Minute)
	h.run(ruleInput(twoGroupRule()))
	if gotErr != nil || got.Outcome != contract.OutcomeCounted || !strings.Contains(got.Message, "1 of 2") {
		t.Fatalf("bob's update = %+v, %v; want counted, 1 of 2", got, gotErr)
	}
}

// TestQualityGateTwoApproversAndReminders: a quality-gate rule from the
// policy file needs two security approvers and reminds at 1h and 2h; the
// same engine counts bob, then carol accepts the risk, and the email goes
// out once.
func TestQualityGateTwoApproversAndReminders(t *testing.T) {
	h := newGateHarness(t)
	in := failedGate()
	in.Rule = &contract.ApprovalRule{Name: "security", Line: 30, Timeout: 4 * time.Hour, Reminders: []time.Duration{time.Hour, 2 * time.Hour},
		Requires: []contract.Requirement{{Count: 2, From: contract.Principals{Users: []string{bob.ID, carol.ID}}}}}
	h.signal(30*time.Minute, contract.SignalDecision, contract.Decision{Approve: true, User: bob})
	h.signal(150*time.Minute, contract.SignalDecision, contract.Decision{Approve: true, User: carol})
	res := h.run(in)
	if res.Outcome != contract.OutcomeAccepted || res.DecidedBy == nil || res.DecidedBy.ID != carol.ID || len(h.emails) != 1 {
		t.Fatalf("result = %+v, %d emails; want accepted by carol, one email", res, len(h.emails))
	}
	reminders := 0
	for _, s := range h.threadTexts() {
		if strings.Contains(s, "Reminder") {
			reminders++
			if !strings.Contains(s, "<@U0CAROL>") {
				t.Errorf("reminder %q does not name the rule's approvers", s)
			}
		}
	}
	if reminders != 2 {
		t.Errorf("%d reminders, want 2 (at 1h and 2h)", reminders)
	}
	if r := h.lastRequest(); r.State != slackui.RequestAccepted || r.Approvals == nil || !strings.Contains(r.Approvals.Text(), "2 of <@U0BOB> or <@U0CAROL> (✓ <@U0BOB>, ✓ <@U0CAROL>)") {
		t.Errorf("request = %+v", r.Approvals)
	}
	if res.Rule != "security" || len(res.Approvals) != 2 || res.Approvals[0].User.ID != bob.ID {
		t.Errorf("result rule %q approvals %+v, want security with bob then carol", res.Rule, res.Approvals)
	}
	mail := h.emails[0].Text
	for _, want := range []string{"Approved by:", "bob (U0BOB) at ", "carol (U0CAROL) at ", "Approval rule:", "security (APPROVAL_POLICY_FILE line 30)"} {
		if !strings.Contains(mail, want) {
			t.Errorf("email lacks %q:\n%s", want, mail)
		}
	}
}

// TestApprovalRuleOfTheAppsProject: the gateway cannot know the project, so
// the run gets the candidates and follows the one of the project Argo CD
// says the app is in.
func TestApprovalRuleOfTheAppsProject(t *testing.T) {
	single := contract.ApprovalRule{Name: "default", Timeout: time.Hour, Requesters: contract.Principals{Users: []string{alice.ID}},
		Requires: []contract.Requirement{{Count: 1, From: contract.Principals{Users: []string{bob.ID}}}}}
	for _, tc := range []struct {
		project string
		want    string
		clicks  []contract.User
	}{
		{"payments", "payments-prod", []contract.User{bob, carol}},
		{"default", "default", []contract.User{bob}},
	} {
		t.Run(tc.project, func(t *testing.T) {
			h := newGroupsHarness(t)
			h.states = healthyTimeline()
			h.prepare = activities.PrepareDeployResult{Project: tc.project, CurrentRevision: "aaaaaaa1111", TargetRevision: "bbbbbbb2222"}
			for i, u := range tc.clicks {
				h.click(time.Duration(i+1)*time.Minute, u, true)
			}
			in := input(contract.ActionSync, 0)
			in.Rules = contract.ProjectRules{{Projects: []string{"payments", "billing"}, Rule: *twoGroupRule()}, {Rule: single}}
			res := h.run(in)
			if res.Outcome != contract.OutcomeSucceeded || res.Rule != tc.want || len(res.Approvals) != len(tc.clicks) {
				t.Fatalf("result = %+v, want succeeded under %s with %d approvals", res, tc.want, len(tc.clicks))
			}
			if len(h.starts) != 1 || len(h.starts[0].Approvals) != len(tc.clicks) {
				t.Errorf("StartOperation = %+v, want one with every approver", h.starts)
			}
		})
	}
}

// TestApprovalRequesterNotAllowed: a rule whose requesters do not include
// the requester ends the run before anyone is asked, saying which rule and
// who may ask; members of a requester group may ask.
func TestApprovalRequesterNotAllowed(t *testing.T) {
	rule := twoGroupRule()
	rule.Requesters = contract.Principals{Users: []string{bob.ID}, Groups: []contract.UserGroup{{ID: "S0PAYLEADS", Handle: "payments-leads"}}}
	h := newGroupsHarness(t)
	res := h.run(ruleInput(rule))
	if res.Outcome != contract.OutcomeFailed || len(h.starts) != 0 {
		t.Fatalf("result = %+v (starts %d), want failed with nothing started", res, len(h.starts))
	}
	for _, p := range h.posts {
		if p.Message.DeployRequest != nil {
			t.Fatalf("an approval request was posted for a refused requester")
		}
	}
	want := ":no_entry: <@U0ALICE>, you may not ask for `sync guestbook`: rule \"payments-prod\" (APPROVAL_POLICY_FILE line 12) lets only @payments-leads, <@U0BOB> ask for it."
	if len(h.posts) != 1 || !strings.HasPrefix(h.posts[0].Message.Text, want) || h.posts[0].ThreadTS != "" {
		t.Errorf("posts = %+v, want one saying %q", h.posts, want)
	}
	if h.reads != 1 {
		t.Errorf("groups read %d times, want 1 (alice could have been in @payments-leads)", h.reads)
	}

	// The refusal names the command as it is typed, not deploybot's action
	// names (it said "autosync_off guestbook").
	h = newGroupsHarness(t)
	in := ruleInput(rule)
	in.Request.Action = contract.ActionAutoSyncOff
	h.run(in)
	want = "you may not ask for `autosync guestbook off`:"
	if len(h.posts) != 1 || !strings.Contains(h.posts[0].Message.Text, want) {
		t.Errorf("posts = %+v, want one saying %q", h.posts, want)
	}

	// alice in @platform may ask when the rule lets the group.
	rule.Requesters = contract.Principals{Groups: []contract.UserGroup{{ID: "S0PLATFORM", Handle: "platform"}}}
	h = newGroupsHarness(t)
	h.states = healthyTimeline()
	h.click(time.Minute, bob, true)
	h.click(2*time.Minute, carol, true)
	if res := h.run(ruleInput(rule)); res.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("result = %+v, want succeeded for a requester of @platform", res)
	}
}

// TestApprovalRequesterGroupsUnreadable: when only a requester group could
// allow the request and Slack does not answer, nothing runs.
func TestApprovalRequesterGroupsUnreadable(t *testing.T) {
	rule := twoGroupRule()
	rule.Requesters = contract.Principals{Groups: []contract.UserGroup{{ID: "S0PLATFORM", Handle: "platform"}}}
	h := newGroupsHarness(t)
	h.readErr = []error{temporal.NewNonRetryableApplicationError("slack: usergroups.users.list: missing_scope", activities.SlackErrorType, nil)}
	res := h.run(ruleInput(rule))
	if res.Outcome != contract.OutcomeFailed || len(h.starts) != 0 || !strings.Contains(res.Message, "could not check that you may ask") {
		t.Fatalf("result = %+v, want failed: could not check", res)
	}
}

// TestApprovalNotNeeded: approval: none runs at once; the request is posted
// as the record, without buttons, and Argo CD's infos say why nobody approved.
func TestApprovalNotNeeded(t *testing.T) {
	h := newGroupsHarness(t)
	h.states = healthyTimeline()
	rule := &contract.ApprovalRule{Name: "dev", Line: 7, NoApproval: true, Requesters: contract.Principals{Everyone: true}}
	res := h.run(ruleInput(rule))
	if res.Outcome != contract.OutcomeSucceeded || res.DecidedBy != nil || res.Rule != "dev" {
		t.Fatalf("result = %+v, want succeeded without a decision under rule dev", res)
	}
	req := h.lastRequest()
	if req.State != slackui.RequestNoApproval || !strings.Contains(req.Note, `rule "dev" (APPROVAL_POLICY_FILE line 7) needs no approval`) {
		t.Errorf("request = %+v, want the no-approval record", req)
	}
	if len(h.starts) != 1 || h.starts[0].NoApprovalRule != "dev" || h.starts[0].ApprovedBy != nil {
		t.Errorf("StartOperation = %+v, want one naming rule dev", h.starts)
	}
	if h.reads != 0 {
		t.Errorf("groups read %d times for a rule that names none", h.reads)
	}
}

// TestApprovalBreakGlass: an emergency sync follows the break-glass rule
// (one approval from the on-call group, not the requester's own), says so
// on the request, and emails its outcome with the reason and the approver.
func TestApprovalBreakGlass(t *testing.T) {
	h := newGroupsHarness(t)
	h.states = healthyTimeline()
	var em *activities.Email
	var mails []activities.SendEmailInput
	h.env.RegisterActivity(em)
	h.env.OnActivity(em.SendEmail, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SendEmailInput) (activities.SendEmailResult, error) {
			mails = append(mails, in)
			return activities.SendEmailResult{MessageID: in.MessageID}, nil
		})
	oncall := contract.Principals{Groups: []contract.UserGroup{{ID: "S0PLATFORM", Handle: "platform"}}}
	in := input(contract.ActionSync, 0)
	in.Rules = contract.ProjectRules{{Rule: contract.ApprovalRule{Name: "break-glass", Line: 3, Timeout: 15 * time.Minute,
		Requesters: oncall, Requires: []contract.Requirement{{Count: 1, From: oncall}}}}}
	in.Emergency = &contract.Emergency{Reason: "INC-4411 checkout is down", EmailTo: []string{"incidents@example.com"}}
	h.click(time.Minute, alice, true)
	h.click(2*time.Minute, bob, true)
	res := h.run(in)
	if res.Outcome != contract.OutcomeSucceeded || res.DecidedBy == nil || res.DecidedBy.ID != bob.ID || res.Emergency != "INC-4411 checkout is down" {
		t.Fatalf("result = %+v, want succeeded, approved by bob, with the reason", res)
	}
	if got := h.ephemeralTo(alice); !strings.Contains(got, "someone else must approve") {
		t.Errorf("alice's own approval: %q", got)
	}
	req := h.posts[0].Message.DeployRequest
	if req == nil || req.Emergency != "INC-4411 checkout is down" || req.EmergencyEmailTo[0] != "incidents@example.com" {
		t.Errorf("request = %+v, want the break-glass banner", req)
	}
	if len(mails) != 1 {
		t.Fatalf("%d emails, want 1", len(mails))
	}
	m := mails[0]
	for _, want := range []string{"BREAK-GLASS sync of guestbook by alice", "succeeded"} {
		if !strings.Contains(m.Subject, want) {
			t.Errorf("subject %q lacks %q", m.Subject, want)
		}
	}
	for _, want := range []string{"Reason:", "INC-4411 checkout is down", "Approved by:", "bob (U0BOB)", "Outcome:", "succeeded"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("email lacks %q:\n%s", want, m.Text)
		}
	}
	if m.To[0] != "incidents@example.com" || m.Headers["X-Deploybot-Emergency"] != "true" {
		t.Errorf("email to %v headers %v", m.To, m.Headers)
	}
}

// TestTheTemporalUIShowsTheCurrentStep: the run's current details (what the
// Temporal UI shows on the run's page) follow the process: waiting with
// the rule's progress and people's names, then the outcome.
func TestTheTemporalUIShowsTheCurrentStep(t *testing.T) {
	h := newGroupsHarness(t)
	h.states = healthyTimeline()
	h.click(time.Minute, bob, true)
	h.click(2*time.Minute, carol, true)
	var before, afterBob string
	details := func(into *string) func() {
		return func() {
			v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
			if err != nil {
				t.Errorf("metadata query: %v", err)
				return
			}
			var md sdkpb.WorkflowMetadata
			if err := v.Get(&md); err != nil {
				t.Errorf("metadata: %v", err)
			}
			*into = md.GetCurrentDetails()
		}
	}
	h.env.RegisterDelayedCallback(details(&before), 30*time.Second)
	h.env.RegisterDelayedCallback(details(&afterBob), 90*time.Second)
	res := h.run(ruleInput(twoGroupRule()))
	if res.Outcome != contract.OutcomeSucceeded {
		t.Fatalf("result = %+v", res)
	}
	if !strings.HasPrefix(before, "Waiting for approval until ") || !strings.Contains(before, "1 of @platform (waiting), 1 of @payments-leads (waiting)") {
		t.Errorf("details while waiting = %q", before)
	}
	if !strings.Contains(afterBob, "1 of @platform (✓ bob (U0BOB)), 1 of @payments-leads (waiting)") {
		t.Errorf("details after bob = %q, want bob by name and id", afterBob)
	}
	var final string
	details(&final)()
	if final != "Done: succeeded" {
		t.Errorf("details at the end = %q", final)
	}
}
