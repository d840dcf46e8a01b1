package worker_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/worker"
)

func TestArgoCDFromConfigPicksTheQueue(t *testing.T) {
	file := filepath.Join(t.TempDir(), "instances.yaml")
	yaml := "default: staging\ninstances:\n" +
		"- {name: staging, url: http://127.0.0.1:1, tokenEnv: TEST_TOKEN}\n" +
		"- {name: prod, url: http://127.0.0.1:2, tokenEnv: TEST_TOKEN, taskQueue: deploybot-prod}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_TOKEN", "tok")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	cfg.ArgoCDInstancesFile = file

	if _, _, err := worker.ArgoCDFromConfig(cfg, log, "test"); err == nil ||
		!strings.Contains(err.Error(), "2 task queues: deploybot (staging); deploybot-prod (prod)") {
		t.Fatalf("all instances, two queues: %v", err)
	}
	cfg.WorkerArgoCDInstances = []string{"prod"}
	in, queue, err := worker.ArgoCDFromConfig(cfg, log, "test")
	if err != nil || queue != "deploybot-prod" {
		t.Fatalf("prod only: queue %q, %v", queue, err)
	}
	defer in.Close()
	// The default instance's apps are not this worker's.
	if _, err := in.GetApp(t.Context(), "guestbook"); err == nil || !strings.Contains(err.Error(), `does not serve the default Argo CD instance "staging"`) {
		t.Errorf("bare name on a prod-only worker: %v", err)
	}
}
