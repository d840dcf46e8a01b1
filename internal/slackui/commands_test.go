package slackui_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

func manyApps(n int) []contract.AppSummary {
	apps := make([]contract.AppSummary, n)
	for i := range apps {
		apps[i] = contract.AppSummary{
			Name: fmt.Sprintf("app-%03d", i+1), Project: "default", SyncStatus: "Synced", Health: "Healthy",
			Images:         []string{fmt.Sprintf("ghcr.io/deploybot-demo/app-%03d:v1.2.0", i+1), "ghcr.io/deploybot-demo/sidecar:v0.3.1"},
			TargetRevision: "HEAD",
		}
	}
	return apps
}

// codeRows returns the data rows of a table message's code blocks (the
// header and separator of each block left out).
func codeRows(t *testing.T, blocks []slack.Block) (rows []string, codeBlocks int) {
	t.Helper()
	for _, b := range blockJSON(t, blocks) {
		txt, _ := b["text"].(map[string]any)
		s, _ := txt["text"].(string)
		if !strings.HasPrefix(s, "```\n") {
			continue
		}
		codeBlocks++
		if !strings.HasSuffix(s, "\n```") {
			t.Errorf("code block not closed: %q", s[len(s)-20:])
		}
		lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(s, "```\n"), "\n```"), "\n")
		if len(lines) < 3 || !strings.HasPrefix(lines[0], "APP") && !strings.HasPrefix(lines[0], "ID") || strings.Trim(lines[1], "-") != "" {
			t.Errorf("block does not start with the header and a separator: %q", lines[:min(2, len(lines))])
		}
		rows = append(rows, lines[2:]...)
	}
	return rows, codeBlocks
}

func TestSplitTableOf500AppsStaysWithinLimits(t *testing.T) {
	pages := slackui.SplitTable(slackui.AppsTable(manyApps(500), nil))
	if len(pages) < 2 {
		t.Fatalf("500 apps fit in %d message(s); want several", len(pages))
	}
	var all []string
	for i, p := range pages {
		if p.Page != i+1 || p.Pages != len(pages) {
			t.Errorf("page %d says %d/%d", i+1, p.Page, p.Pages)
		}
		text, blocks := render(t, slackui.Message{Command: &slackui.CommandReply{Table: &p}})
		rows, n := codeRows(t, blocks)
		if n == 0 || n > slackui.MaxTableBlocksPerMessage {
			t.Errorf("page %d has %d code blocks, want 1..%d", i+1, n, slackui.MaxTableBlocksPerMessage)
		}
		if !strings.Contains(text, fmt.Sprintf("(%d/%d)", i+1, len(pages))) {
			t.Errorf("page %d fallback text %q lacks the page number", i+1, text)
		}
		all = append(all, rows...)
	}
	if len(all) != 500 {
		t.Fatalf("%d rows over all pages, want 500", len(all))
	}
	for i, r := range all {
		if !strings.HasPrefix(r, fmt.Sprintf("app-%03d ", i+1)) {
			t.Fatalf("row %d = %q: rows lost, repeated or out of order", i, r)
		}
		if !strings.Contains(r, "v1.2.0,v0.3.1") || !strings.Contains(r, "HEAD") {
			t.Fatalf("row %q lacks the image tags or target", r)
		}
	}
	// Every page lines up the same way.
	w0 := pages[0].Widths
	for _, p := range pages {
		if fmt.Sprint(p.Widths) != fmt.Sprint(w0) {
			t.Errorf("widths differ between pages: %v vs %v", p.Widths, w0)
		}
	}
}

func TestSmallTableIsOneMessage(t *testing.T) {
	pages := slackui.SplitTable(slackui.AppsTable(manyApps(3), []string{"default"}))
	if len(pages) != 1 || pages[0].Pages != 0 {
		t.Fatalf("3 apps split into %d pages (%+v)", len(pages), pages[0])
	}
	text, blocks := render(t, slackui.Message{Command: &slackui.CommandReply{Table: &pages[0]}})
	if strings.Contains(text, "/") || !strings.Contains(text, "Argo CD applications: 3 in project default") {
		t.Errorf("text = %q", text)
	}
	rows, _ := codeRows(t, blocks)
	if len(rows) != 3 {
		t.Errorf("rows = %q", rows)
	}
}

