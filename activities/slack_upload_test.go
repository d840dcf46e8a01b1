package activities_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/slackapi"
)

const uploadChannel = "C0DEPLOY"

// startSlackAPI serves the in-memory Slack (which implements the v2 upload
// flow) and returns it with a parent message to thread under.
func startSlackAPI(t *testing.T) (*slackapi.Server, *slack.Client, string) {
	t.Helper()
	sl := slackapi.StartTest(t, slackapi.Options{
		Token:    "xoxb-test",
		Users:    []slackapi.User{{ID: "U0ALICE", Name: "alice"}},
		Channels: []slackapi.Channel{{ID: uploadChannel, Name: "deploys"}},
	})
	parent, err := sl.PostUserMessage(uploadChannel, "U0ALICE", "", "@deploybot logs guestbook")
	if err != nil {
		t.Fatal(err)
	}
	return sl, activities.NewSlackClient("xoxb-test", sl.URL()+"/api/"), parent.TS
}

func uploadInput(thread string) activities.UploadFileInput {
	return activities.UploadFileInput{
		Channel: uploadChannel, ThreadTS: thread, Filename: "guestbook-logs.txt",
		Content: "==> pod guestbook-1 <==\nhello\n", InitialComment: "Logs of `guestbook`: 1 pod, 1 line.",
	}
}

func TestSlackUploadFileSharesInTheThread(t *testing.T) {
	sl, client, parent := startSlackAPI(t)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	s := &activities.Slack{Client: client}
	env.RegisterActivity(s)

	val, err := env.ExecuteActivity(s.UploadFile, uploadInput(parent))
	if err != nil {
		t.Fatal(err)
	}
	var res activities.UploadFileResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	files := sl.Files()
	if len(files) != 1 {
		t.Fatalf("%d files in Slack, want 1", len(files))
	}
	f := files[0]
	if f.ID != res.FileID || f.Name != "guestbook-logs.txt" || f.Title != "guestbook-logs.txt" ||
		string(f.Content) != "==> pod guestbook-1 <==\nhello\n" || f.Channel != uploadChannel || f.ThreadTS != parent {
		t.Errorf("file = %+v (result %+v)", f, res)
	}
	var shared bool
	for _, m := range sl.Thread(uploadChannel, parent) {
		if m.TS == f.MessageTS && m.Text == "Logs of `guestbook`: 1 pod, 1 line." && len(m.Files) == 1 {
			shared = true
		}
	}
	if !shared {
		t.Errorf("no message in the thread shares the file with the comment: %+v", sl.Thread(uploadChannel, parent))
	}
	if sl.Calls("files.upload") != 0 {
		t.Error("the retired files.upload was called")
	}
}

func TestSlackUploadFileErrors(t *testing.T) {
	sl, client, parent := startSlackAPI(t)
	s := &activities.Slack{Client: client}
	exec := func(in activities.UploadFileInput) *temporal.ApplicationError {
		t.Helper()
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(s)
		_, err := env.ExecuteActivity(s.UploadFile, in)
		return slackAppError(t, err)
	}
	for name, tc := range map[string]struct {
		fault, method string
		in            func() activities.UploadFileInput
		typ           string
		retryable     bool
		contains      string
	}{
		"no such channel": {in: func() activities.UploadFileInput { i := uploadInput(""); i.Channel = "C0NOPE"; return i },
			typ: activities.SlackErrorType, contains: "channel_not_found"},
		"upload host down": {method: slackapi.UploadMethod, fault: "internal_error",
			typ: activities.SlackUnavailableErrorType, retryable: true},
		"rate limited": {method: "files.getUploadURLExternal", fault: "ratelimited",
			typ: activities.SlackRateLimitedErrorType, retryable: true},
		"bad token": {method: "files.completeUploadExternal", fault: "invalid_auth",
			typ: activities.SlackErrorType, contains: "SLACK_TOKEN"},
		"empty file": {in: func() activities.UploadFileInput { i := uploadInput(parent); i.Content = ""; return i },
			typ: activities.SlackBadMessageErrorType},
		"no filename": {in: func() activities.UploadFileInput { i := uploadInput(parent); i.Filename = ""; return i },
			typ: activities.SlackBadMessageErrorType},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.fault != "" {
				sl.FailNext(tc.method, 1, tc.fault)
			}
			in := uploadInput(parent)
			if tc.in != nil {
				in = tc.in()
			}
			appErr := exec(in)
			if appErr.Type() != tc.typ || appErr.NonRetryable() == tc.retryable || !strings.Contains(appErr.Error(), tc.contains) {
				t.Errorf("error %v: type %s nonRetryable %v, want %s retryable=%v containing %q",
					appErr, appErr.Type(), appErr.NonRetryable(), tc.typ, tc.retryable, tc.contains)
			}
		})
	}
}

// lossyUploader uploads, then loses the answer of the first lost calls.
type lossyUploader struct {
	*slack.Client
	lost atomic.Int32
}

func (l *lossyUploader) UploadFileContext(ctx context.Context, p slack.UploadFileParameters) (*slack.FileSummary, error) {
	f, err := l.Client.UploadFileContext(ctx, p)
	if err == nil && l.lost.Add(-1) >= 0 {
		return nil, errors.New("read tcp: connection reset by peer")
	}
	return f, err
}

func uploadWorkflow(ctx workflow.Context, in activities.UploadFileInput) (activities.UploadFileResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})
	var s *activities.Slack
	var res activities.UploadFileResult
	err := workflow.ExecuteActivity(ctx, s.UploadFile, in).Get(ctx, &res)
	return res, err
}

func TestSlackUploadFileRetryDoesNotShareTwice(t *testing.T) {
	for _, thread := range []bool{true, false} {
		t.Run(map[bool]string{true: "in thread", false: "in channel"}[thread], func(t *testing.T) {
			sl, client, parent := startSlackAPI(t)
			if !thread {
				parent = ""
			}
			// An earlier run's file with the same name is not this run's.
			older, err := client.UploadFileContext(context.Background(), slack.UploadFileParameters{
				Filename: "guestbook-logs.txt", Title: "Logs of guestbook at 10:00", Content: "old", FileSize: 3,
				Channel: uploadChannel, ThreadTimestamp: parent,
			})
			if err != nil {
				t.Fatal(err)
			}
			in := uploadInput(parent)
			in.Title = "Logs of guestbook at 10:05"
			lossy := &lossyUploader{Client: client}
			lossy.lost.Store(1)
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(uploadWorkflow)
			env.RegisterActivity(&activities.Slack{Client: lossy})
			env.ExecuteWorkflow(uploadWorkflow, in)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var res activities.UploadFileResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			files := sl.Files()
			if len(files) != 2 || !res.AlreadyUploaded || res.FileID != files[1].ID || res.FileID == older.ID ||
				files[1].Title != in.Title || string(files[1].Content) != in.Content {
				t.Errorf("files %+v, result %+v: attempt 2 must find attempt 1's file", files, res)
			}
			if n := sl.Calls("files.completeUploadExternal"); n != 2 {
				t.Errorf("%d completeUploadExternal calls, want 2 (the older run's and attempt 1)", n)
			}
		})
	}
}
