package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func mustLoad(t *testing.T, env map[string]string) *Config {
	t.Helper()
	c, err := Load(lookup(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// problemsOf returns the problems in err, failing if err is another kind.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var pe *ProblemsError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ProblemsError", err, err)
	}
	return pe.Problems
}

func vars(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Var)
	}
	return out
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, nil)
	want := Config{
		BotName:                 "deploybot",
		BotDescription:          "Syncs and rolls back Argo CD apps from Slack, with approvals and an audit trail.",
		ArgoCDVerifySSL:         true,
		ArgoCDLogTailLines:      50,
		ApprovalTimeout:         30 * time.Minute,
		HealthTimeout:           10 * time.Minute,
		TemporalAddress:         "localhost:7233",
		TemporalNamespace:       "default",
		TemporalTaskQueue:       "deploybot",
		TemporalUIURL:           "http://localhost:8233",
		SASTApprovalTimeout:     24 * time.Hour,
		SMTPPort:                587,
		SMTPTLS:                 "starttls",
		HTTPHost:                "0.0.0.0",
		HTTPPort:                8080,
		WorkerStopTimeout:       20 * time.Second,
		WorkerWorkflowCacheSize: 2000, ArgoCDLookupConcurrency: 10, ArgoCDHelmCacheSize: 1000,
		ArgoCDNamespace: "argocd",
		ArgoCDSimAddr:   "127.0.0.1:8081",
		ArgoCDSimToken:  "dev-token",
		LogLevel:        "info",
		LogFormat:       "text",
	}
	got := *c
	got.meta = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults:\n got %#v\nwant %#v", fields2map(&got), fields2map(&want))
	}
	if c.HTTPAddr() != "0.0.0.0:8080" {
		t.Errorf("HTTPAddr() = %q", c.HTTPAddr())
	}
	if err := c.Validate(RoleSim, RoleDev); err != nil {
		t.Errorf("defaults are not valid for argocd-sim and dev: %v", err)
	}
	if d := Default(); !reflect.DeepEqual(d.Settings(), c.Settings()) {
		t.Errorf("Default() differs from Load of an empty environment")
	}
}

// fields2map shows unmasked values, for failure messages of tests only.
func fields2map(c *Config) map[string]any {
	m := map[string]any{}
	for _, f := range fieldList {
		m[f.env] = c.fieldValue(f)
	}
	return m
}

// TestEveryVariable pins the full list of variables with their documented
// defaults, so adding one without a default decision and a test fails here.
func TestEveryVariable(t *testing.T) {
	want := []struct{ name, def string }{
		{"SLACK_TOKEN", ""}, {"SIGNING_SECRET", ""}, {"VERIFICATION_TOKEN", ""}, {"SLACK_APP_TOKEN", ""}, {"SLACK_API_URL", ""},
		{"BOT_NAME", "deploybot"}, {"BOT_DESCRIPTION", "Syncs and rolls back Argo CD apps from Slack, with approvals and an audit trail."},
		{"ARGOCD_URL", ""}, {"ARGOCD_TOKEN", ""}, {"ARGOCD_VERIFY_SSL", "true"}, {"ARGOCD_GRPC_WEB", "false"}, {"ARGOCD_CA_FILE", ""},
		{"ARGOCD_INSTANCES_FILE", ""}, {"WORKER_ARGOCD_INSTANCES", ""}, {"ARGOCD_NAMESPACE", "argocd"}, {"ARGOCD_LOG_TAIL_LINES", "50"}, {"ROLLBACK_TABLE_FIELDS", ""}, {"AUTO_DISABLE_SYNC_ON_ROLLBACK", "false"},
		{"ALLOWED_USERS", ""}, {"APPROVERS", "ALLOWED_USERS"}, {"ALLOW_SELF_APPROVAL", "false"},
		{"APPROVAL_TIMEOUT", "30m"}, {"HEALTH_TIMEOUT", "10m"}, {"APPROVAL_POLICY_FILE", ""},
		{"TEMPORAL_ADDRESS", "localhost:7233"}, {"TEMPORAL_NAMESPACE", "default"}, {"TEMPORAL_TASK_QUEUE", "deploybot"},
		{"TEMPORAL_API_KEY", ""}, {"TEMPORAL_TLS", "false"}, {"TEMPORAL_TLS_CLIENT_CERT_PATH", ""}, {"TEMPORAL_TLS_CERT", ""},
		{"TEMPORAL_TLS_CLIENT_KEY_PATH", ""}, {"TEMPORAL_TLS_KEY", ""}, {"TEMPORAL_TLS_SERVER_CA_CERT_PATH", ""}, {"TEMPORAL_TLS_SERVER_NAME", ""},
		{"TEMPORAL_UI_URL", "http://localhost:8233"},
		{"SONARQUBE_WEBHOOK_SECRET", ""}, {"SONARQUBE_WEBHOOK_ALLOW_UNSIGNED", "false"}, {"SAST_CHANNEL", ""}, {"SAST_APPROVERS", "APPROVERS"}, {"SAST_APPROVAL_TIMEOUT", "24h"},
		{"SMTP_HOST", ""}, {"SMTP_PORT", "587"}, {"SMTP_USERNAME", ""}, {"SMTP_PASSWORD", ""}, {"SMTP_FROM", ""}, {"SMTP_TLS", "starttls"}, {"SAST_EMAIL_TO", ""},
		{"HTTP_HOST", "0.0.0.0"}, {"FLASK_HOST", ""}, {"HTTP_PORT", "8080"}, {"FLASK_PORT", ""}, {"WORKER_STOP_TIMEOUT", "20s"}, {"WORKER_WORKFLOW_CACHE_SIZE", "2000"},
		{"ARGOCD_LOOKUP_CONCURRENCY", "10"}, {"ARGOCD_HELM_CACHE_SIZE", "1000"},
		{"API_TOKENS", ""}, {"ARGOCD_SIM_ADDR", "127.0.0.1:8081"}, {"ARGOCD_SIM_TOKEN", "dev-token"},
		{"LOG_LEVEL", "info"}, {"LOG_FORMAT", "text"},
	}
	got := mustLoad(t, nil).Settings()
	if len(got) != len(want) {
		t.Fatalf("Settings() has %d variables, want %d", len(got), len(want))
	}
	for i, s := range got {
		if s.Name != want[i].name || s.Default != want[i].def {
			t.Errorf("setting %d = %s (default %q), want %s (default %q)", i, s.Name, s.Default, want[i].name, want[i].def)
		}
		if s.Set {
			t.Errorf("%s is Set in an empty environment", s.Name)
		}
		if s.Help == "" {
			t.Errorf("%s has no help text", s.Name)
		}
		// With nothing set, the value is the default (derived ones are empty).
		derived := s.Name == "APPROVERS" || s.Name == "SAST_APPROVERS"
		if wantVal := want[i].def; !s.Secret && !derived && s.Value != wantVal {
			t.Errorf("%s = %q, want default %q", s.Name, s.Value, wantVal)
		}
	}
}

