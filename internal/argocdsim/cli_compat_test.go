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

// TestCLICompat runs the official argocd CLIs against the simulator, each
// against it speaking the CLI's own release: v2.14 against "2.14", v3.1.16
// against "3.1", over gRPC and gRPC-Web. They are argo-cd's multi-call
// binaries and must keep the name "argocd". ARGOCD_CLI and ARGOCD3_CLI
// point at them (default ./bin/argocd and ./bin/argocd-v3/argocd).
func TestCLICompat(t *testing.T) {
	root := testenv.RepoRoot(t)
	for _, c := range []struct {
		release, env, path, make, version string
		script                            func(t *testing.T, r *cliRun)
	}{
		{"v2.14", "ARGOCD_CLI", filepath.Join(root, "bin", "argocd"), "make bin/argocd", "2.14", v2Script},
		{"v3.1.16", "ARGOCD3_CLI", filepath.Join(root, "bin", "argocd-v3", "argocd"), "make bin/argocd-v3", "3.1", v3Script},
	} {
		t.Run(c.release, func(t *testing.T) {
			cli := os.Getenv(c.env)
			if cli == "" {
				cli = c.path
			}
			if _, err := os.Stat(cli); err != nil {
				testenv.Missing(t, "the official argocd "+c.release+" CLI ("+cli+")", "run `"+c.make+"` (builds it from argo-cd's own module source, minutes cold) or set "+c.env)
			}
			for _, grpcWeb := range []bool{false, true} {
				name := "grpc"
				if grpcWeb {
					name = "grpc-web"
				}
				t.Run(name, func(t *testing.T) {
					r := newCLIRun(t, cli, c.version, grpcWeb)
					commonScript(t, r)
					c.script(t, r)
				})
			}
		})
	}
}

// cliRun is one CLI against one simulator.
type cliRun struct {
	t       *testing.T
	cli     string
	addr    string
	home    string
	grpcWeb bool
	s       *argocdsim.Server
}

func newCLIRun(t *testing.T, cli, version string, grpcWeb bool) *cliRun {
	addr, s := simtest.Start(t, argocdsim.Options{OperationDuration: time.Second, Version: version})
	return &cliRun{t: t, cli: cli, addr: addr, home: t.TempDir(), grpcWeb: grpcWeb, s: s}
}

func (r *cliRun) run(args ...string) (string, error) {
	r.t.Helper()
	args = append(args, "--plaintext", "--auth-token", argocdsim.DefaultToken, "--server", r.addr)
	if r.grpcWeb {
		args = append(args, "--grpc-web")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.cli, args...)
	cmd.Env = append(os.Environ(), "HOME="+r.home, "ARGOCD_SERVER=", "ARGOCD_AUTH_TOKEN=", "ARGOCD_OPTS=")
	out, err := cmd.CombinedOutput()
	r.t.Logf("$ argocd %s\n%s", strings.Join(args, " "), out)
	return string(out), err
}

func (r *cliRun) must(args ...string) string {
	r.t.Helper()
	out, err := r.run(args...)
	if err != nil {
		r.t.Fatalf("argocd %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (r *cliRun) refused(args ...string) string {
	r.t.Helper()
	out, err := r.run(args...)
	if err == nil {
		r.t.Fatalf("argocd %s succeeded, want it refused", strings.Join(args, " "))
	}
	return out
}

func contains(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q", w)
		}
	}
}

// listLine is the line of `app list` output about app.
func listLine(t *testing.T, out, app string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == app {
			return l
		}
	}
	t.Fatalf("app list has no line for %s", app)
	return ""
}

// commonScript is what both CLIs do alike.
func commonScript(t *testing.T, r *cliRun) {
	list := r.must("app", "list")
	contains(t, list, "argocd/guestbook", "OutOfSync")
	contains(t, listLine(t, list, "argocd/payments"), "Auto-Prune")
	contains(t, r.must("app", "get", "guestbook"), "Health Status:      Healthy", "Sync Status:        Synced to HEAD")
	contains(t, r.must("app", "get", "guestbook", "-o", "tree"), "ReplicaSet", "Pod")
	contains(t, r.must("app", "history", "guestbook"), "ID", "13 ")
	contains(t, r.must("app", "manifests", "guestbook"), "kind: Deployment", "kind: Service", "replicas:")

	contains(t, r.must("app", "sync", "frontend"), "Phase:              Succeeded", "successfully synced (all tasks run)")
	contains(t, r.must("app", "get", "frontend"), "Sync Status:        Synced to HEAD")

	contains(t, r.refused("app", "rollback", "payments", "2"), "FailedPrecondition", "rollback cannot be initiated when auto-sync is enabled")

	logs := strings.Split(strings.TrimSpace(r.must("app", "logs", "frontend", "--tail", "3")), "\n")
	if len(logs) != 9 {
		t.Fatalf("app logs: %d lines, want 3 pods x 3", len(logs))
	}
	contains(t, r.refused("app", "get", "nope"), "PermissionDenied")
	if r.s.Calls("Sync", "frontend") != 1 || r.s.Calls("Rollback", "payments") != 1 {
		t.Fatalf("calls %+v", r.s.Stats())
	}
}

// v2Script: 2.14 turns auto-sync off by removing automated (app set
// --sync-policy none, through UpdateSpec), keeping retry and syncOptions.
func v2Script(t *testing.T, r *cliRun) {
	r.must("app", "set", "payments", "--sync-policy", "none")
	js := r.must("app", "get", "payments", "-o", "json")
	contains(t, js, `"retry"`, `"syncOptions"`)
	if strings.Contains(js, `"automated": {`) {
		t.Fatal("automated still set after app set --sync-policy none")
	}
	contains(t, r.must("app", "rollback", "payments", "2"), "Phase:              Succeeded")
	if r.s.Calls("UpdateSpec", "payments") != 1 || r.s.Calls("Rollback", "payments") != 2 {
		t.Fatalf("calls %+v", r.s.Stats())
	}
}

// v3Script: 3.1 turns auto-sync off with automated.enabled false, keeping
// the policy; the CLI shows Manual, rollback is allowed, and enabled true
// makes the rollback refused again.
func v3Script(t *testing.T, r *cliRun) {
	r.must("app", "patch", "payments", "--type", "merge", "--patch", `{"spec":{"syncPolicy":{"automated":{"enabled":false}}}}`)
	contains(t, r.must("app", "get", "payments"), "Sync Policy:        Manual")
	js := r.must("app", "get", "payments", "-o", "json")
	contains(t, js, `"automated": {`, `"prune": true`, `"selfHeal": true`, `"enabled": false`, `"retry"`, `"syncOptions"`)
	contains(t, listLine(t, r.must("app", "list"), "argocd/payments"), "Manual")
	contains(t, r.must("app", "rollback", "payments", "2"), "Phase:              Succeeded")

	r.must("app", "patch", "payments", "--type", "merge", "--patch", `{"spec":{"syncPolicy":{"automated":{"enabled":true}}}}`)
	contains(t, r.must("app", "get", "payments", "-o", "json"), `"enabled": true`)
	contains(t, r.refused("app", "rollback", "payments", "2"), "FailedPrecondition", "rollback cannot be initiated when auto-sync is enabled")
	if r.s.Calls("Patch", "payments") != 2 || r.s.Calls("Rollback", "payments") != 3 {
		t.Fatalf("calls %+v", r.s.Stats())
	}
}
