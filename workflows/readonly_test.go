package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
	"github.com/deploybot/deploybot/workflows"
)

// cmdHarness runs a read-only command workflow with the Slack activities
// mocked, recording what Slack was asked to show. Tests mock the Argo CD
// and Temporal activities they need.
type cmdHarness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	argo *activities.ArgoCD
	sl   *activities.Slack
	tmp  *activities.Temporal

	mu        sync.Mutex
	posts     []activities.PostMessageInput
	responses []activities.PostResponseInput
	uploads   []activities.UploadFileInput
	// postErr, if set, answers every PostMessage; responseErr every PostResponse.
	postErr     error
	responseErr error
	uploadErr   error
}

func newCmdHarness(t *testing.T) *cmdHarness {
	var s testsuite.WorkflowTestSuite
	h := &cmdHarness{t: t, env: testEnv(&s)}
	h.env.RegisterActivity(h.argo)
	h.env.RegisterActivity(h.sl)
	h.env.RegisterActivity(h.tmp)
	h.env.OnActivity(h.sl.PostMessage, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PostMessageInput) (activities.PostMessageResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.postErr != nil {
				return activities.PostMessageResult{}, h.postErr
			}
			h.posts = append(h.posts, in)
			return activities.PostMessageResult{TS: "1700000001.000100", Channel: in.Channel}, nil
		}).Maybe()
	h.env.OnActivity(h.sl.PostResponse, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PostResponseInput) (activities.PostResponseResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.responseErr != nil {
				return activities.PostResponseResult{}, h.responseErr
			}
			h.responses = append(h.responses, in)
			return activities.PostResponseResult{}, nil
		}).Maybe()
	h.env.OnActivity(h.sl.UploadFile, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.UploadFileInput) (activities.UploadFileResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.uploadErr != nil {
				return activities.UploadFileResult{}, h.uploadErr
			}
			h.uploads = append(h.uploads, in)
			return activities.UploadFileResult{FileID: "F0000000001"}, nil
		}).Maybe()
	return h
}

// run executes the workflow and decodes its result into res; it returns
// the workflow's error.
func (h *cmdHarness) run(wf any, in contract.CommandInput, res any) error {
	h.t.Helper()
	h.env.ExecuteWorkflow(wf, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		return err
	}
	if err := h.env.GetWorkflowResult(res); err != nil {
		h.t.Fatal(err)
	}
	return nil
}

// rendered is every posted message rendered as Slack would get it.
func (h *cmdHarness) rendered() []string {
	h.t.Helper()
	var out []string
	for _, p := range h.posts {
		out = append(out, renderAll(h.t, p.Message))
	}
	return out
}

// renderAll is a message's fallback text and every text in its blocks, as
// Slack would get them.
func renderAll(t *testing.T, m slackui.Message) string {
	t.Helper()
	text, blocks, err := slackui.Render(m)
	if err != nil {
		t.Fatalf("posted a message that does not render: %v", err)
	}
	raw, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(text)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if s, ok := x["text"].(string); ok {
				b.WriteString("\n" + s)
			}
			for _, k := range []string{"text", "fields", "elements"} {
				if c, ok := x[k]; ok {
					walk(c)
				}
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return b.String()
}

var (
	threadReply = contract.ReplyTo{Channel: "C0DEPLOY", ThreadTS: "1700000000.000100"}
	requester   = contract.User{ID: "U0ALICE", Name: "alice"}
)

func commandInput(app string) contract.CommandInput {
	return contract.CommandInput{App: app, RequestedBy: requester, Reply: threadReply,
		TemporalUIURL: "http://localhost:8233", Namespace: "default", TailLines: 20, RollbackFields: []string{"image.tag", "replicaCount"}}
}

func permissionDenied(app string) error {
	return temporal.NewNonRetryableApplicationError("get "+app+": Argo CD denied permission (permission denied) — either the application does not exist",
		string(argocd.KindPermissionDenied), nil)
}

func slackRefused(code string) error {
	return temporal.NewNonRetryableApplicationError("slack chat.postMessage: "+code+": invite the bot", activities.SlackErrorType, nil, code)
}

// wantErrType checks a failed run's error type.
func wantErrType(t *testing.T, err error, typ string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if err == nil || !errors.As(err, &appErr) || appErr.Type() != typ {
		t.Fatalf("workflow error = %v, want type %s", err, typ)
	}
}

// Every read-only command refuses a bad app name before calling anything.
func TestCommandsRefuseInvalidAppNames(t *testing.T) {
	type result struct {
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
	}
	for name, wf := range map[string]any{
		"status": workflows.AppStatusWorkflow, "rollback_revisions": workflows.RollbackRevisionsWorkflow, "logs": workflows.LogsWorkflow,
	} {
		for _, app := range []string{"", "Bad_Name", "<!channel>"} {
			h := newCmdHarness(t)
			var res result
			if err := h.run(wf, commandInput(app), &res); err != nil {
				t.Fatalf("%s %q: run failed: %v", name, app, err)
			}
			if res.ErrorType != workflows.InvalidInputErrorType || res.Error == "" {
				t.Errorf("%s %q: result %+v", name, app, res)
			}
			msgs := h.rendered()
			if len(msgs) != 1 || !strings.Contains(msgs[0], ":x: `"+name) || strings.Contains(msgs[0], "<!channel>") {
				t.Errorf("%s %q: replies %q", name, app, msgs)
			}
		}
	}
}