func TestLoadValues(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	instances := filepath.Join(dir, "instances.yaml")
	if err := os.WriteFile(instances, []byte("instances:\n- {name: prod, url: https://argocd.prod.example.com, tokenEnv: TEST_ARGOCD_TOKEN_PROD}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_ARGOCD_TOKEN_PROD", "tok-prod")
	approvalPolicy := filepath.Join(dir, "approval-policy.yaml")
	if err := os.WriteFile(approvalPolicy, []byte("rules:\n- {name: prod, match: {instances: [prod]}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"ARGOCD_INSTANCES_FILE": instances, "WORKER_ARGOCD_INSTANCES": "prod",
		"SLACK_TOKEN": " xoxb-1-2-abc\n", "SIGNING_SECRET": "sig", "VERIFICATION_TOKEN": "vt", "SLACK_APP_TOKEN": "xapp-1-A-1-b",
		"SLACK_API_URL": "http://127.0.0.1:9999/api", "BOT_NAME": "shipit", "BOT_DESCRIPTION": "Ships it.",
		"ARGOCD_URL": "argocd.example.com:443", "ARGOCD_TOKEN": "tok", "ARGOCD_VERIFY_SSL": "true", "ARGOCD_GRPC_WEB": "yes", "ARGOCD_CA_FILE": cert, "ARGOCD_NAMESPACE": "gitops",
		"ARGOCD_LOG_TAIL_LINES": "200", "ROLLBACK_TABLE_FIELDS": "image.tag, replicaCount,", "AUTO_DISABLE_SYNC_ON_ROLLBACK": "TRUE",
		"ALLOWED_USERS": " U0ALICE ,,W0CAROL ", "APPROVERS": "U0BOB", "ALLOW_SELF_APPROVAL": "1",
		"APPROVAL_TIMEOUT": "1h30m", "HEALTH_TIMEOUT": "90s", "APPROVAL_POLICY_FILE": approvalPolicy,
		"TEMPORAL_ADDRESS": "ns.a1b2c.tmprl.cloud:7233", "TEMPORAL_NAMESPACE": "ns.a1b2c", "TEMPORAL_TASK_QUEUE": "q",
		"TEMPORAL_API_KEY": "key", "TEMPORAL_TLS": "on", "TEMPORAL_TLS_CLIENT_CERT_PATH": cert, "TEMPORAL_TLS_CLIENT_KEY_PATH": key,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": cert, "TEMPORAL_TLS_SERVER_NAME": "temporal.internal", "TEMPORAL_UI_URL": "https://cloud.temporal.io/",
		"SONARQUBE_WEBHOOK_SECRET": "sq", "SAST_CHANNEL": "C0SEC", "SAST_APPROVERS": "U0SEC", "SAST_APPROVAL_TIMEOUT": "48h",
		"SMTP_HOST": "smtp.example.com", "SMTP_PORT": "465", "SMTP_USERNAME": "u", "SMTP_PASSWORD": "p",
		"SMTP_FROM": "deploybot <bot@example.com>", "SMTP_TLS": "tls", "SONARQUBE_WEBHOOK_ALLOW_UNSIGNED": "false", "SAST_EMAIL_TO": "a@example.com, Dev Team <dev@example.com>",
		"HTTP_HOST": "127.0.0.1", "HTTP_PORT": "9000", "WORKER_STOP_TIMEOUT": "45s", "API_TOKENS": "t1,t2",
		"WORKER_WORKFLOW_CACHE_SIZE": "500", "ARGOCD_LOOKUP_CONCURRENCY": "16", "ARGOCD_HELM_CACHE_SIZE": "0",
		"ARGOCD_SIM_ADDR": ":18081", "ARGOCD_SIM_TOKEN": "simtok", "LOG_LEVEL": "WARNING", "LOG_FORMAT": "JSON",
	}
	c := mustLoad(t, env)
	want := Config{
		SlackToken: "xoxb-1-2-abc", SigningSecret: "sig", VerificationToken: "vt", SlackAppToken: "xapp-1-A-1-b",
		SlackAPIURL: "http://127.0.0.1:9999/api/", BotName: "shipit", BotDescription: "Ships it.",
		ArgoCDURL: "argocd.example.com:443", ArgoCDToken: "tok", ArgoCDVerifySSL: true, ArgoCDGRPCWeb: true, ArgoCDCAFile: cert, ArgoCDNamespace: "gitops",
		ArgoCDInstancesFile: instances, WorkerArgoCDInstances: []string{"prod"},
		ArgoCDLogTailLines: 200, RollbackTableFields: []string{"image.tag", "replicaCount"}, AutoDisableSyncOnRollback: true,
		AllowedUsers: []string{"U0ALICE", "W0CAROL"}, Approvers: []string{"U0BOB"}, AllowSelfApproval: true,
		ApprovalTimeout: 90 * time.Minute, HealthTimeout: 90 * time.Second, ApprovalPolicyFile: approvalPolicy,
		TemporalAddress: "ns.a1b2c.tmprl.cloud:7233", TemporalNamespace: "ns.a1b2c", TemporalTaskQueue: "q",
		TemporalAPIKey: "key", TemporalTLS: true, TemporalTLSCert: cert, TemporalTLSKey: key,
		TemporalTLSServerCAFile: cert, TemporalTLSServerName: "temporal.internal", TemporalUIURL: "https://cloud.temporal.io",
		SonarQubeWebhookSecret: "sq", SASTChannel: "C0SEC", SASTApprovers: []string{"U0SEC"}, SASTApprovalTimeout: 48 * time.Hour,
		SMTPHost: "smtp.example.com", SMTPPort: 465, SMTPUsername: "u", SMTPPassword: "p",
		SMTPFrom: "deploybot <bot@example.com>", SMTPTLS: "tls", SASTEmailTo: []string{"a@example.com", "Dev Team <dev@example.com>"},
		HTTPHost: "127.0.0.1", HTTPPort: 9000, WorkerStopTimeout: 45 * time.Second, APITokens: []string{"t1", "t2"},
		WorkerWorkflowCacheSize: 500, ArgoCDLookupConcurrency: 16, ArgoCDHelmCacheSize: 0,
		ArgoCDSimAddr: ":18081", ArgoCDSimToken: "simtok", LogLevel: "warn", LogFormat: "json",
	}
	got := *c
	got.meta = nil
	if !reflect.DeepEqual(got, want) {
		g, w := fields2map(&got), fields2map(&want)
		for k := range g {
			if !reflect.DeepEqual(g[k], w[k]) {
				t.Errorf("%s = %#v, want %#v", k, g[k], w[k])
			}
		}
	}
	// Every variable set at once: only the one Argo CD of ARGOCD_URL beside
	// the instances file is a problem.
	var pe *ProblemsError
	if err := c.Validate(Roles...); !errors.As(err, &pe) || len(pe.Problems) != 2 ||
		pe.Problems[0].Var != "ARGOCD_TOKEN" && pe.Problems[0].Var != "ARGOCD_URL" {
		t.Errorf("Validate(all roles): %v, want only ARGOCD_URL and ARGOCD_TOKEN set beside ARGOCD_INSTANCES_FILE", err)
	}
	for _, s := range c.Settings() {
		if _, alias := fieldByEnv(s.Name); alias && !s.Set {
			t.Errorf("%s not reported as Set", s.Name)
		}
	}
}

func TestBoolSpellings(t *testing.T) {
	for in, want := range map[string]bool{
		"true": true, "TRUE": true, "True": true, "1": true, "t": true, "yes": true, "y": true, "on": true,
		"false": false, "FALSE": false, "0": false, "f": false, "no": false, "n": false, "off": false,
		"": true, // empty is unset: the default
	} {
		c := mustLoad(t, map[string]string{"ARGOCD_VERIFY_SSL": in})
		if c.ArgoCDVerifySSL != want {
			t.Errorf("ARGOCD_VERIFY_SSL=%q gives %v, want %v", in, c.ArgoCDVerifySSL, want)
		}
	}
}

func TestEmptyMeansUnset(t *testing.T) {
	c := mustLoad(t, map[string]string{"BOT_NAME": "", "HTTP_PORT": "  ", "APPROVAL_TIMEOUT": "", "ALLOWED_USERS": "U1A", "APPROVERS": " , "})
	if c.BotName != "deploybot" || c.HTTPPort != 8080 || c.ApprovalTimeout != 30*time.Minute || !slices.Equal(c.Approvers, []string{"U1A"}) {
		t.Errorf("empty values did not fall back to defaults: %#v", fields2map(c))
	}
	for _, s := range c.Settings() {
		if s.Set != (s.Name == "ALLOWED_USERS") {
			t.Errorf("%s: Set = %v", s.Name, s.Set)
		}
	}
}

func TestAliases(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantAddr string
		wantNote map[string]string
	}{
		{"old names used", map[string]string{"FLASK_HOST": "127.0.0.1", "FLASK_PORT": "5000"}, "127.0.0.1:5000",
			map[string]string{"HTTP_HOST": "from FLASK_HOST (old name)", "FLASK_PORT": "used as HTTP_PORT"}},
		{"new names win", map[string]string{"FLASK_HOST": "127.0.0.1", "FLASK_PORT": "5000", "HTTP_HOST": "::", "HTTP_PORT": "9000"}, "[::]:9000",
			map[string]string{"HTTP_HOST": "", "FLASK_HOST": "ignored: HTTP_HOST is set", "FLASK_PORT": "ignored: HTTP_PORT is set"}},
		{"empty new name falls back", map[string]string{"FLASK_PORT": "5000", "HTTP_PORT": ""}, "0.0.0.0:5000",
			map[string]string{"HTTP_PORT": "from FLASK_PORT (old name)", "FLASK_HOST": ""}},
		{"mixed", map[string]string{"FLASK_HOST": "10.0.0.1", "HTTP_PORT": "9000"}, "10.0.0.1:9000", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.env)
			if got := c.HTTPAddr(); got != tt.wantAddr {
				t.Errorf("HTTPAddr() = %q, want %q", got, tt.wantAddr)
			}
			notes := map[string]string{}
			for _, s := range c.Settings() {
				notes[s.Name] = s.Note
			}
			for name, want := range tt.wantNote {
				if notes[name] != want {
					t.Errorf("note of %s = %q, want %q", name, notes[name], want)
				}
			}
		})
	}

	// A bad old-name value is reported under the name the user wrote.
	_, err := Load(lookup(map[string]string{"FLASK_PORT": "http", "FLASK_HOST": "0.0.0.0:80"}))
	if got := vars(problemsOf(t, err)); !slices.Equal(got, []string{"FLASK_HOST", "FLASK_PORT"}) {
		t.Errorf("problems name %v, want FLASK_HOST, FLASK_PORT: %v", got, err)
	}
	_, err = Load(lookup(map[string]string{"FLASK_PORT": "70000"}))
	if got := vars(problemsOf(t, err)); !slices.Equal(got, []string{"FLASK_PORT"}) {
		t.Errorf("problems name %v, want FLASK_PORT: %v", got, err)
	}
}

