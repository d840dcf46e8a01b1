package slackapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/slackapi"
)

const (
	token   = "xoxb-test"
	channel = "C0DEPLOY"
)

func start(t *testing.T) (*slackapi.Server, *slack.Client) {
	t.Helper()
	srv := slackapi.StartTest(t, slackapi.Options{
		Token: token,
		Users: []slackapi.User{
			{ID: "U0ALICE", Name: "alice", RealName: "Alice A."},
			{ID: "U0BOB", Name: "bob"},
			{ID: "U0MALLORY", Name: "mallory"},
		},
		Channels: []slackapi.Channel{{ID: channel, Name: "deploys"}, {ID: "C0OTHER", Name: "other"}},
	})
	return srv, client(srv, token)
}

func client(srv *slackapi.Server, tok string) *slack.Client {
	return slack.New(tok, slack.OptionAPIURL(srv.URL()+"/api/"))
}

func slackCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	if err == nil {
		return ""
	}
	return "not a slack error: " + err.Error()
}

func approvalBlocks(wfID string) []slack.Block {
	return []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*alice* wants to sync *guestbook*", false, false), nil, nil),
		slack.NewActionBlock("approval",
			slack.NewButtonBlockElement("deploybot.approve", wfID, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)),
			slack.NewButtonBlockElement("deploybot.reject", wfID, slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false)),
		),
	}
}

func TestAuthTest(t *testing.T) {
	srv, api := start(t)
	res, err := api.AuthTest()
	if err != nil {
		t.Fatal(err)
	}
	if res.UserID != slackapi.DefaultBotUserID || res.BotID != slackapi.BotID || res.TeamID != slackapi.TeamID || res.User != "deploybot" {
		t.Errorf("auth.test = %+v", res)
	}
	if srv.BotUser().ID != res.UserID {
		t.Errorf("BotUser = %+v", srv.BotUser())
	}
	if n := srv.Calls("auth.test"); n != 1 {
		t.Errorf("Calls(auth.test) = %d", n)
	}
}

func TestBotFromOptions(t *testing.T) {
	srv := slackapi.StartTest(t, slackapi.Options{Users: []slackapi.User{{ID: "U0SHIPIT", Name: "shipit", IsBot: true}}})
	res, err := client(srv, "anything").AuthTest()
	if err != nil || res.UserID != "U0SHIPIT" || res.User != "shipit" {
		t.Fatalf("auth.test = %+v, %v", res, err)
	}
}

func TestAuth(t *testing.T) {
	srv, _ := start(t)
	if _, err := client(srv, "xoxb-wrong").AuthTest(); slackCode(err) != "invalid_auth" {
		t.Errorf("wrong token: %v", err)
	}
	if _, _, err := client(srv, "").PostMessage(channel, slack.MsgOptionText("hi", false)); slackCode(err) != "not_authed" {
		t.Errorf("no token: %v", err)
	}
	// The header form, as slack-go's JSON and GET methods and other clients send it.
	for _, tc := range []struct{ auth, want string }{
		{"Bearer " + token, `"ok":true`},
		{"Bearer nope", `"error":"invalid_auth"`},
		{"Basic " + token, `"error":"invalid_auth"`},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/api/auth.test", nil)
		req.Header.Set("Authorization", tc.auth)
		if body := do(t, req, http.StatusOK); !strings.Contains(body, tc.want) {
			t.Errorf("%s: %s", tc.auth, body)
		}
	}
	if len(srv.Messages(channel)) != 0 {
		t.Error("a refused call stored a message")
	}
}

func TestEmptyTokenAcceptsAnything(t *testing.T) {
	srv := slackapi.StartTest(t, slackapi.Options{})
	if _, _, err := client(srv, "").PostMessage("C0ANY", slack.MsgOptionText("hi", false)); err != nil {
		t.Fatal(err)
	}
	if got := srv.Messages("C0ANY"); len(got) != 1 || got[0].Text != "hi" {
		t.Errorf("open channels: %+v", got)
	}
}

func do(t *testing.T, req *http.Request, wantStatus int) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Errorf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, wantStatus, b)
	}
	return string(b)
}

