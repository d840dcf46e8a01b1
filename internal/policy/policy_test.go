package policy_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/policy"
)

// defaults are the environment's rules of `deploybot dev`: alice and bob
// may ask, bob approves deploys, carol quality gates.
func defaults() policy.Defaults {
	return policy.Defaults{
		Deploy: contract.DefaultDeployRule(contract.DeployPolicy{
			Approvers: []string{"U0BOB"}, AllowSelfApproval: true, ApprovalTimeout: 30 * time.Minute,
		}, []string{"U0ALICE", "U0BOB"}),
		Gate:            contract.DefaultGateRule(contract.SASTPolicy{Approvers: []string{"U0CAROL"}, ApprovalTimeout: 24 * time.Hour}),
		DefaultInstance: "staging",
		Instances:       []string{"staging", "prod"},
	}
}

func parse(t *testing.T, yaml string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("policy.yaml", []byte(yaml), defaults())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	platform = contract.UserGroup{ID: "S0PLATFORM", Handle: "platform"}
	leads    = contract.UserGroup{ID: "S0PAYLEADS", Handle: "payments-leads"}
)

// TestExampleFile: deploy/approval-policy.example.yaml loads and says what
// its comments say.
func TestExampleFile(t *testing.T) {
	p, err := policy.Load("../../deploy/approval-policy.example.yaml", defaults())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range p.Rules() {
		names = append(names, r.Rule.Name)
		if r.Rule.Line == 0 {
			t.Errorf("rule %s has no line", r.Rule.Name)
		}
	}
	if want := []string{"dev-apps", "payments-prod", "rollbacks", "security"}; !slices.Equal(names, want) {
		t.Fatalf("rules %v, want %v", names, want)
	}

	dev := p.ForDeploy(policy.DeployRequest{App: "team-a/web-dev", Action: contract.ActionSync, Project: "team-a"})
	if dev.Name != "dev-apps" || !dev.NoApproval || !dev.Requesters.Everyone {
		t.Errorf("sync team-a/web-dev: %+v", dev)
	}
	pay := p.ForDeploy(policy.DeployRequest{Instance: "prod", Project: "payments", App: "checkout", Action: contract.ActionSync})
	want := contract.ApprovalRule{
		Name: "payments-prod", Line: pay.Line,
		Requesters: contract.Principals{Users: []string{"U0ALICE"}},
		Requires: []contract.Requirement{
			{Count: 1, From: contract.Principals{Groups: []contract.UserGroup{platform}}},
			{Count: 1, From: contract.Principals{Groups: []contract.UserGroup{leads}}},
		},
		Timeout: 2 * time.Hour, Reminders: []time.Duration{30 * time.Minute, 90 * time.Minute},
	}
	if !reflect.DeepEqual(pay, want) {
		t.Errorf("sync checkout@prod (payments):\n got %+v\nwant %+v", pay, want)
	}
	if rb := p.ForDeploy(policy.DeployRequest{App: "guestbook", Action: contract.ActionRollback}); rb.Name != "rollbacks" || rb.Timeout != 30*time.Minute {
		t.Errorf("rollback guestbook: %+v", rb)
	}
	if d := p.ForDeploy(policy.DeployRequest{App: "guestbook", Action: contract.ActionSync}); d.Name != contract.DefaultRuleName {
		t.Errorf("sync guestbook: %+v, want the default", d)
	}
	sec := p.ForGate("deploybot:gateway")
	if sec.Name != "security" || sec.Timeout != 8*time.Hour || !slices.Equal(sec.Reminders, []time.Duration{4 * time.Hour}) || len(sec.Requesters.Users) != 0 {
		t.Errorf("gate deploybot:gateway: %+v", sec)
	}
	if g := p.ForGate("other"); !reflect.DeepEqual(g, defaults().Gate) {
		t.Errorf("gate other: %+v, want the default", g)
	}
}