func TestApproversDefaults(t *testing.T) {
	tests := []struct {
		env                     map[string]string
		wantApprovers, wantSAST []string
	}{
		{map[string]string{"ALLOWED_USERS": "U1A,U2B"}, []string{"U1A", "U2B"}, []string{"U1A", "U2B"}},
		{map[string]string{"ALLOWED_USERS": "U1A", "APPROVERS": "U3C"}, []string{"U3C"}, []string{"U3C"}},
		{map[string]string{"ALLOWED_USERS": "U1A", "SAST_APPROVERS": "U4D"}, []string{"U1A"}, []string{"U4D"}},
		{nil, nil, nil},
	}
	for _, tt := range tests {
		c := mustLoad(t, tt.env)
		if !slices.Equal(c.Approvers, tt.wantApprovers) || !slices.Equal(c.SASTApprovers, tt.wantSAST) {
			t.Errorf("%v: approvers %v, SAST approvers %v; want %v, %v", tt.env, c.Approvers, c.SASTApprovers, tt.wantApprovers, tt.wantSAST)
		}
	}
	// Changing the derived list must not change the one it came from.
	c := mustLoad(t, map[string]string{"ALLOWED_USERS": "U1A"})
	c.Approvers[0] = "U9Z"
	if c.AllowedUsers[0] != "U1A" {
		t.Error("Approvers shares its backing array with AllowedUsers")
	}
}

func TestProblemError(t *testing.T) {
	p := Problem{"ARGOCD_URL", "is not set: export the URL of your Argo CD server", "https://argocd.example.com"}
	if got, want := p.Error(), "ARGOCD_URL is not set: export the URL of your Argo CD server, e.g. https://argocd.example.com"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := (Problem{Var: "X", What: "is odd"}).Error(); got != "X is odd" {
		t.Errorf("without example: %q", got)
	}
	e := &ProblemsError{Problems: []Problem{p, {Var: "Y", What: "is bad"}}}
	want := "configuration has 2 problems:\n  - " + p.Error() + "\n  - Y is bad"
	if e.Error() != want {
		t.Errorf("ProblemsError.Error() = %q, want %q", e.Error(), want)
	}
	if one := (&ProblemsError{Problems: []Problem{p}}).Error(); !strings.HasPrefix(one, "configuration has 1 problem:\n") {
		t.Errorf("singular: %q", one)
	}
	if !e.Has("Y") || e.Has("Z") {
		t.Error("Has is wrong")
	}
}

