package argocdsim_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
	"github.com/deploybot/deploybot/internal/testenv"
)

// TestCLICompat runs the official argocd v2.14 CLI against the simulator.
// It needs ARGOCD_CLI pointing at the binary; see the skip message.
func TestCLICompat(t *testing.T) {
	cli := os.Getenv("ARGOCD_CLI")
	if cli == "" {
		cli = filepath.Join(testenv.RepoRoot(t), "bin", "argocd")
	}
	if _, err := os.Stat(cli); err != nil {
		// The CLI is argo-cd's multi-call binary; it must keep the name "argocd".
		testenv.Missing(t, "the official argocd v2.14 CLI ("+cli+")", "run `make bin/argocd` (builds it from argo-cd's own module source, ~3 min cold) or set ARGOCD_CLI")
	}
	for _, grpcWeb := range []bool{false, true} {
		name := "grpc"
		if grpcWeb {
			name = "grpc-web"
		}
		t.Run(name, func(t *testing.T) { runCLI(t, cli, grpcWeb) })
	}
}

func runCLI(t *testing.T, cli string, grpcWeb bool) {
	addr, s := simtest.Start(t, argocdsim.Options{OperationDuration: time.Second})
	home := t.TempDir()
	argocd := func(args ...string) (string, error) {
		t.Helper()
		args = append(args, "--plaintext", "--auth-token", argocdsim.DefaultToken, "--server", addr)
		if grpcWeb {
			args = append(args, "--grpc-web")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "ARGOCD_SERVER=", "ARGOCD_AUTH_TOKEN=", "ARGOCD_OPTS=")
		out, err := cmd.CombinedOutput()
		t.Logf("$ argocd %s\n%s", strings.Join(args, " "), out)
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := argocd(args...)
		if err != nil {
			t.Fatalf("argocd %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	contains := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("output lacks %q", w)
			}
		}
	}

	contains(must("app", "list"), "argocd/guestbook", "argocd/payments", "OutOfSync", "Auto-Prune")
	contains(must("app", "get", "guestbook"), "Health Status:      Healthy", "Sync Status:        Synced to HEAD")
	contains(must("app", "get", "guestbook", "-o", "tree"), "ReplicaSet", "Pod")
	contains(must("app", "history", "guestbook"), "ID", "13 ")

	contains(must("app", "sync", "frontend"), "Phase:              Succeeded", "successfully synced (all tasks run)")
	contains(must("app", "get", "frontend"), "Sync Status:        Synced to HEAD")

	out, err := argocd("app", "rollback", "payments", "2")
	if err == nil {
		t.Fatal("rollback with auto-sync on should fail")
	}
	contains(out, "FailedPrecondition", "rollback cannot be initiated when auto-sync is enabled")

	must("app", "set", "payments", "--sync-policy", "none")
	contains(must("app", "get", "payments", "-o", "json"), `"retry"`, `"syncOptions"`)
	if strings.Contains(must("app", "get", "payments", "-o", "json"), `"automated": {`) {
		t.Fatal("automated still set after app set --sync-policy none")
	}
	contains(must("app", "rollback", "payments", "2"), "Phase:              Succeeded")

	logs := strings.Split(strings.TrimSpace(must("app", "logs", "frontend", "--tail", "3")), "\n")
	if len(logs) != 9 {
		t.Fatalf("app logs: %d lines, want 3 pods x 3", len(logs))
	}

	out, err = argocd("app", "get", "nope")
	if err == nil {
		t.Fatal("get of an unknown app should fail")
	}
	contains(out, "PermissionDenied")

	if s.Calls("Sync", "frontend") != 1 || s.Calls("UpdateSpec", "payments") != 1 || s.Calls("Rollback", "payments") != 2 {
		t.Fatalf("calls %+v", s.Stats())
	}
}