// TestFirstMatchWins: rules are tried in order, the default comes last.
func TestFirstMatchWins(t *testing.T) {
	p := parse(t, `
groups: {platform: S0PLATFORM}
rules:
  - name: prod-rollback
    match: {instances: [prod], actions: [rollback]}
    approvals: [{count: 2, from: {groups: [platform]}}]
  - name: prod
    match: {instances: [prod]}
    approvals: [{count: 1, from: {groups: [platform]}}]
  - name: guestbook
    match: {apps: [guestbook]}
    approval: none
`)
	for _, tc := range []struct {
		req  policy.DeployRequest
		want string
	}{
		{policy.DeployRequest{Instance: "prod", App: "guestbook", Action: contract.ActionRollback}, "prod-rollback"},
		{policy.DeployRequest{Instance: "prod", App: "guestbook", Action: contract.ActionSync}, "prod"},
		{policy.DeployRequest{App: "guestbook@prod", Action: contract.ActionSync}, "prod"},
		{policy.DeployRequest{Instance: "staging", App: "guestbook", Action: contract.ActionRollback}, "guestbook"},
		{policy.DeployRequest{App: "guestbook", Action: contract.ActionSync}, "guestbook"},
		{policy.DeployRequest{App: "other", Action: contract.ActionSync}, contract.DefaultRuleName},
	} {
		if got := p.ForDeploy(tc.req).Name; got != tc.want {
			t.Errorf("%+v matched %q, want %q", tc.req, got, tc.want)
		}
	}
}

// TestMatch: each key, globs, the default instance, unknown projects.
func TestMatch(t *testing.T) {
	sync := contract.ActionSync
	for _, tc := range []struct {
		match string
		req   policy.DeployRequest
		want  bool
	}{
		{`{apps: ["*-dev"]}`, policy.DeployRequest{App: "web-dev", Action: sync}, true},
		{`{apps: ["*-dev"]}`, policy.DeployRequest{App: "team-a/web-dev", Action: sync}, false}, // * does not cross /
		{`{apps: ["*/*-dev"]}`, policy.DeployRequest{App: "team-a/web-dev", Action: sync}, true},
		{`{apps: ["team-a/*"]}`, policy.DeployRequest{App: "team-a/guestbook", Action: sync}, true},
		{`{apps: ["team-a/*"]}`, policy.DeployRequest{App: "guestbook", Action: sync}, false},
		{`{apps: ["web-?", other]}`, policy.DeployRequest{App: "web-1", Action: sync}, true},
		{`{apps: ["web-?", other]}`, policy.DeployRequest{App: "other", Action: sync}, true},
		{`{apps: ["web-[a-c]"]}`, policy.DeployRequest{App: "web-d", Action: sync}, false},
		{`{apps: [guestbook]}`, policy.DeployRequest{App: "guestbook@prod", Action: sync}, true},
		{`{instances: [staging]}`, policy.DeployRequest{App: "guestbook", Action: sync}, true}, // the default instance
		{`{instances: [staging]}`, policy.DeployRequest{App: "guestbook@prod", Action: sync}, false},
		{`{instances: [staging, prod]}`, policy.DeployRequest{Instance: "prod", App: "guestbook", Action: sync}, true},
		{`{projects: [payments]}`, policy.DeployRequest{Project: "payments", App: "guestbook", Action: sync}, true},
		{`{projects: [payments]}`, policy.DeployRequest{Project: "default", App: "guestbook", Action: sync}, false},
		{`{projects: [payments]}`, policy.DeployRequest{App: "guestbook", Action: sync}, false}, // project unknown
		{`{actions: [autosync_on, autosync_off]}`, policy.DeployRequest{App: "guestbook", Action: contract.ActionAutoSyncOff}, true},
		{`{actions: [autosync_on, autosync_off]}`, policy.DeployRequest{App: "guestbook", Action: sync}, false},
		{`{}`, policy.DeployRequest{App: "anything", Action: contract.ActionRollback}, true},
	} {
		p := parse(t, "rules:\n- {name: r, match: "+tc.match+"}\n")
		if got := p.ForDeploy(tc.req).Name == "r"; got != tc.want {
			t.Errorf("match %s, %+v: %v, want %v", tc.match, tc.req, got, tc.want)
		}
	}
}

// TestGateAndDeployRules: a rule with sonarProjects matches quality gates
// only, one without matches deploy requests only.
func TestGateAndDeployRules(t *testing.T) {
	p := parse(t, `
rules:
  - name: everything-deploy
    approvals: [{count: 1, from: {users: [U0DAN]}}]
  - name: sec
    match: {sonarProjects: ["deploybot:*", "payments-?"]}
    approvals: [{count: 1, from: {users: [U0BOB]}}]
`)
	if got := p.ForDeploy(policy.DeployRequest{App: "deploybot", Action: contract.ActionSync}).Name; got != "everything-deploy" {
		t.Errorf("deploy matched %q", got)
	}
	for key, want := range map[string]string{"deploybot:gateway": "sec", "payments-x": "sec", "payments-xy": "default", "deploybot": "default"} {
		if got := p.ForGate(key).Name; got != want {
			t.Errorf("gate %s matched %q, want %q", key, got, want)
		}
	}
}

