package workflows_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/workflows"
)

func frontendLogs() activities.PodLogsResult {
	res := activities.PodLogsResult{}
	for p := range 3 {
		pl := argocd.PodLog{Pod: fmt.Sprintf("frontend-7d9f-%d", p)}
		for l := range 4 {
			pl.Lines = append(pl.Lines, fmt.Sprintf("pod %d line %d <&>", p, l))
		}
		res.Pods = append(res.Pods, pl)
		res.Lines += 4
	}
	return res
}

func TestLogsWorkflowUploadsEveryPodsLines(t *testing.T) {
	h := newCmdHarness(t)
	h.env.OnActivity(h.argo.PodLogs, mock.Anything, activities.PodLogsInput{App: "frontend", TailLines: 20}).Return(frontendLogs(), nil).Once()
	var res workflows.LogsResult
	if err := h.run(workflows.LogsWorkflow, commandInput("frontend"), &res); err != nil {
		t.Fatal(err)
	}
	if res.Pods != 3 || res.Lines != 12 || res.FileID != "F0000000001" || res.Error != "" {
		t.Errorf("result = %+v", res)
	}
	if len(h.uploads) != 1 || len(h.posts) != 0 {
		t.Fatalf("%d uploads, %d posts", len(h.uploads), len(h.posts))
	}
	up := h.uploads[0]
	if up.Channel != "C0DEPLOY" || up.ThreadTS != threadReply.ThreadTS || up.Filename != "frontend-logs.txt" {
		t.Errorf("upload = %+v", up)
	}
	for p := range 3 {
		header := fmt.Sprintf("==> pod frontend-7d9f-%d (4 lines) <==\n", p)
		i := strings.Index(up.Content, header)
		if i < 0 {
			t.Fatalf("file lacks %q:\n%s", header, up.Content)
		}
		want := header + fmt.Sprintf("pod %d line 0 <&>\npod %d line 1 <&>\npod %d line 2 <&>\npod %d line 3 <&>\n", p, p, p, p)
		if !strings.HasPrefix(up.Content[i:], want) {
			t.Errorf("pod %d's lines are not grouped under its header:\n%s", p, up.Content)
		}
	}
	if !strings.Contains(up.InitialComment, "last 20 lines of each of 3 pods, 12 lines in all") {
		t.Errorf("comment = %q", up.InitialComment)
	}
	h.env.AssertExpectations(t)
}

func TestLogsWorkflowUnknownApp(t *testing.T) {
	h := newCmdHarness(t)
	h.env.OnActivity(h.argo.PodLogs, mock.Anything, mock.Anything).Return(activities.PodLogsResult{}, permissionDenied("nope")).Once()
	var res workflows.LogsResult
	if err := h.run(workflows.LogsWorkflow, commandInput("nope"), &res); err != nil {
		t.Fatalf("an unknown app must end the run successfully: %v", err)
	}
	if res.ErrorType != string(argocd.KindPermissionDenied) || len(h.uploads) != 0 {
		t.Errorf("result = %+v, %d uploads", res, len(h.uploads))
	}
	if msgs := h.rendered(); len(msgs) != 1 || !strings.Contains(msgs[0], ":x: `logs nope` failed") {
		t.Errorf("replies = %q", msgs)
	}
}

func TestLogsWorkflowFailsWhenSlackRefuses(t *testing.T) {
	h := newCmdHarness(t)
	h.env.OnActivity(h.argo.PodLogs, mock.Anything, mock.Anything).Return(frontendLogs(), nil)
	h.uploadErr = slackRefused("not_in_channel")
	var res workflows.LogsResult
	wantErrType(t, h.run(workflows.LogsWorkflow, commandInput("frontend"), &res), activities.SlackErrorType)
}

func TestLogsWorkflowNoPods(t *testing.T) {
	h := newCmdHarness(t)
	h.env.OnActivity(h.argo.PodLogs, mock.Anything, mock.Anything).Return(activities.PodLogsResult{}, nil)
	var res workflows.LogsResult
	if err := h.run(workflows.LogsWorkflow, commandInput("search"), &res); err != nil {
		t.Fatal(err)
	}
	if msgs := h.rendered(); len(h.uploads) != 0 || len(msgs) != 1 || !strings.Contains(msgs[0], "`search` has no pod logs") {
		t.Errorf("%d uploads, replies %q", len(h.uploads), msgs)
	}
}

// Without a channel (or when Slack refuses it) the logs go to the
// response_url inline, escaped, and cut to fit.
func TestLogsWorkflowInlineThroughTheResponseURL(t *testing.T) {
	for name, reply := range map[string]contract.ReplyTo{
		"no channel":      {ResponseURL: "https://hooks.slack.com/commands/T0/1/secret"},
		"channel refused": {Channel: "C0PRIVATE", ResponseURL: "https://hooks.slack.com/commands/T0/1/secret"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newCmdHarness(t)
			logs := frontendLogs()
			logs.Pods[0].Lines = append(logs.Pods[0].Lines, strings.Repeat("y", 1500)+" ``` end")
			for range 40 {
				logs.Pods[1].Lines = append(logs.Pods[1].Lines, strings.Repeat("z", 1000))
			}
			h.env.OnActivity(h.argo.PodLogs, mock.Anything, mock.Anything).Return(logs, nil)
			h.uploadErr = slackRefused("channel_not_found")
			in := commandInput("frontend")
			in.Reply = reply
			var res workflows.LogsResult
			if err := h.run(workflows.LogsWorkflow, in, &res); err != nil {
				t.Fatal(err)
			}
			if len(h.responses) != 1 || res.FileID != "" {
				t.Fatalf("%d responses, result %+v", len(h.responses), res)
			}
			msg := renderAll(t, h.responses[0].Message)
			if !strings.Contains(msg, "pod 2 line 3 &lt;&amp;&gt;") || strings.Contains(msg, "<&>") || strings.Contains(msg, "``` end") {
				t.Errorf("logs not escaped or fence not neutralised:\n%.400s", msg)
			}
			if !strings.Contains(msg, "Only the newest lines fit here") {
				t.Error("no note that the logs were cut")
			}
		})
	}
}
