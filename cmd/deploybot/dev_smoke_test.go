package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apiclient"
	"github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/testenv"
)

// devProcess is `deploybot dev` running as a child of the test.
type devProcess struct {
	cmd    *exec.Cmd
	done   chan error
	output *testenv.SyncBuffer
}

type devPorts struct{ temporal, ui, sim, http int }

// startDev starts `deploybot dev` on fresh free ports. A port found free can be
// taken by another process (other test packages run in parallel) before dev
// binds it; dev then refuses to start and says so, and we try other ports.
func startDev(t *testing.T, stateDir string) (*devProcess, devPorts) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p := devPorts{temporal: testenv.FreePort(t), ui: testenv.FreePort(t), sim: testenv.FreePort(t), http: testenv.FreePort(t)}
		d, err := tryStartDev(t, stateDir, p)
		if err == nil {
			return d, p
		}
		if attempt < 3 && strings.Contains(d.output.String(), "is taken") {
			t.Logf("attempt %d: %v; retrying on other ports", attempt, err)
			continue
		}
		t.Fatal(err)
	}
}

func tryStartDev(t *testing.T, stateDir string, p devPorts) (*devProcess, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "dev",
		"--state-dir", stateDir,
		"--temporal-bin", testenv.TemporalCLI(t),
		"--temporal-port", strconv.Itoa(p.temporal),
		"--temporal-ui-port", strconv.Itoa(p.ui))
	cmd.Env = append(os.Environ(),
		"DEPLOYBOT_RUN_MAIN=1",
		"ARGOCD_SIM_ADDR=127.0.0.1:"+strconv.Itoa(p.sim),
		"HTTP_HOST=127.0.0.1", "HTTP_PORT="+strconv.Itoa(p.http),
	)
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &devProcess{cmd: cmd, done: make(chan error, 1), output: out}
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("deploybot dev output:\n%s", out.String())
		}
	})
	deadline := time.After(90 * time.Second)
	for !strings.Contains(out.String(), "deploybot dev is running") {
		select {
		case err := <-d.done:
			return d, fmt.Errorf("deploybot dev exited before it was ready (%v):\n%s", err, out.String())
		case <-deadline:
			return d, fmt.Errorf("deploybot dev not ready after 90s:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return d, nil
}

func (d *devProcess) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("deploybot dev exited with %v after SIGTERM:\n%s", err, d.output.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("deploybot dev still running 30s after SIGTERM:\n%s", d.output.String())
	}
}

// processesMentioning lists live processes whose command line contains s.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to inspect processes: %v", err)
	}
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if cl := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cl, s) {
			found = append(found, e.Name()+": "+cl)
		}
	}
	return found
}

func TestDevSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole local environment")
	}
	stateDir := t.TempDir()
	d, ports := startDev(t, stateDir)
	out := d.output.String()
	for _, want := range []string{
		fmt.Sprintf("http://localhost:%d", ports.http),
		fmt.Sprintf("http://localhost:%d", ports.ui),
		fmt.Sprintf("127.0.0.1:%d", ports.temporal),
		fmt.Sprintf("http://localhost:%d", ports.sim),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("banner does not show %s:\n%s", want, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The gateway is ready only when Temporal answers it.
	if code, body := testenv.Get(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", ports.http)); code != http.StatusOK {
		t.Fatalf("/readyz = %d %s", code, body)
	}

	// The Temporal UI is served.
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports.ui)); err != nil {
		t.Errorf("Temporal UI: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Temporal UI answered %d", resp.StatusCode)
		}
	}

	// The simulator answers Argo CD's own client with the dev token.
	ac, err := apiclient.NewClient(&apiclient.ClientOptions{
		ServerAddr: fmt.Sprintf("127.0.0.1:%d", ports.sim), PlainText: true, AuthToken: "dev-token",
	})
	if err != nil {
		t.Fatal(err)
	}
	closer, appIf, err := ac.NewApplicationClient()
	if err != nil {
		t.Fatal(err)
	}
	list, err := appIf.List(ctx, &application.ApplicationQuery{})
	closer.Close()
	if err != nil {
		t.Fatalf("simulator List: %v", err)
	}
	if len(list.Items) < 6 {
		t.Errorf("simulator has %d apps, want the 6 seeded ones", len(list.Items))
	}

	// End to end through Temporal: the worker runs a read-only workflow
	// against the simulator.
	tc, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", ports.temporal), Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "smoke-list-apps", TaskQueue: "deploybot"},
		contract.WorkflowListApps, contract.CommandInput{RequestedBy: contract.User{ID: "U0ALICE"}})
	if err != nil {
		t.Fatal(err)
	}
	var res contract.ListAppsResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("ListAppsWorkflow: %v", err)
	}
	tc.Close()
	names := map[string]bool{}
	for _, a := range res.Apps {
		names[a.Name] = true
	}
	// team-a/guestbook lives outside argocd: dev enables its namespace.
	for _, want := range []string{"guestbook", "payments", "checkout", "frontend", "ledger", "search", "team-a/guestbook"} {
		if !names[want] {
			t.Errorf("ListAppsWorkflow result lacks %s: %+v", want, res.Apps)
		}
	}

	d.stop(t)
	if left := processesMentioning(t, stateDir); len(left) > 0 {
		t.Fatalf("processes left after SIGTERM:\n%s", strings.Join(left, "\n"))
	}

	// A second start keeps the history of the first (the ports may differ:
	// the history lives in the state directory).
	d2, ports := startDev(t, stateDir)
	tc2, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", ports.temporal), Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := tc2.DescribeWorkflowExecution(ctx, "smoke-list-apps", "")
	tc2.Close()
	if err != nil {
		t.Fatalf("run from the first start is gone after a restart: %v", err)
	}
	if got := desc.WorkflowExecutionInfo.Status.String(); got != "Completed" {
		t.Errorf("first run status after restart = %s, want Completed", got)
	}
	d2.stop(t)
	if left := processesMentioning(t, stateDir); len(left) > 0 {
		t.Fatalf("processes left after the second SIGTERM:\n%s", strings.Join(left, "\n"))
	}

}