func TestTableEscapesAndCutsCells(t *testing.T) {
	apps := []contract.AppSummary{{
		Name: "evil", Project: "<!channel> & <https://x|y>", SyncStatus: "Synced```oops", Health: "Healthy\nDegraded",
		Images: []string{"repo/img:" + strings.Repeat("x", 100)}, TargetRevision: "4f2a9c1d3e5b7a9c1d3e5b7a9c1d3e5b7a9c1d3e",
	}}
	p := slackui.SplitTable(slackui.AppsTable(apps, nil))[0]
	_, blocks := render(t, slackui.Message{Command: &slackui.CommandReply{Table: &p}})
	rows, n := codeRows(t, blocks)
	if n != 1 || len(rows) != 1 {
		t.Fatalf("blocks %d rows %q", n, rows)
	}
	r := rows[0]
	for _, bad := range []string{"<!channel>", "<https", "```", "\n"} {
		if strings.Contains(r, bad) {
			t.Errorf("row %q contains %q", r, bad)
		}
	}
	if !strings.Contains(r, "&lt;!channel&gt; &amp;") || hasHalfEntity(r) {
		t.Errorf("row not escaped: %q", r)
	}
	if !strings.Contains(r, strings.Repeat("x", 39)+"…") || strings.Contains(r, strings.Repeat("x", 41)) {
		t.Errorf("long tag not cut to %d characters: %q", slackui.MaxTableCell, r)
	}
	if !strings.Contains(r, "4f2a9c1") || strings.Contains(r, "4f2a9c1d3e") {
		t.Errorf("commit SHA not shortened: %q", r)
	}
}

func TestTableWithManyColumnsStillFits(t *testing.T) {
	fields := make([]string, 60)
	for i := range fields {
		fields[i] = fmt.Sprintf("f%02d", i)
	}
	rows := make([]contract.RevisionRow, 40)
	for i := range rows {
		rows[i] = contract.RevisionRow{ID: int64(i), DeployedAt: deployed, Revision: "main"}
		for range fields {
			rows[i].Params = append(rows[i].Params, strings.Repeat("&", 40))
		}
	}
	for _, p := range slackui.SplitTable(slackui.RevisionsTable("ledger", fields, rows, "")) {
		render(t, slackui.Message{Command: &slackui.CommandReply{Table: &p}}) // checks the limits
	}
}

func TestUnsplitHugeTableIsCutNotRefused(t *testing.T) {
	tb := slackui.AppsTable(manyApps(3000), nil)
	_, blocks := render(t, slackui.Message{Command: &slackui.CommandReply{Table: &tb}})
	if !strings.Contains(allText(t, blocks), "more rows not shown") {
		t.Error("no note about the rows left out")
	}
}

func TestEmptyTable(t *testing.T) {
	tb := slackui.SplitTable(slackui.AppsTable(nil, nil))
	if len(tb) != 1 {
		t.Fatalf("%d pages", len(tb))
	}
	text, blocks := render(t, slackui.Message{Command: &slackui.CommandReply{Table: &tb[0]}})
	if !strings.Contains(text, "No applications") || !strings.Contains(allText(t, blocks), "No applications") {
		t.Errorf("text %q", text)
	}
}

