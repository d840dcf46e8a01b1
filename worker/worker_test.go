package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/testenv"
	"github.com/deploybot/deploybot/worker"
)

// TestWorkerRunsListAppsAgainstSimulator drives the registered workflow on a
// real Temporal dev server, with the Argo CD activities talking gRPC to the
// simulator.
func TestWorkerRunsListAppsAgainstSimulator(t *testing.T) {
	srv := testenv.StartTemporal(t)
	argo, sim := simArgoCD(t)
	tc, err := client.Dial(client.Options{HostPort: srv.Address, Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	w, err := worker.New(worker.Options{Temporal: tc, TaskQueue: "worker-test", Deps: worker.Deps{ArgoCD: argo, Slack: activities.NewSlackClient("xoxb-unused", "http://127.0.0.1:1/api/")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx, w, nil, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	run, err := tc.ExecuteWorkflow(rctx, client.StartWorkflowOptions{TaskQueue: "worker-test"},
		contract.WorkflowListApps, contract.CommandInput{RequestedBy: contract.User{ID: "U0ALICE"}, Projects: []string{"payments"}})
	if err != nil {
		t.Fatal(err)
	}
	var res contract.ListAppsResult
	if err := run.Get(rctx, &res); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range res.Apps {
		names = append(names, a.Name)
	}
	if got := strings.Join(names, ","); got != "checkout,ledger,payments" {
		t.Errorf("payments project apps = %s, want checkout,ledger,payments", got)
	}
	for _, a := range res.Apps {
		if a.Name == "payments" && !a.AutoSync {
			t.Error("payments should show auto-sync on")
		}
	}
	if n := sim.Calls("List", ""); n != 1 {
		t.Errorf("simulator saw %d List calls, want exactly 1", n)
	}
}

func TestNewRefusesMissingPieces(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	slackClient := activities.NewSlackClient("xoxb-unused", "http://127.0.0.1:1/api/")
	for name, opts := range map[string]worker.Options{
		"no temporal":   {TaskQueue: "q", Deps: worker.Deps{ArgoCD: &argocd.Client{}, Slack: slackClient}},
		"no task queue": {Temporal: c, Deps: worker.Deps{ArgoCD: &argocd.Client{}, Slack: slackClient}},
		"no argo cd":    {Temporal: c, TaskQueue: "q", Deps: worker.Deps{Slack: slackClient}},
		"no slack":      {Temporal: c, TaskQueue: "q", Deps: worker.Deps{ArgoCD: &argocd.Client{}}},
	} {
		if _, err := worker.New(opts); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// simArgoCD is an Argo CD client talking gRPC to a simulator of the test's own.
func simArgoCD(t *testing.T) (*argocd.Client, *argocdsim.Server) {
	t.Helper()
	addr, sim := simtest.Start(t, argocdsim.Options{})
	argo, err := argocd.New(argocd.Options{URL: "http://" + addr, Token: argocdsim.DefaultToken, VerifySSL: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = argo.Close() })
	return argo, sim
}
