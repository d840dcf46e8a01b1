package slackui_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

var (
	expires  = time.Date(2025, 3, 4, 10, 30, 0, 0, time.UTC)
	deployed = time.Date(2025, 2, 28, 8, 15, 0, 0, time.UTC)
)

func pendingRequest() *slackui.DeployRequest {
	return &slackui.DeployRequest{
		WorkflowID:   "deploy-guestbook",
		RunURL:       "http://localhost:8233/namespaces/default/workflows/deploy-guestbook/run-1/history",
		App:          "guestbook",
		Project:      "default",
		Action:       contract.ActionSync,
		FromRevision: "4f2a9c1d3e5b7a9c1d3e5b7a9c1d3e5b7a9c1d3e",
		ToRevision:   "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c",
		RequestedBy:  contract.User{ID: "U0ALICE", Name: "alice"},
		ExpiresAt:    expires,
		State:        slackui.RequestPending,
	}
}

func rollbackRequest() *slackui.DeployRequest {
	r := pendingRequest()
	r.Action = contract.ActionRollback
	r.HistoryID = 7
	r.TargetDeployedAt = deployed
	r.Params = []slackui.Param{{Name: "image.tag", Value: "v1.4.2"}, {Name: "replicaCount", Value: "3"}}
	r.AutoSyncOn = true
	return r
}

