package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/testenv"
)

// TestSimRBACSettingsRefused: a bad account or policy file stops
// argocd-sim before it listens, naming the flag and the variable and giving
// an example, and never repeating a token.
func TestSimRBACSettingsRefused(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "broken.csv")
	if err := os.WriteFile(broken, []byte("p, role:x, applications\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want []string
	}{
		{map[string]string{"ARGOCD_SIM_ACCOUNTS": "s3cret-token"}, nil, []string{"--accounts (or ARGOCD_SIM_ACCOUNTS)", "entry 1 is not NAME=TOKEN", "deploybot=bot-token"}},
		{nil, []string{"--accounts", "deploybot=dev-token"}, []string{"--accounts (or ARGOCD_SIM_ACCOUNTS)", "deploybot has the admin's token", "--token or ARGOCD_SIM_TOKEN"}},
		{nil, []string{"--accounts", "deploybot=s3cret-token,ci=s3cret-token"}, []string{"--accounts (or ARGOCD_SIM_ACCOUNTS)", "deploybot and ci have the same token", "deploybot=bot-token,ci=ci-token"}},
		{map[string]string{"ARGOCD_SIM_ACCOUNTS": "dep loy=s3cret-token"}, nil, []string{"--accounts (or ARGOCD_SIM_ACCOUNTS)", `"dep loy" is not an account name`}},
		{map[string]string{"ARGOCD_SIM_RBAC_POLICY_FILE": "/nonexistent/policy.csv"}, nil, []string{"--rbac-policy-file (or ARGOCD_SIM_RBAC_POLICY_FILE)", "no such file", "deploy/argocd/policy.csv"}},
		{nil, []string{"--rbac-policy-file", broken}, []string{"--rbac-policy-file (or ARGOCD_SIM_RBAC_POLICY_FILE)", "Argo CD refuses " + broken, "deploy/argocd/policy.csv"}},
	} {
		_, errOut, code := execute(t, tc.env, append([]string{"argocd-sim", "--addr", "127.0.0.1:0"}, tc.args...)...)
		if code != 1 {
			t.Errorf("%v %v: exit code %d, want 1 (%s)", tc.env, tc.args, code, errOut)
		}
		for _, want := range tc.want {
			if !strings.Contains(errOut, want) {
				t.Errorf("%v %v: stderr %q lacks %q", tc.env, tc.args, errOut, want)
			}
		}
		if strings.Contains(errOut, "s3cret") {
			t.Errorf("%v %v: stderr repeats a token: %q", tc.env, tc.args, errOut)
		}
	}
}

// TestSimRBACFromEnvAndFlags: ARGOCD_SIM_ACCOUNTS and
// ARGOCD_SIM_RBAC_POLICY_FILE give argocd-sim an account whose calls the
// policy authorizes: with deploy/argocd/policy.csv minus its `logs, get`
// rule, 3.0's PodLogs refuses deploybot; --rbac-log-enforce does the same
// in 2.14. The admin token keeps working.
func TestSimRBACFromEnvAndFlags(t *testing.T) {
	policy, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "deploy", "argocd", "policy.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, line := range strings.Split(string(policy), "\n") {
		if !strings.HasPrefix(line, "p, role:deploybot, logs, get,") {
			keep = append(keep, line)
		}
	}
	noLogs := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(noLogs, []byte(strings.Join(keep, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env    map[string]string
		args   []string
		denied bool
	}{
		{map[string]string{"ARGOCD_SIM_ACCOUNTS": "deploybot=bot-token", "ARGOCD_SIM_RBAC_POLICY_FILE": noLogs, "ARGOCD_SIM_VERSION": "3.0"}, nil, true},
		{map[string]string{"ARGOCD_SIM_VERSION": "2.14"}, []string{"--accounts", "deploybot=bot-token", "--rbac-policy-file", noLogs}, false},
		{map[string]string{"ARGOCD_SIM_VERSION": "2.14"}, []string{"--accounts", "deploybot=bot-token", "--rbac-policy-file", noLogs, "--rbac-log-enforce"}, true},
	} {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		ctx, cancel := context.WithCancel(context.Background())
		env := map[string]string{"ARGOCD_SIM_ADDR": addr, "HOME": t.TempDir()}
		for k, v := range tc.env {
			env[k] = v
		}
		ctx = withLookup(ctx, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		var out, errOut bytes.Buffer
		done := make(chan int, 1)
		go func() { done <- run(ctx, append([]string{"argocd-sim"}, tc.args...), &out, &errOut) }()

		get := func(tok, path string) (int, string) {
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := probeClient.Do(req)
			if err != nil {
				return 0, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if code, _ := get("dev-token", "/api/version"); code == http.StatusOK {
				break
			}
			select {
			case c := <-done:
				t.Fatalf("%v %v: argocd-sim exited %d: %s", tc.env, tc.args, c, errOut.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("argocd-sim never answered on %s", addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
		code, body := get("bot-token", "/api/v1/applications/guestbook/logs?tailLines=2")
		const msg = "permission denied: logs, get, default/guestbook, sub: deploybot, iat: "
		if tc.denied && (code != http.StatusForbidden || !strings.Contains(body, msg)) {
			t.Errorf("%v %v: deploybot's logs: %d %s, want 403 %q", tc.env, tc.args, code, body, msg)
		}
		if !tc.denied && (code != http.StatusOK || !strings.Contains(body, `"content"`)) {
			t.Errorf("%v %v: deploybot's logs: %d %s, want them served", tc.env, tc.args, code, body)
		}
		if code, body := get("dev-token", "/api/v1/applications/guestbook/logs?tailLines=2"); code != http.StatusOK || !strings.Contains(body, `"content"`) {
			t.Errorf("%v %v: admin's logs: %d %s", tc.env, tc.args, code, body)
		}
		if code, body := get("bot-token", "/api/v1/applications/guestbook"); code != http.StatusOK {
			t.Errorf("%v %v: deploybot's Get: %d %s", tc.env, tc.args, code, body)
		}
		cancel()
		if c := <-done; c != 0 {
			t.Errorf("%v %v: argocd-sim exited %d: %s", tc.env, tc.args, c, errOut.String())
		}
	}
}
