package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// slackFake is a Slack workspace served over real HTTP by slacktest, with
// handlers for what slacktest lacks (chat.update, conversations.history and
// .replies with metadata, recorded requests, injected faults).
type slackFake struct {
	srv *slacktest.Server

	mu     sync.Mutex
	seq    int
	msgs   []*slackFakeMsg
	calls  []slackFakeCall
	faults map[string][]slackFault
}

type slackFakeMsg struct {
	Channel, TS, ThreadTS, User, Text, Blocks string
	Metadata                                  *slack.SlackMetadata
}

type slackFakeCall struct {
	Method string
	Form   url.Values
}

// slackFault is how the next call to a method fails.
type slackFault struct {
	Status     int    // HTTP status; 0 = 200 with {"ok":false,"error":Error}
	RetryAfter string // Retry-After header
	Error      string // Slack error code
	Needed     string // missing_scope's "needed"
	AfterDoing bool   // do the call first: Slack acted but the answer was lost
	Flood      int    // with AfterDoing: then this many newer messages arrive
	Hangup     bool   // close the connection without an answer
}

func newSlackFake(t *testing.T) *slackFake {
	t.Helper()
	f := &slackFake{faults: map[string][]slackFault{}}
	f.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		// Bound before slacktest's own handlers, so these take precedence.
		c.Handle("/chat.postMessage", f.handler("chat.postMessage", f.postMessage))
		c.Handle("/chat.update", f.handler("chat.update", f.update))
		c.Handle("/chat.postEphemeral", f.handler("chat.postEphemeral", f.postEphemeral))
		c.Handle("/conversations.history", f.handler("conversations.history", f.history))
		c.Handle("/conversations.replies", f.handler("conversations.replies", f.replies))
	})
	f.srv.Start()
	t.Cleanup(f.srv.Stop)
	return f
}

func (f *slackFake) fail(method string, faults ...slackFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[method] = append(f.faults[method], faults...)
}

func (f *slackFake) callsTo(method string) []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []url.Values
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c.Form)
		}
	}
	return out
}

func (f *slackFake) messages() []slackFakeMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]slackFakeMsg, len(f.msgs))
	for i, m := range f.msgs {
		out[i] = *m
	}
	return out
}

// seed stores a message as if posted earlier (no call recorded).
func (f *slackFake) seed(channel, threadTS, key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := &slackFakeMsg{Channel: channel, ThreadTS: threadTS, TS: f.nextTS(), Text: "seeded " + key}
	if key != "" {
		m.Metadata = &slack.SlackMetadata{EventType: activities.SlackMetadataEventType, EventPayload: map[string]any{"key": key}}
	}
	f.msgs = append(f.msgs, m)
	return m.TS
}

// nextTS returns unique, increasing Slack timestamps at the current time.
func (f *slackFake) nextTS() string {
	f.seq++
	return fmt.Sprintf("%d.%06d", time.Now().Unix(), f.seq)
}

func (f *slackFake) handler(method string, do func(url.Values) map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, slackFakeCall{Method: method, Form: r.PostForm})
		var fault *slackFault
		if q := f.faults[method]; len(q) > 0 {
			fault, f.faults[method] = &q[0], q[1:]
		}
		var resp map[string]any
		if fault == nil || fault.AfterDoing {
			resp = do(r.PostForm)
		}
		if fault != nil {
			for range fault.Flood {
				f.msgs = append(f.msgs, &slackFakeMsg{Channel: r.PostForm.Get("channel"), TS: f.nextTS(), Text: "chatter"})
			}
		}
		f.mu.Unlock()

		switch {
		case fault == nil:
		case fault.Hangup:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		case fault.Status != 0:
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(fault.Status)
			_, _ = w.Write([]byte("<html>oops</html>"))
			return
		default:
			resp = map[string]any{"ok": false, "error": fault.Error}
			if fault.Needed != "" {
				resp["needed"], resp["provided"] = fault.Needed, "chat:write"
			}
			if fault.Error == "invalid_blocks" {
				resp["response_metadata"] = map[string]any{"messages": []string{"[ERROR] must be more than 0 characters [json-pointer:/blocks/0/text]"}}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}
}