// TestNoFile: no file (Load "") and a nil *Policy.
func TestNoFile(t *testing.T) {
	d := defaults()
	p, err := policy.Load("", d)
	if err != nil {
		t.Fatal(err)
	}
	req := policy.DeployRequest{Instance: "prod", Project: "payments", App: "guestbook", Action: contract.ActionRollback}
	if got := p.ForDeploy(req); !reflect.DeepEqual(got, d.Deploy) {
		t.Errorf("no file: deploy %+v, want %+v", got, d.Deploy)
	}
	if got := p.ForGate("x"); !reflect.DeepEqual(got, d.Gate) {
		t.Errorf("no file: gate %+v, want %+v", got, d.Gate)
	}
	if len(p.Rules()) != 0 || len(p.Table()) != 2 {
		t.Errorf("no file: rules %v, table %v", p.Rules(), p.Table())
	}

	var nilp *policy.Policy
	for _, r := range []contract.ApprovalRule{nilp.ForDeploy(req), nilp.ForGate("x")} {
		if r.Name != contract.DefaultRuleName || len(r.Requires) != 0 || r.Requesters.Includes("U0ALICE", nil) || r.NoApproval {
			t.Errorf("nil policy gave %+v, want a rule nobody may use", r)
		}
	}
	if nilp.Rules() != nil || len(nilp.Table()) != 2 {
		t.Error("nil policy has rules")
	}
}

// TestDefaultsFill: what a rule leaves out comes from the environment's
// rule of its kind.
func TestDefaultsFill(t *testing.T) {
	d := defaults()
	p := parse(t, `
groups: {platform: S0PLATFORM}
rules:
  - name: bare
    match: {apps: [bare]}
  - name: set
    match: {apps: [set]}
    requesters: {groups: [platform]}
    approvals: [{count: 1, from: {users: [U0CAROL]}}]
    allowSelfApproval: false
    allowSameApprover: true
    timeout: 1h
  - name: quiet
    match: {apps: [quiet]}
    reminders: []
  - name: none
    match: {apps: [none]}
    approval: none
  - name: gate-bare
    match: {sonarProjects: [bare]}
  - name: gate-quiet
    match: {sonarProjects: [quiet]}
    timeout: 2h
    reminders: []
  - name: gate-timeout
    match: {sonarProjects: [timeout]}
    timeout: 2h
`)
	get := func(app string) contract.ApprovalRule {
		return p.ForDeploy(policy.DeployRequest{App: app, Action: contract.ActionSync})
	}
	bare := get("bare")
	if !reflect.DeepEqual(bare.Requesters, d.Deploy.Requesters) || !reflect.DeepEqual(bare.Requires, d.Deploy.Requires) ||
		bare.Timeout != 30*time.Minute || !bare.AllowSelfApproval || bare.AllowSameApprover || bare.Reminders != nil || bare.Line != 4 {
		t.Errorf("bare: %+v", bare)
	}
	set := get("set")
	if !reflect.DeepEqual(set.Requesters, contract.Principals{Groups: []contract.UserGroup{platform}}) || set.Requires[0].From.Users[0] != "U0CAROL" ||
		set.Timeout != time.Hour || set.AllowSelfApproval || !set.AllowSameApprover {
		t.Errorf("set: %+v", set)
	}
	if q := get("quiet"); q.Reminders != nil || q.Timeout != 30*time.Minute {
		t.Errorf("quiet: %+v", q)
	}
	if n := get("none"); !n.NoApproval || n.Requires != nil || n.Timeout != 0 || !reflect.DeepEqual(n.Requesters, d.Deploy.Requesters) {
		t.Errorf("none: %+v", n)
	}
	gb := p.ForGate("bare")
	if !reflect.DeepEqual(gb.Requires, d.Gate.Requires) || gb.Timeout != 24*time.Hour || !slices.Equal(gb.Reminders, d.Gate.Reminders) ||
		gb.AllowSelfApproval || len(gb.Requesters.Users) != 0 {
		t.Errorf("gate-bare: %+v", gb)
	}
	if g := p.ForGate("quiet"); g.Reminders != nil || g.Timeout != 2*time.Hour {
		t.Errorf("gate-quiet: %+v", g)
	}
	if g := p.ForGate("timeout"); !slices.Equal(g.Reminders, []time.Duration{time.Hour}) {
		t.Errorf("gate-timeout: reminders %v, want half of its timeout", g.Reminders)
	}
	// The rule handed out is a copy.
	set.Requires[0].From.Users[0] = "U0EVE"
	if get("set").Requires[0].From.Users[0] != "U0CAROL" {
		t.Error("ForDeploy shares the policy's slices")
	}
}

