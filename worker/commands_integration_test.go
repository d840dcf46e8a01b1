package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc/codes"

	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/workflows"
)

// commandStack is the integration stack with 500 generated apps besides
// the demo ones.
type commandStack struct {
	*stack
}

func startCommandStack(t *testing.T) *commandStack {
	t.Helper()
	return &commandStack{startStack(t, stackOptions{operation: 1500 * time.Millisecond, extraApps: 500})}
}

// ask posts "@deploybot <text>" as alice and returns the thread to answer in.
func (s *commandStack) ask(t *testing.T, text string) contract.ReplyTo {
	t.Helper()
	m, err := s.slack.PostUserMessage(deployChannel, "U0ALICE", "", "<@"+s.slack.BotUser().ID+"> "+text)
	if err != nil {
		t.Fatal(err)
	}
	return contract.ReplyTo{Channel: deployChannel, ThreadTS: m.TS}
}

// command runs a read-only command workflow the way the gateway starts it
// and decodes its result.
func (s *commandStack) command(t *testing.T, name, workflowType string, in contract.CommandInput, res any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in.RequestedBy = contract.User{ID: "U0ALICE", Name: "alice"}
	in.TemporalUIURL = "http://localhost:8233"
	id := contract.CommandWorkflowID(name, fmt.Sprintf("Ev%d", time.Now().UnixNano()))
	run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.taskQueue}, workflowType, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, res); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// answers are the bot's messages in the thread, oldest first.
func (s *commandStack) answers(t *testing.T, reply contract.ReplyTo) []slackapi.Message {
	t.Helper()
	var out []slackapi.Message
	for _, m := range s.slack.Thread(reply.Channel, reply.ThreadTS) {
		if m.TS != reply.ThreadTS && m.User == s.slack.BotUser().ID {
			out = append(out, m)
		}
	}
	return out
}

// sectionTexts are the mrkdwn texts of a message's blocks.
func sectionTexts(t *testing.T, blocks json.RawMessage) []string {
	t.Helper()
	var bs []struct {
		Type string `json:"type"`
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
	}
	if err := json.Unmarshal(blocks, &bs); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range bs {
		if b.Text != nil {
			out = append(out, b.Text.Text)
		}
	}
	return out
}

// allTexts is every text of a message's blocks (sections, fields, context
// elements), joined by newlines.
func allTexts(t *testing.T, blocks json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(blocks, &v); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if s, ok := x["text"].(string); ok {
				b.WriteString(s + "\n")
			}
			for _, k := range []string{"text", "fields", "elements"} {
				walk(x[k])
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

// tableRows are the data rows of a table message's code blocks; it checks
// every block is within Slack's limit.
func tableRows(t *testing.T, m slackapi.Message) []string {
	t.Helper()
	var rows []string
	texts := sectionTexts(t, m.Blocks)
	if len(texts) > slackapi.MaxBlocks {
		t.Errorf("message has %d blocks", len(texts))
	}
	for _, s := range texts {
		if n := len([]rune(s)); n > 3000 {
			t.Errorf("block of %d characters", n)
		}
		if !strings.HasPrefix(s, "```\n") {
			continue
		}
		lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(s, "```\n"), "\n```"), "\n")
		rows = append(rows, lines[2:]...) // header and separator
	}
	return rows
}

