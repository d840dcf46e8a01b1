package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/config"
)

// secrets are distinctive so a leak is easy to spot.
var secretEnv = map[string]string{
	"SLACK_TOKEN":              "xoxb-LEAK1SLACKTOKEN",
	"SIGNING_SECRET":           "LEAK2SIGNINGSECRET",
	"VERIFICATION_TOKEN":       "LEAK3VERIFICATION",
	"ARGOCD_TOKEN":             "LEAK4ARGOCDTOKEN",
	"TEMPORAL_API_KEY":         "LEAK5TEMPORALKEY",
	"SONARQUBE_WEBHOOK_SECRET": "LEAK6SONARSECRET",
	"SMTP_PASSWORD":            "LEAK7SMTPPASSWORD",
	"API_TOKENS":               "LEAK8APITOKEN,LEAK9APITOKEN",
	"ARGOCD_SIM_TOKEN":         "LEAK10SIMTOKEN",
}

func withEnv(base map[string]string, kv ...string) map[string]string {
	env := map[string]string{}
	for k, v := range base {
		env[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

func assertNoLeak(t *testing.T, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		if strings.Contains(out, "LEAK") {
			t.Errorf("a secret value leaked:\n%s", out)
		}
	}
}

// row returns the table line for a variable, split into its columns.
func row(t *testing.T, out, name string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return f
		}
	}
	t.Fatalf("no row for %s in:\n%s", name, out)
	return nil
}

func TestConfigCheckValid(t *testing.T) {
	full := withEnv(secretEnv,
		"ARGOCD_URL", "https://argocd.example.com",
		"ALLOWED_USERS", "U0ALICE, U0BOB",
		"SMTP_HOST", "smtp.example.com", "SMTP_USERNAME", "bot", "SMTP_FROM", "bot@example.com",
		"FLASK_PORT", "5000",
	)
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantHead string
	}{
		{"all by default", full, nil, "checked for gateway, worker"},
		{"all explicitly", full, []string{"--for", "all"}, "checked for gateway, worker"},
		{"gateway with socket mode", map[string]string{"SLACK_TOKEN": "xoxb-LEAK", "SLACK_APP_TOKEN": "xapp-LEAK"}, []string{"--for", "gateway"}, "checked for gateway"},
		{"simulator needs nothing", nil, []string{"--for", "argocd-sim"}, "checked for argocd-sim"},
		{"dev needs nothing", nil, []string{"--for=dev"}, "checked for dev"},
		{"several roles", full, []string{"--for", "worker, gateway,worker"}, "checked for worker, gateway:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := execute(t, tt.env, append([]string{"config", "check"}, tt.args...)...)
			if code != 0 || errOut != "" {
				t.Fatalf("code %d, stderr:\n%s\nstdout:\n%s", code, errOut, out)
			}
			if !strings.Contains(out, tt.wantHead) || !strings.Contains(out, "\nOK: the configuration is valid for ") {
				t.Errorf("output lacks header %q or the OK line:\n%s", tt.wantHead, out)
			}
			assertNoLeak(t, out, errOut)
		})
	}

	out, _, _ := execute(t, full, "config", "check")
	for name, want := range map[string][]string{
		"SLACK_TOKEN":        {"SLACK_TOKEN", "xoxb-…(redacted)", "env"},
		"BOT_NAME":           {"BOT_NAME", "deploybot", "default"},
		"SLACK_APP_TOKEN":    {"SLACK_APP_TOKEN", "-", "unset"},
		"APPROVERS":          {"APPROVERS", "U0ALICE,U0BOB", "default", "defaults", "to", "ALLOWED_USERS"},
		"API_TOKENS":         {"API_TOKENS", "****", "(2)", "env", "#1", "reads,", "#2", "reads"},
		"HTTP_PORT":          {"HTTP_PORT", "5000", "env", "from", "FLASK_PORT", "(old", "name)"},
		"VERIFICATION_TOKEN": {"VERIFICATION_TOKEN", "****", "env", "accepted,", "unused:", "request", "signatures", "replace", "it"},
	} {
		if got := row(t, out, name); !slices.Equal(got, want) {
			t.Errorf("row %s = %q, want %q", name, got, want)
		}
	}
	// Columns are aligned: every VALUE starts where the header's does.
	lines := strings.Split(out, "\n")
	var header string
	for _, l := range lines {
		if strings.HasPrefix(l, "VARIABLE") {
			header = l
		}
	}
	col := strings.Index(header, "VALUE")
	for _, name := range []string{"SLACK_TOKEN", "AUTO_DISABLE_SYNC_ON_ROLLBACK", "LOG_FORMAT"} {
		for _, l := range lines {
			if strings.HasPrefix(l, name+" ") && (len(l) <= col || l[col-1] != ' ' || l[col] == ' ') {
				t.Errorf("row %q: value does not start at column %d", l, col)
			}
		}
	}
}

