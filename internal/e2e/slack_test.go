package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/devenv"
	"github.com/deploybot/deploybot/internal/devenv/devtest"
	"github.com/deploybot/deploybot/internal/slackui"
)

// env is a running local environment.
type env struct {
	t     *testing.T
	urls  devenv.URLs
	slack *slack.Client
}

func startEnv(t *testing.T) *env {
	t.Helper()
	u := devtest.Start(t)
	return &env{t: t, urls: u, slack: slack.New(devenv.DevSlackToken, slack.OptionAPIURL(u.SlackAPI))}
}

// post sends body to the gateway with Slack's signature headers.
func (e *env) post(path, contentType, body string) int {
	e.t.Helper()
	ts := time.Now().Unix()
	req, _ := http.NewRequest(http.MethodPost, e.urls.Gateway+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Slack-Signature", gateway.Sign(devenv.DevSigningSecret, ts, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// slash runs `/deploy text` as user, the way Slack posts a slash command.
func (e *env) slash(user, name, text string) {
	e.t.Helper()
	form := url.Values{
		"team_id": {"T0DEPLOYBOT"}, "channel_id": {devenv.DevChannel.ID}, "channel_name": {devenv.DevChannel.Name},
		"user_id": {user}, "user_name": {name}, "command": {"/deploy"}, "text": {text},
		"response_url": {e.urls.Gateway + "/no-response-url"}, "trigger_id": {strconv.FormatInt(time.Now().UnixNano(), 10)},
	}
	if code := e.post("/slack/commands", "application/x-www-form-urlencoded", form.Encode()); code != http.StatusOK {
		e.t.Fatalf("/deploy %s: HTTP %d", text, code)
	}
}

// waitForEphemeralOrNot polls until user sees a message satisfying ok,
// for them only or for everyone.
func (e *env) waitForEphemeralOrNot(user, what string, ok func(playgroundMessage) bool) playgroundMessage {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range e.playgroundState(user) {
			if ok(m) {
				return m
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("never saw %s (as %s)", what, user)
	return playgroundMessage{}
}

// sayInPlayground types text in the playground page as user (a /deploy
// command gets the playground's response_url, so its answer shows there).
func (e *env) sayInPlayground(user, text string) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"user": user, "text": text})
	resp, err := http.Post(e.urls.Playground+"/api/say", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("playground say %q: HTTP %d", text, resp.StatusCode)
	}
}

// click presses a button of the message at ts, as user.
func (e *env) click(user, name, actionID, value, ts string) {
	e.t.Helper()
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "trigger_id": strconv.FormatInt(time.Now().UnixNano(), 10),
		"user":      map[string]string{"id": user, "username": name, "name": name},
		"team":      map[string]string{"id": "T0DEPLOYBOT"},
		"channel":   map[string]string{"id": devenv.DevChannel.ID, "name": devenv.DevChannel.Name},
		"container": map[string]any{"type": "message", "message_ts": ts, "channel_id": devenv.DevChannel.ID},
		"message":   map[string]any{"ts": ts, "type": "message"},
		"actions":   []map[string]any{{"type": "button", "action_id": actionID, "block_id": "deploybot.decision", "value": value, "action_ts": ts}},
	})
	form := url.Values{"payload": {string(payload)}}
	if code := e.post("/slack/interactions", "application/x-www-form-urlencoded", form.Encode()); code != http.StatusOK {
		e.t.Fatalf("click %s: HTTP %d", actionID, code)
	}
}

