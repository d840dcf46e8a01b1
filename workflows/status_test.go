package workflows_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
	"github.com/deploybot/deploybot/workflows"
)

var opStarted = time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)

func guestbookStatus() activities.AppStatusResult {
	return activities.AppStatusResult{
		Project: "default", SyncStatus: "Synced", Health: "Healthy", Revision: "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c", TargetRevision: "HEAD",
		Operation: &slackui.Operation{Phase: "Succeeded", InitiatedBy: "admin", StartedAt: opStarted, FinishedAt: opStarted.Add(42 * time.Second)},
	}
}

func TestAppStatusWorkflowShowsTheRunInFlight(t *testing.T) {
	h := newCmdHarness(t)
	h.env.OnActivity(h.argo.AppStatus, mock.Anything, activities.AppStatusInput{App: "guestbook"}).Return(guestbookStatus(), nil).Once()
	h.env.OnActivity(h.tmp.DeployRun, mock.Anything, activities.DeployRunInput{App: "guestbook"}).Return(activities.DeployRunResult{
		Found: true, Running: true, WorkflowID: "deploy-guestbook", RunID: "run-7", State: "Running", StartedAt: opStarted,
		Status: &contract.DeployStatus{Step: contract.StepAwaitingApproval, App: "guestbook", Action: contract.ActionSync, RequestedBy: requester},
	}, nil).Once()

	var res workflows.AppStatusResult
	if err := h.run(workflows.AppStatusWorkflow, commandInput("guestbook"), &res); err != nil {
		t.Fatal(err)
	}
	wantURL := "http://localhost:8233/namespaces/default/workflows/deploy-guestbook/run-7/history"
	if res.Error != "" || res.Status.Health != "Healthy" || res.Status.Run == nil || res.Status.Run.URL != wantURL {
		t.Fatalf("result = %+v", res)
	}
	if len(h.posts) != 1 || h.posts[0].Channel != "C0DEPLOY" || h.posts[0].ThreadTS != threadReply.ThreadTS || !strings.HasSuffix(h.posts[0].Key, "/status") {
		t.Fatalf("posts = %+v", h.posts)
	}
	msg := renderAll(t, h.posts[0].Message)
	for _, want := range []string{"`Synced`", "`Healthy`", "`Succeeded`", "initiated by admin", "*sync* `guestbook` in flight: Waiting for approval", wantURL} {
		if !strings.Contains(msg, want) {
			t.Errorf("status message lacks %q:\n%s", want, msg)
		}
	}
	h.env.AssertExpectations(t)
}

// Temporal is an extra: if it cannot be asked, the answer still goes out.
func TestAppStatusWorkflowAnswersWithoutTheRunLookup(t *testing.T) {
	h := newCmdHarness(t)
	h.env.OnActivity(h.argo.AppStatus, mock.Anything, mock.Anything).Return(guestbookStatus(), nil)
	h.env.OnActivity(h.tmp.DeployRun, mock.Anything, mock.Anything).Return(activities.DeployRunResult{},
		temporal.NewApplicationError("temporal: unavailable", "Unavailable"))
	var res workflows.AppStatusResult
	if err := h.run(workflows.AppStatusWorkflow, commandInput("guestbook"), &res); err != nil {
		t.Fatal(err)
	}
	if res.Status.Run != nil || !strings.Contains(res.Status.RunNote, "temporal: unavailable") {
		t.Errorf("result = %+v", res)
	}
	if msgs := h.rendered(); len(msgs) != 1 || !strings.Contains(msgs[0], "Could not check for a deploybot run") {
		t.Errorf("replies = %q", msgs)
	}
}

func TestAppStatusWorkflowUnknownApp(t *testing.T) {
	h := newCmdHarness(t)
	h.env.OnActivity(h.argo.AppStatus, mock.Anything, mock.Anything).Return(activities.AppStatusResult{}, permissionDenied("nope"))
	h.env.OnActivity(h.tmp.DeployRun, mock.Anything, mock.Anything).Return(activities.DeployRunResult{WorkflowID: "deploy-nope"}, nil).Maybe()
	var res workflows.AppStatusResult
	if err := h.run(workflows.AppStatusWorkflow, commandInput("nope"), &res); err != nil {
		t.Fatalf("an unknown app must end the run successfully: %v", err)
	}
	if res.ErrorType != string(argocd.KindPermissionDenied) || !strings.Contains(res.Error, "does not exist") {
		t.Errorf("result = %+v", res)
	}
	msgs := h.rendered()
	if len(msgs) != 1 || !strings.Contains(msgs[0], ":x: `status nope` failed: get nope: Argo CD denied permission") {
		t.Errorf("replies = %q", msgs)
	}
}

func TestAppStatusWorkflowFailsWhenSlackRefuses(t *testing.T) {
	h := newCmdHarness(t)
	h.env.OnActivity(h.argo.AppStatus, mock.Anything, mock.Anything).Return(guestbookStatus(), nil)
	h.env.OnActivity(h.tmp.DeployRun, mock.Anything, mock.Anything).Return(activities.DeployRunResult{}, nil)
	h.postErr = slackRefused("channel_not_found")
	var res workflows.AppStatusResult
	err := h.run(workflows.AppStatusWorkflow, commandInput("guestbook"), &res)
	wantErrType(t, err, activities.SlackErrorType)
	var appErr *temporal.ApplicationError
	var code string
	if errors.As(err, &appErr) && (appErr.Details(&code) != nil || code != "channel_not_found") {
		t.Errorf("Slack's error code lost: %q", code)
	}
}