// blockJSON is the JSON Slack receives, decoded generically for assertions.
func blockJSON(t *testing.T, blocks []slack.Block) []map[string]any {
	t.Helper()
	b, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// allText is every text of the blocks joined, for "contains" assertions.
func allText(t *testing.T, blocks []slack.Block) string {
	t.Helper()
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if s, ok := x["text"].(string); ok {
				b.WriteString(s)
				b.WriteByte('\n')
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	for _, blk := range blockJSON(t, blocks) {
		walk(blk)
	}
	return b.String()
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// checkLimits fails if the blocks break a Block Kit limit Slack enforces.
func checkLimits(t *testing.T, text string, blocks []slack.Block) {
	t.Helper()
	if len(blocks) == 0 || len(blocks) > 50 {
		t.Errorf("%d blocks, want 1..50", len(blocks))
	}
	if text == "" || runes(text) > 3000 {
		t.Errorf("fallback text has %d characters, want 1..3000", runes(text))
	}
	for i, blk := range blockJSON(t, blocks) {
		txt := func(v any) string {
			m, _ := v.(map[string]any)
			s, _ := m["text"].(string)
			return s
		}
		switch blk["type"] {
		case "header":
			if n := runes(txt(blk["text"])); n == 0 || n > 150 {
				t.Errorf("block %d: header text has %d characters", i, n)
			}
		case "section":
			if s, ok := blk["text"]; ok {
				if n := runes(txt(s)); n == 0 || n > 3000 {
					t.Errorf("block %d: section text has %d characters", i, n)
				}
			}
			fields, _ := blk["fields"].([]any)
			if len(fields) > 10 {
				t.Errorf("block %d: %d fields", i, len(fields))
			}
			for _, f := range fields {
				if n := runes(txt(f)); n == 0 || n > 2000 {
					t.Errorf("block %d: field has %d characters", i, n)
				}
			}
		case "context":
			els, _ := blk["elements"].([]any)
			if len(els) == 0 || len(els) > 10 {
				t.Errorf("block %d: context has %d elements", i, len(els))
			}
			for _, e := range els {
				if n := runes(txt(e)); n == 0 || n > 3000 {
					t.Errorf("block %d: context text has %d characters", i, n)
				}
			}
		case "actions":
			els, _ := blk["elements"].([]any)
			for _, e := range els {
				m := e.(map[string]any)
				if n := runes(txt(m["text"])); n == 0 || n > 75 {
					t.Errorf("block %d: button text has %d characters", i, n)
				}
				if v, _ := m["value"].(string); runes(v) > 2000 {
					t.Errorf("block %d: button value has %d characters", i, runes(v))
				}
				if c, ok := m["confirm"].(map[string]any); ok {
					if n := runes(txt(c["title"])); n > 100 {
						t.Errorf("confirm title has %d characters", n)
					}
					if n := runes(txt(c["text"])); n > 300 {
						t.Errorf("confirm text has %d characters", n)
					}
				}
			}
		default:
			t.Errorf("block %d: unexpected type %v", i, blk["type"])
		}
	}
}

func render(t *testing.T, m slackui.Message) (string, []slack.Block) {
	t.Helper()
	text, blocks, err := slackui.Render(m)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	checkLimits(t, text, blocks)
	return text, blocks
}

func TestRenderRejectsZeroOrSeveralFields(t *testing.T) {
	for name, m := range map[string]slackui.Message{
		"none":       {},
		"two":        {Text: "hi", DeployStatus: &slackui.DeployStatus{App: "a", Action: contract.ActionSync}},
		"three":      {Text: "hi", DeployStatus: &slackui.DeployStatus{}, DeployRequest: &slackui.DeployRequest{}},
		"blank text": {Text: " \n "},
	} {
		if _, _, err := slackui.Render(m); err == nil {
			t.Errorf("%s: Render succeeded, want an error", name)
		}
	}
}

func TestRenderPendingRequest(t *testing.T) {
	text, blocks := render(t, slackui.Message{DeployRequest: pendingRequest()})
	js := blockJSON(t, blocks)

	if js[0]["type"] != "header" || !strings.Contains(allText(t, blocks[:1]), ":rocket: sync guestbook requested") {
		t.Errorf("header = %v", js[0])
	}
	all := allText(t, blocks)
	for _, want := range []string{
		"<@U0ALICE> asks to *sync* `guestbook`",
		"`guestbook` · project `default`",
		"`4f2a9c1` → `9b8c7d6`",
		"*Auto-sync*\noff",
		"*Expires*\n<!date^1741084200^{date_short_pretty} {time}|2025-03-04 10:30 UTC>",
		"<http://localhost:8233/namespaces/default/workflows/deploy-guestbook/run-1/history|View run in Temporal>",
		"workflow `deploy-guestbook`",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("blocks lack %q:\n%s", want, all)
		}
	}
	var actions map[string]any
	for _, b := range js {
		if b["type"] == "actions" {
			actions = b
		}
	}
	if actions == nil {
		t.Fatal("no actions block on a pending request")
	}
	if actions["block_id"] != slackui.BlockIDDecision {
		t.Errorf("block_id = %v, want %s", actions["block_id"], slackui.BlockIDDecision)
	}
	els := actions["elements"].([]any)
	if len(els) != 2 {
		t.Fatalf("%d buttons, want 2", len(els))
	}
	for i, want := range []struct{ id, style, label string }{
		{slackui.ActionApprove, "primary", "Approve"},
		{slackui.ActionReject, "danger", "Reject"},
	} {
		b := els[i].(map[string]any)
		if b["action_id"] != want.id || b["value"] != "deploy-guestbook" || b["style"] != want.style ||
			b["text"].(map[string]any)["text"] != want.label {
			t.Errorf("button %d = %v, want action_id %s, value deploy-guestbook, style %s", i, b, want.id, want.style)
		}
	}
	confirm, ok := els[0].(map[string]any)["confirm"].(map[string]any)
	if !ok || !strings.Contains(confirm["text"].(map[string]any)["text"].(string), "sync `guestbook` to `9b8c7d6`") {
		t.Errorf("Approve confirm = %v", els[0])
	}
	if _, ok := els[1].(map[string]any)["confirm"]; ok {
		t.Error("Reject has a confirm dialog; it needs none")
	}

	wantText := "sync guestbook requested by <@U0ALICE> (4f2a9c1 → 9b8c7d6): waiting for approval until 2025-03-04 10:30 UTC"
	if text != wantText {
		t.Errorf("text = %q\nwant   %q", text, wantText)
	}
}

func TestRenderRollbackRequest(t *testing.T) {
	text, blocks := render(t, slackui.Message{DeployRequest: rollbackRequest()})
	all := allText(t, blocks)
	for _, want := range []string{
		":rewind: rollback guestbook requested",
		"asks to *roll back* `guestbook` to history id *7*",
		"*Action*\nrollback to history id 7",
		"*Target deployed*\n<!date^1740730500^{date_short_pretty} {time}|2025-02-28 08:15 UTC>",
		"*Helm parameters*\n• `image.tag` = `v1.4.2`\n• `replicaCount` = `3`",
		"*Auto-sync*\n:warning: on (Argo CD refuses a rollback until it is off)",
		"This will roll back `guestbook` to history id 7 (`9b8c7d6`) in Argo CD.",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("blocks lack %q:\n%s", want, all)
		}
	}
	if !strings.HasPrefix(text, "rollback guestbook to history id 7 requested by <@U0ALICE>") {
		t.Errorf("text = %q", text)
	}

	r := rollbackRequest()
	r.Params, r.ParamsNote = nil, "Helm parameters unavailable: repo <unreachable>"
	_, blocks = render(t, slackui.Message{DeployRequest: r})
	if all := allText(t, blocks); !strings.Contains(all, "*Helm parameters*\n_Helm parameters unavailable: repo &lt;unreachable&gt;_") {
		t.Errorf("params note missing or unescaped:\n%s", all)
	}
}

func TestRenderDecidedRequests(t *testing.T) {
	bob := &contract.User{ID: "U0BOB", Name: "bob"}
	for _, tc := range []struct {
		state     slackui.RequestState
		decidedBy *contract.User
		note      string
		wantLine  string
		wantText  string
	}{
		{slackui.RequestApproved, bob, "", "✅ Approved by <@U0BOB>", ": approved by <@U0BOB>"},
		{slackui.RequestRejected, bob, "not during the freeze", "❌ Rejected by <@U0BOB>\nnot during the freeze", ": rejected by <@U0BOB>"},
		{slackui.RequestExpired, nil, "", "⌛ Expired — nobody decided before <!date^1741084200^{date_short_pretty} {time}|2025-03-04 10:30 UTC>", ": expired, nobody decided in time"},
		{slackui.RequestCancelled, nil, "", "🚫 Cancelled", ": cancelled"},
		{slackui.RequestCancelled, &contract.User{Name: "ops <team>"}, "", "🚫 Cancelled by ops &lt;team&gt;", ": cancelled by ops &lt;team&gt;"},
		{slackui.RequestRefused, nil, "another operation is already in progress", "⛔ Refused: another operation is already in progress", ": refused: another operation is already in progress"},
		{slackui.RequestRefused, nil, "", "⛔ Refused by Argo CD", ": refused by Argo CD"},
		{slackui.RequestNoApproval, nil, slackui.NoApprovalNote(contract.ApprovalRule{Name: "dev", Line: 7}),
			"✅ Runs without approval\nrule \"dev\" (APPROVAL_POLICY_FILE line 7) needs no approval, so it runs at once; this message is its record.", ": runs without approval"},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			r := pendingRequest()
			r.State, r.DecidedBy, r.Note = tc.state, tc.decidedBy, tc.note
			text, blocks := render(t, slackui.Message{DeployRequest: r})
			var outcome map[string]any
			for _, b := range blockJSON(t, blocks) {
				if b["type"] == "actions" {
					t.Errorf("a %s request still has buttons", tc.state)
				}
				if b["block_id"] == slackui.BlockIDOutcome {
					outcome = b
				}
			}
			if outcome == nil {
				t.Fatalf("no outcome block")
			}
			if got := outcome["text"].(map[string]any)["text"]; got != tc.wantLine {
				t.Errorf("outcome = %q, want %q", got, tc.wantLine)
			}
			if strings.Contains(allText(t, blocks), "*Expires*") {
				t.Error("a decided request still shows when it expires")
			}
			if !strings.HasSuffix(text, tc.wantText) {
				t.Errorf("text = %q, want suffix %q", text, tc.wantText)
			}
		})
	}
}

