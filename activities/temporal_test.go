package activities_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/testsuite"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
)

func describe(status enumspb.WorkflowExecutionStatus, start, closed time.Time) *workflowservice.DescribeWorkflowExecutionResponse {
	info := &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: "deploy-guestbook", RunId: "run-1"},
		Status:    status,
		StartTime: timestamppb.New(start),
	}
	if !closed.IsZero() {
		info.CloseTime = timestamppb.New(closed)
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: info}
}

func deployRun(t *testing.T, c *mocks.Client) (activities.DeployRunResult, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	a := &activities.Temporal{Client: c}
	env.RegisterActivity(a)
	return run[activities.DeployRunResult](t, env, a.DeployRun, activities.DeployRunInput{App: "guestbook"})
}

func TestDeployRunInFlightAnswersItsStatus(t *testing.T) {
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	c := &mocks.Client{}
	c.On("DescribeWorkflowExecution", mock.Anything, contract.DeployWorkflowID("guestbook"), "").
		Return(describe(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, start, time.Time{}), nil).Once()
	v := &mocks.Value{}
	v.On("Get", mock.Anything).Return(func(p any) error {
		*p.(*contract.DeployStatus) = contract.DeployStatus{Step: contract.StepAwaitingApproval, App: "guestbook", Action: contract.ActionSync}
		return nil
	})
	c.On("QueryWorkflow", mock.Anything, "deploy-guestbook", "run-1", contract.QueryStatus).Return(v, nil).Once()

	res, err := deployRun(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || !res.Running || res.RunID != "run-1" || res.State != "Running" || !res.StartedAt.Equal(start) ||
		res.Status == nil || res.Status.Step != contract.StepAwaitingApproval || res.QueryError != "" {
		t.Errorf("result = %+v", res)
	}
	c.AssertExpectations(t)
}

func TestDeployRunQueryFailureStillSaysInFlight(t *testing.T) {
	c := &mocks.Client{}
	c.On("DescribeWorkflowExecution", mock.Anything, "deploy-guestbook", "").
		Return(describe(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, time.Now(), time.Time{}), nil)
	c.On("QueryWorkflow", mock.Anything, "deploy-guestbook", "run-1", contract.QueryStatus).
		Return(nil, errors.New("no poller seen for task queue recently"))
	res, err := deployRun(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Running || res.Status != nil || res.QueryError == "" {
		t.Errorf("result = %+v", res)
	}
}

func TestDeployRunClosedOrNone(t *testing.T) {
	closed := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	c := &mocks.Client{}
	c.On("DescribeWorkflowExecution", mock.Anything, "deploy-guestbook", "").
		Return(describe(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, closed.Add(-time.Hour), closed), nil).Once()
	res, err := deployRun(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || res.Running || res.State != "Completed" || !res.ClosedAt.Equal(closed) {
		t.Errorf("closed run = %+v", res)
	}
	c.AssertNotCalled(t, "QueryWorkflow")

	c = &mocks.Client{}
	c.On("DescribeWorkflowExecution", mock.Anything, "deploy-guestbook", "").Return(nil, serviceerror.NewNotFound("workflow not found"))
	res, err = deployRun(t, c)
	if err != nil || res.Found || res.Running || res.WorkflowID != "deploy-guestbook" {
		t.Errorf("no run: %+v, %v", res, err)
	}
}

func TestDeployRunErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		err       error
		retryable bool
	}{
		"unavailable":       {serviceerror.NewUnavailable("connection refused"), true},
		"no namespace":      {serviceerror.NewNamespaceNotFound("prod"), false},
		"permission denied": {serviceerror.NewPermissionDenied("no", ""), false},
	} {
		t.Run(name, func(t *testing.T) {
			c := &mocks.Client{}
			c.On("DescribeWorkflowExecution", mock.Anything, "deploy-guestbook", "").Return(nil, tc.err)
			_, err := deployRun(t, c)
			if err == nil {
				t.Fatal("no error")
			}
			appErr := slackAppError(t, err) // any ApplicationError
			if appErr.NonRetryable() == tc.retryable {
				t.Errorf("%v: nonRetryable=%v, want retryable=%v", err, appErr.NonRetryable(), tc.retryable)
			}
			if !tc.retryable && appErr.Type() != activities.TemporalErrorType {
				t.Errorf("type %s, want %s", appErr.Type(), activities.TemporalErrorType)
			}
		})
	}

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	a := &activities.Temporal{}
	env.RegisterActivity(a)
	_, err := env.ExecuteActivity(a.DeployRun, activities.DeployRunInput{App: "guestbook"})
	if appErr := slackAppError(t, err); appErr.Type() != activities.TemporalErrorType || !appErr.NonRetryable() {
		t.Errorf("no client: %v", err)
	}
}