func (f *slackFake) postMessage(form url.Values) map[string]any {
	m := &slackFakeMsg{Channel: form.Get("channel"), TS: f.nextTS(), ThreadTS: form.Get("thread_ts"), Text: form.Get("text"), Blocks: form.Get("blocks")}
	if md := form.Get("metadata"); md != "" {
		m.Metadata = &slack.SlackMetadata{}
		if err := json.Unmarshal([]byte(md), m.Metadata); err != nil {
			return map[string]any{"ok": false, "error": "invalid_metadata_format"}
		}
	}
	f.msgs = append(f.msgs, m)
	return map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS, "message": map[string]any{"text": m.Text, "ts": m.TS}}
}

func (f *slackFake) update(form url.Values) map[string]any {
	for _, m := range f.msgs {
		if m.Channel == form.Get("channel") && m.TS == form.Get("ts") {
			m.Text, m.Blocks = form.Get("text"), form.Get("blocks")
			if md := form.Get("metadata"); md != "" { // like Slack: kept unless sent
				m.Metadata = &slack.SlackMetadata{}
				_ = json.Unmarshal([]byte(md), m.Metadata)
			}
			return map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS, "text": m.Text}
		}
	}
	return map[string]any{"ok": false, "error": "message_not_found"}
}

func (f *slackFake) postEphemeral(form url.Values) map[string]any {
	m := &slackFakeMsg{Channel: form.Get("channel"), TS: f.nextTS(), ThreadTS: form.Get("thread_ts"), User: form.Get("user"), Text: form.Get("text"), Blocks: form.Get("blocks")}
	f.msgs = append(f.msgs, m)
	return map[string]any{"ok": true, "message_ts": m.TS}
}

// listing answers conversations.history/replies like Slack: newest first,
// only since oldest, metadata only with include_all_metadata, paginated.
func (f *slackFake) listing(form url.Values, keep func(*slackFakeMsg) bool) map[string]any {
	oldest, _ := strconv.ParseFloat(form.Get("oldest"), 64)
	var sel []*slackFakeMsg
	for _, m := range f.msgs {
		ts, _ := strconv.ParseFloat(m.TS, 64)
		if m.Channel == form.Get("channel") && m.User == "" && keep(m) && ts >= oldest {
			sel = append(sel, m)
		}
	}
	sort.Slice(sel, func(i, j int) bool { return sel[i].TS > sel[j].TS })
	start, _ := strconv.Atoi(form.Get("cursor"))
	limit, _ := strconv.Atoi(form.Get("limit"))
	if limit <= 0 || limit > 200 {
		limit = 100
	}
	end := min(start+limit, len(sel))
	page := []map[string]any{}
	for _, m := range sel[min(start, end):end] {
		j := map[string]any{"type": "message", "ts": m.TS, "text": m.Text}
		if m.ThreadTS != "" {
			j["thread_ts"] = m.ThreadTS
		}
		if m.Metadata != nil && form.Get("include_all_metadata") == "1" {
			j["metadata"] = m.Metadata
		}
		page = append(page, j)
	}
	resp := map[string]any{"ok": true, "messages": page, "has_more": end < len(sel)}
	if end < len(sel) {
		resp["response_metadata"] = map[string]any{"next_cursor": strconv.Itoa(end)}
	}
	return resp
}

func (f *slackFake) history(form url.Values) map[string]any {
	return f.listing(form, func(m *slackFakeMsg) bool { return m.ThreadTS == "" || m.ThreadTS == m.TS })
}

func (f *slackFake) replies(form url.Values) map[string]any {
	ts := form.Get("ts")
	return f.listing(form, func(m *slackFakeMsg) bool { return m.TS == ts || m.ThreadTS == ts })
}

func newSlackActivities(f *slackFake) *activities.Slack {
	return &activities.Slack{Client: activities.NewSlackClient("xoxb-test", f.srv.GetAPIURL())}
}

func slackActivityEnv(t *testing.T) (*testsuite.TestActivityEnvironment, *activities.Slack, *slackFake) {
	t.Helper()
	f := newSlackFake(t)
	s := newSlackActivities(f)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(s)
	return env, s, f
}

func slackRequestMessage() slackui.Message {
	return slackui.Message{DeployRequest: &slackui.DeployRequest{
		WorkflowID: "deploy-guestbook", App: "guestbook", Project: "default", Action: contract.ActionSync,
		FromRevision: "4f2a9c1d3e5b7a9c1d3e5b7a9c1d3e5b7a9c1d3e", ToRevision: "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c",
		RequestedBy: contract.User{ID: "U0ALICE"}, ExpiresAt: time.Now().Add(30 * time.Minute), State: slackui.RequestPending,
	}}
}

