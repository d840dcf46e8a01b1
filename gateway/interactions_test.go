package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// The quality-gate buttons' action ids, as SonarQube requests carry them.
const (
	actionSASTAccept = "deploybot.sast.accept"
	actionSASTReject = "deploybot.sast.reject"
)

// requestMessage posts, as the bot, an approval request with Approve and
// Reject buttons for workflowID (what DeployWorkflow posts), and returns
// its ts and blocks.
func (h *harness) requestMessage(workflowID string) (string, []slack.Block) {
	h.t.Helper()
	blocks := []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "Sync requested for "+workflowID, false, false), nil, nil,
			slack.SectionBlockOptionBlockID(slackui.BlockIDRequest)),
		slack.NewActionBlock(slackui.BlockIDDecision,
			slack.NewButtonBlockElement(slackui.ActionApprove, workflowID, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)),
			slack.NewButtonBlockElement(slackui.ActionReject, workflowID, slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false))),
	}
	api := slack.New(testToken, slack.OptionAPIURL(h.cfg.SlackAPIURL))
	_, ts, err := api.PostMessage(testChannel, slack.MsgOptionText("Approval request", false), slack.MsgOptionBlocks(blocks...))
	if err != nil {
		h.t.Fatal(err)
	}
	return ts, blocks
}

// clickPayload is the block_actions payload Slack sends for a click by
// user on the button actionID (value) of the message ts with blocks.
func clickPayload(user, actionID, value, ts string, blocks []slack.Block) []byte {
	msg := map[string]any{"type": "message", "ts": ts, "text": "Approval request", "user": botID, "bot_id": "B0DEPLOYBOT"}
	if blocks != nil {
		msg["blocks"] = blocks
	}
	b, _ := json.Marshal(map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": user, "username": userName(user), "name": userName(user), "team_id": "T0DEPLOYBOT"},
		"api_app_id": "A0DEPLOYBOT", "token": "unused",
		"container":    map[string]any{"type": "message", "message_ts": ts, "channel_id": testChannel, "is_ephemeral": false},
		"trigger_id":   uniq("1.2."),
		"team":         map[string]any{"id": "T0DEPLOYBOT", "domain": "deploybot"},
		"channel":      map[string]any{"id": testChannel, "name": "deploys"},
		"message":      msg,
		"response_url": "https://hooks.slack.invalid/actions/x",
		"actions": []map[string]any{{
			"action_id": actionID, "block_id": slackui.BlockIDDecision, "value": value, "type": "button",
			"action_ts": fmt.Sprintf("%d.000100", time.Now().Unix()),
			"text":      map[string]any{"type": "plain_text", "text": "Approve"},
		}},
	})
	return b
}

// click delivers a click as Slack does: form-encoded, JSON in "payload".
func (h *harness) clickAt(path, user, actionID, value, ts string, blocks []slack.Block) response {
	h.t.Helper()
	body := []byte(url.Values{"payload": {string(clickPayload(user, actionID, value, ts, blocks))}}.Encode())
	return h.post(path, "application/x-www-form-urlencoded", body, signed(body))
}

func (h *harness) click(user, actionID, value, ts string) response {
	h.t.Helper()
	ack := h.clickAt("/slack/interactions", user, actionID, value, ts, nil)
	if ack.code != 200 {
		h.t.Fatalf("click ack = %d %s", ack.code, ack.body)
	}
	return ack
}

// ephemerals returns the ephemeral messages user got in the channel.
func (h *harness) ephemerals(user string) []string {
	var out []string
	for _, m := range h.slack.Messages(testChannel) {
		if m.Ephemeral && m.EphemeralUser == user {
			out = append(out, m.Text)
		}
	}
	return out
}

// Approve and Reject clicks (on both interaction paths) reach the waiting
// run as the Decision signal, with the clicker's id and name.
func TestApproveAndRejectClicksDeliverDecisions(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	h.startWorker()
	for _, tc := range []struct {
		path, action string
		approve      bool
	}{
		{"/slack/interactions", slackui.ActionApprove, true},
		{"/interactions", slackui.ActionReject, false},
	} {
		app := uniq("click")
		h.mention(alice, "sync "+app)
		id := contract.DeployWorkflowID(app)
		ts, blocks := h.requestMessage(id)
		if ack := h.clickAt(tc.path, bob, tc.action, id, ts, blocks); ack.code != 200 {
			t.Fatalf("%s: ack = %d %s", tc.path, ack.code, ack.body)
		}
		var got contract.Decision
		h.result(id, &got)
		// The click's message goes with it: the run counts only clicks on
		// its own request message.
		want := contract.Decision{Approve: tc.approve, User: contract.User{ID: bob, Name: "bob"}, Source: "slack", MessageTS: ts}
		if got != want {
			t.Errorf("%s: decision %+v, want %+v", tc.path, got, want)
		}
	}
	h.settle()
	if e := h.ephemerals(bob); len(e) != 0 {
		t.Errorf("clicks that were delivered got ephemeral replies: %q", e)
	}
	if got := h.counter("deploybot_gateway_signals_sent_total", "signal", contract.SignalDecision); got != 2 {
		t.Errorf("signals_sent_total = %v, want 2", got)
	}
	if len(logLines(h.logs, "audit: decision delivered", "user="+bob)) != 2 {
		t.Errorf("no audit lines for the decisions:\n%s", h.logs)
	}
}