func TestUnknownMethod(t *testing.T) {
	srv, _ := start(t)
	for _, m := range []string{"chat.fly", "files.upload"} {
		resp, err := http.PostForm(srv.URL()+"/api/"+m, url.Values{"token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		want := map[string]string{"chat.fly": "unknown_method", "files.upload": "method_deprecated"}[m]
		if resp.StatusCode != 200 || body.OK || body.Error != want {
			t.Errorf("%s: %d %+v, want 200 %s", m, resp.StatusCode, body, want)
		}
	}
}

func TestPostUpdateHistory(t *testing.T) {
	srv, api := start(t)
	md := slack.SlackMetadata{EventType: "deploybot_request", EventPayload: map[string]any{"workflow_id": "deploy-guestbook"}}
	ch, ts, msg, err := api.PostMessageWithResponse(channel,
		slack.MsgOptionText("sync guestbook?", false),
		slack.MsgOptionBlocks(approvalBlocks("deploy-guestbook")...),
		slack.MsgOptionMetadata(md))
	if err != nil {
		t.Fatal(err)
	}
	if ch != channel || ts == "" || msg.Timestamp != ts || msg.Text != "sync guestbook?" || len(msg.Blocks.BlockSet) != 2 ||
		msg.BotID != slackapi.BotID || msg.User != slackapi.DefaultBotUserID {
		t.Fatalf("postMessage = %s %s %+v", ch, ts, msg.Msg)
	}
	if msg.Metadata.EventType != "deploybot_request" {
		t.Errorf("response metadata = %+v", msg.Metadata)
	}
	stored, ok := srv.Message(channel, ts)
	if !ok || stored.User != slackapi.DefaultBotUserID || !strings.Contains(string(stored.Blocks), `"action_id":"deploybot.approve"`) ||
		stored.Metadata == nil || stored.Metadata.EventPayload["workflow_id"] != "deploy-guestbook" || stored.Edited {
		t.Fatalf("stored = %+v", stored)
	}
	// Blocks are kept as sent.
	sent, _ := json.Marshal(approvalBlocks("deploy-guestbook"))
	if !bytes.Equal(stored.Blocks, sent) {
		t.Errorf("blocks changed:\n got %s\nwant %s", stored.Blocks, sent)
	}

	ts2 := post(t, api, channel, "second")
	if !(ts < ts2) {
		t.Errorf("ts not increasing: %s then %s", ts, ts2)
	}

	// Update replaces text and blocks (an empty array clears them); metadata stays.
	done := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "Approved by bob", false, false), nil, nil)
	_, uts, utext, err := api.UpdateMessage(channel, ts, slack.MsgOptionText("approved", false), slack.MsgOptionBlocks(done))
	if err != nil || uts != ts || utext != "approved" {
		t.Fatalf("update = %s %q %v", uts, utext, err)
	}
	if _, _, _, err := api.UpdateMessage(channel, ts2, slack.MsgOptionBlocks()); err != nil {
		t.Fatal(err)
	}
	stored, _ = srv.Message(channel, ts)
	if !stored.Edited || stored.Updates != 1 || stored.Text != "approved" || strings.Contains(string(stored.Blocks), "deploybot.approve") ||
		stored.Metadata == nil {
		t.Errorf("after update: %+v", stored)
	}
	if m, _ := srv.Message(channel, ts2); m.Blocks != nil || m.Text != "second" {
		t.Errorf("blocks=[] should clear blocks only: %+v", m)
	}

	h, err := api.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: channel})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 2 || h.Messages[0].Timestamp != ts2 || h.Messages[1].Timestamp != ts {
		t.Fatalf("history not newest first: %+v", h.Messages)
	}
	first := h.Messages[1]
	if first.Edited == nil || first.Text != "approved" || first.Metadata.EventType != "" {
		t.Errorf("history without include_all_metadata: %+v", first.Msg)
	}
	h, err = api.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: channel, IncludeAllMetadata: true})
	if err != nil || h.Messages[1].Metadata.EventType != "deploybot_request" || h.Messages[1].Metadata.EventPayload["workflow_id"] != "deploy-guestbook" {
		t.Errorf("history with include_all_metadata: %+v %v", h.Messages[1].Metadata, err)
	}
	if n := srv.Calls("chat.postMessage"); n != 2 {
		t.Errorf("Calls(chat.postMessage) = %d", n)
	}
}

func post(t *testing.T, api *slack.Client, ch, text string, opts ...slack.MsgOption) string {
	t.Helper()
	_, ts, err := api.PostMessage(ch, append([]slack.MsgOption{slack.MsgOptionText(text, false)}, opts...)...)
	if err != nil {
		t.Fatalf("post %q: %v", text, err)
	}
	return ts
}

func TestErrors(t *testing.T) {
	srv, api := start(t)
	ts := post(t, api, channel, "hello")
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"unknown channel", func() error { _, _, err := api.PostMessage("C0NOPE", slack.MsgOptionText("x", false)); return err }, "channel_not_found"},
		{"no text", func() error { _, _, err := api.PostMessage(channel); return err }, "no_text"},
		{"update unknown ts", func() error {
			_, _, _, err := api.UpdateMessage(channel, "1700000000.000001", slack.MsgOptionText("x", false))
			return err
		}, "message_not_found"},
		{"update in other channel", func() error {
			_, _, _, err := api.UpdateMessage("C0OTHER", ts, slack.MsgOptionText("x", false))
			return err
		}, "message_not_found"},
		{"delete unknown ts", func() error { _, _, err := api.DeleteMessage(channel, "1700000000.000001"); return err }, "message_not_found"},
		{"reply to unknown thread", func() error {
			_, _, err := api.PostMessage(channel, slack.MsgOptionText("x", false), slack.MsgOptionTS("1700000000.000001"))
			return err
		}, "thread_not_found"},
		{"replies of unknown ts", func() error {
			_, _, _, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: "1700000000.000001"})
			return err
		}, "thread_not_found"},
		{"history of unknown channel", func() error {
			_, err := api.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: "C0NOPE"})
			return err
		}, "channel_not_found"},
		{"ephemeral for unknown user", func() error {
			_, err := api.PostEphemeral(channel, "U0NOBODY", slack.MsgOptionText("x", false))
			return err
		}, "user_not_in_channel"},
		{"unknown user", func() error { _, err := api.GetUserInfo("U0NOBODY"); return err }, "user_not_found"},
		{"bad metadata", func() error {
			_, _, err := api.PostMessage(channel, slack.MsgOptionText("x", false), slack.MsgOptionMetadata(slack.SlackMetadata{}))
			return err
		}, "invalid_metadata_schema"},
		{"files.info unknown", func() error { _, _, _, err := api.GetFileInfo("F404", 0, 0); return err }, "file_not_found"},
		{"bad cursor", func() error {
			_, err := api.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: channel, Cursor: "!!"})
			return err
		}, "invalid_cursor"},
	}
	for _, tc := range cases {
		if got := slackCode(tc.call()); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	if n := len(srv.Messages(channel)); n != 1 {
		t.Errorf("%d messages after failed calls, want 1", n)
	}
}