func slackStatusMessage(outcome contract.Outcome) slackui.Message {
	return slackui.Message{DeployStatus: &slackui.DeployStatus{
		App: "guestbook", Action: contract.ActionSync, Step: contract.StepFollowing, Outcome: outcome,
		Phase: "Running", SyncStatus: "OutOfSync", Health: "Progressing", Elapsed: 65 * time.Second,
	}}
}

func TestSlackPostMessageSendsBlocksThreadAndKey(t *testing.T) {
	env, s, f := slackActivityEnv(t)
	val, err := env.ExecuteActivity(s.PostMessage, activities.PostMessageInput{
		Channel: "C0DEPLOY", ThreadTS: "1700000000.000100", Message: slackRequestMessage(), Key: "deploy-guestbook/run-1/request",
	})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.PostMessageResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	posts := f.callsTo("chat.postMessage")
	if len(posts) != 1 {
		t.Fatalf("%d chat.postMessage calls, want 1", len(posts))
	}
	form := posts[0]
	if form.Get("channel") != "C0DEPLOY" || form.Get("thread_ts") != "1700000000.000100" {
		t.Errorf("channel=%q thread_ts=%q", form.Get("channel"), form.Get("thread_ts"))
	}
	if !strings.Contains(form.Get("text"), "sync guestbook requested by <@U0ALICE>") {
		t.Errorf("fallback text = %q", form.Get("text"))
	}
	if form.Get("unfurl_links") != "false" {
		t.Errorf("unfurl_links = %q, want false", form.Get("unfurl_links"))
	}
	var md slack.SlackMetadata
	if err := json.Unmarshal([]byte(form.Get("metadata")), &md); err != nil {
		t.Fatalf("metadata %q: %v", form.Get("metadata"), err)
	}
	if md.EventType != "deploybot_message" || md.EventPayload["key"] != "deploy-guestbook/run-1/request" {
		t.Errorf("metadata = %+v", md)
	}

	var blocks []struct {
		Type     string `json:"type"`
		BlockID  string `json:"block_id"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
			Style    string `json:"style"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(form.Get("blocks")), &blocks); err != nil {
		t.Fatalf("blocks %q: %v", form.Get("blocks"), err)
	}
	var got []string
	for _, b := range blocks {
		if b.Type == "actions" {
			for _, e := range b.Elements {
				got = append(got, b.BlockID+" "+e.ActionID+" "+e.Value+" "+e.Style)
			}
		}
	}
	want := []string{
		"deploybot.decision deploybot.approve deploy-guestbook primary",
		"deploybot.decision deploybot.reject deploy-guestbook danger",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("buttons =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	msgs := f.messages()
	if len(msgs) != 1 || res.TS != msgs[0].TS || res.Channel != "C0DEPLOY" {
		t.Errorf("result = %+v, stored = %+v", res, msgs)
	}
	if len(f.callsTo("conversations.history"))+len(f.callsTo("conversations.replies")) != 0 {
		t.Error("a first attempt looked for an earlier message; only retries need to")
	}
}

func TestSlackUpdateMessageEditsInPlaceAndKeepsMetadata(t *testing.T) {
	env, s, f := slackActivityEnv(t)
	ts := f.seed("C0DEPLOY", "1700000000.000100", "deploy-guestbook/run-1/status")
	if _, err := env.ExecuteActivity(s.UpdateMessage, activities.UpdateMessageInput{
		Channel: "C0DEPLOY", TS: ts, Message: slackStatusMessage(contract.OutcomeSucceeded),
	}); err != nil {
		t.Fatal(err)
	}
	updates := f.callsTo("chat.update")
	if len(updates) != 1 || updates[0].Get("ts") != ts || updates[0].Get("channel") != "C0DEPLOY" {
		t.Fatalf("chat.update calls = %v", updates)
	}
	if updates[0].Has("metadata") {
		t.Error("chat.update sent metadata; leaving it out keeps the key for dedupe")
	}
	m := f.messages()[0]
	if !strings.Contains(m.Text, "Synced and Healthy") || !strings.Contains(m.Blocks, "Synced and Healthy") {
		t.Errorf("updated message: text=%q blocks=%s", m.Text, m.Blocks)
	}
	if m.Metadata == nil || m.Metadata.EventPayload["key"] != "deploy-guestbook/run-1/status" {
		t.Errorf("metadata lost: %+v", m.Metadata)
	}
}

func TestSlackPostEphemeral(t *testing.T) {
	env, s, f := slackActivityEnv(t)
	if _, err := env.ExecuteActivity(s.PostEphemeral, activities.PostEphemeralInput{
		Channel: "C0DEPLOY", User: "U0MALLORY", ThreadTS: "1700000000.000100", Text: "You may not approve this request.",
	}); err != nil {
		t.Fatal(err)
	}
	calls := f.callsTo("chat.postEphemeral")
	if len(calls) != 1 {
		t.Fatalf("%d chat.postEphemeral calls", len(calls))
	}
	c := calls[0]
	if c.Get("channel") != "C0DEPLOY" || c.Get("user") != "U0MALLORY" || c.Get("thread_ts") != "1700000000.000100" ||
		c.Get("text") != "You may not approve this request." || !strings.Contains(c.Get("blocks"), "You may not approve") {
		t.Errorf("chat.postEphemeral form = %v", c)
	}
}

func TestSlackBadInputIsNotRetried(t *testing.T) {
	env, s, f := slackActivityEnv(t)
	for name, run := range map[string]func() error{
		"empty message": func() error {
			_, err := env.ExecuteActivity(s.PostMessage, activities.PostMessageInput{Channel: "C0DEPLOY"})
			return err
		},
		"no channel": func() error {
			_, err := env.ExecuteActivity(s.PostMessage, activities.PostMessageInput{Message: slackui.Message{Text: "hi"}})
			return err
		},
		"no ts": func() error {
			_, err := env.ExecuteActivity(s.UpdateMessage, activities.UpdateMessageInput{Channel: "C0DEPLOY", Message: slackui.Message{Text: "hi"}})
			return err
		},
		"no user": func() error {
			_, err := env.ExecuteActivity(s.PostEphemeral, activities.PostEphemeralInput{Channel: "C0DEPLOY", Text: "hi"})
			return err
		},
	} {
		appErr := slackAppError(t, run())
		if appErr.Type() != activities.SlackBadMessageErrorType || !appErr.NonRetryable() {
			t.Errorf("%s: type=%s nonRetryable=%v", name, appErr.Type(), appErr.NonRetryable())
		}
	}
	if len(f.callsTo("chat.postMessage"))+len(f.callsTo("chat.update"))+len(f.callsTo("chat.postEphemeral")) != 0 {
		t.Error("invalid input reached Slack")
	}
}

func slackAppError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error %v (%T) is not an ApplicationError", err, err)
	}
	return appErr
}