// TestErrors: every problem names the file, the line and an example, and
// all of a file's problems come at once.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"typo", "rules:\n- name: payments\n  aprovals: [{count: 1, from: {users: [U0BOB]}}]\n", 3,
			`rule "payments": unknown field "aprovals"; e.g. approvals: [{count: 1, from: {groups: [platform]}}]`},
		{"unknown top", "rule:\n- name: a\n", 1, `the file: unknown field "rule"; e.g. rules:`},
		{"unknown far", "rules:\n- name: a\n  colour: blue\n", 3, `unknown field "colour": the fields are allowSameApprover, allowSelfApproval, approval, approvals`},
		{"unknown match", "rules:\n- name: a\n  match: {app: [x]}\n", 3, `rule "a": match: unknown field "app"; e.g. apps:`},
		{"unknown principal", "rules:\n- name: a\n  requesters: {user: [U0BOB]}\n", 3, `rule "a": requesters: unknown field "user"; e.g. users: [U0ALICE]`},
		{"unknown requirement", "rules:\n- name: a\n  approvals:\n  - {count: 1, form: {users: [U0BOB]}}\n", 4, `unknown field "form"; e.g. from:`},
		{"twice", "rules:\n- name: a\n  timeout: 1h\n  timeout: 2h\n", 4, "timeout is given twice (first on line 3)"},
		{"syntax", "rules:\n- name: a\n   timeout: 1h\n", 3, "is not valid YAML"},
		{"alias", "rules:\n- name: a\n  match: {apps: [*-dev]}\n", 3, `quote globs that start with *`},
		{"not a list", "rules: {name: a}\n", 1, "rules must be a list of rules"},
		{"no rules", "groups: {platform: S0PLATFORM}\n", 1, "has no rules"},
		{"rule not a mapping", "rules:\n- a\n", 2, "rule 1 must be a mapping of"},
		{"no name", "rules:\n- timeout: 1h\n", 2, "rule 1 has no name"},
		{"default name", "rules:\n- name: default\n", 2, `the name "default" is the rule of the environment settings`},
		{"same name", "rules:\n- {name: a, match: {apps: [x]}}\n- {name: a, match: {apps: [y]}}\n", 3, "the name is used twice (first on line 2)"},
		{"bad group id", "groups: {platform: platform}\nrules:\n- name: a\n", 1, `"platform" is not a Slack user group id`},
		{"bad group handle", "groups: {Platform Team: S0PLAT}\nrules:\n- name: a\n", 1, `"Platform Team" is not a Slack user group handle`},
		{"undeclared group", "groups: {platform: S0PLATFORM}\nrules:\n- name: a\n  approvals:\n  - count: 1\n    from: {groups: [platfrom]}\n", 6, `group "platfrom" is not declared: add its id under groups:`},
		{"not a user id", "rules:\n- name: a\n  requesters:\n    users: [alice]\n", 4, `"alice" is not a Slack user id`},
		{"user twice", "rules:\n- name: a\n  approvals: [{count: 2, from: {users: [U0BOB, U0BOB]}}]\n", 3, "names U0BOB twice"},
		{"requesters nobody", "rules:\n- name: a\n  requesters: {}\n", 3, "requesters names nobody"},
		{"requesters everyone and users", "rules:\n- name: a\n  requesters: {everyone: true, users: [U0BOB]}\n", 3, "requesters has everyone: true"},
		{"everyone not a bool", "rules:\n- name: a\n  requesters: {everyone: yes please}\n", 3, "everyone must be true or false"},
		{"bad instance", "rules:\n- name: a\n  match: {instances: [Prod]}\n", 3, `"Prod" is not a valid Argo CD instance name`},
		{"unknown instance", "rules:\n- name: a\n  match: {instances: [qa]}\n", 3, `"qa", which is not an instance of ARGOCD_INSTANCES_FILE (staging, prod), e.g. instances: [staging]`},
		{"bad project", "rules:\n- name: a\n  match:\n    projects: [Pay/x]\n", 4, `"Pay/x" is not a valid Argo CD project name`},
		{"bad glob", "rules:\n- name: a\n  match: {apps: [\"web-[\"]}\n", 3, `match apps "web-[" is not a valid glob`},
		{"app with instance", "rules:\n- name: a\n  match: {apps: [guestbook@prod]}\n", 3, "names an instance"},
		{"bad app", "rules:\n- name: a\n  match: {apps: [Guest_Book]}\n", 3, `"Guest_Book" is not a valid Argo CD app name`},
		{"bad action", "rules:\n- name: a\n  match: {actions: [deploy]}\n", 3, `match actions "deploy" is not an action: use sync, rollback, autosync_on or autosync_off`},
		{"empty list", "rules:\n- name: a\n  match: {apps: []}\n", 3, "match apps is an empty list, which matches nothing"},
		{"not a list of values", "rules:\n- name: a\n  match: {apps: guestbook}\n", 3, "apps must be a list"},
		{"bad sonar glob", "rules:\n- name: a\n  match: {sonarProjects: [\"[x\"]}\n", 3, "is not a valid glob"},
		{"gate and deploy keys", "rules:\n- name: a\n  match:\n    sonarProjects: [x]\n    apps: [y]\n", 5, "a rule with sonarProjects matches quality gates only (line 4), so it cannot match apps too"},
		{"gate requesters", "rules:\n- name: a\n  match: {sonarProjects: [x]}\n  requesters: {users: [U0BOB]}\n", 4, "quality-gate rules have no requesters"},
		{"gate self approval", "rules:\n- name: a\n  match: {sonarProjects: [x]}\n  allowSelfApproval: true\n", 4, "allowSelfApproval has no effect on quality gates"},
		{"gate no approval", "rules:\n- name: a\n  match: {sonarProjects: [x]}\n  approval: none\n", 4, "a quality-gate rule cannot have approval: none"},
		{"approval other", "rules:\n- name: a\n  approval: always\n", 3, `approval "always": its only value is none`},
		{"none and approvals", "rules:\n- name: a\n  approval: none\n  approvals: [{count: 1, from: {users: [U0BOB]}}]\n", 4, "approvals has no effect with approval: none"},
		{"none and timeout", "rules:\n- name: a\n  approval: none\n  timeout: 1h\n", 4, "timeout has no effect with approval: none"},
		{"approvals empty", "rules:\n- name: a\n  approvals: []\n", 3, "approvals must be a list of requirements"},
		{"no count", "rules:\n- name: a\n  approvals:\n  - from: {users: [U0BOB]}\n", 4, "approvals item 1 has no count"},
		{"count not a number", "rules:\n- name: a\n  approvals: [{count: one, from: {users: [U0BOB]}}]\n", 3, "count must be a whole number"},
		{"no from", "rules:\n- name: a\n  approvals: [{count: 1}]\n", 3, "approvals item 1 has no from"},
		{"count zero (Validate)", "rules:\n- name: a\n  approvals: [{count: 0, from: {users: [U0BOB]}}]\n", 2, `requirement 1 of rule "a" needs a count of at least 1`},
		{"too few people (Validate)", "rules:\n- name: a\n  approvals: [{count: 2, from: {users: [U0BOB]}}]\n", 2, "needs 2 approvals but names only 1 people"},
		{"everyone approves (Validate)", "rules:\n- name: a\n  approvals: [{count: 1, from: {everyone: true}}]\n", 2, "approvers must be named people or groups, not everyone"},
		{"reminder after timeout (Validate)", "rules:\n- name: a\n  timeout: 1h\n  reminders: [90m]\n", 2, "reminder after 1h30m0s must fall inside its timeout"},
		{"bad duration", "rules:\n- name: a\n  timeout: 30\n", 3, `timeout "30" is not a duration: write a number with a unit`},
		{"zero duration", "rules:\n- name: a\n  reminders: [0s]\n", 3, "reminders 0s must be longer than zero"},
		{"self approval not a bool", "rules:\n- name: a\n  allowSelfApproval: nope\n", 3, "allowSelfApproval must be true or false"},
		{"shadowed", "rules:\n- name: all\n- name: never\n  match: {apps: [x]}\n", 3, `rule "never" can never match: rule "all" (line 2) before it matches every deploy request`},
		{"shadowed gate", "rules:\n- {name: all, match: {sonarProjects: [\"*\"]}}\n- {name: never, match: {sonarProjects: [x]}}\n", 3, "matches every quality gate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Parse("deploy/approval-policy.yaml", []byte(tc.yaml), defaults())
			if err == nil {
				t.Fatal("no error")
			}
			var found *policy.Error
			for _, e := range unjoin(err) {
				var pe *policy.Error
				if !errors.As(e, &pe) {
					t.Fatalf("%v is not a *policy.Error", e)
				}
				if strings.Contains(pe.Msg, tc.want) && found == nil {
					found = pe
				}
				if !strings.Contains(pe.Msg, "e.g.") {
					t.Errorf("no example in %q", pe.Msg)
				}
			}
			if found == nil {
				t.Fatalf("errors\n%v\nlack %q", err, tc.want)
			}
			prefix := fmt.Sprintf("APPROVAL_POLICY_FILE deploy/approval-policy.yaml line %d: ", tc.line)
			if !strings.HasPrefix(found.Error(), prefix) {
				t.Errorf("%q does not start with %q", found.Error(), prefix)
			}
		})
	}
}

