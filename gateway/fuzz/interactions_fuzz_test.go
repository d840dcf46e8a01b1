package fuzz

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// fzClick is the block_actions payload of a click on a decision button,
// in the shape Slack sends (as gateway's clickPayload builds it).
func fzClick(user, name, actionID, value string) string {
	b, _ := json.Marshal(map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": user, "username": name, "name": name, "team_id": "T0DEPLOYBOT"},
		"api_app_id": "A0DEPLOYBOT", "token": "unused",
		"container":    map[string]any{"type": "message", "message_ts": "1712000000.000100", "channel_id": fzChannel, "is_ephemeral": false},
		"trigger_id":   "13345224609.738474920.8088930838d88f008e0",
		"team":         map[string]any{"id": "T0DEPLOYBOT", "domain": "deploybot"},
		"channel":      map[string]any{"id": fzChannel, "name": "deploys"},
		"message":      map[string]any{"type": "message", "ts": "1712000000.000100", "text": "Approval request", "user": "U0DEPLOYBOT", "bot_id": "B0DEPLOYBOT"},
		"response_url": "https://hooks.slack.invalid/actions/x",
		"actions": []map[string]any{{
			"action_id": actionID, "block_id": slackui.BlockIDDecision, "value": value, "type": "button",
			"action_ts": "1712000100.000100", "text": map[string]any{"type": "plain_text", "text": "Approve"},
		}},
	})
	return string(b)
}

// fzButtons are deploybot's decision buttons and whether each approves.
var fzButtons = map[string]bool{
	slackui.ActionApprove: true, slackui.ActionReject: false,
	slackui.ActionSASTAccept: true, slackui.ActionSASTReject: false,
}

// FuzzSlackInteractions posts any interaction payload (form field
// "payload", or with raw set any body), correctly signed, to
// /slack/interactions. The answer is 200 or a 400 with a message, never a
// 5xx or a panic. A decision is only ever sent for one of deploybot's
// buttons in the payload, to the run of that button's kind its value
// names, approving exactly when the button does, by the clicking Slack
// user (id checked, name clean).
func FuzzSlackInteractions(f *testing.F) {
	f.Add(fzClick(fzBob, "bob", slackui.ActionApprove, contract.ButtonValue("deploy-guestbook", fzRunID)), false)
	f.Add(fzClick(fzBob, "bob", slackui.ActionReject, "deploy-guestbook"), false)
	f.Add(fzClick(fzBob, "bob\r\nBcc: x@evil", slackui.ActionSASTAccept, contract.ButtonValue("sast-deploybot%3Apayments-api~branch-main~task-AYx1", fzRunID)), false)
	f.Add(fzClick(fzBob, "\u202ebob", slackui.ActionSASTReject, "sast-p~default~task-T1"), false)
	f.Add(fzClick("U0BOB\n", "bob", slackui.ActionApprove, "deploy-guestbook"), false)
	f.Add(fzClick(fzBob, "bob", slackui.ActionApprove, "sast-p~default~task-T1"), false)
	f.Add(fzClick(fzBob, "bob", slackui.ActionSASTAccept, "deploy-guestbook"), false)
	f.Add(fzClick(fzBob, "bob", slackui.ActionApprove, "deploy-Guest Book#\x00"), false)
	f.Add(fzClick(fzBob, "bob", "some.other.action", "deploy-guestbook"), false)
	f.Add(`{"type":"view_submission","user":{"id":"U0BOB"}}`, false)
	f.Add(`{"type":"block_actions","user":{"id":"U0BOB"},"actions":[{"action_id":"deploybot.approve","value":"deploy-a"}]}`, false)
	f.Add(`{"type":"block_actions","state":{"values":{}},"actions":"x"}`, false)
	f.Add("payload=%7B%7D&payload=x", true)
	f.Add("payload=%zz", true)
	g := newFzGateway(f)
	f.Fuzz(func(t *testing.T, payload string, raw bool) {
		body := []byte(url.Values{"payload": {payload}}.Encode())
		if raw {
			body = []byte(payload)
		}
		res := g.do(t, fzPost("/slack/interactions", "application/x-www-form-urlencoded", body, fzSlackHeaders(body)))
		if res.code != http.StatusOK && res.code != http.StatusBadRequest {
			t.Fatalf("answer %d %s, want 200 or 400", res.code, res.body)
		}
		if len(res.calls) == 0 && len(res.replies) == 0 {
			return
		}
		if raw {
			form, err := url.ParseQuery(payload)
			if err != nil {
				t.Fatalf("a body that is no form was acted on")
			}
			payload = form.Get("payload")
		}
		// The click, decoded independently of slack-go.
		var cb struct {
			Type string `json:"type"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
			Actions []fzAction `json:"actions"`
		}
		if err := json.Unmarshal([]byte(payload), &cb); err != nil || cb.Type != "block_actions" || !contract.IsSlackUserID(cb.User.ID) {
			t.Fatalf("a payload that is no block_actions click by a Slack user was acted on: %v, %+v", err, cb)
		}
		for _, c := range res.calls {
			switch c.method {
			case "DescribeRun":
			case "SignalDecision":
				d := c.decision
				checkUser(t, "decider", d.User)
				if d.User.ID != cb.User.ID || d.Source != "slack" {
					t.Errorf("decision %+v is not the clicker's (%s)", d, cb.User.ID)
				}
				if !fzFromButton(cb.Actions, c.workflowID, d.Approve) {
					t.Errorf("decision (approve=%v) to %q matches none of the payload's buttons %v", d.Approve, c.workflowID, cb.Actions)
				}
			default:
				t.Errorf("a click made a %s call", c.method)
			}
		}
		for _, r := range res.replies {
			if r.User != cb.User.ID {
				t.Errorf("reply to %q, want the clicker %q only", r.User, cb.User.ID)
			}
		}
	})
}

// fzAction is the part of a clicked action the checks read.
type fzAction struct {
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
}

// fzFromButton reports whether one of actions is a deploybot button of a
// run of its kind named workflowID that approves as approve does.
func fzFromButton(actions []fzAction, workflowID string, approve bool) bool {
	for _, a := range actions {
		id, value := a.ActionID, a.Value
		approves, ok := fzButtons[id]
		if !ok || approves != approve {
			continue
		}
		wf, _ := contract.ParseButtonValue(value)
		if wf != workflowID {
			continue
		}
		sast := id == slackui.ActionSASTAccept || id == slackui.ActionSASTReject
		if sast && contract.ValidateSASTWorkflowID(wf) == nil {
			return true
		}
		if app, ok := strings.CutPrefix(wf, "deploy-"); !sast && ok && contract.ValidateAppName(app) == nil {
			return true
		}
	}
	return false
}