func TestRenderRequestErrors(t *testing.T) {
	for name, mut := range map[string]func(r *slackui.DeployRequest){
		"no workflow id":   func(r *slackui.DeployRequest) { r.WorkflowID = "" },
		"no state":         func(r *slackui.DeployRequest) { r.State = "" },
		"unknown state":    func(r *slackui.DeployRequest) { r.State = "maybe" },
		"no app":           func(r *slackui.DeployRequest) { r.App = "" },
		"huge workflow id": func(r *slackui.DeployRequest) { r.WorkflowID = strings.Repeat("w", 2001) },
		"no action":        func(r *slackui.DeployRequest) { r.Action = "" },
		"approved, huge id": func(r *slackui.DeployRequest) {
			r.State, r.WorkflowID = slackui.RequestApproved, strings.Repeat("w", 2001)
		},
	} {
		r := pendingRequest()
		mut(r)
		if _, _, err := slackui.Render(slackui.Message{DeployRequest: r}); err == nil {
			t.Errorf("%s: Render succeeded, want an error", name)
		}
	}
	// Once decided, the buttons are gone, so the workflow id is optional.
	r := pendingRequest()
	r.State, r.WorkflowID, r.RunURL = slackui.RequestApproved, "", ""
	_, blocks := render(t, slackui.Message{DeployRequest: r})
	for _, b := range blockJSON(t, blocks) {
		if b["type"] == "context" {
			t.Errorf("links block without anything to link: %v", b)
		}
	}
}