// TestFormatProblems covers every check Load makes, one environment each.
func TestFormatProblems(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tls.pem")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name string
		env  map[string]string
		want []string // Error() of each problem, in order; "" entries match any text for that var
	}{
		// Types.
		{"bool", map[string]string{"ARGOCD_VERIFY_SSL": "maybe"}, []string{`ARGOCD_VERIFY_SSL is "maybe", not a boolean: use true or false, e.g. true`}},
		{"int", map[string]string{"ARGOCD_LOG_TAIL_LINES": "many"}, []string{`ARGOCD_LOG_TAIL_LINES is "many", not a whole number, e.g. 50`}},
		{"int overflow", map[string]string{"SMTP_PORT": "99999999999999999999"}, []string{`SMTP_PORT is "99999999999999999999", not a whole number, e.g. 587`}},
		{"duration without unit", map[string]string{"APPROVAL_TIMEOUT": "30"}, []string{`APPROVAL_TIMEOUT is "30", not a duration: write a number with a unit (s, m or h), e.g. 30m`}},
		{"zero duration", map[string]string{"HEALTH_TIMEOUT": "0s"}, []string{"HEALTH_TIMEOUT is 0s; it must be longer than zero, e.g. 10m"}},
		{"negative duration", map[string]string{"SAST_APPROVAL_TIMEOUT": "-1h"}, []string{"SAST_APPROVAL_TIMEOUT is -1h; it must be longer than zero, e.g. 24h"}},
		{"tail lines too low", map[string]string{"ARGOCD_LOG_TAIL_LINES": "0"}, []string{"ARGOCD_LOG_TAIL_LINES is 0; it must be between 1 and 10000, e.g. 50"}},
		{"tail lines too high", map[string]string{"ARGOCD_LOG_TAIL_LINES": "10001"}, []string{"ARGOCD_LOG_TAIL_LINES is 10001; it must be between 1 and 10000, e.g. 50"}},
		{"tail lines bounds ok", map[string]string{"ARGOCD_LOG_TAIL_LINES": "10000"}, nil},
		{"argocd namespace", map[string]string{"ARGOCD_NAMESPACE": "Argo_CD"}, []string{`ARGOCD_NAMESPACE is "Argo_CD", not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63), e.g. argocd`}},
		{"lookups at once zero", map[string]string{"ARGOCD_LOOKUP_CONCURRENCY": "0"}, []string{"ARGOCD_LOOKUP_CONCURRENCY is 0; it must be between 1 and 64, e.g. 10"}},
		{"helm cache negative", map[string]string{"ARGOCD_HELM_CACHE_SIZE": "-1"}, []string{"ARGOCD_HELM_CACHE_SIZE is -1; it must be between 0 (no cache) and 100000, e.g. 1000"}},
		{"workflow cache too big", map[string]string{"WORKER_WORKFLOW_CACHE_SIZE": "100001"}, []string{"WORKER_WORKFLOW_CACHE_SIZE is 100001; it must be between 1 and 100000, e.g. 2000"}},

		// Slack.
		{"user token", map[string]string{"SLACK_TOKEN": "xoxp-123"}, []string{"SLACK_TOKEN holds a user token (xoxp-…): deploybot acts as a bot; use the Bot User OAuth Token (xoxb-…) from OAuth & Permissions, e.g. " + exampleBotToken}},
		{"app token as bot token", map[string]string{"SLACK_TOKEN": "xapp-123"}, []string{"SLACK_TOKEN holds an app-level token (xapp-…): put that in SLACK_APP_TOKEN, and the Bot User OAuth Token (xoxb-…) here, e.g. " + exampleBotToken}},
		{"garbage token", map[string]string{"SLACK_TOKEN": "abc"}, []string{"SLACK_TOKEN is not a bot token (those start with xoxb-): copy the Bot User OAuth Token from your Slack app's OAuth & Permissions page, e.g. " + exampleBotToken}},
		{"bot token as app token", map[string]string{"SLACK_APP_TOKEN": "xoxb-1"}, []string{""}},
		{"garbage app token", map[string]string{"SLACK_APP_TOKEN": "abc"}, []string{""}},
		{"api url without scheme", map[string]string{"SLACK_API_URL": "slack.example.com/api/"}, []string{"SLACK_API_URL must start with http:// or https:// (it replaces https://slack.com/api/), e.g. http://127.0.0.1:8090/api/"}},
		{"api url with credentials", map[string]string{"SLACK_API_URL": "https://u:p@x/api/"}, []string{""}},

		// Argo CD URL, in every accepted and refused form.
		{"argocd https", map[string]string{"ARGOCD_URL": "https://argocd.example.com"}, nil},
		{"argocd path prefix", map[string]string{"ARGOCD_URL": "https://example.com/argocd/"}, nil},
		{"argocd http port", map[string]string{"ARGOCD_URL": "http://127.0.0.1:8081"}, nil},
		{"argocd host:port", map[string]string{"ARGOCD_URL": "argocd.example.com:443"}, nil},
		{"argocd bare host", map[string]string{"ARGOCD_URL": "argocd.example.com"}, nil},
		{"argocd ftp", map[string]string{"ARGOCD_URL": "ftp://argocd"}, []string{"ARGOCD_URL must use http:// or https:// (or be host:port), e.g. https://argocd.example.com"}},
		{"argocd typo", map[string]string{"ARGOCD_URL": "https//argocd.example.com"}, []string{"ARGOCD_URL has no scheme: write https://host[:port][/path], http://host:port or host:port, e.g. https://argocd.example.com"}},
		{"argocd bad port", map[string]string{"ARGOCD_URL": "argocd.example.com:99999"}, []string{"ARGOCD_URL has a port that is not a number from 1 to 65535, e.g. https://argocd.example.com"}},
		{"argocd empty port", map[string]string{"ARGOCD_URL": "https://argocd.example.com:"}, []string{"ARGOCD_URL has a port that is not a number from 1 to 65535, e.g. https://argocd.example.com"}},
		{"argocd no host", map[string]string{"ARGOCD_URL": "https://:8080"}, []string{"ARGOCD_URL has no host: write https://host[:port][/path], http://host:port or host:port, e.g. https://argocd.example.com"}},
		{"argocd credentials", map[string]string{"ARGOCD_URL": "https://admin:hunter2@argocd"}, []string{"ARGOCD_URL must not contain credentials: put the token in ARGOCD_TOKEN, e.g. https://argocd.example.com"}},
		{"argocd query", map[string]string{"ARGOCD_URL": "https://argocd/?x=1"}, []string{"ARGOCD_URL must not have a query or fragment: write https://host[:port][/path], http://host:port or host:port, e.g. https://argocd.example.com"}},
		{"argocd api path", map[string]string{"ARGOCD_URL": "https://argocd.example.com/api/v1/"}, []string{"ARGOCD_URL ends in an API path: give the server's base URL (deploybot adds /api/…), e.g. https://argocd.example.com"}},
		{"rollback fields", map[string]string{"ROLLBACK_TABLE_FIELDS": "image tag,replicaCount"}, []string{`ROLLBACK_TABLE_FIELDS has "image tag": Helm parameter names contain no spaces; separate names with commas, e.g. image.tag,replicaCount`}},

		// Users.
		{"user names", map[string]string{"ALLOWED_USERS": "alice,U0BOB,@carol"}, []string{`ALLOWED_USERS has "alice", "@carol", not Slack user ids: use member ids (profile → ⋮ → Copy member ID), not names, separated by commas, e.g. U012AB3CD,U045EF6GH`}},
		{"lowercase id", map[string]string{"APPROVERS": "u0bob"}, []string{""}},
		{"too short", map[string]string{"SAST_APPROVERS": "U1"}, []string{""}},
		{"bad ids reported once", map[string]string{"ALLOWED_USERS": "alice"}, []string{""}},
		{"many bad ids elided", map[string]string{"ALLOWED_USERS": "a,b,c,d,e,f,g"}, []string{`ALLOWED_USERS has "a", "b", "c", "d", "e", and 2 more, not Slack user ids: use member ids (profile → ⋮ → Copy member ID), not names, separated by commas, e.g. U012AB3CD,U045EF6GH`}},

		// Temporal.
		{"address without port", map[string]string{"TEMPORAL_ADDRESS": "localhost"}, []string{`TEMPORAL_ADDRESS is "localhost", not host:port, e.g. localhost:7233 or my-ns.a1b2c.tmprl.cloud:7233`}},
		{"address without host", map[string]string{"TEMPORAL_ADDRESS": ":7233"}, []string{`TEMPORAL_ADDRESS is ":7233", which has no host, e.g. localhost:7233 or my-ns.a1b2c.tmprl.cloud:7233`}},
		{"cert without key", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": file}, []string{"TEMPORAL_TLS_CLIENT_KEY_PATH is not set, but TEMPORAL_TLS_CLIENT_CERT_PATH is: mTLS needs both the client certificate and its key, e.g. /etc/deploybot/temporal/tls.key"}},
		{"key without cert", map[string]string{"TEMPORAL_TLS_CLIENT_KEY_PATH": file}, []string{"TEMPORAL_TLS_CLIENT_CERT_PATH is not set, but TEMPORAL_TLS_CLIENT_KEY_PATH is: mTLS needs both the client certificate and its key, e.g. /etc/deploybot/temporal/tls.crt"}},
		{"old cert name without key", map[string]string{"TEMPORAL_TLS_CERT": file}, []string{"TEMPORAL_TLS_CLIENT_KEY_PATH is not set, but TEMPORAL_TLS_CERT is: mTLS needs both the client certificate and its key, e.g. /etc/deploybot/temporal/tls.key"}},
		{"missing file", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": file, "TEMPORAL_TLS_CLIENT_KEY_PATH": missing}, []string{`TEMPORAL_TLS_CLIENT_KEY_PATH is "` + missing + `", which does not exist: give the path of a PEM file, e.g. /etc/deploybot/temporal/tls.key`}},
		{"missing file under its old name", map[string]string{"TEMPORAL_TLS_CERT": file, "TEMPORAL_TLS_KEY": missing}, []string{`TEMPORAL_TLS_KEY is "` + missing + `", which does not exist: give the path of a PEM file, e.g. /etc/deploybot/temporal/tls.key`}},
		{"directory", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": dir, "TEMPORAL_TLS_CLIENT_KEY_PATH": file}, []string{`TEMPORAL_TLS_CLIENT_CERT_PATH is "` + dir + `", which is not a regular file: give the path of a PEM file, e.g. /etc/deploybot/temporal/tls.crt`}},
		{"server ca missing", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": missing}, []string{`TEMPORAL_TLS_SERVER_CA_CERT_PATH is "` + missing + `", which does not exist: give the path of a PEM file, e.g. /etc/deploybot/temporal/ca.crt`}},
		{"tls off contradicts an api key", map[string]string{"TEMPORAL_TLS": "false", "TEMPORAL_API_KEY": "k"}, []string{"TEMPORAL_TLS is false, but TEMPORAL_API_KEY is set, which needs TLS: remove TEMPORAL_TLS=false or that setting, e.g. true"}},
		{"tls off contradicts a server name", map[string]string{"TEMPORAL_TLS": "false", "TEMPORAL_TLS_SERVER_NAME": "t.internal"}, []string{""}},
		{"tls on alone", map[string]string{"TEMPORAL_TLS": "true"}, nil},
		{"worker stop timeout", map[string]string{"WORKER_STOP_TIMEOUT": "0s"}, []string{"WORKER_STOP_TIMEOUT is 0s; it must be longer than zero (running activities get this long to finish), e.g. 20s"}},
		{"argocd ca missing", map[string]string{"ARGOCD_CA_FILE": missing}, []string{`ARGOCD_CA_FILE is "` + missing + `", which does not exist: give the path of a PEM file, e.g. /etc/deploybot/argocd/ca.crt`}},
		{"argocd ca with verification off", map[string]string{"ARGOCD_CA_FILE": file, "ARGOCD_VERIFY_SSL": "false"}, []string{"ARGOCD_VERIFY_SSL is false, but ARGOCD_CA_FILE is set: with verification off the CA is never used; remove ARGOCD_VERIFY_SSL=false so Argo CD's certificate is checked against ARGOCD_CA_FILE, e.g. true"}},
		{"ui url", map[string]string{"TEMPORAL_UI_URL": "localhost:8233"}, []string{"TEMPORAL_UI_URL must start with http:// or https://, e.g. https://cloud.temporal.io"}},

		// Email.
		{"smtp off ignores the rest", map[string]string{"SMTP_PORT": "0", "SMTP_FROM": "nobody", "SMTP_USERNAME": "u"}, nil},
		{"smtp needs from", map[string]string{"SMTP_HOST": "smtp.example.com"}, []string{"SMTP_FROM is not set, but SMTP_HOST is: emails need a sender address, e.g. deploybot <deploybot@example.com>"}},
		{"smtp checks", map[string]string{"SMTP_HOST": "smtp.example.com:587", "SMTP_PORT": "0", "SMTP_FROM": "deploybot", "SMTP_USERNAME": "u"}, []string{
			`SMTP_HOST is "smtp.example.com:587": give the host name only, the port goes in SMTP_PORT, e.g. smtp.example.com`,
			"SMTP_PORT is 0; ports are 1 to 65535, e.g. 587",
			"SMTP_PASSWORD is not set, but SMTP_USERNAME is: set both to log in, or neither",
			`SMTP_FROM is "deploybot", not an email address, e.g. deploybot <deploybot@example.com>`,
		}},
		{"smtp password alone", map[string]string{"SMTP_HOST": "10.0.0.25", "SMTP_FROM": "a@b.c", "SMTP_PASSWORD": "p"}, []string{"SMTP_USERNAME is not set, but SMTP_PASSWORD is: set both to log in, or neither, e.g. deploybot@example.com"}},
		{"smtp ipv6 host", map[string]string{"SMTP_HOST": "::1", "SMTP_FROM": "a@b.c"}, nil},
		{"email list", map[string]string{"SAST_EMAIL_TO": "dev@example.com, not-an-address"}, []string{`SAST_EMAIL_TO has "not-an-address", not email addresses; separate addresses with commas, e.g. dev-team@example.com,security@example.com`}},

		// HTTP and the rest.
		{"http host with scheme", map[string]string{"HTTP_HOST": "http://0.0.0.0"}, []string{""}},
		{"http host with port", map[string]string{"HTTP_HOST": "0.0.0.0:8080"}, []string{`HTTP_HOST is "0.0.0.0:8080": give an address to listen on, without scheme or port (the port goes in HTTP_PORT), e.g. 0.0.0.0`}},
		{"http port zero", map[string]string{"HTTP_PORT": "0"}, []string{"HTTP_PORT is 0; ports are 1 to 65535, e.g. 8080"}},
		{"http port too big", map[string]string{"HTTP_PORT": "65536"}, []string{"HTTP_PORT is 65536; ports are 1 to 65535, e.g. 8080"}},
		{"sim addr", map[string]string{"ARGOCD_SIM_ADDR": "8081"}, []string{`ARGOCD_SIM_ADDR is "8081", not host:port, e.g. 127.0.0.1:8081`}},
		{"log level", map[string]string{"LOG_LEVEL": "verbose"}, []string{`LOG_LEVEL is "verbose", not one of debug, info, warn, error, e.g. info`}},
		{"log format", map[string]string{"LOG_FORMAT": "logfmt"}, []string{`LOG_FORMAT is "logfmt", not one of text, json, e.g. json`}},
		{"type error is not also a range error", map[string]string{"HTTP_PORT": "abc"}, []string{`HTTP_PORT is "abc", not a whole number, e.g. 8080`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(lookup(tt.env))
			if c == nil {
				t.Fatal("Load returned no Config")
			}
			got := problemsOf(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d: %v", len(got), len(tt.want), err)
			}
			for i, p := range got {
				if tt.want[i] != "" && p.Error() != tt.want[i] {
					t.Errorf("problem %d:\n got %s\nwant %s", i, p.Error(), tt.want[i])
				}
				if p.Var == "" || p.What == "" {
					t.Errorf("problem %d lacks a variable or a description: %#v", i, p)
				}
				if _, known := fieldByEnv(p.Var); !known && !isAlias(p.Var) {
					t.Errorf("problem %d names unknown variable %q", i, p.Var)
				}
			}
		})
	}
}

func TestSeveralProblemsAtOnce(t *testing.T) {
	env := map[string]string{
		"LOG_LEVEL":         "loud",
		"SLACK_TOKEN":       "xoxp-1",
		"HTTP_PORT":         "eighty",
		"APPROVAL_TIMEOUT":  "soon",
		"ARGOCD_VERIFY_SSL": "sometimes",
		"ALLOWED_USERS":     "alice",
		"TEMPORAL_TLS_CERT": "/does/not/exist.pem",
	}
	_, err := LoadFor(lookup(env), RoleWorker)
	got := vars(problemsOf(t, err))
	want := []string{"SLACK_TOKEN", "ARGOCD_URL", "ARGOCD_TOKEN", "ARGOCD_VERIFY_SSL", "ALLOWED_USERS", "APPROVAL_TIMEOUT",
		"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_CLIENT_KEY_PATH", "HTTP_PORT", "LOG_LEVEL"}
	if !slices.Equal(got, want) {
		t.Errorf("problems for\n %v\nwant\n %v\n%v", got, want, err)
	}
	if n := strings.Count(err.Error(), "\n  - "); n != len(want) {
		t.Errorf("Error() has %d lines of problems, want %d:\n%v", n, len(want), err)
	}
}

func TestValidateRoles(t *testing.T) {
	slack := map[string]string{"SLACK_TOKEN": "xoxb-1"}
	worker := map[string]string{"SLACK_TOKEN": "xoxb-1", "ARGOCD_URL": "https://argocd", "ARGOCD_TOKEN": "t"}
	tests := []struct {
		name  string
		env   map[string]string
		roles []Role
		want  []string
	}{
		{"no roles, nothing required", nil, nil, nil},
		{"gateway needs slack", nil, []Role{RoleGateway}, []string{"SLACK_TOKEN", "SIGNING_SECRET"}},
		{"gateway with signing secret", map[string]string{"SLACK_TOKEN": "xoxb-1", "SIGNING_SECRET": "s"}, []Role{RoleGateway}, nil},
		{"gateway in socket mode", map[string]string{"SLACK_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, []Role{RoleGateway}, nil},
		{"gateway needs no argo cd", map[string]string{"SLACK_TOKEN": "xoxb-1", "SIGNING_SECRET": "s"}, []Role{RoleGateway}, nil},
		{"worker needs argo cd", slack, []Role{RoleWorker}, []string{"ARGOCD_URL", "ARGOCD_TOKEN"}},
		{"worker complete", worker, []Role{RoleWorker}, nil},
		{"worker without signing secret is fine", worker, []Role{RoleWorker}, nil},
		{"worker: emails need smtp", map[string]string{"SLACK_TOKEN": "xoxb-1", "ARGOCD_URL": "a:1", "ARGOCD_TOKEN": "t", "SAST_EMAIL_TO": "a@b.c"}, []Role{RoleWorker}, []string{"SMTP_HOST"}},
		{"both, reported once", nil, []Role{RoleGateway, RoleWorker}, []string{"SLACK_TOKEN", "SIGNING_SECRET", "ARGOCD_URL", "ARGOCD_TOKEN"}},
		{"simulator", nil, []Role{RoleSim}, nil},
		{"dev", nil, []Role{RoleDev}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.env)
			err := c.Validate(tt.roles...)
			if got := vars(problemsOf(t, err)); !slices.Equal(got, tt.want) {
				t.Errorf("Validate(%v) problems for %v, want %v: %v", tt.roles, got, tt.want, err)
			}
			_, err = LoadFor(lookup(tt.env), tt.roles...)
			if got := vars(problemsOf(t, err)); !slices.Equal(got, tt.want) {
				t.Errorf("LoadFor(%v) problems for %v, want %v: %v", tt.roles, got, tt.want, err)
			}
		})
	}

	err := Default().Validate(Role("scheduler"))
	var pe *ProblemsError
	if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), `unknown role "scheduler"`) {
		t.Errorf("unknown role: %v", err)
	}
}

// TestValidateHandBuilt checks a Config changed after Load, as dev does.
func TestValidateHandBuilt(t *testing.T) {
	c := Default()
	c.HTTPPort = 0
	c.SlackAPIURL = "nope"
	got := vars(problemsOf(t, c.Validate()))
	if !slices.Equal(got, []string{"SLACK_API_URL", "HTTP_PORT"}) {
		t.Errorf("problems for %v", got)
	}
	var zero Config
	if err := zero.Validate(); err == nil {
		t.Error("a zero Config validates")
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("SLACK_TOKEN", "xoxb-from-env")
	t.Setenv("SIGNING_SECRET", "s")
	t.Setenv("HTTP_PORT", "9999")
	c, err := FromEnv(RoleGateway)
	if err != nil {
		t.Fatal(err)
	}
	if c.SlackToken != "xoxb-from-env" || c.HTTPAddr() != "0.0.0.0:9999" {
		t.Errorf("FromEnv read %q, %q", c.SlackToken, c.HTTPAddr())
	}
	t.Setenv("HTTP_PORT", "x")
	if _, err := FromEnv(RoleGateway); err == nil || !strings.Contains(err.Error(), "HTTP_PORT") {
		t.Errorf("FromEnv with a bad port: %v", err)
	}
}

// secrets holds a distinctive value for every secret variable.
var secrets = map[string]string{
	"SLACK_TOKEN":              "xoxb-LEAK-SLACK",
	"SIGNING_SECRET":           "LEAK-SIGNING",
	"VERIFICATION_TOKEN":       "LEAK-VERIFICATION",
	"SLACK_APP_TOKEN":          "xapp-LEAK-APP",
	"ARGOCD_TOKEN":             "LEAK-ARGOCD",
	"TEMPORAL_API_KEY":         "LEAK-TEMPORAL",
	"SONARQUBE_WEBHOOK_SECRET": "LEAK-SONAR",
	"SMTP_PASSWORD":            "LEAK-SMTP",
	"API_TOKENS":               "LEAK-API-1,LEAK-API-2",
	"ARGOCD_SIM_TOKEN":         "LEAK-SIM",
}

func TestSecretsAreMasked(t *testing.T) {
	// Every secret variable is in the list above.
	for _, f := range fieldList {
		if _, ok := secrets[f.env]; ok != f.secret {
			t.Errorf("%s: secret tag %v, but listed in the test: %v", f.env, f.secret, ok)
		}
	}
	// PWURL is a password in a (refused) URL: masked everywhere but JSON,
	// where only secret variables are left out.
	noLeak := func(what, s string) {
		t.Helper()
		if strings.Contains(s, "LEAK") || (!strings.HasPrefix(what, "json") && strings.Contains(s, "PWURL")) {
			t.Errorf("%s leaks a secret:\n%s", what, s)
		}
	}

	env := map[string]string{"SMTP_HOST": "smtp.example.com", "ARGOCD_URL": "https://u:PWURL@argocd"}
	for k, v := range secrets {
		env[k] = v
	}
	c, err := LoadFor(lookup(env), Roles...)
	if err == nil {
		t.Fatal("want problems (SMTP_FROM, ARGOCD_URL)")
	}
	noLeak("Error()", err.Error())

	// Wrongly formatted secrets: the problem must not quote them.
	bad := map[string]string{"SLACK_TOKEN": "xoxp-LEAK-USER", "SLACK_APP_TOKEN": "LEAK-NOTAPP", "SLACK_API_URL": "ftp://u:LEAK@x"}
	_, err = Load(lookup(bad))
	if len(problemsOf(t, err)) != 3 {
		t.Fatalf("want 3 problems: %v", err)
	}
	noLeak("Error() of bad secrets", err.Error())

	masked := map[string]string{
		"SLACK_TOKEN": "xoxb-…(redacted)", "SLACK_APP_TOKEN": "xapp-…(redacted)", "SIGNING_SECRET": "****",
		"API_TOKENS": "**** (2)", "ARGOCD_SIM_TOKEN": "****", "ARGOCD_URL": "https://u:xxxxx@argocd",
	}
	for _, s := range c.Settings() {
		noLeak("Settings "+s.Name, s.Value+s.Default+s.Note)
		if want, ok := masked[s.Name]; ok && s.Value != want {
			t.Errorf("%s shown as %q, want %q", s.Name, s.Value, want)
		}
		if _, isSecret := secrets[s.Name]; isSecret && (!s.Secret || s.Value == "") {
			t.Errorf("%s: Secret=%v Value=%q", s.Name, s.Secret, s.Value)
		}
	}

	var buf bytes.Buffer
	text := slog.New(slog.NewTextHandler(&buf, nil))
	text.Info("start", "config", c, "copy", *c)
	jsonLog := slog.New(slog.NewJSONHandler(&buf, nil))
	jsonLog.Info("start", "config", c, "copy", *c)
	noLeak("slog output", buf.String())
	if !strings.Contains(buf.String(), "SLACK_TOKEN") || !strings.Contains(buf.String(), `"BOT_NAME":"deploybot"`) {
		t.Errorf("slog output does not show the configuration:\n%s", buf.String())
	}

	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		noLeak(format, fmt.Sprintf(format, c))
		noLeak(format+" of a copy", fmt.Sprintf(format, *c))
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	noLeak("json.Marshal", string(js))
}

func TestSettingsNotes(t *testing.T) {
	c := mustLoad(t, map[string]string{
		"VERIFICATION_TOKEN": "v", "SLACK_APP_TOKEN": "xapp-1", "SLACK_API_URL": "http://x/api",
		"SMTP_FROM": "a@b.c", "ALLOWED_USERS": "U1A",
	})
	want := map[string]string{
		"VERIFICATION_TOKEN": "accepted, unused: request signatures replace it",
		"SIGNING_SECRET":     "not needed: Socket Mode (SLACK_APP_TOKEN)",
		"SLACK_API_URL":      "trailing / added (slack-go appends method names to it)",
		"SMTP_FROM":          "ignored: SMTP_HOST is not set",
		"APPROVERS":          "defaults to ALLOWED_USERS",
		"SAST_APPROVERS":     "defaults to APPROVERS",
		"BOT_NAME":           "",
	}
	first := c.Settings()
	for _, s := range first {
		if w, ok := want[s.Name]; ok && s.Note != w {
			t.Errorf("note of %s = %q, want %q", s.Name, s.Note, w)
		}
	}
	if !reflect.DeepEqual(first, c.Settings()) {
		t.Error("Settings() is not stable")
	}
	if mustLoad(t, nil).Settings()[2].Note != "" {
		t.Error("VERIFICATION_TOKEN has a note while unset")
	}
}

func TestSettingsOfHandBuiltConfig(t *testing.T) {
	c := Config{BotName: "deploybot", HTTPPort: 9000, SlackToken: "xoxb-x"}
	set := map[string]bool{}
	for _, s := range c.Settings() {
		set[s.Name] = s.Set
	}
	// Without Load's record, "set" means "differs from the default".
	if set["BOT_NAME"] || !set["HTTP_PORT"] || !set["SLACK_TOKEN"] || !set["TEMPORAL_ADDRESS"] || set["SIGNING_SECRET"] {
		t.Errorf("Set flags: %v", set)
	}
}

// TestSMTPTLSPlaintext: SMTP_TLS=none is the explicit choice of plaintext,
// so a mail catcher on another host (compose's mailpit) works, noted in
// config check; a login never crosses the network in clear, and the silent
// downgrade of "opportunistic" stays loopback-only.
func TestSMTPTLSPlaintext(t *testing.T) {
	base := map[string]string{"SMTP_HOST": "mailpit", "SMTP_PORT": "1025", "SMTP_FROM": "bot@example.com", "SMTP_TLS": "none"}
	c, err := Load(lookup(base))
	if err != nil {
		t.Fatalf("SMTP_TLS=none to a mail catcher on the network refused: %v", err)
	}
	if !c.PlaintextSMTPToRemoteHost() {
		t.Error("PlaintextSMTPToRemoteHost() = false for SMTP_TLS=none to mailpit")
	}
	if n := noteOf(c, "SMTP_TLS"); !strings.Contains(n, "PLAINTEXT to mailpit") {
		t.Errorf("SMTP_TLS note = %q, want it to say emails go to mailpit unencrypted", n)
	}
	base["SMTP_USERNAME"], base["SMTP_PASSWORD"] = "u", "p"
	if _, err := Load(lookup(base)); err == nil || !strings.Contains(err.Error(), "SMTP_TLS is \"none\"") || !strings.Contains(err.Error(), "unencrypted") {
		t.Errorf("SMTP_TLS=none with a login to a remote host: %v, want a refusal naming SMTP_TLS", err)
	}
	delete(base, "SMTP_USERNAME")
	delete(base, "SMTP_PASSWORD")
	base["SMTP_TLS"] = "opportunistic"
	if _, err := Load(lookup(base)); err == nil || !strings.Contains(err.Error(), "strip STARTTLS") {
		t.Errorf("SMTP_TLS=opportunistic to a remote host: %v, want a refusal", err)
	}
	base["SMTP_HOST"], base["SMTP_TLS"] = "127.0.0.1", "none"
	c, err = Load(lookup(base))
	if err != nil {
		t.Errorf("SMTP_TLS=none to 127.0.0.1 refused: %v", err)
	} else if c.PlaintextSMTPToRemoteHost() || noteOf(c, "SMTP_TLS") != "" {
		t.Errorf("SMTP_TLS=none to loopback is flagged as crossing the network: note %q", noteOf(c, "SMTP_TLS"))
	}
	base["SMTP_TLS"] = "ssl3"
	if _, err := Load(lookup(base)); err == nil || !strings.Contains(err.Error(), "use starttls, tls") {
		t.Errorf("SMTP_TLS=ssl3: %v", err)
	}
}

func TestGatewayNeedsTheWebhookSecretForSAST(t *testing.T) {
	env := map[string]string{"SLACK_TOKEN": "xoxb-1", "SIGNING_SECRET": "s", "SAST_CHANNEL": "C0SEC"}
	err := mustLoad(t, env).Validate(RoleGateway)
	if err == nil || !strings.Contains(err.Error(), "SONARQUBE_WEBHOOK_SECRET") {
		t.Errorf("SAST_CHANNEL without a webhook secret: %v, want SONARQUBE_WEBHOOK_SECRET named", err)
	}
	env["SONARQUBE_WEBHOOK_ALLOW_UNSIGNED"] = "true"
	if err := mustLoad(t, env).Validate(RoleGateway); err != nil {
		t.Errorf("explicit opt-out refused: %v", err)
	}
	delete(env, "SONARQUBE_WEBHOOK_ALLOW_UNSIGNED")
	env["SONARQUBE_WEBHOOK_SECRET"] = "sq"
	if err := mustLoad(t, env).Validate(RoleGateway); err != nil {
		t.Errorf("with a secret: %v", err)
	}
}

func isAlias(name string) bool {
	for _, old := range aliases {
		if old == name {
			return true
		}
	}
	return false
}

func noteOf(c *Config, name string) string {
	for _, s := range c.Settings() {
		if s.Name == name {
			return s.Note
		}
	}
	return "(no such setting)"
}

func TestTemporalTLSEnabled(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want bool
		note string
	}{
		{nil, false, ""},
		{map[string]string{"TEMPORAL_TLS": "true"}, true, ""},
		{map[string]string{"TEMPORAL_API_KEY": "k"}, true, "on: implied by TEMPORAL_API_KEY"},
		{map[string]string{"TEMPORAL_TLS_SERVER_NAME": "temporal.internal"}, true, "on: implied by TEMPORAL_TLS_SERVER_NAME"},
	} {
		c := mustLoad(t, tt.env)
		if got := c.TemporalTLSEnabled(); got != tt.want {
			t.Errorf("%v: TemporalTLSEnabled() = %v, want %v", tt.env, got, tt.want)
		}
		if n := noteOf(c, "TEMPORAL_TLS"); n != tt.note {
			t.Errorf("%v: TEMPORAL_TLS note = %q, want %q", tt.env, n, tt.note)
		}
	}
}

// TestMigrationNotes: an environment carried over from the old Flask bot is
// told what now behaves differently; a new one hears nothing of it.
func TestMigrationNotes(t *testing.T) {
	if n := mustLoad(t, map[string]string{"ALLOWED_USERS": "U0ALICE"}).MigrationNotes(); n != nil {
		t.Errorf("a new environment got migration notes: %q", n)
	}
	c := mustLoad(t, map[string]string{"VERIFICATION_TOKEN": "vt", "FLASK_HOST": "0.0.0.0"})
	all := strings.Join(c.MigrationNotes(), "\n")
	for _, want := range []string{
		"FLASK_HOST, VERIFICATION_TOKEN set",
		"ALLOWED_USERS is empty, which now means NOBODY may request changes",
		"ARGOCD_VERIFY_SSL defaults to true",
		"HTTP_PORT is 8080, not the old bot's 5000",
		"/health still answers",
		"VERIFICATION_TOKEN is accepted and ignored",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("migration notes lack %q:\n%s", want, all)
		}
	}
	for name, want := range map[string]string{
		"ALLOWED_USERS":     "empty: nobody may request changes",
		"ARGOCD_VERIFY_SSL": "unlike the old bot, Argo CD's certificate is checked",
		"HTTP_PORT":         "the old bot listened on 5000 by default",
	} {
		if n := noteOf(c, name); !strings.Contains(n, want) {
			t.Errorf("%s note = %q, want it to contain %q", name, n, want)
		}
	}
	c = mustLoad(t, map[string]string{"FLASK_PORT": "5000", "ALLOWED_USERS": "U0ALICE", "ARGOCD_VERIFY_SSL": "false"})
	all = strings.Join(c.MigrationNotes(), "\n")
	for _, want := range []string{"HTTP_PORT is 5000 (from FLASK_PORT)", "ALLOWED_USERS lists 1 user(s)", "ARGOCD_VERIFY_SSL=false keeps the old bot's unchecked TLS"} {
		if !strings.Contains(all, want) {
			t.Errorf("migration notes lack %q:\n%s", want, all)
		}
	}
	if n := noteOf(c, "HTTP_PORT"); strings.Contains(n, "5000 by default") {
		t.Errorf("HTTP_PORT note %q warns about the old default although FLASK_PORT set the port", n)
	}
}

