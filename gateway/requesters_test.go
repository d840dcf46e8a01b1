package gateway_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// TestUnreachableRulesGrantNoReading: after a rule that takes every deploy
// request, the environment's rule (ALLOWED_USERS: alice and bob) can never
// match (the file may hold no rule there), so it grants nothing: bob may
// not use read-only commands, as mallory, in no rule, may not; the
// catch-all's requester (alice) may.
func TestUnreachableRulesGrantNoReading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "approval-policy.yaml")
	if err := os.WriteFile(path, []byte(`
rules:
  - name: everything
    requesters: {users: [U0ALICE]}
    approvals: [{count: 1, from: {users: [U0BOB]}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, temporalClient(t), func(cfg *config.Config, _ *gateway.Options) { cfg.ApprovalPolicyFile = path })
	triggers := map[string]string{}
	for _, u := range []string{alice, bob, mallory} {
		triggers[u], _ = h.slash(u, "list_apps")
	}
	h.settle()
	if got := h.responses.texts(triggers[alice]); len(got) != 0 {
		t.Errorf("alice, the catch-all's requester, was answered by the gateway: %q", got)
	}
	for _, u := range []string{bob, mallory} {
		want := slackui.NotAllowedToRead(contract.User{ID: u}, "list_apps")
		if got := h.responses.texts(triggers[u]); len(got) != 1 || got[0] != want {
			t.Errorf("%s's list_apps: %q, want %q", u, got, want)
		}
	}
}

// TestRequesterGroupsUnreadable: when Slack does not say who is in the
// requester groups, a change goes on to the run (which reads them itself
// and fails closed), and a read-only command is refused naming the rule
// whose groups could not be read.
func TestRequesterGroupsUnreadable(t *testing.T) {
	h := newHarness(t, temporalClient(t), withPolicy(t)) // no group is known: reading fails
	app := uniq("checkout")
	m, _ := h.mention(mallory, "sync "+app)
	status, _ := h.mention(mallory, "status "+app)
	h.settle()
	if th := h.thread(m.ts); len(th) != 0 || !h.exists(contract.DeployWorkflowID(app)) {
		t.Errorf("the sync did not go on to the run: replies %+v", th)
	}
	th := h.thread(status.ts)
	before, _, _ := strings.Cut(slackui.RequesterGroupsUnreadable(contract.User{ID: mallory}, rulesNamed(t, h, []string{"payments"})[0], "status "+app, "\x00"), "\x00")
	if len(th) != 1 || !strings.HasPrefix(th[0].Text, before) {
		t.Errorf("status refusal = %+v, want it to begin %q", th, before)
	}
}