func TestRenderEscapesUserText(t *testing.T) {
	r := rollbackRequest()
	r.RequestedBy = contract.User{Name: "<!channel> & co"}
	r.Params = []slackui.Param{{Name: "evil", Value: "<https://evil.example|click> `x` & <!here>"}}
	r.State, r.Note = slackui.RequestRejected, "<!everyone> see <https://evil.example|this>"
	r.ToRevision = "feature/<b>"
	text, blocks := render(t, slackui.Message{DeployRequest: r})

	s := &slackui.DeployStatus{
		App: "checkout", Action: contract.ActionSync, Outcome: contract.OutcomeFailed,
		Message:   "sync failed: <!channel> & <@U0BOSS>",
		Unhealthy: []contract.Resource{{Kind: "Deployment", Name: "checkout", Health: "Degraded", Message: "<script> & stuff"}},
	}
	text2, blocks2 := render(t, slackui.Message{DeployStatus: s})
	for _, out := range []string{text, allText(t, blocks), text2, allText(t, blocks2)} {
		for _, bad := range []string{"<!channel>", "<!here>", "<!everyone>", "<https://evil", "<@U0BOSS>", "<script>", "<b>", " & "} {
			if strings.Contains(out, bad) {
				t.Errorf("%q is not escaped in:\n%s", bad, out)
			}
		}
	}
	all := allText(t, blocks)
	for _, want := range []string{"&lt;!channel&gt; &amp; co asks", "`&lt;https://evil.example|click&gt; 'x' &amp; &lt;!here&gt;`", "`feature/&lt;b&gt;`"} {
		if !strings.Contains(all, want) {
			t.Errorf("blocks lack %q:\n%s", want, all)
		}
	}
}

func TestEscape(t *testing.T) {
	if got, want := slackui.Escape("a<b>&c &amp;"), "a&lt;b&gt;&amp;c &amp;amp;"; got != want {
		t.Errorf("Escape = %q, want %q", got, want)
	}
}

func statusView(outcome contract.Outcome) *slackui.DeployStatus {
	return &slackui.DeployStatus{
		App: "guestbook", Action: contract.ActionSync, Step: contract.StepDone,
		RunURL:   "http://localhost:8233/namespaces/default/workflows/deploy-guestbook/history",
		Revision: "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c",
		Phase:    "Succeeded", SyncStatus: "Synced", Health: "Healthy",
		Outcome: outcome, Elapsed: 65 * time.Second,
	}
}

func TestRenderStatusOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mut      func(s *slackui.DeployStatus)
		wantHead string
		wantText string
	}{
		{"running", func(s *slackui.DeployStatus) {
			s.Step, s.Outcome, s.Phase, s.SyncStatus, s.Health = contract.StepFollowing, "", "Running", "OutOfSync", "Progressing"
		}, "⏳ sync `guestbook`: *Running*\nPhase `Running` · Sync `OutOfSync` · Health `Progressing`\nRevision `9b8c7d6` · elapsed 1m05s",
			"⏳ sync guestbook: Running (revision 9b8c7d6, 1m05s)"},
		{"starting", func(s *slackui.DeployStatus) {
			s.Step, s.Outcome, s.Phase, s.SyncStatus, s.Health, s.Revision, s.Elapsed = contract.StepStarting, "", "", "", "", "", 0
		}, "⏳ sync `guestbook`: *Starting the sync*", "⏳ sync guestbook: Starting the sync"},
		{"disabling auto-sync", func(s *slackui.DeployStatus) {
			s.Action, s.Step, s.Outcome = contract.ActionRollback, contract.StepDisablingAutoSync, ""
		}, "⏳ rollback `guestbook`: *Turning off auto-sync*", "⏳ rollback guestbook: Turning off auto-sync"},
		{"succeeded", nil,
			"✅ sync `guestbook`: *Synced and Healthy*\nPhase `Succeeded` · Sync `Synced` · Health `Healthy`\nRevision `9b8c7d6` · elapsed 1m05s",
			"✅ sync guestbook: Synced and Healthy (revision 9b8c7d6, 1m05s)"},
		{"failed", func(s *slackui.DeployStatus) {
			s.Phase, s.SyncStatus, s.Health, s.Message = "Failed", "OutOfSync", "Missing", "one or more objects failed to apply"
		}, "❌ sync `guestbook`: *Failed*", "❌ sync guestbook: Failed (revision 9b8c7d6, 1m05s) — one or more objects failed to apply"},
		{"degraded", func(s *slackui.DeployStatus) { s.Health = "Degraded" }, "⚠️ sync `guestbook`: *Degraded*", "⚠️ sync guestbook: Degraded"},
		{"timed out", func(s *slackui.DeployStatus) { s.Health = "Progressing" }, "⌛ sync `guestbook`: *Timed out waiting for Healthy*", "⌛ sync guestbook: Timed out"},
		{"cancelled", nil, "🚫 sync `guestbook`: *Cancelled*", "🚫 sync guestbook: Cancelled"},
		{"rejected", nil, "❌ sync `guestbook`: *Rejected*", "❌ sync guestbook: Rejected"},
		{"expired", nil, "⌛ sync `guestbook`: *Expired*", "⌛ sync guestbook: Expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outcome := map[string]contract.Outcome{
				"succeeded": contract.OutcomeSucceeded, "failed": contract.OutcomeFailed, "degraded": contract.OutcomeDegraded,
				"timed out": contract.OutcomeTimedOut, "cancelled": contract.OutcomeCancelled, "rejected": contract.OutcomeRejected,
				"expired": contract.OutcomeExpired,
			}[tc.name]
			s := statusView(outcome)
			if tc.mut != nil {
				tc.mut(s)
			}
			text, blocks := render(t, slackui.Message{DeployStatus: s})
			js := blockJSON(t, blocks)
			if js[0]["block_id"] != slackui.BlockIDStatus {
				t.Fatalf("first block = %v", js[0])
			}
			body := js[0]["text"].(map[string]any)["text"].(string)
			if !strings.HasPrefix(body, tc.wantHead) {
				t.Errorf("status =\n%s\nwant prefix\n%s", body, tc.wantHead)
			}
			if !strings.HasPrefix(text, tc.wantText) {
				t.Errorf("text = %q, want prefix %q", text, tc.wantText)
			}
			if len(js) != 2 || !strings.Contains(allText(t, blocks[1:]), "|View run in Temporal>") {
				t.Errorf("no link to the run: %v", js)
			}
		})
	}
}

