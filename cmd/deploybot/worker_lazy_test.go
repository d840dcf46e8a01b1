package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/internal/temporaldev"
	"github.com/deploybot/deploybot/internal/testenv"
)

// TestWorkerStartsWithTemporalAndArgoCDDown (found by the chaos drill): a
// worker started while Temporal is down and Argo CD answers "unavailable"
// stays up, serves /healthz, is not ready, and becomes ready once Temporal
// answers; before, it exited and a Kubernetes pod crash-looped (with
// growing back-off) through the outage.
func TestWorkerStartsWithTemporalAndArgoCDDown(t *testing.T) {
	// Hold Temporal's port with a listener that hangs up on every
	// connection: the worker sees Temporal down, and its retries cannot
	// self-connect to the port (a connection from an ephemeral port to
	// itself) and take it from the dev server started later.
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := down.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	temporalPort := down.Addr().(*net.TCPAddr).Port
	simAddr, sim := simtest.Start(t, argocdsim.Options{})
	sim.SetDown(true)
	sl := slackapi.StartTest(t, slackapi.Options{Token: "xoxb-lazy"})
	httpPort := testenv.FreePort(t)
	cmd := exec.Command(os.Args[0], "worker")
	cmd.Env = []string{"DEPLOYBOT_RUN_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		fmt.Sprintf("TEMPORAL_ADDRESS=127.0.0.1:%d", temporalPort), "TEMPORAL_TASK_QUEUE=lazy-worker",
		"ARGOCD_URL=http://" + simAddr, "ARGOCD_TOKEN=" + argocdsim.DefaultToken,
		"SLACK_TOKEN=xoxb-lazy", "SLACK_API_URL=" + sl.URL() + "/api/",
		"HTTP_HOST=127.0.0.1", fmt.Sprintf("HTTP_PORT=%d", httpPort), "LOG_LEVEL=warn"}
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("worker output:\n%s", out.String())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	// status polls path until it answers want, failing if the worker exits.
	status := func(path string, want int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		last := 0
		for {
			select {
			case <-exited:
				t.Fatalf("the worker exited: %v", waitErr)
			default:
			}
			if resp, err := http.Get(base + path); err == nil {
				last = resp.StatusCode
				resp.Body.Close()
				if last == want {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s = %d, want %d", path, last, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	status("/healthz", http.StatusOK, 30*time.Second)
	status("/readyz", http.StatusServiceUnavailable, 5*time.Second)
	time.Sleep(3 * time.Second) // well past the old exit
	status("/readyz", http.StatusServiceUnavailable, 5*time.Second)

	down.Close()
	srv, err := temporaldev.Start(t.Context(), temporaldev.Options{Binary: testenv.TemporalCLI(t), Port: temporalPort, UIPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(t.Context()) })
	sim.SetDown(false)
	status("/readyz", http.StatusOK, 60*time.Second)
}