// waitFor polls the channel (and threads) until a message satisfies ok.
func (e *env) waitFor(what string, ok func(slack.Message) bool) slack.Message {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if m, found := e.find(ok); found {
			return m
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("never saw %s in #%s", what, devenv.DevChannel.Name)
	return slack.Message{}
}

// find looks once through the channel and its threads for a message.
func (e *env) find(ok func(slack.Message) bool) (slack.Message, bool) {
	hist, err := e.slack.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: devenv.DevChannel.ID, Limit: 200})
	if err != nil {
		return slack.Message{}, false
	}
	for _, m := range hist.Messages {
		if ok(m) {
			return m, true
		}
		if m.ReplyCount > 0 {
			replies, _, _, err := e.slack.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: devenv.DevChannel.ID, Timestamp: m.Timestamp})
			if err == nil {
				for _, r := range replies {
					if ok(r) {
						return r, true
					}
				}
			}
		}
	}
	return slack.Message{}, false
}

// playgroundMessage is a message as the playground page gets it, which
// (unlike the Web API's history) includes the ephemeral ones of its viewer.
type playgroundMessage struct {
	TS        string `json:"ts"`
	ThreadTS  string `json:"thread_ts"`
	Text      string `json:"text"`
	Ephemeral bool   `json:"ephemeral"`
}