func TestRenderStatusMessageAndResources(t *testing.T) {
	s := statusView(contract.OutcomeDegraded)
	s.Health = "Degraded"
	s.Message = "waiting for healthy state of apps/Deployment/checkout\nDeployment \"checkout\" exceeded its progress deadline"
	s.Unhealthy = []contract.Resource{
		{Kind: "Deployment", Name: "checkout", Health: "Degraded", Message: "Deployment \"checkout\" exceeded its progress deadline"},
		{Kind: "Pod", Name: "checkout-7d9f-abcde", Health: "Missing"},
	}
	_, blocks := render(t, slackui.Message{DeployStatus: s})
	body := blockJSON(t, blocks)[0]["text"].(map[string]any)["text"].(string)
	want := "> waiting for healthy state of apps/Deployment/checkout\n> Deployment \"checkout\" exceeded its progress deadline\n" +
		"*Not healthy:*\n• `Deployment/checkout`: Degraded — Deployment \"checkout\" exceeded its progress deadline\n• `Pod/checkout-7d9f-abcde`: Missing"
	if !strings.HasSuffix(body, want) {
		t.Errorf("status =\n%s\nwant suffix\n%s", body, want)
	}
}

func TestRenderStatusHugeInputsStayWithinLimits(t *testing.T) {
	s := statusView(contract.OutcomeDegraded)
	s.Message = strings.Repeat("é<&>", 1250) // 5000 characters, more after escaping
	for i := range 500 {
		s.Unhealthy = append(s.Unhealthy, contract.Resource{
			Kind: "Pod", Name: fmt.Sprintf("checkout-%03d", i), Health: "Degraded", Message: strings.Repeat("crash loop ", 40),
		})
	}
	text, blocks := render(t, slackui.Message{DeployStatus: s})
	body := blockJSON(t, blocks)[0]["text"].(map[string]any)["text"].(string)
	if !utf8.ValidString(body) || !utf8.ValidString(text) {
		t.Fatal("cut inside a rune")
	}
	if n := strings.Count(body, "\n• "); n > 10 {
		t.Errorf("%d resources listed, want at most 10", n)
	}
	if !strings.Contains(body, "more") || !strings.Contains(body, "…and 49") {
		t.Errorf("no \"…and N more\" line:\n%s", body)
	}
	if !strings.Contains(body, "> é&lt;&amp;&gt;") || !strings.Contains(body, "…") {
		t.Errorf("message missing or not cut:\n%.300s", body)
	}
	// A cut never leaves half an escape behind.
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "> ") && hasHalfEntity(l) {
			t.Errorf("half an escape in %q", l)
		}
	}
}

// hasHalfEntity reports an '&' not starting a complete escape.
func hasHalfEntity(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '&' && !(strings.HasPrefix(s[i:], "&amp;") || strings.HasPrefix(s[i:], "&lt;") || strings.HasPrefix(s[i:], "&gt;")) {
			return true
		}
	}
	return false
}

func TestRenderRequestHugeInputsStayWithinLimits(t *testing.T) {
	r := rollbackRequest()
	r.App = strings.Repeat("a", 253)
	r.Project = strings.Repeat("p&", 1500)
	r.ToRevision = strings.Repeat("release/", 100)
	for i := range 400 {
		r.Params = append(r.Params, slackui.Param{Name: fmt.Sprintf("p%03d", i), Value: strings.Repeat("<v>", 100)})
	}
	r.RequestedBy = contract.User{Name: strings.Repeat("n", 5000)}
	_, blocks := render(t, slackui.Message{DeployRequest: r})
	all := allText(t, blocks)
	if !strings.Contains(all, "more") {
		t.Errorf("params not capped:\n%.500s", all)
	}
	r.State, r.Note = slackui.RequestRefused, strings.Repeat("x<", 4000)
	render(t, slackui.Message{DeployRequest: r})
}

func TestRenderText(t *testing.T) {
	text, blocks := render(t, slackui.Message{Text: "*Hello* <@U0ALICE>"})
	if text != "*Hello* <@U0ALICE>" || len(blocks) != 1 || allText(t, blocks) != "*Hello* <@U0ALICE>\n" {
		t.Errorf("text=%q blocks=%s", text, allText(t, blocks))
	}
	if js := blockJSON(t, blocks); js[0]["type"] != "section" || js[0]["text"].(map[string]any)["type"] != "mrkdwn" {
		t.Errorf("block = %v", js[0])
	}
}

