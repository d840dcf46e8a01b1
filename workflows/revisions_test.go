package workflows_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/workflows"
)

func ledgerHistory(n int) activities.RevisionHistoryResult {
	res := activities.RevisionHistoryResult{Project: "payments", Lookups: n, FailedLookups: 1,
		Note: "n/a: Helm parameters could not be read for 1 of 30 revisions (boom)"}
	for i := n - 1; i >= 0; i-- {
		params := []string{fmt.Sprintf("v3.%d.%d", i/10, i%10), "2"}
		if i == 7 {
			params = []string{activities.NotAvailable, activities.NotAvailable}
		}
		res.Rows = append(res.Rows, contract.RevisionRow{ID: int64(i), DeployedAt: opStarted.Add(time.Duration(i) * 26 * time.Hour),
			Revision: fmt.Sprintf("%040d", i), Params: params})
	}
	return res
}

func TestRollbackRevisionsWorkflowPostsTheHistory(t *testing.T) {
	h := newCmdHarness(t)
	h.env.OnActivity(h.argo.RevisionHistory, mock.Anything, activities.RevisionHistoryInput{
		App: "ledger", Fields: []string{"image.tag", "replicaCount"},
	}).Return(ledgerHistory(30), nil).Once()

	var res workflows.RollbackRevisionsResult
	if err := h.run(workflows.RollbackRevisionsWorkflow, commandInput("ledger"), &res); err != nil {
		t.Fatal(err)
	}
	if res.App != "ledger" || len(res.Rows) != 30 || res.Rows[0].ID != 29 || !strings.Contains(res.Note, "1 of 30") || res.Messages != len(h.posts) {
		t.Fatalf("result: app %s, %d rows, first %d, note %q, %d messages", res.App, len(res.Rows), res.Rows[0].ID, res.Note, res.Messages)
	}
	if len(h.posts) != 1 {
		t.Fatalf("%d posts, want the 30 entries in one message", len(h.posts))
	}
	msg := renderAll(t, h.posts[0].Message)
	for _, want := range []string{"IMAGE.TAG", "REPLICACOUNT", "29  2026-02-01", "v3.2.9", "7   2026-01-09 01:00Z  0000000   n/a        n/a", "1 of 30 revisions"} {
		if !strings.Contains(msg, want) {
			t.Errorf("table lacks %q:\n%s", want, msg)
		}
	}
	if strings.Index(msg, "v3.2.9") > strings.Index(msg, "v3.0.0") {
		t.Error("history is not newest first")
	}
	h.env.AssertExpectations(t)
}

func TestRollbackRevisionsWorkflowUnknownApp(t *testing.T) {
	h := newCmdHarness(t)
	h.env.OnActivity(h.argo.RevisionHistory, mock.Anything, mock.Anything).Return(activities.RevisionHistoryResult{}, permissionDenied("nope")).Once()
	var res workflows.RollbackRevisionsResult
	if err := h.run(workflows.RollbackRevisionsWorkflow, commandInput("nope"), &res); err != nil {
		t.Fatalf("an unknown app must end the run successfully: %v", err)
	}
	if res.ErrorType != string(argocd.KindPermissionDenied) || len(res.Rows) != 0 {
		t.Errorf("result = %+v", res)
	}
	if msgs := h.rendered(); len(msgs) != 1 || !strings.Contains(msgs[0], ":x: `rollback_revisions nope` failed") {
		t.Errorf("replies = %q", msgs)
	}
	h.env.AssertExpectations(t) // a user error is not retried
}

func TestRollbackRevisionsWorkflowFailsWhenSlackRefuses(t *testing.T) {
	h := newCmdHarness(t)
	h.env.OnActivity(h.argo.RevisionHistory, mock.Anything, mock.Anything).Return(ledgerHistory(30), nil)
	h.postErr = slackRefused("is_archived")
	var res workflows.RollbackRevisionsResult
	wantErrType(t, h.run(workflows.RollbackRevisionsWorkflow, commandInput("ledger"), &res), activities.SlackErrorType)
}