// TestVariablesByRole: every variable names the processes that read it, and
// the credentials stay where they belong: no Argo CD token in the gateway,
// no Slack signing or webhook secret in the worker.
func TestVariablesByRole(t *testing.T) {
	known := map[string]bool{}
	for _, r := range Roles {
		known[string(r)] = true
	}
	for _, f := range fieldList {
		for _, r := range f.roles {
			if !known[r] || r == string(RoleDev) {
				t.Errorf("%s: for tag names %q, not a process role", f.env, r)
			}
		}
	}
	gw, wk := Variables(RoleGateway), Variables(RoleWorker)
	for _, v := range []string{"ARGOCD_TOKEN", "ARGOCD_URL", "SMTP_PASSWORD"} {
		if slices.Contains(gw, v) {
			t.Errorf("the gateway reads %s", v)
		}
	}
	for _, v := range []string{"SIGNING_SECRET", "SLACK_APP_TOKEN", "SONARQUBE_WEBHOOK_SECRET", "API_TOKENS"} {
		if slices.Contains(wk, v) {
			t.Errorf("the worker reads %s", v)
		}
	}
	for _, v := range []string{"ARGOCD_TOKEN", "SLACK_TOKEN", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "SMTP_TLS", "WORKER_STOP_TIMEOUT", "HTTP_PORT"} {
		if !slices.Contains(wk, v) {
			t.Errorf("the worker does not read %s", v)
		}
	}
	if got := Variables(RoleSim); !slices.Equal(got, []string{"ARGOCD_SIM_ADDR", "ARGOCD_SIM_TOKEN", "LOG_LEVEL", "LOG_FORMAT"}) {
		t.Errorf("argocd-sim reads %v", got)
	}
	if len(Variables(RoleDev)) != len(fieldList) {
		t.Errorf("dev reads %d of %d variables", len(Variables(RoleDev)), len(fieldList))
	}
}

