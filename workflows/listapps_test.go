package workflows_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/workflows"
)

func TestListAppsWorkflowReturnsActivityRows(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *activities.ArgoCD
	env.RegisterActivity(a)
	env.OnActivity(a.ListApps, mock.Anything, activities.ListAppsInput{Projects: []string{"payments"}}).
		Return(activities.ListAppsResult{Apps: []contract.AppSummary{{Name: "payments", Project: "payments"}}}, nil).Once()

	env.ExecuteWorkflow(workflows.ListAppsWorkflow, contract.CommandInput{RequestedBy: contract.User{ID: "U0ALICE"}, Projects: []string{"payments"}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res contract.ListAppsResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(res.Apps) != 1 || res.Apps[0].Name != "payments" {
		t.Fatalf("result = %+v", res)
	}
	env.AssertExpectations(t)
}

func TestListAppsWorkflowDoesNotRetryPermissionDenied(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *activities.ArgoCD
	env.RegisterActivity(a)
	calls := 0
	env.OnActivity(a.ListApps, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.ListAppsInput) (activities.ListAppsResult, error) {
		calls++
		return activities.ListAppsResult{}, temporal.NewApplicationError("permission denied", string(argocd.KindPermissionDenied))
	})
	env.ExecuteWorkflow(workflows.ListAppsWorkflow, contract.CommandInput{})
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != string(argocd.KindPermissionDenied) {
		t.Fatalf("workflow error = %v, want %s", err, argocd.KindPermissionDenied)
	}
	if calls != 1 {
		t.Errorf("activity ran %d times, want 1 (permission denied must not be retried)", calls)
	}
}

func TestListAppsWorkflowRetriesUnavailable(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *activities.ArgoCD
	env.RegisterActivity(a)
	calls := 0
	env.OnActivity(a.ListApps, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.ListAppsInput) (activities.ListAppsResult, error) {
		calls++
		if calls < 3 {
			return activities.ListAppsResult{}, temporal.NewApplicationError("unavailable", string(argocd.KindUnavailable))
		}
		return activities.ListAppsResult{Apps: []contract.AppSummary{{Name: "guestbook"}}}, nil
	})
	env.ExecuteWorkflow(workflows.ListAppsWorkflow, contract.CommandInput{})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed although Argo CD came back: %v", err)
	}
	if calls != 3 {
		t.Errorf("activity ran %d times, want 3", calls)
	}
}
