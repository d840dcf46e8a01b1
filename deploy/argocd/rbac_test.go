// Package argocdrbac_test checks deploybot's Argo CD permissions with Argo CD's
// own RBAC code (argo-cd v2.14): the enforcer the API server builds, with the
// built-in policy, the files here as the user policy, and the server's
// claims enforcer, which is what decides for project tokens.
package argocdrbac_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v2/server/rbacpolicy"
	"github.com/argoproj/argo-cd/v2/util/assets"
	"github.com/argoproj/argo-cd/v2/util/rbac"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/deploybot/deploybot/internal/testenv"
)

// claims is what the API server hands the enforcer for a request: the
// token's claims with "sub" as Argo CD sets it (the account name for an
// account token, proj:<project>:<role> for a project token). It satisfies
// jwt.Claims (Valid), so the server's claims enforcer handles it.
type claims struct {
	Sub string `json:"sub"`
}

func (claims) Valid() error { return nil }

// projects is an AppProject lister over a fixed list, as the server's
// informer-backed one is.
type projects []*v1alpha1.AppProject

func (p projects) List(labels.Selector) ([]*v1alpha1.AppProject, error) { return p, nil }

func (p projects) Get(name string) (*v1alpha1.AppProject, error) {
	for _, proj := range p {
		if proj.Name == name {
			return proj, nil
		}
	}
	return nil, fmt.Errorf("appproject %q not found", name)
}

// newEnforcer builds the enforcer as argocd-server does (server.go): the
// built-in policy, userPolicy from argocd-rbac-cm, no default role, glob
// matching, and the claims enforcer that consults AppProject roles.
func newEnforcer(t *testing.T, userPolicy string, projs ...*v1alpha1.AppProject) *rbac.Enforcer {
	t.Helper()
	enf := rbac.NewEnforcer(nil, "argocd", "argocd-rbac-cm", nil)
	if err := enf.SetBuiltinPolicy(assets.BuiltinPolicyCSV); err != nil {
		t.Fatal(err)
	}
	if err := rbac.ValidatePolicy(userPolicy); err != nil {
		t.Fatalf("Argo CD refuses the policy: %v", err)
	}
	if err := enf.SetUserPolicy(userPolicy); err != nil {
		t.Fatal(err)
	}
	enf.SetClaimsEnforcerFunc(rbacpolicy.NewRBACPolicyEnforcer(enf, projects(projs)).EnforceClaims)
	return enf
}

func read(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// rules returns the policy lines of a CSV (no comments or blank lines),
// normalised to "a, b, c".
func rules(csv string) []string {
	var out []string
	for _, line := range strings.Split(csv, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		out = append(out, strings.Join(fields, ", "))
	}
	return out
}

type configMap struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Data map[string]string `json:"data"`
}

func loadConfigMap(t *testing.T, name string) configMap {
	t.Helper()
	var cm configMap
	if err := yaml.UnmarshalStrict([]byte(read(t, name)), &cm); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata.Namespace != "argocd" {
		t.Errorf("%s: not a v1 ConfigMap in namespace argocd", name)
	}
	return cm
}

func loadProject(t *testing.T) *v1alpha1.AppProject {
	t.Helper()
	var proj v1alpha1.AppProject
	if err := yaml.UnmarshalStrict([]byte(read(t, "appproject-role.yaml")), &proj); err != nil {
		t.Fatalf("appproject-role.yaml: %v", err)
	}
	if err := proj.ValidateProject(); err != nil {
		t.Fatalf("Argo CD refuses appproject-role.yaml: %v", err)
	}
	return &proj
}

const (
	project      = "payments" // the example project of appproject-role.yaml
	otherProject = "default"
	repoURL      = "https://github.com/example/charts.git"
)

// deploybotGrants are the (resource, action) pairs deploybot needs, and the
// only ones it gets.
var deploybotGrants = []string{
	rbac.ResourceApplications + "/" + rbac.ActionGet,
	rbac.ResourceApplications + "/" + rbac.ActionSync,
	rbac.ResourceLogs + "/" + rbac.ActionGet,
	rbac.ResourceRepositories + "/" + rbac.ActionGet,
}

var autosyncGrant = rbac.ResourceApplications + "/" + rbac.ActionUpdate

// request is one RBAC question, as the server asks it.
type request struct{ res, act, obj string }

func (r request) String() string { return r.res + ", " + r.act + ", " + r.obj }