// TestErrorsAtOnce: one load reports every problem, in file order.
func TestErrorsAtOnce(t *testing.T) {
	_, err := policy.Parse("p.yaml", []byte("rules:\n- name: a\n  timeout: soon\n- name: b\n  requesters: {users: [bob]}\n"), defaults())
	if got := len(unjoin(err)); got != 2 {
		t.Fatalf("%d errors, want 2:\n%v", got, err)
	}
	if !strings.Contains(err.Error(), "line 3:") || !strings.Contains(err.Error(), "line 5:") {
		t.Errorf("errors: %v", err)
	}
}

// TestDefaultsWithoutApprovers: a rule that would inherit no approvers is
// refused, so nobody is left waiting for an approval that cannot come.
func TestDefaultsWithoutApprovers(t *testing.T) {
	d := defaults()
	d.Deploy.Requires, d.Gate.Requires = nil, nil
	for yaml, want := range map[string]string{
		"rules:\n- name: a\n":                                                    "APPROVERS is empty",
		"rules:\n- name: a\n  match: {sonarProjects: [x]}\n":                     "SAST_APPROVERS is empty",
		"rules:\n- name: a\n  approval: none\n":                                  "",
		"rules:\n- {name: a, approvals: [{count: 1, from: {users: [U0BOB]}}]}\n": "",
	} {
		_, err := policy.Parse("p.yaml", []byte(yaml), d)
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", yaml, err, want)
		}
	}
}