func TestConfigCheckProblems(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		wantVars  []string // variables named in problems, in order
		wantCount string
	}{
		{"empty environment, all roles", nil, nil, []string{"SLACK_TOKEN", "SIGNING_SECRET", "ARGOCD_URL", "ARGOCD_TOKEN"}, "4 problems"},
		{"gateway only", nil, []string{"--for", "gateway"}, []string{"SLACK_TOKEN", "SIGNING_SECRET"}, "2 problems"},
		{"worker only", map[string]string{"SLACK_TOKEN": "xoxb-LEAK"}, []string{"--for", "worker"}, []string{"ARGOCD_URL", "ARGOCD_TOKEN"}, "2 problems"},
		{"formats are checked for any role", withEnv(secretEnv, "SLACK_TOKEN", "xoxp-LEAKUSER", "FLASK_PORT", "http", "LOG_LEVEL", "verbose"), []string{"--for", "argocd-sim"},
			[]string{"SLACK_TOKEN", "FLASK_PORT", "LOG_LEVEL"}, "3 problems"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := execute(t, tt.env, append([]string{"config", "check"}, tt.args...)...)
			if code != 1 {
				t.Fatalf("code = %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if !strings.HasPrefix(errOut, "deploybot: configuration has "+tt.wantCount+":\n") || strings.Count(errOut, "deploybot:") != 1 {
				t.Errorf("stderr should list the problems once under a count of %s:\n%s", tt.wantCount, errOut)
			}
			var got []string
			for _, l := range strings.Split(errOut, "\n")[1:] {
				if f := strings.Fields(l); len(f) > 1 && f[0] == "-" {
					got = append(got, f[1])
				}
			}
			if !slices.Equal(got, tt.wantVars) {
				t.Errorf("problems name %v, want %v:\n%s", got, tt.wantVars, errOut)
			}
			for _, v := range tt.wantVars {
				if r := strings.Join(row(t, out, v), " "); !strings.Contains(r, "PROBLEM, see below") {
					t.Errorf("row %s is not marked: %q", v, r)
				}
			}
			if strings.Contains(out, "OK:") {
				t.Errorf("printed OK despite problems:\n%s", out)
			}
			assertNoLeak(t, out, errOut)
		})
	}
}

func TestConfigCheckTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "tls.crt")
	if err := os.WriteFile(cert, []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TEMPORAL_TLS_CERT": cert, "TEMPORAL_TLS_KEY": filepath.Join(dir, "missing.key")}
	_, errOut, code := execute(t, env, "config", "check", "--for", "dev")
	if code != 1 || !strings.Contains(errOut, "TEMPORAL_TLS_KEY is \""+filepath.Join(dir, "missing.key")+"\", which does not exist") || strings.Contains(errOut, "TEMPORAL_TLS_CERT") {
		t.Errorf("code %d, stderr:\n%s", code, errOut)
	}
}

