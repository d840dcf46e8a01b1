package slackui_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

func TestApprovalProgressOnTheRequest(t *testing.T) {
	rule := contract.ApprovalRule{Name: "payments-prod", Line: 12, Requires: []contract.Requirement{
		{Count: 1, From: contract.Principals{Groups: []contract.UserGroup{{ID: "S0PLATFORM", Handle: "platform"}}}},
		{Count: 1, From: contract.Principals{Groups: []contract.UserGroup{{ID: "S0PAYLEADS", Handle: "payments-leads"}}}},
	}}
	p := slackui.NewApprovalProgress(rule, [][]contract.User{{{ID: "U0BOB", Name: "bob"}}, nil})
	want := "Needs 2 approvals: 1 of @platform (✓ <@U0BOB>), 1 of @payments-leads (waiting)"
	if got := p.Text(); got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
	req := slackui.DeployRequest{WorkflowID: "deploy-payments", App: "payments", Action: contract.ActionSync,
		RequestedBy: contract.User{ID: "U0ALICE"}, State: slackui.RequestPending, Approvals: p}
	text, blocks, err := slackui.Render(slackui.Message{DeployRequest: &req})
	if err != nil {
		t.Fatal(err)
	}
	all := text + blocksJSON(t, blocks)
	for _, s := range []string{"1 of 2 approvals", "1 of @payments-leads (waiting)", "payments-prod", "APPROVAL_POLICY_FILE line 12", slackui.BlockIDApprovals} {
		if !strings.Contains(all, s) {
			t.Errorf("request lacks %q:\n%s", s, all)
		}
	}
	// One approval from named people (the environment's default) reads as before.
	if slackui.NewApprovalProgress(contract.DefaultDeployRule(contract.DeployPolicy{Approvers: []string{"U0BOB"}}, nil), nil) != nil {
		t.Error("the default rule got a progress block")
	}
	if got := slackui.ApprovalCounted(p); !strings.Contains(got, "1 of 2") {
		t.Errorf("ApprovalCounted = %q", got)
	}
}

func blocksJSON(t *testing.T, blocks any) string {
	t.Helper()
	b, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNotARequesterOfRule(t *testing.T) {
	rule := contract.ApprovalRule{Name: "payments", Line: 12, Requesters: contract.Principals{
		Users: []string{"U0ALICE"}, Groups: []contract.UserGroup{{ID: "S0PAYLEADS", Handle: "payments-leads"}}}}
	got := slackui.NotARequesterOfRule(contract.User{ID: "U0MALLORY"}, rule, "sync checkout@prod", "checkout@prod")
	want := ":no_entry: <@U0MALLORY>, you may not ask for `sync checkout@prod`: rule \"payments\" (APPROVAL_POLICY_FILE line 12) lets only @payments-leads, <@U0ALICE> ask for it. `policy checkout@prod` shows who may ask and approve."
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := slackui.NotARequesterOfRule(contract.User{ID: "U0MALLORY"}, contract.ApprovalRule{Name: "closed", Line: 3}, "sync a", "a"); !strings.Contains(got, "lets nobody ask") {
		t.Errorf("no requesters: %s", got)
	}
}

// TestEmergencyRequest: a break-glass request says so in its header, its
// fallback text and a banner with the reason and who is emailed.
func TestEmergencyRequest(t *testing.T) {
	text, blocks, err := slackui.Render(slackui.Message{DeployRequest: &slackui.DeployRequest{
		WorkflowID: "deploy-guestbook", RunID: "r1", App: "guestbook", Action: contract.ActionSync,
		RequestedBy: contract.User{ID: "U0ALICE"}, State: slackui.RequestPending,
		Emergency: "INC-4411 <checkout> is down", EmergencyEmailTo: []string{"incidents@example.com"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(blocks)
	for _, want := range []string{"🚨 EMERGENCY sync guestbook requested", slackui.BlockIDEmergency, "Break-glass request", `INC-4411 \u0026lt;checkout\u0026gt; is down`, "incidents@example.com"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("blocks lack %q: %s", want, b)
		}
	}
	if !strings.HasPrefix(text, "EMERGENCY (break-glass) sync guestbook requested by <@U0ALICE>") {
		t.Errorf("text = %q", text)
	}
}