// TestOneArgoCD: with ARGOCD_URL alone the instance has no name to match.
func TestOneArgoCD(t *testing.T) {
	d := defaults()
	d.Instances, d.DefaultInstance = []string{""}, ""
	_, err := policy.Parse("p.yaml", []byte("rules:\n- name: a\n  match: {instances: [prod]}\n"), d)
	if err == nil || !strings.Contains(err.Error(), "one Argo CD (ARGOCD_URL), which has no name") {
		t.Errorf("instances with one Argo CD: %v", err)
	}
	d.Instances = nil // not checked
	p, err := policy.Parse("p.yaml", []byte("rules:\n- name: a\n  match: {instances: [prod]}\n"), d)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.ForDeploy(policy.DeployRequest{App: "guestbook", Action: contract.ActionSync}).Name; got != contract.DefaultRuleName {
		t.Errorf("unnamed instance matched %q", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := policy.Load(path, defaults())
	if err == nil || !strings.HasPrefix(err.Error(), "APPROVAL_POLICY_FILE: open "+path) || !strings.Contains(err.Error(), "e.g. /etc/deploybot/approval-policy.yaml") {
		t.Errorf("missing file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(empty, []byte("# nothing yet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Load(empty, defaults()); err == nil || !strings.Contains(err.Error(), empty+": is empty") {
		t.Errorf("empty file: %v", err)
	}
}

// TestTable: the effective policy as config check shows it.
func TestTable(t *testing.T) {
	p, err := policy.Load("../../deploy/approval-policy.example.yaml", defaults())
	if err != nil {
		t.Fatal(err)
	}
	rows := p.Table()
	find := func(name, match string) []string {
		for _, r := range rows {
			if r[1] == name && strings.Contains(r[2], match) {
				return r
			}
		}
		t.Fatalf("no row %s in %v", name, rows)
		return nil
	}
	line := func(name string) string {
		for _, r := range p.Rules() {
			if r.Rule.Name == name {
				return fmt.Sprint(r.Rule.Line)
			}
		}
		return "?"
	}
	for _, want := range [][]string{
		{line("dev-apps"), "dev-apps", "apps=*-dev,*/*-dev actions=sync", "everyone", "none (runs at once, audited)", "-", "-", "-", "-"},
		{line("payments-prod"), "payments-prod", "instances=prod projects=payments", "U0ALICE", "1 of @platform + 1 of @payments-leads", "no", "no", "2h", "30m, 1h30m"},
		{line("rollbacks"), "rollbacks", "actions=rollback", "U0ALICE, U0BOB", "1 of (U0BOB, U0CAROL)", "yes", "no", "30m", "-"},
		{line("security"), "security", "sonarProjects=deploybot:*", "SonarQube", "1 of U0BOB", "-", "no", "8h", "4h"},
		{"-", "default", "any other deploy request", "U0ALICE, U0BOB", "1 of U0BOB", "yes", "no", "30m", "-"},
		{"-", "default", "any other quality gate", "SonarQube", "1 of U0CAROL", "-", "no", "24h", "12h"},
	} {
		if got := find(want[1], want[2]); !slices.Equal(got, want) {
			t.Errorf("row\n got %q\nwant %q", got, want)
		}
	}
	if rows[len(rows)-1][2] != "any other quality gate" || rows[len(rows)-2][2] != "any other deploy request" {
		t.Error("the defaults are not last")
	}
	var b strings.Builder
	if err := p.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != len(rows)+1 || !strings.HasPrefix(lines[0], "LINE  RULE") {
		t.Errorf("WriteTable:\n%s", b.String())
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// TestOperationsDoc: the format shown in docs/operations.md loads.
func TestOperationsDoc(t *testing.T) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Approval policies\n")
	_, block, ok2 := strings.Cut(sec, "```yaml\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/operations.md has no Approval policies section with a yaml block")
	}
	p, err := policy.Parse("docs/operations.md", []byte(block), defaults())
	if err != nil {
		t.Fatal(err)
	}
	if got := p.ForDeploy(policy.DeployRequest{Instance: "prod", Project: "payments", App: "checkout", Action: contract.ActionRollback}); policy.Approvals(got) != "1 of @platform + 1 of @payments-leads" {
		t.Errorf("payments-prod: %s", policy.Approvals(got))
	}
}

// TestForDeployAnyProject: the candidates a run gets before Argo CD says
// the app's project pick, for every project, what ForDeploy picks.
func TestForDeployAnyProject(t *testing.T) {
	p := parse(t, `
groups: {platform: S0PLATFORM, payments-leads: S0PAYLEADS}
rules:
  - name: payments
    match: {projects: [payments, billing], instances: [prod]}
    approvals: [{count: 1, from: {groups: [platform]}}, {count: 1, from: {groups: [payments-leads]}}]
  - name: team-a-dev
    match: {projects: [team-a], apps: ["*/*-dev"]}
    approval: none
  - name: prod
    match: {instances: [prod]}
    approvals: [{count: 1, from: {groups: [platform]}}]
  - name: never-reached-for-prod
    match: {projects: [other]}
    approvals: [{count: 1, from: {users: [U0BOB]}}]
`)
	names := func(rs contract.ProjectRules) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Rule.Name)
		}
		return out
	}
	for _, tc := range []struct {
		req  policy.DeployRequest
		want []string
	}{
		{policy.DeployRequest{Instance: "prod", App: "checkout", Action: contract.ActionSync}, []string{"payments", "prod"}},
		{policy.DeployRequest{App: "team-a/web-dev", Action: contract.ActionSync}, []string{"team-a-dev", "never-reached-for-prod", contract.DefaultRuleName}},
		{policy.DeployRequest{App: "guestbook", Action: contract.ActionSync}, []string{"never-reached-for-prod", contract.DefaultRuleName}},
	} {
		rs := p.ForDeployAnyProject(tc.req)
		if got := names(rs); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: candidates %v, want %v", tc.req, got, tc.want)
		}
		if err := rs.Validate(); err != nil {
			t.Errorf("%+v: candidates invalid: %v", tc.req, err)
		}
		for _, project := range []string{"payments", "billing", "team-a", "other", "default", ""} {
			req := tc.req
			req.Project = project
			got, ok := rs.For(project)
			if want := p.ForDeploy(req); !ok || got.Name != want.Name {
				t.Errorf("%+v in project %q: candidates give %q, ForDeploy %q", tc.req, project, got.Name, want.Name)
			}
		}
	}
}

