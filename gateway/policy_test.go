package gateway_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackapi"
)

// testPolicy: payments apps are asked for by @payments-leads and need one
// of @platform and one of @payments-leads; *-dev apps anyone may sync
// without approval; the rest is the environment's (ALLOWED_USERS alice and
// bob, APPROVERS bob).
const testPolicy = `
groups: {platform: S0PLATFORM, payments-leads: S0PAYLEADS}
rules:
  - name: payments
    match: {projects: [payments]}
    requesters: {groups: [payments-leads]}
    approvals: [{count: 1, from: {groups: [platform]}}, {count: 1, from: {groups: [payments-leads]}}]
  - name: dev
    match: {apps: ["*-dev"], actions: [sync]}
    requesters: {everyone: true}
    approval: none
`

func withPolicy(t *testing.T) harnessOpt {
	path := filepath.Join(t.TempDir(), "approval-policy.yaml")
	if err := os.WriteFile(path, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(cfg *config.Config, _ *gateway.Options) { cfg.ApprovalPolicyFile = path }
}

// TestPolicyDecidesWhoMayAsk: requesters come from the rules a request may
// get; members of a requester group may ask (the run checks the project's
// rule again), outsiders are told which rule says no; read-only commands
// on an app are open to whoever may ask for a change of it.
func TestPolicyDecidesWhoMayAsk(t *testing.T) {
	h := newHarness(t, temporalClient(t), withPolicy(t))
	h.slack.SetUserGroup(slackapi.UserGroup{ID: "S0PLATFORM", Handle: "platform", Users: []string{bob}})
	h.slack.SetUserGroup(slackapi.UserGroup{ID: "S0PAYLEADS", Handle: "payments-leads", Users: []string{mallory}})

	dev, checkout, other := uniq("web")+"-dev", uniq("checkout"), uniq("other")
	if _, ack := h.mention(mallory, "sync "+dev); ack.code != 200 {
		t.Fatalf("ack = %d", ack.code)
	}
	m2, _ := h.mention(mallory, "sync "+checkout)
	h.settle()
	var in contract.DeployInput
	h.input(contract.DeployWorkflowID(dev), &in)
	// Only Argo CD knows whether it is in project payments.
	if len(in.Rules) != 2 || in.Rules[0].Rule.Name != "payments" || in.Rules[1].Rule.Name != "dev" || !in.Rules[1].Rule.NoApproval {
		t.Errorf("%s got rules %+v, want payments, then dev", dev, in.Rules)
	}
	// checkout may be in project payments, whose rule lets mallory ask.
	h.input(contract.DeployWorkflowID(checkout), &in)
	if len(in.Rules) != 2 || in.Rules[0].Rule.Name != "payments" || in.Rules[0].Projects[0] != "payments" || in.Rules[1].Rule.Name != contract.DefaultRuleName {
		t.Errorf("%s got rules %+v, want payments then default", checkout, in.Rules)
	}
	if th := h.thread(m2.ts); len(th) != 0 {
		t.Errorf("mallory's request was answered: %+v", th)
	}

	// A user in no rule's requesters: refused, with the rule and who may.
	h2 := newHarness(t, h.tc, withPolicy(t))
	h2.slack.SetUserGroup(slackapi.UserGroup{ID: "S0PAYLEADS", Handle: "payments-leads", Users: []string{alice}})
	m, _ := h2.mention(mallory, "rollback "+other+" 3")
	trigger, _ := h2.slash(mallory, "status "+other)
	h2.settle()
	th := h2.thread(m.ts)
	want := "you may not ask for `rollback " + other + " 3`: rule \"payments\" (APPROVAL_POLICY_FILE line 4) lets only @payments-leads ask for it"
	if len(th) != 1 || !strings.Contains(th[0].Text, want) {
		t.Errorf("refusal = %+v, want %q", th, want)
	}
	if got := h2.responses.texts(trigger); len(got) != 1 || !strings.Contains(got[0], "not allowed to ask for `status "+other+"`") {
		t.Errorf("status refusal = %q", got)
	}
	if h2.exists(contract.DeployWorkflowID(other)) {
		t.Error("a refused request started a run")
	}
	// alice, in @payments-leads and ALLOWED_USERS, may read.
	trigger, _ = h2.slash(alice, "status "+other)
	h2.settle()
	if got := h2.responses.texts(trigger); len(got) != 0 {
		t.Errorf("alice's status was answered by the gateway: %q", got)
	}
}

// TestPolicyCommand: `policy APP` says, per change, which rules may apply
// and who asks and approves under each.
func TestPolicyCommand(t *testing.T) {
	h := newHarness(t, temporalClient(t), withPolicy(t))
	m, _ := h.mention(alice, "policy web-dev")
	h.settle()
	th := h.thread(m.ts)
	if len(th) != 1 {
		t.Fatalf("replies = %+v", th)
	}
	for _, want := range []string{
		"*Approval policy for `web-dev`*",
		"• *sync*: rule \"payments\" (APPROVAL_POLICY_FILE line 4), for apps of project `payments`: asked for by @payments-leads; needs 1 of @platform and 1 of @payments-leads; waits 30m.",
		"Otherwise rule \"dev\" (APPROVAL_POLICY_FILE line 8): asked for by everyone; runs without approval",
		"• *rollback, autosync_off, autosync_on*: rule \"payments\"",
		"Otherwise rule \"default\": asked for by <@U0ALICE>, <@U0BOB>; needs 1 of <@U0BOB>; waits 30m.",
	} {
		if !strings.Contains(th[0].Text, want) {
			t.Errorf("answer lacks %q:\n%s", want, th[0].Text)
		}
	}
	if h.exists(contract.DeployWorkflowID("web-dev")) {
		t.Error("policy started a run")
	}
	m, _ = h.mention(alice, "policy web-dev rollback")
	h.settle()
	if th := h.thread(m.ts); len(th) != 1 || !strings.Contains(th[0].Text, "• *rollback*: ") || strings.Contains(th[0].Text, "*sync*") {
		t.Errorf("policy web-dev rollback = %+v", th)
	}
}

// TestBreakGlassRequest: only the break-glass group may sync with
// --emergency; the run gets the break-glass rule, the reason and the
// emails, and the gateway audits it. Without breakGlass it is refused.
func TestBreakGlassRequest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "approval-policy.yaml")
	if err := os.WriteFile(path, []byte(testPolicy+`
breakGlass:
  requesters: {groups: [platform]}
  emailTo: [incidents@example.com]
  timeout: 15m
`), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, temporalClient(t), func(cfg *config.Config, _ *gateway.Options) { cfg.ApprovalPolicyFile = path })
	h.slack.SetUserGroup(slackapi.UserGroup{ID: "S0PLATFORM", Handle: "platform", Users: []string{bob}})
	app, other := uniq("fire"), uniq("calm")
	if _, ack := h.mention(bob, "sync "+app+" --emergency INC-4411 Checkout is DOWN"); ack.code != 200 {
		t.Fatalf("ack = %d", ack.code)
	}
	m, _ := h.mention(alice, "sync "+other+" --emergency because")
	h.settle()
	var in contract.DeployInput
	h.input(contract.DeployWorkflowID(app), &in)
	if in.Emergency == nil || in.Emergency.Reason != "INC-4411 Checkout is DOWN" || in.Emergency.EmailTo[0] != "incidents@example.com" ||
		len(in.Rules) != 1 || in.Rules[0].Rule.Name != "break-glass" || in.Rules[0].Rule.Needed() != 1 {
		t.Errorf("input = %+v, want the break-glass rule and reason", in)
	}
	if len(logLines(h.logs, "audit: break-glass sync requested", "user="+bob, `reason="INC-4411 Checkout is DOWN"`)) != 1 {
		t.Errorf("no break-glass audit line:\n%s", h.logs)
	}
	// alice is in ALLOWED_USERS but not in @platform.
	if th := h.thread(m.ts); len(th) != 1 || !strings.Contains(th[0].Text, `rule "break-glass"`) || h.exists(contract.DeployWorkflowID(other)) {
		t.Errorf("alice's emergency: %+v (started: %v)", th, h.exists(contract.DeployWorkflowID(other)))
	}

	m, _ = h.mention(alice, "policy "+app)
	h.settle()
	if th := h.thread(m.ts); len(th) != 1 || !strings.Contains(th[0].Text, "--emergency REASON* (break-glass): rule \"break-glass\" (APPROVAL_POLICY_FILE line 13): asked for by @platform; needs 1 of @platform; waits 15m.") {
		t.Errorf("policy lacks break-glass: %+v", th)
	}

	h2 := newHarness(t, h.tc, withPolicy(t))
	m, _ = h2.mention(bob, "sync "+other+" --emergency INC-1")
	h2.settle()
	if th := h2.thread(m.ts); len(th) != 1 || !strings.Contains(th[0].Text, "break-glass is not set up here") {
		t.Errorf("without breakGlass: %+v", th)
	}
}
