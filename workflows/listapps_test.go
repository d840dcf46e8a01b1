package workflows_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/workflows"
)

func appSummaries(n int) []contract.AppSummary {
	apps := make([]contract.AppSummary, n)
	for i := range apps {
		apps[i] = contract.AppSummary{Name: fmt.Sprintf("app-%03d", i+1), Project: "default", SyncStatus: "Synced", Health: "Healthy",
			Images: []string{fmt.Sprintf("ghcr.io/demo/app-%03d:v1.%d.0", i+1, i)}, TargetRevision: "HEAD"}
	}
	return apps
}

func (h *cmdHarness) listApps(apps []contract.AppSummary, err error) {
	h.env.OnActivity(h.argo.ListApps, mock.Anything, mock.Anything).Return(activities.ListAppsResult{Apps: apps}, err)
}

// A run without a reply target (the runs API) only returns the rows.
func TestListAppsWorkflowReturnsActivityRows(t *testing.T) {
	h := newCmdHarness(t)
	h.env.OnActivity(h.argo.ListApps, mock.Anything, activities.ListAppsInput{Projects: []string{"payments"}}).
		Return(activities.ListAppsResult{Apps: []contract.AppSummary{{Name: "payments", Project: "payments"}}}, nil).Once()

	var res workflows.ListAppsResult
	if err := h.run(workflows.ListAppsWorkflow, contract.CommandInput{RequestedBy: requester, Projects: []string{"payments"}}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Apps) != 1 || res.Apps[0].Name != "payments" || res.Error != "" || res.Messages != 0 {
		t.Fatalf("result = %+v", res)
	}
	if len(h.posts)+len(h.responses) != 0 {
		t.Errorf("posted %d messages without a reply target", len(h.posts)+len(h.responses))
	}
	h.env.AssertExpectations(t)
}

func TestListAppsWorkflowPostsTheTableInPages(t *testing.T) {
	h := newCmdHarness(t)
	h.listApps(appSummaries(500), nil)
	var res workflows.ListAppsResult
	if err := h.run(workflows.ListAppsWorkflow, commandInput(""), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Apps) != 500 || res.Messages != len(h.posts) || len(h.posts) < 2 {
		t.Fatalf("%d apps, %d messages reported, %d posted", len(res.Apps), res.Messages, len(h.posts))
	}
	keys := map[string]bool{}
	rows := 0
	for i, p := range h.posts {
		if p.Channel != threadReply.Channel || p.ThreadTS != threadReply.ThreadTS || keys[p.Key] || !strings.HasSuffix(p.Key, fmt.Sprintf("/table-%d", i+1)) {
			t.Errorf("post %d: channel %s thread %s key %q", i, p.Channel, p.ThreadTS, p.Key)
		}
		keys[p.Key] = true
		tb := p.Message.Command.Table
		if tb == nil || tb.Page != i+1 || tb.Pages != len(h.posts) {
			t.Fatalf("post %d is not page %d of the table: %+v", i, i+1, p.Message)
		}
		rows += len(tb.Rows)
		renderAll(t, p.Message)
	}
	if rows != 500 {
		t.Errorf("%d rows posted, want 500", rows)
	}
}

func TestListAppsWorkflowAnswersPermissionDenied(t *testing.T) {
	h := newCmdHarness(t)
	calls := 0
	h.env.OnActivity(h.argo.ListApps, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.ListAppsInput) (activities.ListAppsResult, error) {
		calls++
		return activities.ListAppsResult{}, temporal.NewNonRetryableApplicationError("list apps: Argo CD denied permission", string(argocd.KindPermissionDenied), nil)
	})
	var res workflows.ListAppsResult
	if err := h.run(workflows.ListAppsWorkflow, commandInput(""), &res); err != nil {
		t.Fatalf("a refusal must end the run successfully: %v", err)
	}
	if res.ErrorType != string(argocd.KindPermissionDenied) || !strings.Contains(res.Error, "denied permission") {
		t.Errorf("result = %+v", res)
	}
	if calls != 1 {
		t.Errorf("activity ran %d times, want 1 (permission denied must not be retried)", calls)
	}
	msgs := h.rendered()
	if len(msgs) != 1 || !strings.Contains(msgs[0], ":x: `list_apps` failed: list apps: Argo CD denied permission") {
		t.Errorf("replies = %q", msgs)
	}
}