// playgroundState returns the channel's messages as user sees them.
func (e *env) playgroundState(user string) []playgroundMessage {
	e.t.Helper()
	resp, err := http.Get(e.urls.Playground + "/api/state?user=" + url.QueryEscape(user))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Messages []playgroundMessage `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("playground state: HTTP %d, %v", resp.StatusCode, err)
	}
	return st.Messages
}

// waitForEphemeral polls until user has an ephemeral message satisfying ok.
func (e *env) waitForEphemeral(user, what string, ok func(playgroundMessage) bool) playgroundMessage {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range e.playgroundState(user) {
			if m.Ephemeral && ok(m) {
				return m
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("never saw %s (ephemeral for %s)", what, user)
	return playgroundMessage{}
}

func blocksText(m slack.Message) string {
	b, _ := json.Marshal(m.Blocks)
	return m.Text + string(b)
}

// TestSlashSyncApproveReachesHealthy drives the production path end to end:
// alice asks with /deploy, mallory's click is refused, bob approves, and the
// thread ends "Synced and Healthy".
func TestSlashSyncApproveReachesHealthy(t *testing.T) {
	e := startEnv(t)
	e.slash("U0ALICE", "alice", "sync guestbook")
	req := e.waitFor("the approval request", func(m slack.Message) bool {
		return strings.Contains(blocksText(m), slackui.ActionApprove) && strings.Contains(blocksText(m), "guestbook")
	})
	if s := blocksText(req); !strings.Contains(s, "*Commits*") || !strings.Contains(s, "to: ") {
		t.Errorf("the request does not name the commits Argo CD knows: %s", s)
	}
	e.click("U0MALLORY", "mallory", slackui.ActionApprove, "deploy-guestbook", req.Timestamp)
	// Her refusal comes before bob clicks, so a click of hers that counted
	// would show as "Approved by" her below.
	refusal := e.waitForEphemeral("U0MALLORY", "mallory's refusal", func(m playgroundMessage) bool {
		return strings.Contains(m.Text, "not an approver")
	})
	if refusal.ThreadTS != req.Timestamp {
		t.Errorf("mallory's refusal is in thread %q, want the request's %q", refusal.ThreadTS, req.Timestamp)
	}
	for _, m := range e.playgroundState("U0BOB") {
		if m.Ephemeral && strings.Contains(m.Text, "not an approver") {
			t.Errorf("bob sees mallory's refusal: %+v", m)
		}
	}
	e.click("U0BOB", "bob", slackui.ActionApprove, "deploy-guestbook", req.Timestamp)
	e.waitFor("Synced and Healthy in the thread", func(m slack.Message) bool {
		return m.ThreadTimestamp == req.Timestamp && strings.Contains(blocksText(m), "Synced and Healthy")
	})
	approved := e.waitFor("the request marked approved", func(m slack.Message) bool {
		return m.Timestamp == req.Timestamp && strings.Contains(blocksText(m), "Approved by")
	})
	if s := blocksText(approved); !strings.Contains(s, "U0BOB") || strings.Contains(s, "U0MALLORY") {
		t.Errorf("request = %s, want it approved by bob and mallory nowhere", s)
	}
	if strings.Contains(blocksText(approved), slackui.ActionApprove) {
		t.Error("approved request still shows buttons")
	}
}

// TestSlashListApps: a read-only command runs as a workflow on the worker and
// its table arrives in Slack.
func TestSlashListApps(t *testing.T) {
	e := startEnv(t)
	e.slash("U0ALICE", "alice", "list_apps")
	e.waitFor("the list_apps table", func(m slack.Message) bool {
		s := blocksText(m)
		return strings.Contains(s, "guestbook") && strings.Contains(s, "ledger") && strings.Contains(s, "payments") &&
			strings.Contains(s, "team-a/guestbook")
	})
}

// TestSyncAnAppInAnotherNamespace: team-a/guestbook is an Application in
// namespace team-a (project team-a), beside argocd's guestbook. It is synced
// in its own run, the thread names its project, and the simulator saw the
// Sync of team-a/guestbook only, not of argocd's guestbook.
func TestSyncAnAppInAnotherNamespace(t *testing.T) {
	e := startEnv(t)
	e.slash("U0ALICE", "alice", "sync team-a/guestbook")
	req := e.waitFor("the approval request for team-a/guestbook", func(m slack.Message) bool {
		s := blocksText(m)
		return strings.Contains(s, slackui.ActionApprove) && strings.Contains(s, "team-a/guestbook")
	})
	if s := blocksText(req); !strings.Contains(s, "team-a") || !strings.Contains(s, "deploy-team-a_guestbook") {
		t.Errorf("request = %s, want the project team-a and the run deploy-team-a_guestbook", s)
	}
	e.click("U0BOB", "bob", slackui.ActionApprove, "deploy-team-a_guestbook", req.Timestamp)
	done := e.waitFor("Synced and Healthy in the thread", func(m slack.Message) bool {
		return m.ThreadTimestamp == req.Timestamp && strings.Contains(blocksText(m), "Synced and Healthy")
	})
	if s := blocksText(done); !strings.Contains(s, "team-a/guestbook") {
		t.Errorf("outcome = %s, want it to name team-a/guestbook", s)
	}
	calls := simCalls(t, e.urls.ArgoCDSim)
	if calls["Sync"]["team-a/guestbook"] != 1 || calls["Sync"]["guestbook"] != 0 {
		t.Errorf("the simulator saw Sync calls %v, want one of team-a/guestbook and none of guestbook", calls["Sync"])
	}
}

// simCalls reads a simulator's call counts: method → app → calls.
func simCalls(t *testing.T, simURL string) map[string]map[string]int {
	t.Helper()
	var stats struct {
		Calls map[string]map[string]int `json:"calls"`
	}
	resp, err := http.Get(simURL + "/sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	return stats.Calls
}

// TestSyncOnTheSecondArgoCD: `deploybot dev` runs two Argo CDs; search@prod
// is synced on the second one, in its own run, and an app of a project prod
// does not allow is refused.
func TestSyncOnTheSecondArgoCD(t *testing.T) {
	e := startEnv(t)
	e.slash("U0ALICE", "alice", "sync search@prod")
	req := e.waitFor("the approval request for search@prod", func(m slack.Message) bool {
		return strings.Contains(blocksText(m), slackui.ActionApprove) && strings.Contains(blocksText(m), "search@prod")
	})
	e.click("U0BOB", "bob", slackui.ActionApprove, "deploy-search~prod", req.Timestamp)
	e.waitFor("Synced and Healthy in the thread", func(m slack.Message) bool {
		return m.ThreadTimestamp == req.Timestamp && strings.Contains(blocksText(m), "Synced and Healthy")
	})
	if calls := simCalls(t, e.urls.ArgoCDSimProd); calls["Sync"]["search"] != 1 {
		t.Errorf("the prod simulator saw Sync calls %v, want one of search", calls["Sync"])
	}

	e.slash("U0ALICE", "alice", "sync payments@prod")
	e.waitFor("the refusal of payments@prod", func(m slack.Message) bool {
		return strings.Contains(blocksText(m), `project \"payments\" is not among the projects deploybot may use on Argo CD instance \"prod\"`) ||
			strings.Contains(blocksText(m), `project "payments" is not among the projects deploybot may use on Argo CD instance "prod"`)
	})
}

