package fuzz

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// fzMention is an Events API app_mention body as Slack sends it.
func fzMention(eventID, user, text string, extra map[string]any) []byte {
	ev := map[string]any{"type": "app_mention", "user": user, "text": "<@U0DEPLOYBOT> " + text, "ts": "1712000000.000100",
		"channel": fzChannel, "event_ts": "1712000000.000100"}
	for k, v := range extra {
		ev[k] = v
	}
	b, _ := json.Marshal(map[string]any{
		"token": "unused", "team_id": "T0DEPLOYBOT", "api_app_id": "A0DEPLOYBOT",
		"type": "event_callback", "event_id": eventID, "event_time": 1712000000,
		"event": ev, "authorizations": []map[string]any{{"user_id": "U0DEPLOYBOT", "is_bot": true}},
	})
	return b
}

// FuzzSlackEvents posts any Events API body, correctly signed, to
// /slack/events. The answer is 200 or a 400 with a message, never a 5xx or
// a panic; a url_verification echoes its challenge; only an unedited
// app_mention by a human with a Slack user id starts or answers anything,
// and what starts passes the contract's validation, names that user, and
// carries the event's id, channel and thread.
func FuzzSlackEvents(f *testing.F) {
	f.Add(fzMention("Ev01", fzAlice, "sync guestbook", nil), uint8(0))
	f.Add(fzMention("Ev02", fzAlice, "rollback guestbook 3", map[string]any{"thread_ts": "1711999999.000200"}), uint8(0))
	f.Add(fzMention("Ev03", fzBob, "status guestbook", nil), uint8(1))
	f.Add(fzMention("Ev04", fzAlice, "autosync guestbook off", nil), uint8(0))
	f.Add(fzMention("Ev05", fzAlice, "help", nil), uint8(0))
	f.Add(fzMention("Ev06", "U0MALLORY", "sync guestbook", nil), uint8(0))
	f.Add(fzMention("Ev07", fzAlice, "snyc <!channel>", nil), uint8(2))
	f.Add(fzMention("Ev08", fzAlice, "sync guestbook", map[string]any{"bot_id": "B0OTHER"}), uint8(0))
	f.Add(fzMention("Ev09", fzAlice, "sync guestbook", map[string]any{"edited": map[string]any{"user": fzAlice, "ts": "1712000001.000000"}}), uint8(0))
	f.Add(fzMention("Ev10", "U0ALICE\n", "sync guestbook", nil), uint8(0))
	f.Add(fzMention("Ev11", fzAlice, "logs guestbook", map[string]any{"channel": ""}), uint8(0))
	f.Add([]byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`), uint8(0))
	f.Add([]byte(`{"type":"event_callback","event_id":"Ev12","event":{"type":"message","user":"U0ALICE","text":"hi","ts":"1.2","channel":"C1"}}`), uint8(0))
	f.Add([]byte(`{"type":"event_callback","event":"not an object"}`), uint8(0))
	f.Add([]byte(`{"type":"app_rate_limited","minute_rate_limited":1518467820}`), uint8(0))
	f.Add([]byte(`not json`), uint8(0))
	g := newFzGateway(f)
	f.Fuzz(func(t *testing.T, body []byte, retry uint8) {
		hdr := fzSlackHeaders(body)
		if retry > 0 {
			hdr.Set("X-Slack-Retry-Num", fmt.Sprint(retry))
			hdr.Set("X-Slack-Retry-Reason", "http_timeout")
		}
		res := g.do(t, fzPost("/slack/events", "application/json", body, hdr))
		if res.code != http.StatusOK && res.code != http.StatusBadRequest {
			t.Fatalf("answer %d %s, want 200 or 400", res.code, res.body)
		}
		// What Slack sent, decoded independently of the gateway.
		var env struct {
			Type      string          `json:"type"`
			Challenge string          `json:"challenge"`
			EventID   string          `json:"event_id"`
			Event     json.RawMessage `json:"event"`
		}
		envOK := json.Unmarshal(body, &env) == nil
		if envOK && env.Type == "url_verification" {
			var got struct {
				Challenge *string `json:"challenge"`
			}
			if res.code != 200 || json.Unmarshal(res.body, &got) != nil || got.Challenge == nil || *got.Challenge != env.Challenge {
				t.Fatalf("url_verification answered %d %s, want the challenge %q", res.code, res.body, env.Challenge)
			}
		}
		var ev struct {
			Type     string          `json:"type"`
			User     string          `json:"user"`
			TS       string          `json:"ts"`
			ThreadTS string          `json:"thread_ts"`
			Channel  string          `json:"channel"`
			BotID    string          `json:"bot_id"`
			Edited   json.RawMessage `json:"edited"`
		}
		evOK := envOK && env.Type == "event_callback" && json.Unmarshal(env.Event, &ev) == nil
		acted := len(res.calls) > 0 || len(res.replies) > 0
		if !acted {
			return
		}
		if !evOK || ev.Type != "app_mention" || ev.BotID != "" || (len(ev.Edited) > 0 && string(ev.Edited) != "null") {
			t.Fatalf("a body that is no fresh human app_mention was acted on: calls %+v, replies %+v", res.calls, res.replies)
		}
		if res.code != 200 {
			t.Fatalf("acted on, but answered %d %s", res.code, res.body)
		}
		checkStarts(t, res.calls)
		thread := ev.ThreadTS
		if thread == "" {
			thread = ev.TS
		}
		for _, c := range res.calls {
			switch {
			case c.deploy != nil:
				r := c.deploy.Request
				if r.RequestedBy.ID != ev.User || c.requestID != env.EventID || r.Channel != ev.Channel || r.ThreadTS != thread {
					t.Errorf("StartDeploy %+v (request %q) is not the event's (user %q, event %q, channel %q, thread %q)",
						r, c.requestID, ev.User, env.EventID, ev.Channel, thread)
				}
			case c.command != nil:
				if c.command.RequestedBy.ID != ev.User || c.requestID != env.EventID || c.command.Reply.Channel != ev.Channel {
					t.Errorf("StartCommand %+v (request %q) is not the event's", c.command, c.requestID)
				}
			case c.decision != nil, c.gate != nil:
				t.Errorf("a mention made a %s call", c.method)
			}
		}
		for _, r := range res.replies {
			if r.Channel != ev.Channel || r.ThreadTS != thread {
				t.Errorf("reply in %s/%s, want the mention's %s/%s", r.Channel, r.ThreadTS, ev.Channel, thread)
			}
		}
	})
}