func TestSlackRateLimitHonoursRetryAfter(t *testing.T) {
	env, s, f := slackActivityEnv(t)
	f.fail("chat.postMessage", slackFault{Status: http.StatusTooManyRequests, RetryAfter: "7"})
	start := time.Now()
	_, err := env.ExecuteActivity(s.PostMessage, activities.PostMessageInput{Channel: "C0DEPLOY", Message: slackui.Message{Text: "hi"}})
	if time.Since(start) > 3*time.Second {
		t.Errorf("the activity took %s: slack-go must not sleep on 429 itself", time.Since(start))
	}
	appErr := slackAppError(t, err)
	if appErr.Type() != activities.SlackRateLimitedErrorType || appErr.NonRetryable() {
		t.Errorf("type=%s nonRetryable=%v, want %s and retryable", appErr.Type(), appErr.NonRetryable(), activities.SlackRateLimitedErrorType)
	}
	if appErr.NextRetryDelay() != 7*time.Second {
		t.Errorf("NextRetryDelay = %s, want 7s (Retry-After)", appErr.NextRetryDelay())
	}
	if n := len(f.callsTo("chat.postMessage")); n != 1 {
		t.Errorf("Slack saw %d calls, want 1: the client must not retry by itself", n)
	}
}

func TestSlackServerErrorsAreRetryable(t *testing.T) {
	for name, fault := range map[string]slackFault{
		"503":            {Status: http.StatusServiceUnavailable},
		"500":            {Status: http.StatusInternalServerError},
		"hang up":        {Hangup: true},
		"internal_error": {Error: "internal_error"},
		"429 no header":  {Status: http.StatusTooManyRequests},
	} {
		t.Run(name, func(t *testing.T) {
			env, s, f := slackActivityEnv(t)
			f.fail("chat.update", fault)
			_, err := env.ExecuteActivity(s.UpdateMessage, activities.UpdateMessageInput{Channel: "C0DEPLOY", TS: "1.000001", Message: slackui.Message{Text: "hi"}})
			appErr := slackAppError(t, err)
			if appErr.NonRetryable() {
				t.Errorf("%v is not retryable", appErr)
			}
			want := activities.SlackUnavailableErrorType
			if fault.Status == http.StatusTooManyRequests {
				want = activities.SlackRateLimitedErrorType
			}
			if appErr.Type() != want {
				t.Errorf("type = %s, want %s", appErr.Type(), want)
			}
		})
	}
}