// TestAutoSyncOffInArgoCD31: `deploybot dev` speaks Argo CD 3.1, so
// auto-sync is switched off with automated.enabled: false, and the thread
// says so. (Turning it back on is covered against the simulator in
// internal/argocd; a second run here would race the first one's close.)
func TestAutoSyncOffInArgoCD31(t *testing.T) {
	e := startEnv(t)
	e.slash("U0ALICE", "alice", "autosync payments off")
	req := e.waitFor("the approval request for autosync payments off", func(m slack.Message) bool {
		return strings.Contains(blocksText(m), slackui.ActionApprove) && strings.Contains(blocksText(m), "payments") && strings.Contains(blocksText(m), "auto-sync off")
	})
	if s := blocksText(req); strings.Contains(s, "autosync_off") || strings.Contains(s, "unknown") {
		t.Errorf("the request names the internal action or an unknown revision: %s", s)
	}
	e.click("U0BOB", "bob", slackui.ActionApprove, "deploy-payments", req.Timestamp)
	e.waitFor("the outcome of autosync off", func(m slack.Message) bool {
		s := blocksText(m)
		return m.ThreadTimestamp == req.Timestamp && strings.Contains(s, "`enabled: false`") && strings.Contains(s, "v3.1")
	})
	e.waitFor("auto-sync is off, without a health verdict", func(m slack.Message) bool {
		s := blocksText(m)
		return m.ThreadTimestamp == req.Timestamp && strings.Contains(s, "Auto-sync is off") && !strings.Contains(s, "Synced and Healthy")
	})
}

// TestTwoApprovalsUnderTheDevPolicy: ledger (project payments) needs one
// of @platform and one of @payments-leads under `deploybot dev`'s policy;
// the runs API lists both approvers and the rule.
func TestTwoApprovalsUnderTheDevPolicy(t *testing.T) {
	e := startEnv(t)
	e.slash("U0ALICE", "alice", "sync ledger")
	req := e.waitFor("the approval request for ledger", func(m slack.Message) bool {
		s := blocksText(m)
		return strings.Contains(s, slackui.ActionApprove) && strings.Contains(s, "ledger") && strings.Contains(s, "Needs 2 approvals")
	})
	e.click("U0BOB", "bob", slackui.ActionApprove, "deploy-ledger", req.Timestamp)
	e.waitFor("bob's approval counted on the request", func(m slack.Message) bool {
		return m.Timestamp == req.Timestamp && strings.Contains(blocksText(m), "1 of @platform (✓ ")
	})
	e.click("U0CAROL", "carol", slackui.ActionApprove, "deploy-ledger", req.Timestamp)
	e.waitFor("Synced and Healthy in the thread", func(m slack.Message) bool {
		return m.ThreadTimestamp == req.Timestamp && strings.Contains(blocksText(m), "Synced and Healthy")
	})
}