func TestRevisionsTableShowsFieldsAndNote(t *testing.T) {
	rows := []contract.RevisionRow{
		{ID: 12, DeployedAt: deployed, Revision: "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c", Params: []string{"v1.12.0", "3"}},
		{ID: 11, DeployedAt: deployed.Add(-time.Hour), Revision: "4f2a9c1d3e5b7a9c1d3e5b7a9c1d3e5b7a9c1d3e", Params: []string{"n/a", "n/a"}},
		{ID: 10, Revision: "main", Params: []string{"", "2"}},
	}
	pages := slackui.SplitTable(slackui.RevisionsTable("guestbook", []string{"image.tag", "replicaCount"}, rows, "n/a: lookup failed"))
	_, blocks := render(t, slackui.Message{Command: &slackui.CommandReply{Table: &pages[0]}})
	got, _ := codeRows(t, blocks)
	want := []string{
		"12  2025-02-28 08:15Z  9b8c7d6   v1.12.0    3",
		"11  2025-02-28 07:15Z  4f2a9c1   n/a        n/a",
		"10  -                  main      -          2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	all := allText(t, blocks)
	if !strings.Contains(all, "IMAGE.TAG") || !strings.Contains(all, "n/a: lookup failed") || !strings.Contains(all, "rollback guestbook ID") {
		t.Errorf("header, note or hint missing:\n%s", all)
	}
}

func TestImageTags(t *testing.T) {
	for in, want := range map[string]string{
		"ghcr.io/org/app:v1.2.0":       "v1.2.0",
		"localhost:5000/app":           "latest",
		"localhost:5000/app:1.0":       "1.0",
		"nginx":                        "latest",
		"app@sha256:0123456789abcdef0": "@sha256:0123456",
	} {
		if got := slackui.ImageTags([]string{in}); got != want {
			t.Errorf("ImageTags(%q) = %q, want %q", in, got, want)
		}
	}
	if got := slackui.ImageTags([]string{"a:v1", "b:v1", "c:v2"}); got != "v1,v2" {
		t.Errorf("duplicates: %q", got)
	}
}

func statusReply() *slackui.AppStatus {
	started := deployed
	return &slackui.AppStatus{
		App: "guestbook", Project: "default", SyncStatus: "Synced", Health: "Healthy",
		Revision: "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c", TargetRevision: "HEAD",
		AutoSync: &contract.AutoSyncPolicy{Prune: true, SelfHeal: true},
		Operation: &slackui.Operation{
			Phase: "Succeeded", Message: "successfully synced <!here>", InitiatedBy: "admin",
			Revision: "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c", StartedAt: started, FinishedAt: started.Add(42 * time.Second),
		},
	}
}

func TestRenderAppStatusWithoutRun(t *testing.T) {
	text, blocks := render(t, slackui.Message{Command: &slackui.CommandReply{AppStatus: statusReply()}})
	all := allText(t, blocks)
	for _, want := range []string{
		"*Status of* `guestbook` · project `default`", "`Synced` at `9b8c7d6`", "`Healthy`", "on (prune, self-heal)",
		"*Last operation*", "`Succeeded`", "initiated by admin", "took 42s", "&lt;!here&gt;", "No deploybot run in flight",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("status lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "<!here>") {
		t.Error("operation message not escaped")
	}
	if text != "guestbook: Synced, Healthy, last operation Succeeded; no deploybot run in flight" {
		t.Errorf("text = %q", text)
	}
}

func TestRenderAppStatusWithRunInFlight(t *testing.T) {
	s := statusReply()
	s.AutoSync = nil
	s.Operation = &slackui.Operation{Pending: true, InitiatedBy: "admin"}
	s.Run = &slackui.RunInfo{
		WorkflowID: "deploy-guestbook", URL: "http://localhost:8233/namespaces/default/workflows/deploy-guestbook/r1/history", Running: true,
		Status: &contract.DeployStatus{
			Step: contract.StepAwaitingApproval, App: "guestbook", Action: contract.ActionSync,
			RequestedBy: contract.User{ID: "U0ALICE"}, StartedAt: deployed, ExpiresAt: deployed.Add(30 * time.Minute),
			FromRevision: "abc1234", ToRevision: "def5678",
		},
	}
	text, blocks := render(t, slackui.Message{Command: &slackui.CommandReply{AppStatus: s}})
	all := allText(t, blocks)
	for _, want := range []string{
		"*Current operation*", "`Pending`", "*Auto-sync*\noff", "*sync* `guestbook` in flight: Waiting for approval",
		"requested by <@U0ALICE>", "`abc1234` → `def5678`", "Waiting for an approver until",
		"<http://localhost:8233/namespaces/default/workflows/deploy-guestbook/r1/history|View run in Temporal>",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("status lacks %q:\n%s", want, all)
		}
	}
	if !strings.Contains(text, "an operation is pending; a deploybot run is in flight") {
		t.Errorf("text = %q", text)
	}
}

func TestRenderAppStatusRunLookupNotes(t *testing.T) {
	s := statusReply()
	s.RunNote = "temporal <down>"
	_, blocks := render(t, slackui.Message{Command: &slackui.CommandReply{AppStatus: s}})
	if all := allText(t, blocks); !strings.Contains(all, "Could not check for a deploybot run: temporal &lt;down&gt;") {
		t.Errorf("no lookup note:\n%s", all)
	}
	s.RunNote = ""
	s.Run = &slackui.RunInfo{WorkflowID: "deploy-guestbook", State: "Completed", ClosedAt: deployed}
	_, blocks = render(t, slackui.Message{Command: &slackui.CommandReply{AppStatus: s}})
	if all := allText(t, blocks); !strings.Contains(all, "No deploybot run in flight") || !strings.Contains(all, "is completed since") {
		t.Errorf("closed run:\n%s", all)
	}
}

func TestRenderAppStatusHugeMessageStaysWithinLimits(t *testing.T) {
	s := statusReply()
	s.Operation.Message = strings.Repeat("é<&>", 2000)
	s.HealthMessage = strings.Repeat("x", 5000)
	render(t, slackui.Message{Command: &slackui.CommandReply{AppStatus: s}})
}

func TestRenderCommandReplyErrors(t *testing.T) {
	for name, m := range map[string]slackui.Message{
		"empty reply":  {Command: &slackui.CommandReply{}},
		"both":         {Command: &slackui.CommandReply{Table: &slackui.Table{Columns: []string{"a"}}, AppStatus: statusReply()}},
		"with text":    {Text: "hi", Command: &slackui.CommandReply{AppStatus: statusReply()}},
		"no columns":   {Command: &slackui.CommandReply{Table: &slackui.Table{}}},
		"no app":       {Command: &slackui.CommandReply{AppStatus: &slackui.AppStatus{}}},
		"wrong widths": {Command: &slackui.CommandReply{Table: &slackui.Table{Columns: []string{"a"}, Widths: []int{1, 2}}}},
	} {
		if _, _, err := slackui.Render(m); err == nil {
			t.Errorf("%s: Render succeeded, want an error", name)
		}
	}
}

func TestCommandReplyRendersTheSameAfterJSONRoundTrip(t *testing.T) {
	pages := slackui.SplitTable(slackui.AppsTable(manyApps(200), nil))
	for _, m := range []slackui.Message{
		{Command: &slackui.CommandReply{Table: &pages[len(pages)-1]}},
		{Command: &slackui.CommandReply{AppStatus: statusReply()}},
	} {
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
}

// Argo CD 3.1 keeps a switched-off policy with enabled: false: status must
// say off, not on.
func TestRenderAppStatusAutoSyncKeptOff(t *testing.T) {
	s := statusReply()
	no := false
	s.AutoSync = &contract.AutoSyncPolicy{Prune: true, Enabled: &no}
	_, blocks := render(t, slackui.Message{Command: &slackui.CommandReply{AppStatus: s}})
	all := allText(t, blocks)
	if !strings.Contains(all, "*Auto-sync*\noff (policy kept with `enabled: false`: prune)") {
		t.Errorf("status does not say auto-sync is off with its policy kept:\n%s", all)
	}
	yes := true
	s.AutoSync.Enabled = &yes
	_, blocks = render(t, slackui.Message{Command: &slackui.CommandReply{AppStatus: s}})
	if all := allText(t, blocks); !strings.Contains(all, "*Auto-sync*\non (prune)") {
		t.Errorf("enabled: true is on:\n%s", all)
	}
}