func TestLimits(t *testing.T) {
	srv, api := start(t)
	long := strings.Repeat("é", slackapi.MaxTextChars) // characters, not bytes
	post(t, api, channel, long)
	if _, _, err := api.PostMessage(channel, slack.MsgOptionText(long+"x", false)); slackCode(err) != "msg_too_long" {
		t.Errorf("40,001 chars: %v", err)
	}
	div := make([]slack.Block, slackapi.MaxBlocks+1)
	for i := range div {
		div[i] = slack.NewDividerBlock()
	}
	if _, _, err := api.PostMessage(channel, slack.MsgOptionBlocks(div[:slackapi.MaxBlocks]...)); err != nil {
		t.Errorf("50 blocks: %v", err)
	}
	if _, _, err := api.PostMessage(channel, slack.MsgOptionBlocks(div...)); slackCode(err) != "invalid_blocks" {
		t.Errorf("51 blocks: %v", err)
	}
	big := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, strings.Repeat("x", 3001), false, false), nil, nil)
	_, _, err := api.PostMessage(channel, slack.MsgOptionBlocks(big))
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "invalid_blocks" || len(se.Errors) != 1 || se.Errors[0].Message == nil ||
		!strings.Contains(*se.Errors[0].Message, "/blocks/0/text/text") {
		t.Errorf("section over 3,000 chars: %#v", err)
	}
	btn := slack.NewActionBlock("a", slack.NewButtonBlockElement("x", "v", slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("b", 76), false, false)))
	if _, _, err := api.PostMessage(channel, slack.MsgOptionBlocks(btn)); slackCode(err) != "invalid_blocks" {
		t.Errorf("button text over 75: %v", err)
	}
	for _, raw := range []string{`{"type":"divider"}`, `not json`, `[1]`, `[{"text":"no type"}]`} {
		resp, err := http.PostForm(srv.URL()+"/api/chat.postMessage", url.Values{"token": {token}, "channel": {channel}, "text": {"x"}, "blocks": {raw}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `"error":"invalid_blocks"`) {
			t.Errorf("blocks %s: %s", raw, b)
		}
	}
	if _, _, _, err := api.UpdateMessage(channel, srv.Messages(channel)[0].TS, slack.MsgOptionText(long+"x", false)); slackCode(err) != "msg_too_long" {
		t.Errorf("update over limit: %v", err)
	}
	_, err = api.GetUploadURLExternalContext(context.Background(), slack.GetUploadURLExternalParameters{FileName: "big.bin", FileSize: slackapi.MaxUploadBytes + 1})
	if slackCode(err) != "file_too_large" {
		t.Errorf("51 MB upload: %v", err)
	}
}

func TestThreadsAndEphemeral(t *testing.T) {
	srv, api := start(t)
	parent := post(t, api, channel, "request")
	r1 := post(t, api, channel, "syncing…", slack.MsgOptionTS(parent))
	eph, err := api.PostEphemeral(channel, "U0MALLORY", slack.MsgOptionText("you may not approve", false), slack.MsgOptionTS(parent))
	if err != nil || eph == "" {
		t.Fatalf("ephemeral: %q %v", eph, err)
	}
	r2 := post(t, api, channel, "done", slack.MsgOptionTS(r1), slack.MsgOptionBroadcast()) // reply to a reply lands in the thread
	other := post(t, api, channel, "unrelated")

	msgs, hasMore, _, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: parent})
	if err != nil || hasMore {
		t.Fatal(err, hasMore)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Timestamp)
	}
	if !slices.Equal(got, []string{parent, r1, r2}) {
		t.Fatalf("replies = %v, want parent %s then %s %s (no ephemeral)", got, parent, r1, r2)
	}
	if msgs[0].ReplyCount != 2 || msgs[0].ThreadTimestamp != parent || msgs[0].LatestReply != r2 ||
		msgs[1].ThreadTimestamp != parent || msgs[1].ParentUserId != slackapi.DefaultBotUserID {
		t.Errorf("thread fields: parent %+v reply %+v", msgs[0].Msg, msgs[1].Msg)
	}

	h, err := api.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: channel})
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, m := range h.Messages {
		got = append(got, m.Timestamp)
	}
	if !slices.Equal(got, []string{other, r2, parent}) {
		t.Errorf("history = %v, want %s %s(broadcast) %s", got, other, r2, parent)
	}
	if h.Messages[1].SubType != "thread_broadcast" || h.Messages[1].Root == nil || h.Messages[1].Root.Timestamp != parent {
		t.Errorf("broadcast reply: %+v", h.Messages[1].Msg)
	}

	thread := srv.Thread(channel, parent)
	if len(thread) != 4 || thread[0].TS != parent || !thread[2].Ephemeral || thread[2].EphemeralUser != "U0MALLORY" ||
		thread[2].ThreadTS != parent || thread[2].TS != eph || !thread[3].Broadcast || thread[3].ThreadTS != parent {
		t.Errorf("Thread = %+v", thread)
	}
	if all := srv.Messages(channel); len(all) != 5 {
		t.Errorf("Messages has %d, want 5", len(all))
	}
	// Replies asked for by a reply's ts: only that reply, as on Slack.
	msgs, _, _, err = api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: r1})
	if err != nil || len(msgs) != 1 || msgs[0].Timestamp != r1 {
		t.Errorf("replies(reply) = %v %v", msgs, err)
	}
	// Ephemeral messages cannot be edited through the API.
	if _, _, _, err := api.UpdateMessage(channel, eph, slack.MsgOptionText("x", false)); slackCode(err) != "message_not_found" {
		t.Errorf("update ephemeral: %v", err)
	}
}