func TestSlackPermanentErrorsSayWhatToDo(t *testing.T) {
	for _, tc := range []struct {
		method string
		fault  slackFault
		hint   string
	}{
		{"chat.postMessage", slackFault{Error: "channel_not_found"}, "invite the bot: /invite @deploybot"},
		{"chat.postMessage", slackFault{Error: "not_in_channel"}, "invite it with /invite @deploybot"},
		{"chat.postMessage", slackFault{Error: "invalid_auth"}, "SLACK_TOKEN"},
		{"chat.postMessage", slackFault{Error: "account_inactive"}, "reinstall the Slack app and update SLACK_TOKEN"},
		{"chat.postMessage", slackFault{Error: "token_revoked"}, "reinstall the Slack app and update SLACK_TOKEN"},
		{"chat.postMessage", slackFault{Error: "missing_scope", Needed: "chat:write.public"}, "lacks chat:write.public"},
		{"chat.postMessage", slackFault{Error: "invalid_blocks"}, "must be more than 0 characters"},
		{"chat.postMessage", slackFault{Error: "msg_too_long"}, "deploybot bug"},
		{"chat.postMessage", slackFault{Error: "some_new_error"}, "docs.slack.dev/reference/methods/chat.postMessage"},
		{"chat.postMessage", slackFault{Status: http.StatusNotFound}, "check SLACK_API_URL"},
		{"chat.update", slackFault{Error: "message_not_found"}, "may have been deleted"},
		{"chat.update", slackFault{Error: "cant_update_message"}, "not posted by the bot"},
		{"chat.postEphemeral", slackFault{Error: "user_not_in_channel"}, "user U0BOB is not a member of channel C0DEPLOY"},
	} {
		t.Run(tc.method+" "+tc.fault.Error, func(t *testing.T) {
			env, s, f := slackActivityEnv(t)
			f.fail(tc.method, tc.fault)
			var err error
			switch tc.method {
			case "chat.postMessage":
				_, err = env.ExecuteActivity(s.PostMessage, activities.PostMessageInput{Channel: "C0DEPLOY", Message: slackui.Message{Text: "hi"}})
			case "chat.update":
				_, err = env.ExecuteActivity(s.UpdateMessage, activities.UpdateMessageInput{Channel: "C0DEPLOY", TS: "1.000001", Message: slackui.Message{Text: "hi"}})
			case "chat.postEphemeral":
				_, err = env.ExecuteActivity(s.PostEphemeral, activities.PostEphemeralInput{Channel: "C0DEPLOY", User: "U0BOB", Text: "hi"})
			}
			appErr := slackAppError(t, err)
			if appErr.Type() != activities.SlackErrorType || !appErr.NonRetryable() {
				t.Errorf("type=%s nonRetryable=%v, want %s and non-retryable", appErr.Type(), appErr.NonRetryable(), activities.SlackErrorType)
			}
			if !strings.Contains(appErr.Error(), tc.hint) {
				t.Errorf("message %q lacks %q", appErr.Error(), tc.hint)
			}
			if tc.fault.Error != "" {
				var code string
				if err := appErr.Details(&code); err != nil || code != tc.fault.Error {
					t.Errorf("details = %q (%v), want the Slack error code %q", code, err, tc.fault.Error)
				}
			}
		})
	}
}

// slackPostOutcome is what slackPostWorkflow returns.
type slackPostOutcome struct {
	Result activities.PostMessageResult
	Waited time.Duration
}

