package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/testenv"
)

// TestSimVersionRefused: a version the simulator does not speak stops
// argocd-sim before it listens, naming the flag, the variable and the
// accepted values.
func TestSimVersionRefused(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{map[string]string{"ARGOCD_SIM_VERSION": "3.2"}, nil},
		{nil, []string{"--argocd-version", "v4.0.0"}},
	} {
		_, errOut, code := execute(t, tc.env, append([]string{"argocd-sim", "--addr", "127.0.0.1:0"}, tc.args...)...)
		if code != 1 {
			t.Errorf("%v %v: exit code %d, want 1", tc.env, tc.args, code)
		}
		for _, want := range []string{"--argocd-version (or ARGOCD_SIM_VERSION)", `"2.14", "3.0", "3.1"`, "v3.1.16"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%v %v: stderr %q lacks %q", tc.env, tc.args, errOut, want)
			}
		}
	}
}

// TestSimVersionFromEnvAndFlag runs `deploybot argocd-sim` as a process:
// ARGOCD_SIM_VERSION chooses the version it reports, --argocd-version wins
// over it, and with neither it speaks 2.14.
func TestSimVersionFromEnvAndFlag(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, nil, "v2.14.21+argocdsim"},
		{[]string{"ARGOCD_SIM_VERSION=3.0"}, nil, "v3.0.23+argocdsim"},
		{[]string{"ARGOCD_SIM_VERSION=3.0"}, []string{"--argocd-version", "v3.1.16"}, "v3.1.16"},
	} {
		var msg struct{ Version string }
		if err := json.Unmarshal(simAnswer(t, tc.env, "/api/version", tc.args...), &msg); err != nil || msg.Version != tc.want {
			t.Errorf("env %v args %v: reports %q (%v), want %q", tc.env, tc.args, msg.Version, err, tc.want)
		}
	}
}

// TestSimApplicationNamespaces: --application-namespaces makes the seeded
// team-a/guestbook reachable.
func TestSimApplicationNamespaces(t *testing.T) {
	var app struct {
		Metadata struct{ Namespace, Name string }
	}
	body := simAnswer(t, nil, "/api/v1/applications/guestbook?appNamespace=team-a", "--application-namespaces", "team-a")
	if err := json.Unmarshal(body, &app); err != nil || app.Metadata.Namespace != "team-a" || app.Metadata.Name != "guestbook" {
		t.Fatalf("team-a/guestbook: %v %.300s", err, body)
	}
}

// simAnswer starts argocd-sim with env and args and returns its first 200
// answer to GET path (with the default token); the process is stopped
// before it returns.
func simAnswer(t *testing.T, env []string, path string, args ...string) []byte {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(os.Args[0], append([]string{"argocd-sim"}, args...)...)
	cmd.Env = append([]string{"DEPLOYBOT_RUN_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "ARGOCD_SIM_ADDR=" + addr}, env...)
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("argocd-sim exited: %v\n%s", err, out)
		default:
		}
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer dev-token")
		resp, err := probeClient.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && rerr == nil {
				return body
			}
			err = fmt.Errorf("%s: %s", resp.Status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("argocd-sim on %s never answered %s: %v\n%s", addr, path, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
