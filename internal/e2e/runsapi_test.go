package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/devenv"
	"github.com/deploybot/deploybot/internal/runsapi"
	"github.com/deploybot/deploybot/internal/slackui"
)

// TestRunsAPIApprovesADeploy: a deploy asked for in Slack is approved by
// another tool through the runs API with the dev token, which decides as
// bob only (never as alice, who asked), and ends Healthy.
func TestRunsAPIApprovesADeploy(t *testing.T) {
	e := startEnv(t)
	api, err := runsapi.NewClient(e.urls.Gateway, devenv.DevAPIToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	e.slash("U0ALICE", "alice", "sync frontend")
	req := e.waitFor("the approval request", func(m slack.Message) bool {
		return strings.Contains(blocksText(m), slackui.ActionApprove) && strings.Contains(blocksText(m), "frontend")
	})
	run, err := api.Get(ctx, "deploy-frontend")
	if err != nil || run.Type != runsapi.TypeDeploy || run.State != runsapi.StateWaiting || run.App != "frontend" ||
		run.RequestedBy == nil || run.RequestedBy.ID != "U0ALICE" || !strings.Contains(run.URL, "/workflows/deploy-frontend/") {
		t.Fatalf("run while waiting: %+v, %v", run, err)
	}

	_, err = api.Decide(ctx, "deploy-frontend", runsapi.DecisionRequest{Decision: runsapi.DecisionApprove, User: "U0ALICE"})
	var apiErr *runsapi.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || !strings.Contains(apiErr.Message, "token dev decides as U0BOB only") {
		t.Fatalf("deciding as alice with bob's token: %v, want 403 saying why", err)
	}
	res, err := api.Decide(ctx, "deploy-frontend", runsapi.DecisionRequest{Decision: runsapi.DecisionApprove, User: "U0BOB", UserName: "bob"})
	if err != nil || res.Outcome != "approved" {
		t.Fatalf("bob's approval: %+v, %v", res, err)
	}
	e.waitFor("Synced and Healthy in the thread", func(m slack.Message) bool {
		return m.ThreadTimestamp == req.Timestamp && strings.Contains(blocksText(m), "Synced and Healthy")
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		run, err = api.Get(ctx, "deploy-frontend")
		if err == nil && run.State == runsapi.StateDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run never done: %+v, %v", run, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if run.Outcome != "succeeded" || run.DecidedBy == nil || run.DecidedBy.ID != "U0BOB" || run.DecidedBy.Via != "token dev" {
		t.Errorf("finished run: %+v", run)
	}
	if _, err := api.Decide(ctx, "deploy-frontend", runsapi.DecisionRequest{Decision: runsapi.DecisionReject, User: "U0BOB"}); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
		t.Errorf("decision on a finished run: %v, want 409", err)
	}
}
