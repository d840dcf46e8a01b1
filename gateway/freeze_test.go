package gateway_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/deploybot/deploybot/internal/command"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/internal/slackui"
)

// TestWhoMayFreeze: under testPolicy (payments: @payments-leads, here
// alice; *-dev syncs: everyone; the rest ALLOWED_USERS alice and bob), a
// freeze or unfreeze of an app takes someone who may ask for a sync of it,
// of project:NAME a requester of every rule a change of its apps may get,
// of all a requester of every deploy rule. A refusal names the rules the
// user is missing and starts nothing; when Slack does not say who is in a
// group that decides, the freeze is refused too.
func TestWhoMayFreeze(t *testing.T) {
	tc := temporalClient(t)
	withGroups := newHarness(t, tc, withPolicy(t))
	withGroups.slack.SetUserGroup(slackapi.UserGroup{ID: "S0PAYLEADS", Handle: "payments-leads", Users: []string{alice}})
	// No group is known to this Slack: reading members fails.
	noGroups := newHarness(t, tc, withPolicy(t))

	guestbook, dev, other := uniq("guestbook"), uniq("web")+"-dev", "project:"+uniq("other")
	const (
		payments = "project:payments"
		all      = contract.FreezeAll
		why      = " for 2h release night"
	)
	for _, tc := range []struct {
		name     string
		h        *harness
		user     string
		text     string
		missing  []string // rules named in the refusal; nil: allowed
		unknown  string   // the rule whose groups could not be read
		unfrozen bool     // allowed, and answered "not frozen"
	}{
		{name: "app, ALLOWED_USERS", h: withGroups, user: alice, text: "freeze " + guestbook + why},
		{name: "app, nobody's requester", h: withGroups, user: mallory, text: "freeze " + guestbook + why, missing: []string{"payments", contract.DefaultRuleName}},
		{name: "app, everyone may sync it", h: withGroups, user: mallory, text: "freeze " + dev + why},
		{name: "app, unfreeze", h: withGroups, user: bob, text: "unfreeze " + guestbook, unfrozen: true},
		{name: "app, unfreeze refused", h: withGroups, user: mallory, text: "unfreeze " + guestbook, missing: []string{"payments", contract.DefaultRuleName}},
		{name: "project, in the group of its one rule", h: withGroups, user: alice, text: "freeze " + payments + why},
		{name: "project, not in its rule's group", h: withGroups, user: bob, text: "freeze " + payments + why, missing: []string{"payments"}},
		{name: "project, unfreeze", h: withGroups, user: alice, text: "unfreeze " + payments, unfrozen: true},
		{name: "project, unfreeze refused", h: withGroups, user: bob, text: "unfreeze " + payments, missing: []string{"payments"}},
		{name: "project, every rule that may apply", h: withGroups, user: bob, text: "freeze " + other + why},
		{name: "project, one of its rules missing", h: withGroups, user: mallory, text: "freeze " + other + why, missing: []string{contract.DefaultRuleName}},
		{name: "all, every deploy rule", h: withGroups, user: alice, text: "freeze all" + why},
		{name: "all, not in a group", h: withGroups, user: bob, text: "freeze all" + why, missing: []string{"payments"}},
		{name: "all, unfreeze refused", h: withGroups, user: mallory, text: "unfreeze all", missing: []string{"payments", contract.DefaultRuleName}},
		{name: "all, unfreeze", h: withGroups, user: alice, text: "unfreeze all", unfrozen: true},
		{name: "groups unreadable, not needed", h: noGroups, user: bob, text: "freeze " + guestbook + why},
		{name: "groups unreadable, project", h: noGroups, user: alice, text: "freeze " + payments + why, unknown: "payments"},
		{name: "groups unreadable, all", h: noGroups, user: alice, text: "freeze all" + why, unknown: "payments"},
		{name: "groups unreadable, unfreeze", h: noGroups, user: alice, text: "unfreeze all", unknown: "payments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			cmd, err := command.Parse(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			target, id := cmd.FreezeTarget(), contract.FreezeWorkflowID(cmd.FreezeTarget())
			// project:payments and all are the same workflow in every test.
			t.Cleanup(func() { terminateFreeze(t, h, id) })
			user := contract.User{ID: tc.user}
			m, _ := h.mention(tc.user, tc.text)
			h.settle()
			th := h.thread(m.ts)
			if len(th) != 1 {
				t.Fatalf("replies = %+v, want one", th)
			}
			got := th[0].Text
			switch {
			case tc.missing != nil:
				if want := slackui.NotAllowedToFreeze(user, cmd.String(), target, rulesNamed(t, h, tc.missing)); got != want {
					t.Errorf("refusal =\n%s\nwant\n%s", got, want)
				}
			case tc.unknown != "":
				// The error is Slack's: the words around it are slackui's.
				before, after, _ := strings.Cut(slackui.RequesterGroupsUnreadable(user, rulesNamed(t, h, []string{tc.unknown})[0], cmd.String(), "\x00"), "\x00")
				if !strings.HasPrefix(got, before) || !strings.HasSuffix(got, after) {
					t.Errorf("refusal =\n%s\nwant\n%s(Slack's error)%s", got, before, after)
				}
			case tc.unfrozen:
				if want := slackui.NotFrozen(target); got != want {
					t.Errorf("reply = %q, want %q", got, want)
				}
				return
			default:
				if !h.exists(id) {
					t.Fatalf("no freeze started; reply: %s", got)
				}
				if info := h.describe(id); info.Freeze == nil || got != slackui.FreezeStarted(*info.Freeze) {
					t.Errorf("reply = %q, want the freeze started (%+v)", got, info.Freeze)
				}
				return
			}
			if cmd.Name == command.Freeze && h.exists(id) && h.describe(id).Running {
				t.Errorf("a refused freeze started %s", id)
			}
			if len(logLines(h.logs, "audit: request refused", "user="+tc.user, regexp.QuoteMeta("command=\""+cmd.String()+"\""))) == 0 {
				t.Errorf("no audit line for the refusal:\n%s", h.logs)
			}
		})
	}
}

// rulesNamed are the deploy rules of the harness's policy with names, in
// that order.
func rulesNamed(t *testing.T, h *harness, names []string) []contract.ApprovalRule {
	t.Helper()
	pol, err := h.cfg.ApprovalPolicy()
	if err != nil {
		t.Fatal(err)
	}
	var out []contract.ApprovalRule
	for _, n := range names {
		found := false
		for _, r := range pol.DeployRules() {
			if r.Name == n {
				out, found = append(out, r), true
				break
			}
		}
		if !found {
			t.Fatalf("the policy has no deploy rule %q", n)
		}
	}
	return out
}

// terminateFreeze ends freeze workflow id if it runs.
func terminateFreeze(t *testing.T, h *harness, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.tc.TerminateWorkflow(ctx, id, "", "test over")
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		t.Errorf("terminate %s: %v", id, err)
	}
}
