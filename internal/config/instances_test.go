package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func instancesConfig(t *testing.T, yaml string, env map[string]string) *Config {
	t.Helper()
	file := filepath.Join(t.TempDir(), "instances.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.ArgoCDInstancesFile = file
	for k, v := range env {
		t.Setenv(k, v)
	}
	return c
}

func TestArgoCDInstancesFile(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("tok-eu\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := instancesConfig(t, `
default: prod
instances:
- name: staging
  url: http://127.0.0.1:8081
  tokenEnv: TEST_TOKEN_STAGING
- name: prod
  url: https://argocd.prod.example.com
  tokenFile: `+tokenFile+`
  namespace: gitops
  projects: [payments, default]
  taskQueue: deploybot-prod
  verifySSL: false
`, map[string]string{"TEST_TOKEN_STAGING": "tok-staging"})
	s, err := c.ArgoCDInstances()
	if err != nil {
		t.Fatal(err)
	}
	prod, ok := s.Get("")
	if !ok || prod.Name != "prod" || prod.Namespace != "gitops" || prod.TaskQueue != "deploybot-prod" || prod.Verify() || len(prod.Projects) != 2 {
		t.Fatalf("default = %+v", prod)
	}
	staging, _ := s.Get("staging")
	if staging.Namespace != "argocd" || !staging.Verify() {
		t.Errorf("staging = %+v, want ARGOCD_NAMESPACE and verifySSL by default", staging)
	}
	for _, tc := range []struct {
		inst ArgoCDInstance
		want string
	}{{prod, "tok-eu"}, {staging, "tok-staging"}} {
		if got, err := tc.inst.Token(); err != nil || got != tc.want {
			t.Errorf("token of %s = %q, %v", tc.inst.Name, got, err)
		}
	}
	c.WorkerArgoCDInstances = []string{"prod"}
	if got := c.ServedInstances(s); len(got) != 1 || got[0].Name != "prod" {
		t.Errorf("served = %+v", got)
	}
	if err := c.Validate(RoleWorker); err != nil && !strings.Contains(err.Error(), "SLACK_TOKEN") {
		t.Errorf("Validate(worker): %v", err)
	}
}

func TestArgoCDInstancesFileProblems(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       string
	}{
		{"empty", "instances: []", "names no instances"},
		{"unknown field", "instances:\n- {name: a, url: https://a.example.com, tokenEnv: T, tokn: x}", `unknown field "tokn"`},
		{"bad name", "instances:\n- {name: Prod, url: https://a.example.com, tokenEnv: T}", `"Prod" is not a valid Argo CD instance name`},
		{"twice", "instances:\n- {name: a, url: https://a.example.com, tokenEnv: T}\n- {name: a, url: https://b.example.com, tokenEnv: T}", "used twice"},
		{"bad url", "instances:\n- {name: a, url: 'ftp://a', tokenEnv: T}", "url "},
		{"two tokens", "instances:\n- {name: a, url: https://a.example.com, tokenEnv: T, tokenFile: /t}", "exactly one of tokenEnv"},
		{"no token", "instances:\n- {name: prod-eu, url: https://a.example.com}", "ARGOCD_TOKEN_PROD_EU"},
		{"bad project", "instances:\n- {name: a, url: https://a.example.com, tokenEnv: T, projects: [Pay/x]}", `"Pay/x" is not a valid Argo CD project name`},
		{"bad namespace", "instances:\n- {name: a, url: https://a.example.com, tokenEnv: T, namespace: Argo_CD}", `namespace (where this Argo CD runs): "Argo_CD" is not a Kubernetes namespace`},
		{"unknown default", "default: b\ninstances:\n- {name: a, url: https://a.example.com, tokenEnv: T}", `default "b" is not one of the instances (a)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := instancesConfig(t, tc.yaml, nil)
			_, err := c.ArgoCDInstances()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "ARGOCD_INSTANCES_FILE") {
				t.Fatalf("error %v, want one naming ARGOCD_INSTANCES_FILE and saying %q", err, tc.want)
			}
		})
	}

	c := instancesConfig(t, "instances:\n- {name: a, url: https://a.example.com, tokenEnv: TEST_UNSET_TOKEN}", nil)
	c.ArgoCDURL, c.WorkerArgoCDInstances = "https://argocd.example.com", []string{"b"}
	var ps problems
	c.checkInstancesFile(&ps)
	c.checkWorkerInstances(&ps)
	all := ps.err().Error()
	for _, want := range []string{
		`WORKER_ARGOCD_INSTANCES names "b", which is not an instance of ARGOCD_INSTANCES_FILE (a)`,
		"ARGOCD_URL is set, and so is ARGOCD_INSTANCES_FILE",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	c.WorkerArgoCDInstances = nil
	ps = problems{}
	c.ArgoCDURL = ""
	c.checkWorkerInstances(&ps)
	if err := ps.err(); err == nil || !strings.Contains(err.Error(), "TEST_UNSET_TOKEN (its tokenEnv) is empty") {
		t.Errorf("a missing token: %v", err)
	}
}
