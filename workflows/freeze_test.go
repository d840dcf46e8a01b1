package workflows_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/workflows"
)

var quarterEnd = contract.Freeze{Target: "project:payments", Reason: "quarter-end close", By: contract.User{ID: "U0CAROL"},
	Until: t0.Add(2 * time.Hour), WorkflowID: "freeze-project-payments"}

// A change of an app whose project is frozen is refused where it was asked,
// saying why and who froze it; nobody is asked to approve.
func TestDeployRefusedWhileFrozen(t *testing.T) {
	h := newHarness(t)
	h.prepare = activities.PrepareDeployResult{Project: "payments"}
	h.freezes = []contract.Freeze{quarterEnd}
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeFailed || len(h.starts) != 0 {
		t.Fatalf("result = %+v, starts %d; want refused", res, len(h.starts))
	}
	if got := strings.Join(h.freezeTargets, ","); got != "guestbook,project:payments,all" {
		t.Errorf("looked for freezes of %s", got)
	}
	if len(h.posts) != 1 || h.posts[0].Message.DeployRequest != nil ||
		!strings.Contains(h.posts[0].Message.Text, "quarter-end close") || !strings.Contains(h.posts[0].Message.Text, "<@U0CAROL>") {
		t.Errorf("posts = %+v, want one refusal naming the freeze", h.posts)
	}
}

// Freezes that cannot be read refuse too: a freeze is never waved through.
func TestDeployRefusedWhenFreezesAreUnreadable(t *testing.T) {
	h := newHarness(t)
	h.freezesErr = errors.New("temporal: describe freeze-all: unavailable")
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeFailed || len(h.starts) != 0 || !strings.Contains(res.Message, "could not check for freezes") {
		t.Fatalf("result = %+v", res)
	}
}

// A break-glass sync goes on through a freeze, and says so loudly.
func TestBreakGlassOverridesAFreeze(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	h.freezes = []contract.Freeze{quarterEnd}
	var em *activities.Email
	h.env.RegisterActivity(em)
	h.env.OnActivity(em.SendEmail, mock.Anything, mock.Anything).Return(activities.SendEmailResult{}, nil)
	in := input(contract.ActionSync, 0)
	oncall := contract.Principals{Users: []string{alice.ID, bob.ID}}
	in.Rules = contract.ProjectRules{{Rule: contract.ApprovalRule{Name: "break-glass", Timeout: 15 * time.Minute,
		Requesters: oncall, Requires: []contract.Requirement{{Count: 1, From: oncall}}}}}
	in.Emergency = &contract.Emergency{Reason: "INC-1 checkout down", EmailTo: []string{"incidents@example.com"}}
	h.click(time.Minute, bob, true)
	if res := h.run(in); res.Outcome != contract.OutcomeSucceeded || len(h.starts) != 1 {
		t.Fatalf("result = %+v", res)
	}
	if !strings.Contains(h.texts(), "overrides the freeze") {
		t.Errorf("thread does not say the freeze was overridden:\n%s", h.texts())
	}
}

func freezeEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *[]activities.PostMessageInput) {
	var s testsuite.WorkflowTestSuite
	env := testEnv(&s)
	env.RegisterWorkflow(workflows.FreezeWorkflow)
	var sl *activities.Slack
	env.RegisterActivity(sl)
	var posts []activities.PostMessageInput
	env.OnActivity(sl.PostMessage, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PostMessageInput) (activities.PostMessageResult, error) {
			posts = append(posts, in)
			return activities.PostMessageResult{TS: "1.1"}, nil
		}).Maybe()
	env.SetStartTime(t0)
	return env, &posts
}

func freezeInput() contract.FreezeInput {
	return contract.FreezeInput{Target: "project:payments", Until: t0.Add(2 * time.Hour), Reason: "quarter-end close",
		By: contract.User{ID: "U0CAROL"}, Channel: "C0DEPLOYS"}
}

// A freeze runs its course and says so in the channel.
func TestFreezeEndsOnTime(t *testing.T) {
	env, posts := freezeEnv(t)
	var at time.Time
	env.RegisterDelayedCallback(func() { at = env.Now() }, time.Hour)
	res := execute[contract.FreezeResult](t, env, workflows.FreezeWorkflow, freezeInput())
	if res.LiftedBy != nil || at.IsZero() || env.Now().Before(t0.Add(2*time.Hour)) {
		t.Errorf("result %+v, ended at %v", res, env.Now())
	}
	if len(*posts) != 1 || !strings.Contains((*posts)[0].Message.Text, "has ended") {
		t.Errorf("posts = %+v", *posts)
	}
}

// unfreeze lifts it at once; the gateway answers, the freeze posts nothing.
func TestFreezeLiftedEarly(t *testing.T) {
	env, posts := freezeEnv(t)
	var st contract.Freeze
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(contract.QueryStatus)
		if err == nil {
			_ = v.Get(&st)
		}
		env.SignalWorkflow(contract.SignalUnfreeze, contract.User{ID: "U0BOB"})
	}, 10*time.Minute)
	res := execute[contract.FreezeResult](t, env, workflows.FreezeWorkflow, freezeInput())
	if res.LiftedBy == nil || res.LiftedBy.ID != "U0BOB" || len(*posts) != 0 {
		t.Errorf("result %+v posts %+v", res, *posts)
	}
	if st.Reason != "quarter-end close" || st.Target != "project:payments" {
		t.Errorf("status query = %+v", st)
	}
}

// A sync that Argo CD's sync windows stop now is refused before anyone is
// asked, naming the window.
func TestDeployRefusedBySyncWindow(t *testing.T) {
	h := newHarness(t)
	h.prepare = activities.PrepareDeployResult{Project: "payments", SyncWindowBlock: `deny "0 22 * * *" for 8h`}
	res := h.run(input(contract.ActionSync, 0))
	if res.Outcome != contract.OutcomeFailed || len(h.starts) != 0 || len(h.posts) != 1 ||
		!strings.Contains(h.posts[0].Message.Text, "blocked by Argo CD sync window deny") {
		t.Errorf("result %+v, posts %+v", res, h.posts)
	}
}