// TestBreakGlass: the section gives a rule of one approval from its
// requesters, its emails, a row in the table; mistakes name their line.
func TestBreakGlass(t *testing.T) {
	p := parse(t, `
groups: {sre-oncall: S0ONCALL}
breakGlass:
  requesters: {groups: [sre-oncall]}
  emailTo: [incidents@example.com]
  timeout: 15m
rules:
  - name: prod
    match: {instances: [prod]}
    approvals: [{count: 2, from: {users: [U0BOB, U0CAROL]}}]
`)
	bg, ok := p.BreakGlass()
	oncall := contract.Principals{Groups: []contract.UserGroup{{ID: "S0ONCALL", Handle: "sre-oncall"}}}
	want := contract.ApprovalRule{Name: policy.BreakGlassRuleName, Line: 3, Requesters: oncall,
		Requires: []contract.Requirement{{Count: 1, From: oncall}}, Timeout: 15 * time.Minute}
	if !ok || !reflect.DeepEqual(bg.Rule, want) || !slices.Equal(bg.EmailTo, []string{"incidents@example.com"}) {
		t.Fatalf("BreakGlass() = %+v, %v; want %+v", bg, ok, want)
	}
	var b strings.Builder
	if err := p.WriteTable(&b); err != nil || !strings.Contains(b.String(), "break-glass") || !strings.Contains(b.String(), "--emergency") {
		t.Errorf("table lacks the break-glass row:\n%s", b.String())
	}
	if _, ok := parse(t, "rules: [{name: a, match: {apps: [a]}, approval: none}]").BreakGlass(); ok {
		t.Error("a file without breakGlass has one")
	}
	_, err := policy.Parse("policy.yaml", []byte(`
breakGlass:
  requesters: {everyone: true}
  emailTo: [not-an-address]
rules: [{name: a, match: {apps: [a]}, approval: none}]
`), defaults())
	for _, want := range []string{"line 3: breakGlass: requesters cannot be everyone", `line 4: breakGlass: emailTo "not-an-address" is not an email address`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}

// TestForProjectAndDeployRules: the rules a change of a project's apps may
// get stop at the first that takes every change of them; every deploy rule
// ends with the environment's unless a rule takes every request.
func TestForProjectAndDeployRules(t *testing.T) {
	p := parse(t, `
groups: {platform: S0PLATFORM, payments-leads: S0PAYLEADS}
rules:
  - name: payments-prod
    match: {projects: [payments], instances: [prod]}
    approvals: [{count: 1, from: {groups: [platform]}}]
  - name: payments
    match: {projects: [payments, billing]}
    approvals: [{count: 1, from: {groups: [payments-leads]}}]
  - name: security
    match: {sonarProjects: ["*"]}
    approvals: [{count: 1, from: {users: [U0BOB]}}]
  - name: dev
    match: {apps: ["*-dev"], actions: [sync]}
    approval: none
  - name: team-a
    match: {projects: [team-a], actions: [rollback]}
    approvals: [{count: 1, from: {users: [U0BOB]}}]
`)
	names := func(rs []contract.ApprovalRule) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	for project, want := range map[string][]string{
		"payments": {"payments-prod", "payments"},
		"billing":  {"payments"},
		"team-a":   {"dev", "team-a", contract.DefaultRuleName},
		"other":    {"dev", contract.DefaultRuleName},
	} {
		if got := names(p.ForProject(project)); !slices.Equal(got, want) {
			t.Errorf("ForProject(%q) = %v, want %v", project, got, want)
		}
	}
	if got, want := names(p.DeployRules()), []string{"payments-prod", "payments", "dev", "team-a", contract.DefaultRuleName}; !slices.Equal(got, want) {
		t.Errorf("DeployRules = %v, want %v", got, want)
	}
	all := parse(t, `
rules:
  - name: dev
    match: {apps: ["*-dev"]}
    approval: none
  - name: everything
    approvals: [{count: 1, from: {users: [U0BOB]}}]
`)
	if got, want := names(all.DeployRules()), []string{"dev", "everything"}; !slices.Equal(got, want) {
		t.Errorf("DeployRules with a rule for everything = %v, want %v", got, want)
	}
	if got, want := names(all.ForProject("payments")), []string{"dev", "everything"}; !slices.Equal(got, want) {
		t.Errorf("ForProject with a rule for everything = %v, want %v", got, want)
	}
	none, err := policy.Load("", defaults())
	if err != nil {
		t.Fatal(err)
	}
	if got := names(none.ForProject("payments")); !slices.Equal(got, []string{contract.DefaultRuleName}) || none.DeployRules()[0].Requesters.Users[0] != "U0ALICE" {
		t.Errorf("without a file: ForProject = %v, DeployRules = %+v", got, none.DeployRules())
	}
}
