package fuzz

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/deploybot/deploybot/internal/contract"
)

// fzSlash is a /deploy body as Slack sends it (form-encoded).
func fzSlash(user, name, text string) []byte {
	return []byte(url.Values{
		"token": {"unused"}, "team_id": {"T0DEPLOYBOT"}, "team_domain": {"deploybot"},
		"channel_id": {fzChannel}, "channel_name": {"deploys"},
		"user_id": {user}, "user_name": {name}, "command": {"/deploy"}, "text": {text},
		"response_url": {"https://hooks.slack.com/commands/T0DEPLOYBOT/1/x"}, "trigger_id": {"13345224609.738474920.8088930838d88f008e0"},
		"api_app_id": {"A0DEPLOYBOT"},
	}.Encode())
}

// FuzzSlashCommands posts any body, correctly signed, to /slack/commands.
// The answer is 200 or a 400 with a message, never a 5xx or a panic; only
// a form with a trigger_id, a channel_id and a Slack user id acts; what
// starts passes the contract's validation, is requested by that user under
// a clean name, carries the trigger_id as its request id, and every reply
// goes to the command's response_url.
func FuzzSlashCommands(f *testing.F) {
	f.Add(fzSlash(fzAlice, "alice", "sync guestbook"))
	f.Add(fzSlash(fzAlice, "alice", "rollback guestbook #3"))
	f.Add(fzSlash(fzBob, "bob\r\nX-Forged: 1", "autosync off guestbook"))
	f.Add(fzSlash(fzAlice, "\u200balice\u00a0  smith", "logs guestbook"))
	f.Add(fzSlash(fzAlice, "alice", ""))
	f.Add(fzSlash("U0MALLORY", "mallory", "status guestbook"))
	f.Add(fzSlash("alice", "alice", "list_apps"))
	f.Add(fzSlash(fzAlice, "alice", "sync <@U0BOB> <!here>"))
	// Slack's own example from "Verifying requests from Slack".
	f.Add([]byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"))
	f.Add([]byte("user_id=U0ALICE&channel_id=C1&trigger_id=%ff&text=sync+a"))
	f.Add([]byte("%zz"))
	g := newFzGateway(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		res := g.do(t, fzPost("/slack/commands", "application/x-www-form-urlencoded", body, fzSlackHeaders(body)))
		if res.code != http.StatusOK && res.code != http.StatusBadRequest {
			t.Fatalf("answer %d %s, want 200 or 400", res.code, res.body)
		}
		if len(res.calls) == 0 && len(res.replies) == 0 {
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil || form.Get("trigger_id") == "" || form.Get("channel_id") == "" || !contract.IsSlackUserID(form.Get("user_id")) {
			t.Fatalf("a body that is no slash command by a Slack user was acted on: %v %v", err, form)
		}
		if res.code != 200 {
			t.Fatalf("acted on, but answered %d %s", res.code, res.body)
		}
		checkStarts(t, res.calls)
		user := contract.User{ID: form.Get("user_id"), Name: contract.CleanName(form.Get("user_name"))}
		for _, c := range res.calls {
			switch {
			case c.deploy != nil:
				r := c.deploy.Request
				if r.RequestedBy != user || c.requestID != form.Get("trigger_id") || r.Channel != form.Get("channel_id") || r.ResponseURL != form.Get("response_url") {
					t.Errorf("StartDeploy %+v (request %q) is not the command's %v", r, c.requestID, form)
				}
			case c.command != nil:
				if c.command.RequestedBy != user || c.requestID != form.Get("trigger_id") || c.command.Reply.ResponseURL != form.Get("response_url") {
					t.Errorf("StartCommand %+v (request %q) is not the command's %v", c.command, c.requestID, form)
				}
			case c.decision != nil, c.gate != nil:
				t.Errorf("a slash command made a %s call", c.method)
			}
		}
		for _, r := range res.replies {
			if r.ResponseURL != form.Get("response_url") {
				t.Errorf("reply to %q, want the response_url %q", r.ResponseURL, form.Get("response_url"))
			}
		}
	})
}
