package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/chaos"
	"github.com/deploybot/deploybot/internal/testenv"
)

// TestChaosShort is the short form of `make chaos`: fewer runs and a
// shorter Argo CD outage, every fault and every check of the full drill.
// A violation fails the test with the drill's table.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault drill of a few minutes")
	}
	out := &testenv.SyncBuffer{}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep, err := chaos.Run(ctx, chaos.Options{
		Runs: 24, Gates: 4, Window: 50 * time.Second, ArgoCDDown: 20 * time.Second, SMTPDown: 10 * time.Second,
		SlackFaults: 25, ApprovalTimeout: 30 * time.Second, HealthTimeout: 2 * time.Minute,
		TemporalCLI: testenv.TemporalCLI(t), Dir: dir, Out: out,
		Worker: func(env []string) *exec.Cmd {
			c := exec.Command(os.Args[0], "worker")
			c.Env = append(os.Environ(), append([]string{"DEPLOYBOT_RUN_MAIN=1"}, env...)...)
			return c
		},
	})
	t.Log(out.String())
	if err != nil {
		// What the workers said about starting operations and sending
		// email: where a lost or doubled action shows first.
		logs, _ := filepath.Glob(filepath.Join(dir, "worker-*.log"))
		for _, f := range logs {
			b, _ := os.ReadFile(f)
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "already started") || strings.Contains(line, "earlier attempt") ||
					strings.Contains(line, "StartOperation") || strings.Contains(line, "SendEmail") {
					t.Logf("%s: %s", filepath.Base(f), line)
				}
			}
		}
		t.Fatal(err)
	}
	if rep.Rows[0].Runs == 0 || rep.Messages == 0 {
		t.Fatalf("the drill did nothing: %+v", rep)
	}
}