func TestListAppsWorkflowRetriesUnavailable(t *testing.T) {
	h := newCmdHarness(t)
	calls := 0
	h.env.OnActivity(h.argo.ListApps, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.ListAppsInput) (activities.ListAppsResult, error) {
		calls++
		if calls < 3 {
			return activities.ListAppsResult{}, temporal.NewApplicationError("unavailable", string(argocd.KindUnavailable))
		}
		return activities.ListAppsResult{Apps: []contract.AppSummary{{Name: "guestbook"}}}, nil
	})
	var res workflows.ListAppsResult
	if err := h.run(workflows.ListAppsWorkflow, commandInput(""), &res); err != nil {
		t.Fatalf("workflow failed although Argo CD came back: %v", err)
	}
	if calls != 3 || len(h.posts) != 1 {
		t.Errorf("activity ran %d times (want 3), %d posts (want 1)", calls, len(h.posts))
	}
}

// An outage that outlasts the retries is told to the asker and fails the
// run, so it shows as failed in Temporal.
func TestListAppsWorkflowOutageFailsAfterTellingTheAsker(t *testing.T) {
	h := newCmdHarness(t)
	h.listApps(nil, temporal.NewApplicationError("list apps: Argo CD is unavailable", string(argocd.KindUnavailable)))
	var res workflows.ListAppsResult
	err := h.run(workflows.ListAppsWorkflow, commandInput(""), &res)
	wantErrType(t, err, string(argocd.KindUnavailable))
	msgs := h.rendered()
	if len(msgs) != 1 || !strings.Contains(msgs[0], ":warning: `list_apps` could not get an answer: list apps: Argo CD is unavailable") {
		t.Errorf("replies = %q", msgs)
	}
}

func TestListAppsWorkflowFailsWhenSlackRefuses(t *testing.T) {
	h := newCmdHarness(t)
	h.listApps(appSummaries(3), nil)
	h.postErr = slackRefused("channel_not_found")
	var res workflows.ListAppsResult
	wantErrType(t, h.run(workflows.ListAppsWorkflow, commandInput(""), &res), activities.SlackErrorType)
}

// A slash command in a channel the bot is not in: the answer goes to the
// response_url instead.
func TestListAppsWorkflowFallsBackToTheResponseURL(t *testing.T) {
	h := newCmdHarness(t)
	h.listApps(appSummaries(500), nil)
	h.postErr = slackRefused("not_in_channel")
	in := commandInput("")
	in.Reply.ResponseURL = "https://hooks.slack.com/commands/T0/1/secret"
	var res workflows.ListAppsResult
	if err := h.run(workflows.ListAppsWorkflow, in, &res); err != nil {
		t.Fatal(err)
	}
	if len(h.responses) < 2 || res.Messages != len(h.responses) {
		t.Fatalf("%d responses, %d messages reported", len(h.responses), res.Messages)
	}
	for _, r := range h.responses {
		if r.ResponseURL != in.Reply.ResponseURL || r.Message.Command == nil || r.Message.Command.Table == nil {
			t.Errorf("response %+v", r)
		}
	}
}

// A response_url takes five messages: a longer table is cut, and says so.
func TestListAppsWorkflowKeepsWithinFiveResponses(t *testing.T) {
	h := newCmdHarness(t)
	// Splitting 3,000 rows takes a production worker ~0.1 s of its 1 s
	// workflow-task budget; under -race on a loaded 2-core CI machine it
	// came to the full second and tripped the deadlock detector.
	h.env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 10 * time.Second})
	h.listApps(appSummaries(3000), nil)
	in := commandInput("")
	in.Reply = contract.ReplyTo{ResponseURL: "https://hooks.slack.com/commands/T0/1/secret"}
	in.BotName = "shipit"
	var res workflows.ListAppsResult
	if err := h.run(workflows.ListAppsWorkflow, in, &res); err != nil {
		t.Fatal(err)
	}
	if len(h.responses) != 5 || len(h.posts) != 0 {
		t.Fatalf("%d responses, %d posts; want 5 responses", len(h.responses), len(h.posts))
	}
	last := renderAll(t, h.responses[4].Message)
	if !strings.Contains(last, "more rows not shown") || !strings.Contains(last, "(5/5)") ||
		!strings.Contains(last, "where @shipit is a member") || !strings.Contains(last, "`list_apps PROJECT`") {
		t.Errorf("last response does not say rows were left out:\n%.500s", last)
	}
}

// A refused ARGOCD_TOKEN is the operators' to fix: the asker is told, and
// the run fails so it shows in Temporal.
func TestListAppsWorkflowBadTokenFailsTheRun(t *testing.T) {
	h := newCmdHarness(t)
	h.listApps(nil, temporal.NewNonRetryableApplicationError("list apps: ARGOCD_TOKEN was refused", string(argocd.KindUnauthenticated), nil))
	var res workflows.ListAppsResult
	wantErrType(t, h.run(workflows.ListAppsWorkflow, commandInput(""), &res), string(argocd.KindUnauthenticated))
	if msgs := h.rendered(); len(msgs) != 1 || !strings.Contains(msgs[0], "ARGOCD_TOKEN was refused") {
		t.Errorf("replies = %q", msgs)
	}
}