// A click on a request that no longer waits is answered ephemerally with
// how it ended. The message is left to the run: the gateway never rewrites
// it from the click payload's copy (Step 7, defect 7).
func TestClickOnAFinishedRunSaysItIsNoLongerWaiting(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	h.startWorker()
	app := uniq("finished")
	id := contract.DeployWorkflowID(app)
	h.mention(alice, "sync "+app)
	ts, blocks := h.requestMessage(id)
	h.clickAt("/slack/interactions", bob, slackui.ActionReject, id, ts, blocks)
	h.result(id, &contract.Decision{})

	if ack := h.clickAt("/slack/interactions", bob, slackui.ActionApprove, id, ts, blocks); ack.code != 200 {
		t.Fatalf("ack = %d", ack.code)
	}
	h.settle()
	e := h.ephemerals(bob)
	if len(e) != 1 || !strings.Contains(e[0], "no longer waiting (it ended: rejected)") {
		t.Errorf("ephemeral replies to bob = %q", e)
	}
	if msg, _ := h.slack.Message(testChannel, ts); msg.Edited {
		t.Errorf("the gateway rewrote the request message from the click: %s", msg.Blocks)
	}

	// A button naming a run that never existed.
	ghost := contract.DeployWorkflowID(uniq("ghost"))
	h.click(alice, slackui.ActionApprove, ghost, "")
	h.settle()
	if e := h.ephemerals(alice); len(e) != 1 || !strings.Contains(e[0], "no longer exists") {
		t.Errorf("ephemeral replies for a ghost run = %q", e)
	}
	if got := h.counter("deploybot_gateway_requests_total", "outcome", "not_waiting"); got != 2 {
		t.Errorf("not_waiting = %v, want 2", got)
	}
}

// Buttons carry the per-app workflow id, so an old message's buttons name
// the app's current run; a click on a message older than that run must not
// decide it.
func TestClickOnAnOlderRequestsMessageDoesNotDecideTheCurrentRun(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	h.startWorker()
	app := uniq("newer")
	id := contract.DeployWorkflowID(app)
	h.mention(alice, "sync "+app)
	old := fmt.Sprintf("%d.000100", time.Now().Add(-time.Hour).Unix())
	h.click(bob, slackui.ActionApprove, id, old)
	h.settle()
	if e := h.ephemerals(bob); len(e) != 1 || !strings.Contains(e[0], "a newer request for "+app+" is in progress") {
		t.Errorf("ephemeral replies = %q", e)
	}
	if info := h.describe(id); !info.Running {
		t.Errorf("the current run was decided by a click on an older message: %+v", info)
	}
}

// Clicks on buttons that are not deploybot's decision buttons change
// nothing: other action ids (SonarQube's included), and values that are
// not a deploy run's id.
func TestOtherClicksAreIgnored(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	h.startWorker()
	app := uniq("other")
	id := contract.DeployWorkflowID(app)
	h.mention(alice, "sync "+app)
	h.click(bob, "some.other.button", id, "")
	h.click(bob, "deploybot.sast.other", "sast-x", "")
	for _, v := range []string{"cmd-status-Ev1", "deploy-", "deploy-../../x", strings.Repeat("deploy-a", 100)} {
		h.click(bob, slackui.ActionApprove, v, "")
	}
	// A view submission is not a click at all.
	body := []byte(url.Values{"payload": {`{"type":"view_submission","user":{"id":"U0BOB"}}`}}.Encode())
	if ack := h.post("/slack/interactions", "application/x-www-form-urlencoded", body, signed(body)); ack.code != 200 {
		t.Errorf("view_submission ack = %d", ack.code)
	}
	h.settle()
	if info := h.describe(id); !info.Running {
		t.Errorf("an ignored click decided the run: %+v", info)
	}
	if got := h.counter("deploybot_gateway_signals_sent_total"); got != 0 {
		t.Errorf("signals sent: %v", got)
	}
	if len(logLines(h.logs, "action ignored", "actionId=deploybot.sast.other")) != 1 {
		t.Errorf("no debug line for the unknown SAST button:\n%s", h.logs)
	}
	if got := h.counter("deploybot_gateway_requests_total", "outcome", "bad_request"); got != 4 {
		t.Errorf("bad_request = %v, want 4 (forged values)", got)
	}
}