// slackPostWorkflow runs Slack.PostMessage with retries the way deploybot's
// workflows do, so tests see attempt 2 and Temporal's handling of
// NextRetryDelay.
func slackPostWorkflow(ctx workflow.Context, in activities.PostMessageInput) (slackPostOutcome, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 5},
	})
	start := workflow.Now(ctx)
	var s *activities.Slack
	var res activities.PostMessageResult
	err := workflow.ExecuteActivity(ctx, s.PostMessage, in).Get(ctx, &res)
	return slackPostOutcome{Result: res, Waited: workflow.Now(ctx).Sub(start)}, err
}

func runSlackPostWorkflow(t *testing.T, f *slackFake, in activities.PostMessageInput) (slackPostOutcome, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(slackPostWorkflow)
	env.RegisterActivity(newSlackActivities(f))
	env.ExecuteWorkflow(slackPostWorkflow, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var out slackPostOutcome
	if err := env.GetWorkflowError(); err != nil {
		return out, err
	}
	if err := env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	return out, nil
}

func TestSlackPostMessageRetryDoesNotPostTwice(t *testing.T) {
	for _, tc := range []struct {
		name, threadTS, lookup string
	}{
		{"top level", "", "conversations.history"},
		{"in thread", "1700000000.000100", "conversations.replies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSlackFake(t)
			if tc.threadTS != "" {
				f.mu.Lock()
				f.msgs = append(f.msgs, &slackFakeMsg{Channel: "C0DEPLOY", TS: tc.threadTS, Text: "request"})
				f.mu.Unlock()
			}
			f.seed("C0DEPLOY", tc.threadTS, "deploy-other/run-9/status") // same channel, other key
			// Slack posts the message but the answer is lost: attempt 1 fails.
			f.fail("chat.postMessage", slackFault{Status: http.StatusBadGateway, AfterDoing: true})
			key := "deploy-guestbook/run-1/status"
			out, err := runSlackPostWorkflow(t, f, activities.PostMessageInput{
				Channel: "C0DEPLOY", ThreadTS: tc.threadTS, Message: slackStatusMessage(""), Key: key,
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(f.callsTo("chat.postMessage")); n != 1 {
				t.Errorf("%d chat.postMessage calls, want 1 (attempt 2 must find attempt 1's message)", n)
			}
			var posted []slackFakeMsg
			for _, m := range f.messages() {
				if m.Metadata != nil && m.Metadata.EventPayload["key"] == key {
					posted = append(posted, m)
				}
			}
			if len(posted) != 1 || out.Result.TS != posted[0].TS || out.Result.Channel != "C0DEPLOY" {
				t.Fatalf("result %+v, messages with the key: %+v", out.Result, posted)
			}
			lookups := f.callsTo(tc.lookup)
			if len(lookups) != 1 {
				t.Fatalf("%d %s calls, want 1", len(lookups), tc.lookup)
			}
			l := lookups[0]
			if l.Get("include_all_metadata") != "1" || l.Get("oldest") == "" || l.Get("channel") != "C0DEPLOY" || l.Get("ts") != tc.threadTS && tc.threadTS != "" {
				t.Errorf("%s form = %v, want include_all_metadata=1, oldest set", tc.lookup, l)
			}
			oldest, _ := strconv.ParseFloat(l.Get("oldest"), 64)
			if age := time.Since(time.Unix(int64(oldest), 0)); age > 10*time.Minute || age < 0 {
				t.Errorf("lookup goes back %s; only messages since the activity was scheduled can be an earlier attempt's", age)
			}
		})
	}
}

func TestSlackPostMessageRetryPostsWhenAttemptOneNeverReachedSlack(t *testing.T) {
	f := newSlackFake(t)
	f.fail("chat.postMessage", slackFault{Status: http.StatusServiceUnavailable})
	out, err := runSlackPostWorkflow(t, f, activities.PostMessageInput{Channel: "C0DEPLOY", Message: slackRequestMessage(), Key: "deploy-guestbook/run-1/request"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := f.messages()
	if len(msgs) != 1 || out.Result.TS != msgs[0].TS {
		t.Errorf("result %+v, messages %+v", out.Result, msgs)
	}
	if n := len(f.callsTo("conversations.history")); n != 1 {
		t.Errorf("%d history lookups, want 1", n)
	}
}

func TestSlackPostMessageLookupPagesThroughBusyChannels(t *testing.T) {
	f := newSlackFake(t)
	key := "deploy-guestbook/run-1/request"
	// Attempt 1's message is posted, its answer lost, then 450 newer
	// messages push it to the third page of conversations.history.
	f.fail("chat.postMessage", slackFault{Status: http.StatusBadGateway, AfterDoing: true, Flood: 450})
	out, err := runSlackPostWorkflow(t, f, activities.PostMessageInput{Channel: "C0DEPLOY", Message: slackRequestMessage(), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.callsTo("chat.postMessage")); n != 1 {
		t.Errorf("%d chat.postMessage calls, want 1", n)
	}
	if n := len(f.callsTo("conversations.history")); n != 3 {
		t.Errorf("%d history pages read, want 3", n)
	}
	if first := f.messages()[0]; out.Result.TS != first.TS {
		t.Errorf("TS = %s, want attempt 1's %s", out.Result.TS, first.TS)
	}
}

func TestSlackPostMessageRetryRateLimitedWaitsRetryAfter(t *testing.T) {
	f := newSlackFake(t)
	f.fail("chat.postMessage", slackFault{Status: http.StatusTooManyRequests, RetryAfter: "30"})
	out, err := runSlackPostWorkflow(t, f, activities.PostMessageInput{Channel: "C0DEPLOY", Message: slackui.Message{Text: "hi"}, Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	// The retry policy's InitialInterval is 1s; only Retry-After explains 30s.
	if out.Waited < 30*time.Second || out.Waited > 40*time.Second {
		t.Errorf("Temporal waited %s before attempt 2, want Retry-After's 30s", out.Waited)
	}
	if n := len(f.messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

func TestSlackPostMessageRetryWhenLookupFails(t *testing.T) {
	t.Run("transient lookup failure retries without posting", func(t *testing.T) {
		f := newSlackFake(t)
		f.fail("chat.postMessage", slackFault{Status: http.StatusBadGateway, AfterDoing: true})
		f.fail("conversations.history", slackFault{Status: http.StatusServiceUnavailable})
		if _, err := runSlackPostWorkflow(t, f, activities.PostMessageInput{Channel: "C0DEPLOY", Message: slackui.Message{Text: "hi"}, Key: "k"}); err != nil {
			t.Fatal(err)
		}
		if n, p := len(f.messages()), len(f.callsTo("chat.postMessage")); n != 1 || p != 1 {
			t.Errorf("%d messages after %d posts, want 1 and 1 (attempt 3 finds attempt 1's)", n, p)
		}
	})
	t.Run("permanent lookup failure posts anyway", func(t *testing.T) {
		f := newSlackFake(t)
		f.fail("chat.postMessage", slackFault{Status: http.StatusServiceUnavailable})
		f.fail("conversations.history", slackFault{Error: "missing_scope", Needed: "channels:history"})
		if _, err := runSlackPostWorkflow(t, f, activities.PostMessageInput{Channel: "C0DEPLOY", Message: slackui.Message{Text: "hi"}, Key: "k"}); err != nil {
			t.Fatal(err)
		}
		if n := len(f.messages()); n != 1 {
			t.Errorf("%d messages, want 1", n)
		}
	})
}

func TestNewSlackClient(t *testing.T) {
	f := newSlackFake(t)
	// SLACK_API_URL without its trailing slash still works.
	c := activities.NewSlackClient("xoxb-test", strings.TrimSuffix(f.srv.GetAPIURL(), "/"))
	if _, _, err := c.PostMessageContext(context.Background(), "C0DEPLOY", slack.MsgOptionText("hi", false)); err != nil {
		t.Fatal(err)
	}
	// No client-side retry or sleep on 429: Temporal owns retries.
	f.fail("chat.postMessage", slackFault{Status: http.StatusTooManyRequests, RetryAfter: "30"})
	start := time.Now()
	_, _, err := c.PostMessageContext(context.Background(), "C0DEPLOY", slack.MsgOptionText("hi", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 30*time.Second {
		t.Errorf("err = %v, want a RateLimitedError of 30s", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the call took %s", d)
	}
	if n := len(f.callsTo("chat.postMessage")); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
	if activities.NewSlackClient("xoxb-test", "") == nil {
		t.Error("no client for Slack itself")
	}
}
