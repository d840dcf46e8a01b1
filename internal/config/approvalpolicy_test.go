package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/policy"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestApprovalPolicyFile: the rules load with the environment's rule as
// their default, and instances are those of ARGOCD_INSTANCES_FILE.
func TestApprovalPolicyFile(t *testing.T) {
	env := map[string]string{
		"ALLOWED_USERS": "U0ALICE,U0BOB", "APPROVERS": "U0BOB", "APPROVAL_TIMEOUT": "45m",
		"SAST_APPROVERS": "U0CAROL", "SAST_APPROVAL_TIMEOUT": "2h",
		"ARGOCD_INSTANCES_FILE": writeFile(t, "instances.yaml", "default: staging\ninstances:\n- {name: staging, url: https://a.example.com, tokenEnv: T}\n- {name: prod, url: https://b.example.com, tokenEnv: T}\n"),
		"APPROVAL_POLICY_FILE":  writeFile(t, "policy.yaml", "groups: {platform: S0PLATFORM}\nrules:\n- name: staging\n  match: {instances: [staging]}\n  approvals: [{count: 1, from: {groups: [platform]}}]\n"),
	}
	c, err := Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.ApprovalPolicy()
	if err != nil {
		t.Fatal(err)
	}
	if r := p.ForDeploy(policy.DeployRequest{App: "guestbook", Action: contract.ActionSync}); r.Name != "staging" || r.Timeout != 45*time.Minute || !r.Requesters.Includes("U0BOB", nil) {
		t.Errorf("guestbook (default instance staging): %+v", r)
	}
	if r := p.ForDeploy(policy.DeployRequest{Instance: "prod", App: "guestbook", Action: contract.ActionSync}); r.Name != contract.DefaultRuleName || !r.MayApprove("U0BOB", nil) {
		t.Errorf("guestbook@prod: %+v, want the default rule", r)
	}
	if r := p.ForGate("x"); r.Timeout != 2*time.Hour || !r.MayApprove("U0CAROL", nil) {
		t.Errorf("gate: %+v", r)
	}

	// Unset: the defaults alone.
	c.ApprovalPolicyFile = ""
	if p, err := c.ApprovalPolicy(); err != nil || len(p.Rules()) != 0 || p.ForDeploy(policy.DeployRequest{App: "guestbook"}).Name != contract.DefaultRuleName {
		t.Errorf("no file: %v, %v", p.Rules(), err)
	}
}

// TestApprovalPolicyFileProblems: `config check` lists each problem of the
// file, with its line, and a file that cannot be read.
func TestApprovalPolicyFileProblems(t *testing.T) {
	file := writeFile(t, "policy.yaml", "rules:\n- name: a\n  match: {instances: [prod]}\n- name: b\n  aprovals: []\n")
	_, err := Load(func(k string) (string, bool) {
		v, ok := map[string]string{"APPROVAL_POLICY_FILE": file, "APPROVERS": "U0BOB"}[k]
		return v, ok
	})
	var pe *ProblemsError
	if !errors.As(err, &pe) || !pe.Has("APPROVAL_POLICY_FILE") {
		t.Fatalf("Load: %v", err)
	}
	all := err.Error()
	for _, want := range []string{
		"APPROVAL_POLICY_FILE " + file + ` line 3: rule "a": match instances names "prod", but this deploybot has one Argo CD (ARGOCD_URL)`,
		"APPROVAL_POLICY_FILE " + file + ` line 5: rule "b": unknown field "aprovals"; e.g. approvals:`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}

	c := Default()
	c.ApprovalPolicyFile = filepath.Join(t.TempDir(), "missing.yaml")
	var ps problems
	c.checkApprovalPolicyFile(&ps)
	if err := ps.err(); err == nil || !strings.Contains(err.Error(), "APPROVAL_POLICY_FILE open "+c.ApprovalPolicyFile) || !strings.Contains(err.Error(), "e.g. /etc/deploybot/approval-policy.yaml") {
		t.Errorf("missing file: %v", err)
	}
}
