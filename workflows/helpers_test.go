package workflows_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/deploybot/deploybot/activities"
)

// slackRecorder mocks the Slack activities and records what Slack was
// asked to show; mu also guards the embedding harness's own records.
type slackRecorder struct {
	mu         sync.Mutex
	posts      []activities.PostMessageInput
	updates    []activities.UpdateMessageInput
	ephemerals []activities.PostEphemeralInput
	uploads    []activities.UploadFileInput
	// updateErr, if set, answers UpdateMessage (nil = the edit is done).
	updateErr func() error
}

// mockSlack registers the Slack activities on env, answered by r.
func (r *slackRecorder) mockSlack(env *testsuite.TestWorkflowEnvironment) {
	var sl *activities.Slack
	env.RegisterActivity(sl)
	env.OnActivity(sl.PostMessage, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PostMessageInput) (activities.PostMessageResult, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.posts = append(r.posts, in)
			return activities.PostMessageResult{TS: "1700000000.00000" + string(rune('0'+len(r.posts))), Channel: in.Channel}, nil
		}).Maybe()
	env.OnActivity(sl.UpdateMessage, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.UpdateMessageInput) (activities.UpdateMessageResult, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.updateErr != nil {
				if err := r.updateErr(); err != nil {
					return activities.UpdateMessageResult{}, err
				}
			}
			r.updates = append(r.updates, in)
			return activities.UpdateMessageResult{}, nil
		}).Maybe()
	env.OnActivity(sl.UploadFile, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.UploadFileInput) (activities.UploadFileResult, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.uploads = append(r.uploads, in)
			return activities.UploadFileResult{FileID: "F0PREVIEW"}, nil
		}).After(30 * time.Second).Maybe() // a file takes Slack a while
	env.OnActivity(sl.PostEphemeral, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PostEphemeralInput) (activities.PostEphemeralResult, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.ephemerals = append(r.ephemerals, in)
			return activities.PostEphemeralResult{}, nil
		}).Maybe()
}

// testEnv is a test workflow environment whose deadlock detector allows a
// workflow task 10 s instead of 1 s: under -race on a loaded 2-core CI
// machine a task of a few milliseconds once took over a second. Real
// deadlocks still fail, later.
func testEnv(s *testsuite.WorkflowTestSuite) *testsuite.TestWorkflowEnvironment {
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 10 * time.Second})
	return env
}

// execute runs wf to completion in env and returns its result, failing the
// test if it did not complete or failed.
func execute[R any](t *testing.T, env *testsuite.TestWorkflowEnvironment, wf any, in any) R {
	t.Helper()
	env.ExecuteWorkflow(wf, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	var res R
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}