func TestConfigWithoutSubcommandShowsHelp(t *testing.T) {
	out, errOut, code := execute(t, nil, "config")
	if code != 0 || errOut != "" || !strings.Contains(out, "check") {
		t.Errorf("code %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	out, _, code = execute(t, nil, "config", "check", "--help")
	for _, want := range []string{"--for", "gateway", "worker", "argocd-sim", "dev", "all", "every problem", "masked"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("config check --help lacks %q (code %d):\n%s", want, code, out)
		}
	}
}

func TestParseRoles(t *testing.T) {
	tests := []struct {
		in      string
		want    []config.Role
		wantErr bool
	}{
		{"all", []config.Role{config.RoleGateway, config.RoleWorker}, false},
		{"ALL", []config.Role{config.RoleGateway, config.RoleWorker}, false},
		{"worker", []config.Role{config.RoleWorker}, false},
		{" argocd-sim , dev ", []config.Role{config.RoleSim, config.RoleDev}, false},
		{"worker,all", []config.Role{config.RoleWorker, config.RoleGateway}, false},
		{"", nil, true},
		{"gateway,,worker", nil, true},
		{"sim", nil, true},
	}
	for _, tt := range tests {
		got, err := parseRoles(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("parseRoles(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestConfigCheckExplainsTheOldBot: seeing the old bot's variables, config
// check lists what now behaves differently; a fresh environment hears
// nothing of the old bot.
func TestConfigCheckExplainsTheOldBot(t *testing.T) {
	old := map[string]string{"SLACK_TOKEN": "xoxb-1", "SIGNING_SECRET": "s", "VERIFICATION_TOKEN": "vt", "FLASK_HOST": "0.0.0.0"}
	out, errOut, code := execute(t, old, "config", "check", "--for", "gateway")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	// The notes are config's (tested there); here: all of them, under their heading.
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := old[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	notes := cfg.MigrationNotes()
	if len(notes) < 2 || !strings.Contains(out, "\n"+notes[0]+"\n") {
		t.Fatalf("output lacks the heading %q:\n%s", notes, out)
	}
	for _, n := range notes[1:] {
		if !strings.Contains(out, "\n  - "+n+"\n") {
			t.Errorf("output lacks the note %q:\n%s", n, out)
		}
	}
	out, _, _ = execute(t, map[string]string{"SLACK_TOKEN": "xoxb-1", "SIGNING_SECRET": "s"}, "config", "check", "--for", "gateway")
	if strings.Contains(out, "old bot (") {
		t.Errorf("a fresh environment got migration notes:\n%s", out)
	}
}

// TestConfigCheckSaysEmailIsPlaintext: SMTP_TLS=none to a mail catcher on
// the network is valid, and the table says the emails are unencrypted.
func TestConfigCheckSaysEmailIsPlaintext(t *testing.T) {
	env := withEnv(secretEnv, "ARGOCD_URL", "http://argocd-sim:8081", "SMTP_HOST", "mailpit", "SMTP_PORT", "1025", "SMTP_TLS", "none", "SMTP_FROM", "deploybot@example.com")
	delete(env, "SMTP_PASSWORD")
	delete(env, "SMTP_USERNAME")
	out, errOut, code := execute(t, env, "config", "check", "--for", "worker")
	if code != 0 {
		t.Fatalf("code %d: %s\n%s", code, errOut, out)
	}
	if got := strings.Join(row(t, out, "SMTP_TLS"), " "); !strings.Contains(got, "none env PLAINTEXT to mailpit: emails cross the network unencrypted") {
		t.Errorf("SMTP_TLS row = %q", got)
	}
}

// TestConfigCheckPrintsApprovalRules: the rules of APPROVAL_POLICY_FILE
// in order, then the environment's, so an admin sees who may ask for and
// approve what before installing the file.
func TestConfigCheckPrintsApprovalRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("groups: {platform: S0PLATFORM}\nrules:\n  - name: payments\n    match: {projects: [payments]}\n    approvals: [{count: 2, from: {groups: [platform]}}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := execute(t, map[string]string{"APPROVAL_POLICY_FILE": path, "ALLOWED_USERS": "U0ALICE", "APPROVERS": "U0BOB"}, "config", "check", "--for", "dev")
	if code != 0 {
		t.Fatalf("code %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{"approval rules (" + path + "):", "3     payments  projects=payments", "2 of @platform", "default   any other deploy request  U0ALICE     1 of U0BOB"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