// TestHistoryOfAnApp: after a sync approved by bob and one he rejects,
// `history guestbook` lists both, newest first, from Temporal visibility:
// who asked and decided, the action, revisions, outcome, duration, link.
func TestHistoryOfAnApp(t *testing.T) {
	e := startEnv(t)
	e.slash("U0ALICE", "alice", "sync guestbook")
	req := e.waitFor("the approval request", func(m slack.Message) bool {
		return strings.Contains(blocksText(m), slackui.ActionApprove) && strings.Contains(blocksText(m), "guestbook")
	})
	e.click("U0BOB", "bob", slackui.ActionApprove, "deploy-guestbook", req.Timestamp)
	e.waitFor("Synced and Healthy in the thread", func(m slack.Message) bool {
		return m.ThreadTimestamp == req.Timestamp && strings.Contains(blocksText(m), "Synced and Healthy")
	})
	e.waitFor("the first run closed", func(m slack.Message) bool {
		return m.Timestamp == req.Timestamp && strings.Contains(blocksText(m), "Approved by")
	})
	// The run closes right after its last message; the next may start then.
	var second slack.Message
	for deadline := time.Now().Add(time.Minute); ; {
		e.slash("U0ALICE", "alice", "sync guestbook")
		m, ok := e.find(func(m slack.Message) bool {
			return m.Timestamp != req.Timestamp && strings.Contains(blocksText(m), slackui.ActionReject) && strings.Contains(blocksText(m), "guestbook")
		})
		if ok {
			second = m
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second sync was never asked for")
		}
		time.Sleep(time.Second)
	}
	e.click("U0BOB", "bob", slackui.ActionReject, "deploy-guestbook", second.Timestamp)
	e.waitFor("the second sync rejected", func(m slack.Message) bool {
		return m.Timestamp == second.Timestamp && strings.Contains(blocksText(m), "Rejected by")
	})
	// A slash command's answer is for its asker only: typed in the
	// playground, it comes back to alice's page through the response_url.
	e.sayInPlayground("U0ALICE", "/deploy history guestbook 5")
	h := e.waitForEphemeral("U0ALICE", "the history of guestbook", func(m playgroundMessage) bool {
		return strings.Contains(m.Text, "deploybot runs of") && strings.Contains(m.Text, "guestbook")
	})
	s := h.Text
	t.Logf("history:\n%s", s)
	if rejected, succeeded := strings.Index(s, "rejected by"), strings.Index(s, "succeeded"); rejected < 0 || succeeded < 0 || rejected > succeeded {
		t.Errorf("history does not list the rejected sync, then the one that succeeded:\n%s", s)
	}
	for _, want := range []string{"Last 2 deploybot runs", "asked by <@U0ALICE>", "approved by <@U0BOB>", "rejected by <@U0BOB>", "succeeded", "→ `", "|run>"} {
		if !strings.Contains(s, want) {
			t.Errorf("history lacks %q:\n%s", want, s)
		}
	}
}

// TestFreezeRefusesChanges: in deploybot dev, alice freezes project
// payments; a sync of ledger (project payments) is refused naming the
// freeze, `freezes` lists it, and after `unfreeze` the sync is asked for.
func TestFreezeRefusesChanges(t *testing.T) {
	e := startEnv(t)
	seen := func(what, want string) {
		t.Helper()
		e.waitForEphemeralOrNot("U0ALICE", what, func(m playgroundMessage) bool { return strings.Contains(m.Text, want) })
	}
	e.sayInPlayground("U0ALICE", "/deploy freeze project:payments for 1h Quarter-end close")
	seen("the freeze set", "froze the apps of project `payments`")
	e.sayInPlayground("U0ALICE", "/deploy sync ledger")
	seen("the sync refused by the freeze", "is frozen until")
	e.sayInPlayground("U0ALICE", "/deploy freezes")
	seen("the freeze listed", "1 freeze in force")
	e.sayInPlayground("U0ALICE", "/deploy status ledger")
	seen("status showing the freeze", "frozen until")
	e.sayInPlayground("U0ALICE", "/deploy unfreeze project:payments")
	seen("the freeze lifted", "lifted the freeze")
	e.sayInPlayground("U0ALICE", "/deploy sync ledger")
	e.waitFor("the approval request for ledger", func(m slack.Message) bool {
		return strings.Contains(blocksText(m), slackui.ActionApprove) && strings.Contains(blocksText(m), "ledger")
	})
}
