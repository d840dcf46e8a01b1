package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/testenv"
)

// child is a deploybot subcommand (gateway, worker) running as its own
// process, serving its HTTP endpoints on base.
type child struct {
	role string
	cmd  *exec.Cmd
	out  *testenv.SyncBuffer
	base string // http://127.0.0.1:port
	// exited is closed once the process has ended; waitErr is set then.
	exited  chan struct{}
	waitErr error
}

// pickPort finds the port a child is started on.
var pickPort = testenv.FreePort

// startChild runs `deploybot role` with env (plus HTTP_HOST and HTTP_PORT)
// and waits until it serves /healthz. The port is found free and then
// bound by the child, so another process (test packages run in parallel)
// may take it in between: the child then exits with "address already in
// use", and it is started again on another port.
func startChild(t *testing.T, role string, env []string) *child {
	t.Helper()
	for attempt := 1; ; attempt++ {
		c := launchChild(t, role, env, pickPort(t))
		err := c.awaitServing(30 * time.Second)
		if err == nil {
			return c
		}
		c.signal(syscall.SIGKILL)
		<-c.exited
		if attempt < 3 && strings.Contains(c.out.String(), "address already in use") {
			t.Logf("%s, attempt %d: its port %s was taken; trying another", role, attempt, c.base)
			continue
		}
		t.Fatalf("%s never served on %s: %v (its output follows)", role, c.base, err)
	}
}

func launchChild(t *testing.T, role string, env []string, port int) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], role)
	// Last: a key given twice takes its last value.
	cmd.Env = append(append([]string{}, env...), "DEPLOYBOT_RUN_MAIN=1", "HTTP_HOST=127.0.0.1", fmt.Sprintf("HTTP_PORT=%d", port))
	c := &child{role: role, cmd: cmd, out: &testenv.SyncBuffer{}, base: fmt.Sprintf("http://127.0.0.1:%d", port), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.waitErr = cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		// Gracefully first, so a stop that hangs is seen in the output.
		c.signal(os.Interrupt)
		select {
		case <-c.exited:
		case <-time.After(15 * time.Second):
			c.signal(syscall.SIGKILL)
			<-c.exited
		}
		if t.Failed() {
			t.Logf("%s pid %d output:\n%s", role, cmd.Process.Pid, c.out)
		}
	})
	return c
}

// probeClient gives up on a port that takes connections but never
// answers (another process may hold it).
var probeClient = &http.Client{Timeout: 5 * time.Second}

// awaitServing waits until the child answers /healthz.
func (c *child) awaitServing(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("it exited: %v", c.waitErr)
		default:
		}
		resp, err := probeClient.Get(c.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signal sends sig unless the process has ended.
func (c *child) signal(sig os.Signal) {
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Signal(sig)
	}
}