func TestDelete(t *testing.T) {
	srv, api := start(t)
	ts := post(t, api, channel, "oops")
	keep := post(t, api, channel, "keep")
	if _, dts, err := api.DeleteMessage(channel, ts); err != nil || dts != ts {
		t.Fatal(dts, err)
	}
	if _, _, err := api.DeleteMessage(channel, ts); slackCode(err) != "message_not_found" {
		t.Errorf("second delete: %v", err)
	}
	if m, ok := srv.Message(channel, ts); !ok || !m.Deleted {
		t.Errorf("deleted message: %+v %v", m, ok)
	}
	h, _ := api.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: channel})
	if len(h.Messages) != 1 || h.Messages[0].Timestamp != keep {
		t.Errorf("history after delete: %+v", h.Messages)
	}
	// A member's message is not the bot's to change.
	um, err := srv.PostUserMessage(channel, "U0ALICE", "", "@deploybot sync guestbook")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.DeleteMessage(channel, um.TS); slackCode(err) != "cant_delete_message" {
		t.Errorf("delete member's message: %v", err)
	}
	if _, _, _, err := api.UpdateMessage(channel, um.TS, slack.MsgOptionText("x", false)); slackCode(err) != "cant_update_message" {
		t.Errorf("update member's message: %v", err)
	}
}

func TestHistoryWindowAndPaging(t *testing.T) {
	_, api := start(t)
	var tss []string
	for i := range 5 {
		tss = append(tss, post(t, api, channel, fmt.Sprint(i)))
	}
	var got []string
	cursor := ""
	pages := 0
	for {
		h, err := api.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: channel, Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, m := range h.Messages {
			got = append(got, m.Timestamp)
		}
		if !h.HasMore {
			break
		}
		cursor = h.ResponseMetaData.NextCursor
	}
	want := slices.Clone(tss)
	slices.Reverse(want)
	if pages != 3 || !slices.Equal(got, want) {
		t.Errorf("paged history = %v in %d pages, want %v in 3", got, pages, want)
	}
	h, err := api.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: channel, Oldest: tss[1], Latest: tss[3]})
	if err != nil || len(h.Messages) != 1 || h.Messages[0].Timestamp != tss[2] {
		t.Errorf("exclusive window = %+v %v", h.Messages, err)
	}
	h, err = api.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: channel, Oldest: tss[1], Latest: tss[3], Inclusive: true})
	if err != nil || len(h.Messages) != 3 {
		t.Errorf("inclusive window = %+v %v", h.Messages, err)
	}
	// Thread paging: parent first, then replies oldest first, across pages.
	for i := range 3 {
		post(t, api, channel, fmt.Sprint("r", i), slack.MsgOptionTS(tss[0]))
	}
	got = got[:0]
	cursor = ""
	for {
		msgs, more, next, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: tss[0], Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got = append(got, m.Text)
		}
		if !more {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, []string{"0", "r0", "r1", "r2"}) {
		t.Errorf("paged replies = %v", got)
	}
}

func TestUsersInfo(t *testing.T) {
	_, api := start(t)
	u, err := api.GetUserInfo("U0ALICE")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "U0ALICE" || u.Name != "alice" || u.RealName != "Alice A." || u.Profile.DisplayName != "alice" || u.IsBot {
		t.Errorf("users.info = %+v", u)
	}
	b, err := api.GetUserInfo(slackapi.DefaultBotUserID)
	if err != nil || !b.IsBot {
		t.Errorf("bot user = %+v %v", b, err)
	}
}