// TestAPITokens: name@user:token decides as that user, name:token and a
// bare token read; malformed entries are problems that never quote a token.
func TestAPITokens(t *testing.T) {
	c := mustLoad(t, map[string]string{"API_TOKENS": "ci@U0BOB:s3cret-one, dashboard:s3cret-two,s3cret-three"})
	want := []APIToken{{Name: "ci", User: "U0BOB", Token: "s3cret-one"}, {Name: "dashboard", Token: "s3cret-two"}, {Name: "#3", Token: "s3cret-three"}}
	if got := c.APITokenList(); !reflect.DeepEqual(got, want) {
		t.Errorf("APITokenList() = %+v, want %+v", got, want)
	}
	if n := noteOf(c, "API_TOKENS"); n != "ci decides as U0BOB, dashboard reads, #3 reads" {
		t.Errorf("API_TOKENS note = %q", n)
	}
	for env, want := range map[string]string{
		"ci@bob:s3cret":           `names "ci@bob", not name@<Slack user id>`,
		"ci:":                     "entry 1 (ci) has no token after the colon",
		"ci:s3cret-a,ci:s3cret-b": "the name ci is used twice",
		"a:s3cret,b:s3cret":       "entry 2 (b) repeats another entry's token",
	} {
		_, err := Load(lookup(map[string]string{"API_TOKENS": env}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("API_TOKENS=%s: %v, want %q", env, err, want)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("API_TOKENS=%s: the problem quotes a token: %v", env, err)
		}
	}
}