func TestRenderLongTextSplitsAtLinesAndKeepsCodeBlocks(t *testing.T) {
	var b strings.Builder
	b.WriteString("*Apps*\n```\n")
	for i := range 300 {
		fmt.Fprintf(&b, "app-%03d  Synced  Healthy  v1.2.%d\n", i, i)
	}
	b.WriteString("```\nend")
	text, blocks := render(t, slackui.Message{Text: b.String()})
	if len(blocks) < 3 {
		t.Fatalf("%d blocks, want the table split over several sections", len(blocks))
	}
	joined := ""
	for i, blk := range blockJSON(t, blocks) {
		s := blk["text"].(map[string]any)["text"].(string)
		if strings.Count(s, "```")%2 != 0 {
			t.Errorf("section %d leaves a ``` block open:\n%s", i, s)
		}
		if i > 0 && i < len(blocks)-1 && !strings.HasPrefix(s, "```\n") {
			t.Errorf("section %d does not reopen the code block", i)
		}
		joined += s + "\n"
	}
	for i := range 300 {
		if !strings.Contains(joined, fmt.Sprintf("app-%03d  Synced", i)) {
			t.Fatalf("row %d lost", i)
		}
	}
	if runes(text) > 3000 || !strings.Contains(text, "…") {
		t.Errorf("fallback text not cut: %d characters", runes(text))
	}

	// Past 50 sections the rest is cut, never rejected by Slack.
	huge := strings.Repeat(strings.Repeat("x", 2000)+"\n", 80)
	_, blocks = render(t, slackui.Message{Text: huge})
	if len(blocks) != 50 {
		t.Errorf("%d blocks, want 50", len(blocks))
	}
	// One line longer than a section is cut.
	_, blocks = render(t, slackui.Message{Text: strings.Repeat("y", 7000)})
	if len(blocks) != 1 {
		t.Errorf("%d blocks, want 1", len(blocks))
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"héllo wörld", 6, "héllo…"},
		{"ab &amp; cd", 6, "ab …"},
		{"ab &amp; cd", 9, "ab &amp;…"},
		{"see <@U0ALICE> now", 10, "see …"},
		{"run `deploy-guestbook` now", 12, "run `deplo…`"},
		{"```\nline1\nline2\nline3\n```", 16, "```\nline1\nl…\n```"},
		{"🚀🚀🚀🚀", 3, "🚀🚀…"},
		{"abc", 0, ""},
		{"abc", 1, "…"},
	} {
		got := slackui.Truncate(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if runes(got) > tc.max && tc.max > 0 {
			t.Errorf("Truncate(%q, %d) has %d characters", tc.in, tc.max, runes(got))
		}
	}
}

func TestFormatElapsed(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                     "0s",
		42 * time.Second:                      "42s",
		65 * time.Second:                      "1m05s",
		65*time.Second + 600*time.Millisecond: "1m06s",
		time.Hour + 2*time.Minute + 5*time.Second: "1h02m05s",
	} {
		if got := slackui.FormatElapsed(d); got != want {
			t.Errorf("FormatElapsed(%s) = %q, want %q", d, got, want)
		}
	}
}

// The view structs travel through Temporal as JSON; a round trip must
// render the same message.
func TestRenderAfterJSONRoundTrip(t *testing.T) {
	m := slackui.Message{DeployRequest: rollbackRequest()}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back slackui.Message
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	t1, b1, _ := slackui.Render(m)
	t2, b2, _ := slackui.Render(back)
	j1, _ := json.Marshal(b1)
	j2, _ := json.Marshal(b2)
	if t1 != t2 || string(j1) != string(j2) {
		t.Errorf("render differs after a JSON round trip")
	}
}

