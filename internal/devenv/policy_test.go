package devenv_test

import (
	"testing"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/devenv"
	"github.com/deploybot/deploybot/internal/policy"
)

// TestDevApprovalPolicy: the dev policy loads, names the playground's
// groups, and gives checkout (project payments) two approvals.
func TestDevApprovalPolicy(t *testing.T) {
	p, err := policy.Parse("approval-policy.yaml", []byte(devenv.DevApprovalPolicy), policy.Defaults{
		DefaultInstance: devenv.DevDefaultInstance, Instances: []string{devenv.DevDefaultInstance, devenv.DevSecondInstance},
	})
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, g := range devenv.DevUserGroups {
		known[g.ID] = true
	}
	rule := p.ForDeploy(policy.DeployRequest{App: "checkout", Project: "payments", Action: contract.ActionSync})
	if rule.Name != "payments-two-approvals" || rule.Needed() != 2 {
		t.Fatalf("checkout gets %+v", rule)
	}
	for _, id := range rule.GroupIDs() {
		if !known[id] {
			t.Errorf("the policy names group %s, which the playground's Slack does not have", id)
		}
	}
	if got := p.ForDeploy(policy.DeployRequest{App: "payments", Project: "payments", Action: contract.ActionRollback}); got.Name == "payments-two-approvals" {
		t.Errorf("the payments rollback demo gets %q, want the default rule (bob approves)", got.Name)
	}
}
