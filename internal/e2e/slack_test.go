package e2e_test

import (
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
		hist, err := e.slack.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: devenv.DevChannel.ID, Limit: 200})
		if err == nil {
			for _, m := range hist.Messages {
				if ok(m) {
					return m
				}
				if m.ReplyCount > 0 {
					replies, _, _, err := e.slack.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: devenv.DevChannel.ID, Timestamp: m.Timestamp})
					if err == nil {
						for _, r := range replies {
							if ok(r) {
								return r
							}
						}
					}
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("never saw %s in #%s", what, devenv.DevChannel.Name)
	return slack.Message{}
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
	e.click("U0MALLORY", "mallory", slackui.ActionApprove, "deploy-guestbook", req.Timestamp)
	e.click("U0BOB", "bob", slackui.ActionApprove, "deploy-guestbook", req.Timestamp)
	e.waitFor("Synced and Healthy in the thread", func(m slack.Message) bool {
		return m.ThreadTimestamp == req.Timestamp && strings.Contains(blocksText(m), "Synced and Healthy")
	})
	approved := e.waitFor("the request marked approved", func(m slack.Message) bool {
		return m.Timestamp == req.Timestamp && strings.Contains(blocksText(m), "Approved by")
	})
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
		return strings.Contains(s, "guestbook") && strings.Contains(s, "ledger") && strings.Contains(s, "payments")
	})
}