// requests covers every RBAC resource with every action (plus the
// sub-resource forms action/…, update/…, delete/…) on objects in both
// projects, apps in another namespace, global and project-scoped
// repositories.
func requests() []request {
	objects := map[string][]string{
		rbac.ResourceApplications:      {project + "/ledger", project + "/argocd-apps/ledger", otherProject + "/guestbook"},
		rbac.ResourceApplicationSets:   {project + "/ledger-set", otherProject + "/guestbook-set"},
		rbac.ResourceLogs:              {project + "/ledger", project + "/argocd-apps/ledger", otherProject + "/guestbook"},
		rbac.ResourceExec:              {project + "/ledger", otherProject + "/guestbook"},
		rbac.ResourceRepositories:      {repoURL, project + "/" + repoURL, otherProject + "/" + repoURL},
		rbac.ResourceWriteRepositories: {repoURL, project + "/" + repoURL},
		rbac.ResourceClusters:          {"https://kubernetes.default.svc", project + "/https://kubernetes.default.svc"},
		rbac.ResourceProjects:          {project, otherProject},
		rbac.ResourceCertificates:      {"*", "github.com"},
		rbac.ResourceAccounts:          {"deploybot", "admin"},
		rbac.ResourceGPGKeys:           {"*", "4AEE18F83AFDEB23"},
		rbac.ResourceExtensions:        {"*", "metrics"},
	}
	actions := append(slices.Clone(rbac.Actions),
		"action/apps/Deployment/restart",
		"update/apps/Deployment/payments/ledger",
		"delete/apps/Deployment/payments/ledger",
	)
	var out []request
	for _, res := range rbac.Resources {
		objs, ok := objects[res]
		if !ok {
			panic("no test objects for RBAC resource " + res + ": add some")
		}
		for _, act := range actions {
			for _, obj := range objs {
				out = append(out, request{res, act, obj})
			}
		}
	}
	return out
}

