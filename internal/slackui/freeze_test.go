package slackui_test

import (
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// TestNotAllowedToFreeze: the refusal says what a freeze of the target
// takes and which rules the requester is missing, with who may ask under
// each; nothing typed reaches Slack unescaped.
func TestNotAllowedToFreeze(t *testing.T) {
	payments := contract.ApprovalRule{Name: "payments", Line: 4, Requesters: contract.Principals{Groups: []contract.UserGroup{{ID: "S0PAYLEADS", Handle: "payments-leads"}}}}
	env := contract.ApprovalRule{Name: contract.DefaultRuleName, Requesters: contract.Principals{Users: []string{"U0ALICE", "U0BOB"}}}
	closed := contract.ApprovalRule{Name: "closed", Line: 9}
	mallory := contract.User{ID: "U0MALLORY"}
	for _, tc := range []struct {
		what, target string
		missing      []contract.ApprovalRule
		want         string
	}{
		{"freeze guestbook for 2h <!channel>", "guestbook", []contract.ApprovalRule{payments, env},
			":no_entry: <@U0MALLORY>, you may not ask for `freeze guestbook for 2h &lt;!channel&gt;`: a freeze of `guestbook` holds back everyone's changes, so setting or lifting one takes someone who may ask for a sync of it, " +
				"and you are not a requester of rule \"payments\" (APPROVAL_POLICY_FILE line 4: @payments-leads) or the environment's rule (ALLOWED_USERS: <@U0ALICE>, <@U0BOB>). `policy guestbook` shows who may ask."},
		{"unfreeze project:payments", "project:payments", []contract.ApprovalRule{payments},
			":no_entry: <@U0MALLORY>, you may not ask for `unfreeze project:payments`: a freeze of the apps of project `payments` holds back everyone's changes, so setting or lifting one takes a requester of every rule a change of them may get, " +
				"and you are not a requester of rule \"payments\" (APPROVAL_POLICY_FILE line 4: @payments-leads). `policy APP` shows who may ask for an app's changes."},
		{"freeze all for 1h x", "all", []contract.ApprovalRule{payments, closed, env},
			":no_entry: <@U0MALLORY>, you may not ask for `freeze all for 1h x`: a freeze of every app holds back everyone's changes, so setting or lifting one takes a requester of every deploy rule, " +
				"and you are not a requester of rule \"payments\" (APPROVAL_POLICY_FILE line 4: @payments-leads), rule \"closed\" (APPROVAL_POLICY_FILE line 9: nobody) or the environment's rule (ALLOWED_USERS: <@U0ALICE>, <@U0BOB>). `policy APP` shows who may ask for an app's changes."},
	} {
		if got := slackui.NotAllowedToFreeze(mallory, tc.what, tc.target, tc.missing); got != tc.want {
			t.Errorf("NotAllowedToFreeze(%q) =\n%s\nwant\n%s", tc.what, got, tc.want)
		}
	}
}

// TestFreezeTargetNamed: a target reads the same in Slack and in the
// Temporal UI, its names in code font only in Slack.
func TestFreezeTargetNamed(t *testing.T) {
	for target, want := range map[string][2]string{
		contract.FreezeAll:  {"every app", "every app"},
		"project:payments":  {"the apps of project `payments`", "the apps of project payments"},
		"guestbook@staging": {"`guestbook@staging`", "guestbook@staging"},
	} {
		if got := slackui.NotFrozen(target); got != ":information_source: "+want[0]+" is not frozen; `freezes` lists the freezes in force." {
			t.Errorf("NotFrozen(%q) = %q", target, got)
		}
		if got := slackui.FreezeDetails(contract.Freeze{Target: target, Reason: "r"}); !strings.HasPrefix(got, "Freezing "+want[1]+" until ") {
			t.Errorf("FreezeDetails(%q) = %q", target, got)
		}
	}
}