func TestUploadFile(t *testing.T) {
	srv, api := start(t)
	parent := post(t, api, channel, "logs guestbook")
	logs := "pod-a line 1\npod-a line 2\n"
	sum, err := api.UploadFileContext(context.Background(), slack.UploadFileParameters{
		Content: logs, FileSize: len(logs), Filename: "guestbook-logs.txt", Title: "guestbook logs",
		Channel: channel, ThreadTimestamp: parent, InitialComment: "last 50 lines per pod",
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.ID == "" || sum.Title != "guestbook logs" {
		t.Errorf("summary = %+v", sum)
	}
	files := srv.Files()
	if len(files) != 1 || string(files[0].Content) != logs || files[0].Name != "guestbook-logs.txt" || files[0].Title != "guestbook logs" ||
		files[0].Channel != channel || files[0].ThreadTS != parent || files[0].ID != sum.ID {
		t.Fatalf("Files = %+v", files)
	}
	thread := srv.Thread(channel, parent)
	if len(thread) != 2 || thread[1].Text != "last 50 lines per pod" || len(thread[1].Files) != 1 || string(thread[1].Files[0].Content) != logs ||
		thread[1].TS != files[0].MessageTS {
		t.Fatalf("thread = %+v", thread)
	}
	for _, m := range []string{"files.getUploadURLExternal", slackapi.UploadMethod, "files.completeUploadExternal"} {
		if srv.Calls(m) != 1 {
			t.Errorf("Calls(%s) = %d", m, srv.Calls(m))
		}
	}

	// The share shows in replies and files.info, and url_private downloads
	// through slack-go's own token check.
	msgs, _, _, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: parent})
	if err != nil || len(msgs) != 2 || len(msgs[1].Files) != 1 || msgs[1].Files[0].ID != sum.ID || msgs[1].Files[0].Size != len(logs) {
		t.Fatalf("replies with file: %+v %v", msgs, err)
	}
	f, _, _, err := api.GetFileInfo(sum.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "guestbook-logs.txt" || f.Size != len(logs) || !slices.Equal(f.Channels, []string{channel}) ||
		len(f.Shares.Public[channel]) != 1 || f.Shares.Public[channel][0].ThreadTs != parent || f.Mimetype != "text/plain" {
		t.Errorf("files.info = %+v", f)
	}
	var buf bytes.Buffer
	if err := api.GetFile(f.URLPrivateDownload, &buf); err != nil || buf.String() != logs {
		t.Errorf("GetFile = %q %v", buf.String(), err)
	}
	if err := client(srv, "xoxb-wrong").GetFile(f.URLPrivate, &buf); err == nil {
		t.Error("download with a wrong token worked")
	}

	// Reader, no channel: uploaded, completed, not shared.
	sum2, err := api.UploadFileContext(context.Background(), slack.UploadFileParameters{
		Reader: strings.NewReader("abc"), FileSize: 3, Filename: "x.bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if fs := srv.Files(); len(fs) != 2 || fs[1].ID != sum2.ID || fs[1].Channel != "" || string(fs[1].Content) != "abc" {
		t.Errorf("private upload: %+v", fs)
	}
	if n := len(srv.Messages(channel)); n != 2 {
		t.Errorf("private upload posted a message: %d messages", n)
	}
	// Completing the same file twice, or an unknown one, fails.
	_, err = api.CompleteUploadExternalContext(context.Background(), slack.CompleteUploadExternalParameters{Files: []slack.FileSummary{{ID: sum2.ID}}})
	if slackCode(err) != "file_not_found" {
		t.Errorf("complete twice: %v", err)
	}
	// Sharing into an unknown channel fails before anything is completed.
	u, err := api.GetUploadURLExternalContext(context.Background(), slack.GetUploadURLExternalParameters{FileName: "y.txt", FileSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.UploadToURL(context.Background(), slack.UploadToURLParameters{UploadURL: u.UploadURL, Content: "y", Filename: "y.txt"}); err != nil {
		t.Fatal(err)
	}
	_, err = api.CompleteUploadExternalContext(context.Background(), slack.CompleteUploadExternalParameters{Files: []slack.FileSummary{{ID: u.FileID}}, Channel: "C0NOPE"})
	if slackCode(err) != "channel_not_found" {
		t.Errorf("share to unknown channel: %v", err)
	}
	_, err = api.CompleteUploadExternalContext(context.Background(), slack.CompleteUploadExternalParameters{Files: []slack.FileSummary{{ID: u.FileID}}, Channel: channel})
	if err != nil {
		t.Errorf("retry after the bad channel: %v", err)
	}
}

func TestRateLimited(t *testing.T) {
	srv, api := start(t)
	srv.RateLimitNext("chat.postMessage", 1, 3*time.Second)
	_, _, err := api.PostMessage(channel, slack.MsgOptionText("x", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 3*time.Second {
		t.Fatalf("want *slack.RateLimitedError{3s}, got %#v", err)
	}
	srv.FailNext("chat.postMessage", 1, "ratelimited")
	_, _, err = api.PostMessage(channel, slack.MsgOptionText("x", false))
	if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
		t.Fatalf("FailNext ratelimited: want RetryAfter 1s, got %#v", err)
	}
	// Only the named method is affected, and only n times.
	if _, err := api.AuthTest(); err != nil {
		t.Fatal(err)
	}
	post(t, api, channel, "after")
	if n, m := srv.Calls("chat.postMessage"), len(srv.Messages(channel)); n != 3 || m != 1 {
		t.Errorf("calls %d, messages %d; want 3 and 1", n, m)
	}
	// slack-go's own retry honours Retry-After (0 here keeps the test fast: it waits its 1 s minimum).
	srv.RateLimitNext("chat.postMessage", 1, 0)
	retrying := slack.New(token, slack.OptionAPIURL(srv.URL()+"/api/"), slack.OptionRetryConfig(slack.RetryConfig{MaxRetries: 1}))
	if _, _, err := retrying.PostMessage(channel, slack.MsgOptionText("retried", false)); err != nil {
		t.Errorf("retry after 429: %v", err)
	}
}

func TestInjectedFailures(t *testing.T) {
	srv, api := start(t)
	srv.FailNext("chat.update", 1, "internal_error")
	srv.FailNext(slackapi.AnyMethod, 1, "service_unavailable")
	srv.FailNext("chat.postMessage", 1, "channel_is_archived")

	_, _, err := api.PostMessage(channel, slack.MsgOptionText("x", false))
	if slackCode(err) != "channel_is_archived" {
		t.Errorf("slack error injection: %v", err)
	}
	_, err = api.AuthTest()
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != http.StatusServiceUnavailable {
		t.Errorf("AnyMethod 503: %#v", err)
	}
	ts := post(t, api, channel, "x")
	_, _, _, err = api.UpdateMessage(channel, ts, slack.MsgOptionText("y", false))
	if !errors.As(err, &sc) || sc.Code != http.StatusInternalServerError {
		t.Errorf("internal_error: want StatusCodeError 500, got %#v", err)
	}
	if m, _ := srv.Message(channel, ts); m.Text != "x" || m.Edited {
		t.Errorf("failed update changed the message: %+v", m)
	}
	// Upload step failures surface from UploadFileContext.
	srv.FailNext(slackapi.UploadMethod, 1, "internal_error")
	_, err = api.UploadFileContext(context.Background(), slack.UploadFileParameters{Content: "a", FileSize: 1, Filename: "a.txt", Channel: channel})
	if err == nil || !strings.Contains(err.Error(), "UploadToURL") {
		t.Errorf("upload failure: %v", err)
	}
}

func TestSubscribe(t *testing.T) {
	srv, api := start(t)
	events, cancel := srv.Subscribe()
	ts := post(t, api, channel, "hello")
	if _, _, _, err := api.UpdateMessage(channel, ts, slack.MsgOptionText("edited", false)); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PostEphemeral(channel, "U0BOB", slack.MsgOptionText("psst", false)); err != nil {
		t.Fatal(err)
	}
	if _, err := api.UploadFileContext(context.Background(), slack.UploadFileParameters{Content: "z", FileSize: 1, Filename: "z.txt", Channel: channel, ThreadTimestamp: ts}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.DeleteMessage(channel, ts); err != nil {
		t.Fatal(err)
	}
	srv.Reset()
	want := []slackapi.EventKind{slackapi.EventPosted, slackapi.EventUpdated, slackapi.EventPosted, slackapi.EventFile, slackapi.EventPosted, slackapi.EventDeleted, slackapi.EventReset}
	var got []slackapi.Event
	for range want {
		select {
		case e := <-events:
			got = append(got, e)
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out after %d events", len(got))
		}
	}
	for i, e := range got {
		if e.Kind != want[i] {
			t.Errorf("event %d = %s, want %s", i, e.Kind, want[i])
		}
	}
	if got[1].Message.Text != "edited" || got[1].TS != ts || !got[2].Message.Ephemeral || got[3].File == nil ||
		got[4].ThreadTS != ts || len(got[4].Message.Files) != 1 || !got[5].Message.Deleted {
		t.Errorf("events = %+v", got)
	}
	cancel()
	cancel() // idempotent
	if _, ok := <-events; ok {
		t.Error("channel not closed after cancel")
	}
	post(t, api, channel, "after unsubscribe") // must not panic on the closed channel
}

func TestSlowSubscriberNeverBlocks(t *testing.T) {
	srv, api := start(t)
	events, cancel := srv.Subscribe()
	defer cancel()
	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			post(t, api, channel, fmt.Sprint(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("posting blocked on a subscriber that does not read")
	}
	got := 0
	for len(events) > 0 {
		<-events
		got++
	}
	post(t, api, channel, "next")
	e := <-events
	if got+e.Missed != n || e.Missed == 0 {
		t.Errorf("read %d, next event says %d missed; want them to add up to %d", got, e.Missed, n)
	}
}

func TestConcurrentPosts(t *testing.T) {
	srv, api := start(t)
	events, cancel := srv.Subscribe()
	defer cancel()
	go func() {
		for range events {
		}
	}()
	const workers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, ts, err := api.PostMessage(channel, slack.MsgOptionText(fmt.Sprintf("%d-%d", w, i), false))
				if err != nil {
					errs <- err
					continue
				}
				if i%5 == 0 {
					if _, _, _, err := api.UpdateMessage(channel, ts, slack.MsgOptionText("edited", false)); err != nil {
						errs <- err
					}
				}
				_ = srv.Messages(channel)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	msgs := srv.Messages(channel)
	if len(msgs) != workers*each || srv.Calls("chat.postMessage") != workers*each {
		t.Fatalf("%d messages, %d calls", len(msgs), srv.Calls("chat.postMessage"))
	}
	for i := 1; i < len(msgs); i++ {
		if !(msgs[i-1].TS < msgs[i].TS) {
			t.Fatalf("ts not strictly increasing in post order: %s then %s", msgs[i-1].TS, msgs[i].TS)
		}
	}
}

func TestJSONBodyAndDMs(t *testing.T) {
	srv, _ := start(t)
	body := `{"channel":"U0ALICE","text":"hi alice","blocks":[{"type":"divider"}],"metadata":{"event_type":"x","event_payload":{"n":1}}}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/api/chat.postMessage", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+token)
	var res struct {
		OK      bool   `json:"ok"`
		Channel string `json:"channel"`
		TS      string `json:"ts"`
	}
	if err := json.Unmarshal([]byte(do(t, req, 200)), &res); err != nil || !res.OK || res.Channel != "D0ALICE" {
		t.Fatalf("JSON post to a user: %+v %v", res, err)
	}
	m, ok := srv.Message("D0ALICE", res.TS)
	if !ok || string(m.Blocks) != `[{"type":"divider"}]` || m.Metadata == nil || m.Metadata.EventType != "x" {
		t.Errorf("stored DM = %+v", m)
	}
	// Channel names work too and resolve to the ID.
	_, _, err := client(srv, token).PostMessage("#deploys", slack.MsgOptionText("by name", false))
	if err != nil || len(srv.Messages(channel)) != 1 {
		t.Errorf("post by name: %v", err)
	}
}

func TestReset(t *testing.T) {
	srv, api := start(t)
	ts := post(t, api, channel, "before")
	srv.FailNext("chat.postMessage", 5, "internal_error")
	srv.Reset()
	if len(srv.Messages(channel)) != 0 || srv.Calls("chat.postMessage") != 0 || len(srv.Files()) != 0 {
		t.Error("Reset kept state")
	}
	ts2 := post(t, api, channel, "after") // failures were cleared; channel still known
	if !(ts < ts2) {
		t.Errorf("ts went back after Reset: %s then %s", ts, ts2)
	}
	if _, err := api.GetUserInfo("U0ALICE"); err != nil {
		t.Error("Reset dropped users:", err)
	}
}

func TestMountedUnderPrefix(t *testing.T) {
	srv := slackapi.New(slackapi.Options{Token: token})
	mux := http.NewServeMux()
	mux.Handle("/fake-slack/", http.StripPrefix("/fake-slack", srv.Handler()))
	hs := httptest.NewServer(mux)
	defer hs.Close()
	if srv.URL() != "" {
		t.Errorf("URL() of a mounted server = %q", srv.URL())
	}
	api := slack.New(token, slack.OptionAPIURL(hs.URL+"/fake-slack/api/"))
	u, err := api.GetUploadURLExternalContext(context.Background(), slack.GetUploadURLExternalParameters{FileName: "a.txt", FileSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.UploadURL, hs.URL+"/fake-slack/upload/") {
		t.Errorf("upload URL %s lacks the mount prefix", u.UploadURL)
	}
	sum, err := api.UploadFileContext(context.Background(), slack.UploadFileParameters{Content: "ok", FileSize: 2, Filename: "b.txt", Channel: "C1"})
	if err != nil {
		t.Fatal(err)
	}
	f, _, _, err := api.GetFileInfo(sum.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := api.GetFile(f.URLPrivate, &buf); err != nil || buf.String() != "ok" {
		t.Errorf("download under prefix: %q %v", buf.String(), err)
	}
}

func TestStartAndClose(t *testing.T) {
	srv := slackapi.New(slackapi.Options{})
	u, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	if u != srv.URL() || !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Errorf("Start = %q, URL = %q", u, srv.URL())
	}
	if _, err := client(srv, "x").AuthTest(); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	srv.Close()
	if _, err := client(srv, "x").AuthTest(); err == nil {
		t.Error("still serving after Close")
	}
}

func startWithGroups(t *testing.T, scopes []string) (*slackapi.Server, *slack.Client) {
	t.Helper()
	srv := slackapi.StartTest(t, slackapi.Options{
		Token: token,
		Users: []slackapi.User{{ID: "U0ALICE", Name: "alice"}, {ID: "U0BOB", Name: "bob"}, {ID: "U0CAROL", Name: "carol"}},
		UserGroups: []slackapi.UserGroup{
			{ID: "S0PLATFORM", Handle: "platform", Name: "Platform team", Users: []string{"U0BOB", "U0ALICE"}},
			{ID: "S0PAYLEADS", Handle: "payments-leads", Users: []string{"U0CAROL"}},
			{ID: "S0EMPTY", Handle: "nobody"},
			{ID: "S0OLD", Handle: "old-team", Users: []string{"U0ALICE"}, Disabled: true},
		},
		Scopes: scopes,
	})
	return srv, client(srv, token)
}

func TestUserGroupMembers(t *testing.T) {
	srv, api := startWithGroups(t, nil)
	ctx := context.Background()
	users, err := api.GetUserGroupMembersContext(ctx, "S0PLATFORM")
	if err != nil || !slices.Equal(users, []string{"U0BOB", "U0ALICE"}) {
		t.Fatalf("members of S0PLATFORM = %v, %v", users, err)
	}
	if users, err := api.GetUserGroupMembersContext(ctx, "S0EMPTY"); err != nil || users == nil || len(users) != 0 {
		t.Errorf("a group without members: %#v, %v (want an empty list)", users, err)
	}
	if _, err := api.GetUserGroupMembersContext(ctx, "S0NOPE"); slackCode(err) != "no_such_subteam" {
		t.Errorf("unknown group: %v", err)
	}
	// A disabled group is refused unless include_disabled is set.
	if _, err := api.GetUserGroupMembersContext(ctx, "S0OLD"); slackCode(err) != "no_such_subteam" {
		t.Errorf("disabled group: %v", err)
	}
	users, err = api.GetUserGroupMembersContext(ctx, "S0OLD", slack.GetUserGroupMembersOptionIncludeDisabled(true))
	if err != nil || !slices.Equal(users, []string{"U0ALICE"}) {
		t.Errorf("disabled group with include_disabled: %v, %v", users, err)
	}
	if _, err := client(srv, "xoxb-wrong").GetUserGroupMembersContext(ctx, "S0PLATFORM"); slackCode(err) != "invalid_auth" {
		t.Errorf("wrong token: %v", err)
	}
	if n := srv.Calls("usergroups.users.list"); n != 6 {
		t.Errorf("Calls(usergroups.users.list) = %d, want 6", n)
	}

	// The exact wire shape, and the JSON body form with a boolean.
	body := do(t, jsonRequest(t, srv, "usergroups.users.list", `{"usergroup":"S0OLD","include_disabled":true}`), http.StatusOK)
	if strings.TrimSpace(body) != `{"ok":true,"users":["U0ALICE"]}` {
		t.Errorf("JSON call answered %s", body)
	}
	body = do(t, jsonRequest(t, srv, "usergroups.users.list", `{}`), http.StatusOK)
	if !strings.Contains(body, `"error":"invalid_arguments"`) || !strings.Contains(body, "usergroup") {
		t.Errorf("no usergroup argument: %s", body)
	}

	// Members change as an admin changes them.
	srv.SetUserGroup(slackapi.UserGroup{ID: "S0PLATFORM", Handle: "platform", Users: []string{"U0CAROL"}})
	if users, err := api.GetUserGroupMembersContext(ctx, "S0PLATFORM"); err != nil || !slices.Equal(users, []string{"U0CAROL"}) {
		t.Errorf("after SetUserGroup: %v, %v", users, err)
	}
	srv.SetUserGroup(slackapi.UserGroup{ID: "S0PLATFORM", Handle: "platform", Users: []string{"U0CAROL"}, Disabled: true})
	if _, err := api.GetUserGroupMembersContext(ctx, "S0PLATFORM"); slackCode(err) != "no_such_subteam" {
		t.Errorf("after disabling: %v", err)
	}
	srv.Reset()
	if gs := srv.UserGroups(); len(gs) != 4 || gs[0].ID != "S0PLATFORM" || !gs[0].Disabled {
		t.Errorf("user groups after Reset = %+v", gs)
	}
}

func jsonRequest(t *testing.T, srv *slackapi.Server, method, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/api/"+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

func TestUserGroupsList(t *testing.T) {
	_, api := startWithGroups(t, nil)
	ctx := context.Background()
	groups, err := api.GetUserGroupsContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range groups {
		ids = append(ids, g.ID)
	}
	if !slices.Equal(ids, []string{"S0PLATFORM", "S0PAYLEADS", "S0EMPTY"}) {
		t.Fatalf("usergroups.list = %v, want the enabled groups in order", ids)
	}
	g := groups[0]
	if g.Handle != "platform" || g.Name != "Platform team" || g.TeamID != slackapi.TeamID || !g.IsUserGroup ||
		g.DateCreate == 0 || g.DateDelete != 0 || g.Users != nil || g.UserCount != 0 {
		t.Errorf("without include_users = %+v", g)
	}
	if groups[1].Name != "payments-leads" {
		t.Errorf("a group without a name is named by its handle: %+v", groups[1])
	}
	groups, err = api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true),
		slack.GetUserGroupsOptionIncludeCount(true), slack.GetUserGroupsOptionIncludeDisabled(true))
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 4 {
		t.Fatalf("with include_disabled: %d groups, want 4", len(groups))
	}
	if g := groups[0]; !slices.Equal(g.Users, []string{"U0BOB", "U0ALICE"}) || g.UserCount != 2 {
		t.Errorf("with include_users and include_count = %+v", g)
	}
	if g := groups[2]; g.Users == nil || len(g.Users) != 0 || g.UserCount != 0 {
		t.Errorf("an empty group with include_users: %+v", g)
	}
	if g := groups[3]; g.ID != "S0OLD" || g.DateDelete == 0 || g.DeletedBy == "" {
		t.Errorf("a disabled group: %+v", g)
	}
}

func TestScopes(t *testing.T) {
	_, api := startWithGroups(t, []string{"chat:write", "commands"})
	_, err := api.GetUserGroupMembersContext(context.Background(), "S0PLATFORM")
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "missing_scope" || se.Needed != "usergroups:read" || se.Provided != "chat:write,commands" {
		t.Fatalf("usergroups.users.list without usergroups:read: %#v", err)
	}
	if _, err := api.GetUserGroupsContext(context.Background()); slackCode(err) != "missing_scope" {
		t.Errorf("usergroups.list without usergroups:read: %v", err)
	}
	// Granted scopes work, and auth.test needs none.
	post(t, api, channel, "hi")
	if _, err := api.AuthTest(); err != nil {
		t.Error(err)
	}
	if _, err := api.GetUserInfo("U0ALICE"); slackCode(err) != "missing_scope" {
		t.Errorf("users.info without users:read: %v", err)
	}
	_, api = startWithGroups(t, []string{"usergroups:read"})
	if _, err := api.GetUserGroupMembersContext(context.Background(), "S0PLATFORM"); err != nil {
		t.Errorf("with usergroups:read: %v", err)
	}
}