// check asks enf every request for sub and compares with allowed.
func check(t *testing.T, enf *rbac.Enforcer, sub string, allowed func(request) bool) {
	t.Helper()
	var wrong []string
	for _, r := range requests() {
		got := enf.Enforce(claims{Sub: sub}, r.res, r.act, r.obj)
		if want := allowed(r); got != want {
			verb := "denied"
			if got {
				verb = "ALLOWED"
			}
			wrong = append(wrong, fmt.Sprintf("%s is %s (want %v)", r, verb, want))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%s:\n  %s", sub, strings.Join(wrong, "\n  "))
	}
}

func TestPolicyFilesHoldExactlyDeploybotsRules(t *testing.T) {
	want := []string{
		"p, role:deploybot, applications, get, */*, allow",
		"p, role:deploybot, applications, sync, */*, allow",
		"p, role:deploybot, logs, get, */*, allow",
		"p, role:deploybot, repositories, get, *, allow",
		"g, deploybot, role:deploybot",
	}
	if got := rules(read(t, "policy.csv")); !slices.Equal(got, want) {
		t.Errorf("policy.csv rules:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if got := rules(read(t, "policy-autosync.csv")); !slices.Equal(got, []string{"p, role:deploybot, applications, update, */*, allow"}) {
		t.Errorf("policy-autosync.csv must hold only the applications update rule, has %v", got)
	}
	cm := loadConfigMap(t, "argocd-rbac-cm.yaml")
	if cm.Metadata.Name != "argocd-rbac-cm" || len(cm.Data) != 1 {
		t.Errorf("argocd-rbac-cm.yaml: want argocd-rbac-cm with the one key policy.deploybot.csv, got %s %v", cm.Metadata.Name, cm.Data)
	}
	if got := rules(cm.Data["policy.deploybot.csv"]); !slices.Equal(got, want) {
		t.Errorf("argocd-rbac-cm.yaml policy.deploybot.csv differs from policy.csv:\n  %s", strings.Join(got, "\n  "))
	}
}

func TestGlobalRole(t *testing.T) {
	base := read(t, "policy.csv")
	grants := func(extra ...string) func(request) bool {
		return func(r request) bool {
			return slices.Contains(append(slices.Clone(deploybotGrants), extra...), r.res+"/"+r.act)
		}
	}
	t.Run("policy.csv", func(t *testing.T) {
		// get and sync apps anywhere, logs, repositories (Helm parameters); no
		// update, delete, override, create, actions, exec, nor anything on
		// clusters, projects, accounts, certificates, gpgkeys.
		check(t, newEnforcer(t, base), "deploybot", grants())
	})
	t.Run("policy.csv+policy-autosync.csv", func(t *testing.T) {
		check(t, newEnforcer(t, base+"\n"+read(t, "policy-autosync.csv")), "deploybot", grants(autosyncGrant))
	})
	t.Run("argocd-rbac-cm.yaml", func(t *testing.T) {
		// What the server reads from the ConfigMap: policy.csv, then every
		// policy.<name>.csv key. An existing policy.csv stays as it was.
		cm := loadConfigMap(t, "argocd-rbac-cm.yaml")
		cm.Data[rbac.ConfigMapPolicyCSVKey] = "p, role:someone-else, clusters, get, *, allow\ng, alice, role:someone-else"
		enf := newEnforcer(t, rbac.PolicyCSV(cm.Data))
		check(t, enf, "deploybot", grants())
		if !enf.Enforce(claims{Sub: "alice"}, rbac.ResourceClusters, rbac.ActionGet, "https://kubernetes.default.svc") {
			t.Error("the existing policy.csv was lost")
		}
	})
	t.Run("other subjects", func(t *testing.T) {
		enf := newEnforcer(t, base+"\n"+read(t, "policy-autosync.csv"))
		for _, sub := range []string{"alice", "proj:payments:deploybot", "role:readonly"} {
			if enf.Enforce(claims{Sub: sub}, rbac.ResourceApplications, rbac.ActionSync, project+"/ledger") {
				t.Errorf("%s may sync through deploybot's policy", sub)
			}
		}
	})
}

func TestProjectRole(t *testing.T) {
	proj := loadProject(t)
	if proj.Name != project || len(proj.Spec.Roles) != 1 || proj.Spec.Roles[0].Name != "deploybot" {
		t.Fatalf("appproject-role.yaml: want project %s with the one role deploybot", project)
	}
	wantPolicies := []string{
		"p, proj:payments:deploybot, applications, get, payments/*, allow",
		"p, proj:payments:deploybot, applications, sync, payments/*, allow",
		"p, proj:payments:deploybot, logs, get, payments/*, allow",
		"p, proj:payments:deploybot, repositories, get, payments/*, allow",
	}
	if !slices.Equal(proj.Spec.Roles[0].Policies, wantPolicies) {
		t.Errorf("deploybot role policies:\n  %s\nwant\n  %s", strings.Join(proj.Spec.Roles[0].Policies, "\n  "), strings.Join(wantPolicies, "\n  "))
	}
	other := &v1alpha1.AppProject{}
	other.Name, other.Namespace = otherProject, "argocd"
	const sub = "proj:payments:deploybot"

	allowed := func(withUpdate bool) func(request) bool {
		return func(r request) bool {
			if r.res == rbac.ResourceProjects {
				// Argo CD gives every project role "projects, get" on its project.
				return r.act == rbac.ActionGet && r.obj == project
			}
			if !strings.HasPrefix(r.obj, project+"/") {
				// Other projects, and globally registered repositories (their
				// RBAC object is the bare URL): a project token gets nothing.
				return false
			}
			ok := slices.Contains(deploybotGrants, r.res+"/"+r.act)
			return ok || (withUpdate && r.res+"/"+r.act == autosyncGrant)
		}
	}
	t.Run("role", func(t *testing.T) {
		// The global policy is loaded too: it must not leak to the project token.
		check(t, newEnforcer(t, read(t, "policy.csv"), proj, other), sub, allowed(false))
	})
	t.Run("role+autosync", func(t *testing.T) {
		// The line the README's add-policy command writes (argo-cd's policyTemplate).
		p := proj.DeepCopy()
		p.Spec.Roles[0].Policies = append(p.Spec.Roles[0].Policies, fmt.Sprintf(
			"p, proj:%s:%s, applications, %s, %s/%s, %s", project, "deploybot", rbac.ActionUpdate, project, "*", "allow"))
		if err := p.ValidateProject(); err != nil {
			t.Fatal(err)
		}
		check(t, newEnforcer(t, "", p, other), sub, allowed(true))
	})
	t.Run("GetAppDetails", func(t *testing.T) {
		// server/repository GetAppDetails enforces repositories get on
		// <repo's project>/<url> for a project-scoped repository, else on the
		// bare URL, then applications get on <project>/<app>.
		enf := newEnforcer(t, "", proj, other)
		if enf.Enforce(claims{Sub: sub}, rbac.ResourceRepositories, rbac.ActionGet, repoURL) {
			t.Error("a project token may read a globally registered repository: update README.md and appproject-role.yaml, which say it cannot")
		}
		if !enf.Enforce(claims{Sub: sub}, rbac.ResourceRepositories, rbac.ActionGet, project+"/"+repoURL) {
			t.Error("a project token may not read a repository registered in its own project")
		}
	})
}

func TestAccountConfigMap(t *testing.T) {
	cm := loadConfigMap(t, "argocd-cm.yaml")
	if cm.Metadata.Name != "argocd-cm" || cm.Metadata.Labels["app.kubernetes.io/part-of"] != "argocd" {
		t.Errorf("argocd-cm.yaml: want argocd-cm labelled app.kubernetes.io/part-of: argocd")
	}
	// Parsed as util/settings parses accounts.<name>: comma-separated capabilities.
	var caps []string
	for _, c := range strings.Split(cm.Data["accounts.deploybot"], ",") {
		caps = append(caps, strings.TrimSpace(c))
	}
	if !slices.Equal(caps, []string{"apiKey"}) {
		t.Errorf("accounts.deploybot = %v, want exactly apiKey (tokens only, no UI/CLI login)", caps)
	}
	if v, ok := cm.Data["accounts.deploybot.enabled"]; ok && v != "true" {
		t.Errorf("accounts.deploybot.enabled = %q", v)
	}
	if len(cm.Data) != 1 {
		t.Errorf("argocd-cm.yaml sets more than the account: %v", cm.Data)
	}
}

// TestReadmeCommands checks the argocd commands in README.md against the
// real CLI (./bin/argocd or $ARGOCD_CLI, built by `make tools`): each must
// parse, flags included (the command only prints its help). Lines marked
// "# Argo CD 3.x" are for the 3.x CLI and skipped.
func TestReadmeCommands(t *testing.T) {
	readme := read(t, "README.md")
	for _, line := range []string{
		rules(read(t, "policy-autosync.csv"))[0],
		"argocd account generate-token --account deploybot --expires-in 90d",
		"argocd proj role create-token payments deploybot --expires-in 90d",
		"argocd account get --account deploybot",
		"argocd account delete-token --account deploybot",
		"server.rbac.log.enforce.enable",
	} {
		if !strings.Contains(readme, line) {
			t.Errorf("README.md does not contain %q", line)
		}
	}

	// The kubectl patch in README.md adds the same role as appproject-role.yaml.
	for _, policy := range loadProject(t).Spec.Roles[0].Policies {
		if !strings.Contains(readme, `"`+policy+`"`) {
			t.Errorf("README.md's kubectl patch lacks the role policy %q of appproject-role.yaml", policy)
		}
	}

	cli := os.Getenv("ARGOCD_CLI")
	if cli == "" {
		cli = filepath.Join(testenv.RepoRoot(t), "bin", "argocd")
	}
	if _, err := os.Stat(cli); err != nil {
		testenv.Missing(t, "the argocd CLI", "run `make tools` (builds ./bin/argocd) or set ARGOCD_CLI")
	}
	home := t.TempDir() // no user config is read or written
	n := 0
	for _, args := range readmeCommands(t, readme) {
		n++
		cmd := exec.Command(cli, append(args[1:], "--help")...)
		cmd.Env = append(os.Environ(), "HOME="+home, "ARGOCD_CONFIG_DIR="+home)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "unknown") || !strings.Contains(string(out), "Usage:") {
			t.Errorf("README command %q does not parse with the argocd %s CLI: %v\n%s", strings.Join(args, " "), "v2.14", err, firstLines(string(out), 3))
		}
	}
	t.Logf("%d argocd commands in README.md parse with %s", n, cli)
	if n < 8 {
		t.Errorf("only %d argocd commands found in README.md code blocks", n)
	}
}

// readmeCommands returns the argocd command lines of the README's code
// blocks, split into words as a shell would (quotes removed; $VAR and
// $(…) kept literally: only --help runs).
func readmeCommands(t *testing.T, readme string) [][]string {
	var cmds [][]string
	inCode := false
	var cont string
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
			continue
		}
		if !inCode {
			continue
		}
		line = strings.TrimSpace(line)
		if cont != "" {
			line = cont + " " + line
			cont = ""
		}
		if rest, ok := strings.CutSuffix(line, "\\"); ok {
			cont = rest
			continue
		}
		if !strings.HasPrefix(line, "argocd ") || strings.Contains(line, "# Argo CD 3.x") {
			continue
		}
		if i := strings.Index(line, " #"); i > 0 {
			line = line[:i]
		}
		words, err := shellWords(line)
		if err != nil {
			t.Errorf("README.md: %q: %v", line, err)
			continue
		}
		cmds = append(cmds, words)
	}
	return cmds
}

func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unbalanced %c", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