func TestReadOnlyCommandsEndToEnd(t *testing.T) {
	s := startCommandStack(t)

	t.Run("list_apps splits 506 apps within Slack's limits", func(t *testing.T) {
		reply := s.ask(t, "list_apps")
		var res workflows.ListAppsResult
		s.command(t, "list_apps", contract.WorkflowListApps, contract.CommandInput{Reply: reply}, &res)
		msgs := s.answers(t, reply)
		if len(res.Apps) != 506 || res.Messages != len(msgs) || len(msgs) < 2 {
			t.Fatalf("%d apps, %d messages reported, %d in the thread", len(res.Apps), res.Messages, len(msgs))
		}
		var rows []string
		for i, m := range msgs {
			got := tableRows(t, m)
			if len(got) == 0 || !strings.Contains(m.Text, fmt.Sprintf("(%d/%d)", i+1, len(msgs))) {
				t.Errorf("message %d: %d rows, text %q", i, len(got), m.Text)
			}
			rows = append(rows, got...)
		}
		if len(rows) != 506 {
			t.Fatalf("%d rows in Slack, want 506", len(rows))
		}
		wantPrefix := map[string]string{
			"guestbook": "guestbook  default   Synced",
			"frontend":  "frontend   default   OutOfSync",
			"payments":  "payments   payments  Synced (auto)",
		}
		for _, r := range rows {
			name := strings.Fields(r)[0]
			if p, ok := wantPrefix[name]; ok {
				if !strings.HasPrefix(r, p) || !strings.Contains(r, "Healthy") || !strings.HasSuffix(r, "HEAD") {
					t.Errorf("row %q, want prefix %q, Healthy, target HEAD", r, p)
				}
				delete(wantPrefix, name)
			}
		}
		if len(wantPrefix) != 0 {
			t.Errorf("rows missing for %v", wantPrefix)
		}
		if !strings.Contains(strings.Join(rows, "\n"), "v1.13.0") {
			t.Error("guestbook's image tag v1.13.0 is not shown")
		}
	})

	t.Run("status shows the deploybot run in flight", func(t *testing.T) {
		ctx := context.Background()
		deployID := contract.DeployWorkflowID("guestbook")
		in := deployInput("guestbook", contract.ActionSync, 0, false)
		in.Request.Channel = deployChannel
		deploy, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: deployID, TaskQueue: s.taskQueue,
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL}, contract.WorkflowDeploy, in)
		if err != nil {
			t.Fatal(err)
		}
		waitStep(t, s.tc, deployID, contract.StepAwaitingApproval)
		defer func() { _ = s.tc.TerminateWorkflow(ctx, deployID, "", "test over") }()

		reply := s.ask(t, "status guestbook")
		var res workflows.AppStatusResult
		s.command(t, "status", contract.WorkflowAppStatus, contract.CommandInput{App: "guestbook", Reply: reply}, &res)
		if res.Error != "" || res.Status.Run == nil || !res.Status.Run.Running || res.Status.Run.Status == nil ||
			res.Status.Run.Status.Step != contract.StepAwaitingApproval {
			t.Fatalf("result = %+v (run %+v)", res, res.Status.Run)
		}
		msgs := s.answers(t, reply)
		if len(msgs) != 1 {
			t.Fatalf("%d answers", len(msgs))
		}
		body := allTexts(t, msgs[0].Blocks)
		runURL := "http://localhost:8233/namespaces/default/workflows/deploy-guestbook/" + deploy.GetRunID() + "/history"
		for _, want := range []string{"`Synced`", "`Healthy`", "`Succeeded`", "initiated by admin", "in flight: Waiting for approval",
			"requested by <@U0ALICE>", "<" + runURL + "|View run in Temporal>"} {
			if !strings.Contains(body, want) {
				t.Errorf("status lacks %q:\n%s", want, body)
			}
		}

		// Without a run the answer says so.
		reply = s.ask(t, "status payments")
		s.command(t, "status", contract.WorkflowAppStatus, contract.CommandInput{App: "payments", Reply: reply}, &res)
		if msgs := s.answers(t, reply); len(msgs) != 1 || !strings.Contains(allTexts(t, msgs[0].Blocks), "No deploybot run in flight") ||
			!strings.Contains(allTexts(t, msgs[0].Blocks), "on (prune, self-heal)") {
			t.Errorf("payments status: %+v", msgs)
		}
	})

	t.Run("rollback_revisions shows n/a rows when lookups fail", func(t *testing.T) {
		s.sim.FailNext("GetAppDetails", 2, codes.Internal)
		reply := s.ask(t, "rollback_revisions ledger")
		var res workflows.RollbackRevisionsResult
		s.command(t, "rollback_revisions", contract.WorkflowRollbackRevisions,
			contract.CommandInput{App: "ledger", Reply: reply, RollbackFields: []string{"image.tag", "config.batchSize"}}, &res)
		msgs := s.answers(t, reply)
		if len(res.Rows) < 25 || len(msgs) == 0 {
			t.Fatalf("%d rows, %d messages", len(res.Rows), len(msgs))
		}
		var rows []string
		for _, m := range msgs {
			rows = append(rows, tableRows(t, m)...)
		}
		if len(rows) != len(res.Rows) {
			t.Fatalf("%d rows in Slack, %d in the result", len(rows), len(res.Rows))
		}
		na := 0
		for i, r := range rows {
			f := strings.Fields(r)
			if f[0] != fmt.Sprint(res.Rows[i].ID) || (i > 0 && res.Rows[i].ID >= res.Rows[i-1].ID) {
				t.Fatalf("row %d = %q: not newest first", i, r)
			}
			switch {
			case strings.HasSuffix(r, "n/a  n/a") || strings.HasSuffix(r, "n/a        n/a"):
				na++
			case !strings.Contains(r, fmt.Sprintf("v3.%d.%d", res.Rows[i].ID/10, res.Rows[i].ID%10)):
				t.Errorf("row %q lacks its image tag", r)
			}
		}
		last := sectionTexts(t, msgs[len(msgs)-1].Blocks)
		if na != 2 || !strings.Contains(strings.Join(last, "\n"), "2 of ") {
			t.Errorf("%d n/a rows (want 2); note: %q", na, last[len(last)-1])
		}
	})

	t.Run("logs uploads every pod's lines", func(t *testing.T) {
		reply := s.ask(t, "logs frontend")
		var res workflows.LogsResult
		s.command(t, "logs", contract.WorkflowLogs, contract.CommandInput{App: "frontend", Reply: reply, TailLines: 10}, &res)
		var file *slackapi.File
		for _, f := range s.slack.Files() {
			if f.ThreadTS == reply.ThreadTS {
				file = &f
			}
		}
		if file == nil || file.ID != res.FileID || file.Name != "frontend-logs.txt" || file.Channel != deployChannel {
			t.Fatalf("no frontend-logs.txt in the thread (result %+v, file %+v)", res, file)
		}
		pods, err := s.argo.PodLogs(context.Background(), "frontend", 10)
		if err != nil {
			t.Fatal(err)
		}
		content := string(file.Content)
		if len(pods) != 3 || res.Pods != 3 {
			t.Fatalf("%d pods in Argo CD, %d in the result", len(pods), res.Pods)
		}
		for _, p := range pods {
			i := strings.Index(content, "==> pod "+p.Pod+" ")
			if i < 0 {
				t.Fatalf("file has no section for pod %s:\n%s", p.Pod, content)
			}
			section := content[i:]
			for _, l := range p.Lines {
				if !strings.Contains(section, l+"\n") {
					t.Errorf("pod %s's line %q is not in its section", p.Pod, l)
				}
			}
		}
		msgs := s.answers(t, reply)
		if len(msgs) != 1 || len(msgs[0].Files) != 1 || !strings.Contains(msgs[0].Text, "3 pods") {
			t.Errorf("thread: %+v", msgs)
		}
	})

	t.Run("an unknown app is answered, not failed", func(t *testing.T) {
		for name, wt := range map[string]string{"status": contract.WorkflowAppStatus, "rollback_revisions": contract.WorkflowRollbackRevisions, "logs": contract.WorkflowLogs} {
			reply := s.ask(t, name+" nope")
			var res struct{ Error, ErrorType string }
			s.command(t, name, wt, contract.CommandInput{App: "nope", Reply: reply}, &res)
			if res.ErrorType != string(argocd.KindPermissionDenied) {
				t.Errorf("%s nope: result %+v", name, res)
			}
			if msgs := s.answers(t, reply); len(msgs) != 1 || !strings.Contains(msgs[0].Text, ":x: `"+name+" nope` failed") {
				t.Errorf("%s nope: answers %+v", name, msgs)
			}
		}
	})

	t.Run("a slash command answers through its response_url", func(t *testing.T) {
		var mu sync.Mutex
		var bodies []map[string]any
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			var body map[string]any
			_ = json.Unmarshal(b, &body)
			mu.Lock()
			bodies = append(bodies, body)
			mu.Unlock()
			_, _ = io.WriteString(w, "ok")
		}))
		defer hook.Close()
		var res workflows.ListAppsResult
		s.command(t, "list_apps", contract.WorkflowListApps,
			contract.CommandInput{Reply: contract.ReplyTo{ResponseURL: hook.URL + "/commands/T0/1/x"}, Projects: []string{"payments"}}, &res)
		mu.Lock()
		defer mu.Unlock()
		if len(bodies) != 1 || bodies[0]["response_type"] != "in_channel" || !strings.Contains(fmt.Sprint(bodies[0]["blocks"]), "ledger") {
			t.Errorf("response_url got %v", bodies)
		}
	})
}
