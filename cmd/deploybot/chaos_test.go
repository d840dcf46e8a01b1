package main

import (
	"context"
	"os"
	"os/exec"
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
		for _, f := range []string{"worker-01.log", "temporal.log"} {
			if b, rerr := os.ReadFile(dir + "/" + f); rerr == nil && len(b) > 0 {
				t.Logf("%s (last 4 KiB):\n%s", f, tail(b, 4096))
			}
		}
		t.Fatal(err)
	}
	if rep.Rows[0].Runs == 0 || rep.Messages == 0 {
		t.Fatalf("the drill did nothing: %+v", rep)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