func TestClickWithTemporalDownIsReported(t *testing.T) {
	h := newHarness(t, downTemporalClient(t))
	h.click(bob, slackui.ActionApprove, contract.DeployWorkflowID("guestbook"), "")
	h.settle()
	if e := h.ephemerals(bob); len(e) != 1 || !strings.Contains(e[0], "could not reach Temporal") || !strings.Contains(e[0], "not recorded") {
		t.Errorf("ephemeral replies = %q", e)
	}
}

// Accept and Reject on a failed quality gate reach its run as the
// Decision signal; a click once it has ended says so; values that are not
// a quality-gate run's id are ignored.
func TestSASTClicksDeliverDecisions(t *testing.T) {
	h := newHarness(t, temporalClient(t), withSAST)
	h.startRunsWorker()
	for _, tc := range []struct {
		action  string
		outcome contract.Outcome
	}{
		{actionSASTAccept, contract.OutcomeAccepted},
		{actionSASTReject, contract.OutcomeRejected},
	} {
		id := h.sastRun(uniq("proj"), "main", "abc", contract.GateError)
		h.click(bob, tc.action, id, "")
		var res contract.QualityGateResult
		h.result(id, &res)
		if res.Outcome != tc.outcome || res.DecidedBy == nil || *res.DecidedBy != (contract.User{ID: bob, Name: "bob"}) {
			t.Errorf("%s: result %+v", tc.action, res)
		}
	}
	if got := h.counter("deploybot_gateway_signals_sent_total", "signal", contract.SignalDecision); got != 2 {
		t.Errorf("signals_sent_total = %v, want 2", got)
	}
	if n := len(logLines(h.logs, "audit: decision delivered", "user="+bob, "workflowId=sast-")); n != 2 {
		t.Errorf("%d audit lines, want 2:\n%s", n, h.logs)
	}

	// A click after the run ended.
	id := h.sastRun(uniq("proj"), "main", "abc", contract.GateError)
	h.click(bob, actionSASTAccept, id, "")
	h.result(id, nil)
	h.click(bob, actionSASTReject, id, "")
	h.settle()
	if e := h.ephemerals(bob); len(e) != 1 || !strings.Contains(e[0], "no longer waiting (it ended: accepted)") {
		t.Errorf("ephemeral replies to bob = %q", e)
	}

	// Forged values, and a SAST button naming a deploy run.
	for _, v := range []string{"sast-", "deploy-guestbook", "sast-a b", "sast-a/../b", "sast-" + strings.Repeat("x", 1000)} {
		h.click(bob, actionSASTAccept, v, "")
	}
	if got := h.counter("deploybot_gateway_requests_total", "outcome", "bad_request"); got != 5 {
		t.Errorf("bad_request = %v, want 5", got)
	}
	if got := h.counter("deploybot_gateway_signals_sent_total"); got != 3 {
		t.Errorf("signals sent = %v, want 3", got)
	}
}

func TestSASTClickWithTemporalDownIsReported(t *testing.T) {
	h := newHarness(t, downTemporalClient(t), withSAST)
	h.click(bob, actionSASTAccept, "sast-p~branch-main~task-T1", "")
	h.settle()
	if e := h.ephemerals(bob); len(e) != 1 || !strings.Contains(e[0], "could not reach Temporal") {
		t.Errorf("ephemeral replies = %q", e)
	}
}

// TestClickNamesItsRun (Step 7, defect 7): a button names the exact run it
// decides; a click naming another run of the same workflow id reaches
// nothing, and the run id must look like one.
func TestClickNamesItsRun(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	h.startWorker()
	app := uniq("exact")
	id := contract.DeployWorkflowID(app)
	h.mention(alice, "sync "+app)
	ts, _ := h.requestMessage(id)
	run := h.describe(id)
	stale := contract.ButtonValue(id, "0193a3c0-0000-7000-8000-000000000000")
	if ack := h.click(bob, slackui.ActionApprove, stale, ts); ack.code != 200 {
		t.Fatalf("ack = %d", ack.code)
	}
	h.settle()
	if e := h.ephemerals(bob); len(e) != 1 || !strings.Contains(e[0], "no longer exists") {
		t.Errorf("a click naming another run of %s: replies %q", id, e)
	}
	if ack := h.click(bob, slackui.ActionApprove, contract.ButtonValue(id, "run\n1"), ts); ack.code != 200 {
		t.Fatalf("ack = %d", ack.code)
	}
	if got := h.counter("deploybot_gateway_requests_total", "route", "/slack/interactions", "code", "200", "outcome", "bad_request"); got != 1 {
		t.Errorf("a run id with a line break counted %v times as bad_request, want 1", got)
	}
	if ack := h.click(bob, slackui.ActionApprove, contract.ButtonValue(id, run.RunID), ts); ack.code != 200 {
		t.Fatalf("ack = %d", ack.code)
	}
	var d contract.Decision
	h.result(id, &d)
	if !d.Approve || d.User.ID != bob || d.MessageTS != ts {
		t.Errorf("decision through the exact run's button = %+v", d)
	}
}