// An autosync request and its outcome say what they do: "auto-sync off",
// not the internal action name; no revision move to "unknown" (a policy
// change deploys nothing); no "Synced and Healthy" verdict at the end.
func TestRenderAutoSyncSaysWhatItChanges(t *testing.T) {
	for _, tc := range []struct {
		action               contract.Action
		name, verb, headline string
	}{
		{contract.ActionAutoSyncOff, "auto-sync off", "turn off auto-sync of", "Auto-sync is off"},
		{contract.ActionAutoSyncOn, "auto-sync on", "turn on auto-sync of", "Auto-sync is on"},
	} {
		r := pendingRequest()
		r.App, r.Action, r.FromRevision, r.ToRevision = "payments", tc.action, strings.Repeat("ed5e7431aa", 4), ""
		text, blocks := render(t, slackui.Message{DeployRequest: r})
		all := allText(t, blocks)
		for _, bad := range []string{string(tc.action), "unknown", "→"} {
			if strings.Contains(text, bad) || strings.Contains(all, bad) {
				t.Errorf("%s request mentions %q:\n%s\n%s", tc.action, bad, text, all)
			}
		}
		for _, want := range []string{tc.name + " payments requested", "asks to *" + tc.verb + "* `payments`", "`ed5e743` (unchanged)"} {
			if !strings.Contains(all, want) {
				t.Errorf("%s request lacks %q:\n%s", tc.action, want, all)
			}
		}
		if want := tc.name + " payments requested by <@U0ALICE>: waiting for approval"; !strings.HasPrefix(text, want) {
			t.Errorf("text = %q, want prefix %q", text, want)
		}

		s := statusView(contract.OutcomeSucceeded)
		s.App, s.Action = "payments", tc.action
		text, blocks = render(t, slackui.Message{DeployStatus: s})
		all = allText(t, blocks)
		if want := "✅ " + tc.name + " payments: " + tc.headline; !strings.HasPrefix(text, want) ||
			strings.Contains(all, "Synced and Healthy") || strings.Contains(all, string(tc.action)) {
			t.Errorf("%s outcome:\n%s\n%s\nwant %q and no health verdict", tc.action, text, all, want)
		}
	}
}

// A request names the commits behind its revisions: first line of each
// message with its author, escaped and bounded.
func TestRenderRequestShowsTheCommits(t *testing.T) {
	r := pendingRequest()
	r.FromCommit = &contract.Commit{Author: "Jane <jane@example.com>", Message: "Bump image to 1.4.2\n\nlong body"}
	r.ToCommit = &contract.Commit{Author: "Raj", Message: "Scale to 3 <!channel> " + strings.Repeat("x", 300)}
	_, blocks := render(t, slackui.Message{DeployRequest: r})
	all := allText(t, blocks)
	for _, want := range []string{"*Commits*", "from: Bump image to 1.4.2 — Jane &lt;jane@example.com&gt;", "to: Scale to 3 &lt;!channel&gt; ", "— Raj"} {
		if !strings.Contains(all, want) {
			t.Errorf("request lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "long body") || strings.Contains(all, strings.Repeat("x", 120)) {
		t.Errorf("commit lines are not cut to their subject and bound:\n%s", all)
	}
	r.Action = contract.ActionAutoSyncOff
	_, blocks = render(t, slackui.Message{DeployRequest: r})
	if strings.Contains(allText(t, blocks), "*Commits*") {
		t.Error("a policy change shows commits")
	}
}

// The final report names who asked and approved, the revision it came from
// and the commit it deployed.
func TestRenderStatusSaysWhoAndWhat(t *testing.T) {
	s := statusView(contract.OutcomeSucceeded)
	s.RequestedBy = contract.User{ID: "U0ALICE"}
	s.ApprovedBy = []contract.User{{ID: "U0BOB"}, {ID: "U0CAROL"}}
	s.FromRevision = "4f2a9c1d3e5b7a9c1d3e5b7a9c1d3e5b7a9c1d3e"
	s.Commit = &contract.Commit{Author: "Raj", Message: "Scale to 3\n\nbody"}
	_, blocks := render(t, slackui.Message{DeployStatus: s})
	all := allText(t, blocks)
	for _, want := range []string{"Revision `4f2a9c1` → `9b8c7d6`", "Commit: Scale to 3 — Raj", "Asked by <@U0ALICE> · approved by <@U0BOB>, <@U0CAROL>"} {
		if !strings.Contains(all, want) {
			t.Errorf("status lacks %q:\n%s", want, all)
		}
	}
}
