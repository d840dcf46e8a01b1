package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/deploybot/deploybot/internal/devenv"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/internal/slackui"
)

// signer signs requests as Slack does: v0= + hex HMAC-SHA256 of
// "v0:{timestamp}:{body}" with the signing secret.
type signer struct{ secret []byte }

func (s signer) headers(body []byte, now time.Time) http.Header {
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	return http.Header{
		"X-Slack-Request-Timestamp": {ts},
		"X-Slack-Signature":         {"v0=" + hex.EncodeToString(mac.Sum(nil))},
	}
}

// mentionBody is the Events API body of an app_mention by user in the
// playground's channel: text typed in thread threadTS, as message ts.
func mentionBody(eventID, user, text, ts, threadTS string) []byte {
	b, _ := json.Marshal(map[string]any{
		"token": "unused", "team_id": "T0DEPLOYBOT", "api_app_id": "A0DEPLOYBOT",
		"type": "event_callback", "event_id": eventID, "event_time": time.Now().Unix(),
		"event": map[string]any{
			"type": "app_mention", "user": user, "text": text, "ts": ts, "thread_ts": threadTS,
			"channel": devenv.DevChannel.ID, "event_ts": ts,
		},
		"authorizations": []map[string]any{{"user_id": slackapi.DefaultBotUserID, "is_bot": true}},
	})
	return b
}

// clickBody is the form-encoded block_actions payload of a click by user on
// the Approve button whose value is value, on the message messageTS.
func clickBody(user, userName, value, messageTS, triggerID string) []byte {
	now := time.Now().Unix()
	payload, _ := json.Marshal(map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": user, "username": userName, "name": userName, "team_id": "T0DEPLOYBOT"},
		"api_app_id": "A0DEPLOYBOT", "token": "unused",
		"container":    map[string]any{"type": "message", "message_ts": messageTS, "channel_id": devenv.DevChannel.ID, "is_ephemeral": false},
		"trigger_id":   triggerID,
		"team":         map[string]any{"id": "T0DEPLOYBOT", "domain": "deploybot"},
		"channel":      map[string]any{"id": devenv.DevChannel.ID, "name": devenv.DevChannel.Name},
		"message":      map[string]any{"type": "message", "ts": messageTS, "text": "bench", "user": slackapi.DefaultBotUserID},
		"response_url": "https://hooks.slack.invalid/actions/bench",
		"actions": []map[string]any{{
			"action_id": slackui.ActionApprove, "block_id": slackui.BlockIDDecision, "value": value, "type": "button",
			"action_ts": fmt.Sprintf("%d.000100", now),
			"text":      map[string]any{"type": "plain_text", "text": "Approve"},
		}},
	})
	return []byte(url.Values{"payload": {string(payload)}}.Encode())
}

// post sends a signed Slack request (signed now, when it leaves) and
// classifies the answer: "" for 200, "http_<code>" for another status,
// "timeout" or "transport" when none came.
func (s *stack) post(ctx context.Context, sg signer, path, contentType string, body []byte, errs *samples) (errKind string, answered bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.gateway+path, bytes.NewReader(body))
	if err != nil {
		errs.add("transport", err.Error())
		return "transport", false
	}
	req.Header = sg.headers(body, time.Now())
	req.Header.Set("Content-Type", contentType)
	resp, err := s.http.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			errs.add("timeout", err.Error())
			return "timeout", false
		}
		errs.add("transport", err.Error())
		return "transport", false
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		kind := "http_" + strconv.Itoa(resp.StatusCode)
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		errs.add(kind, string(b))
		return kind, true
	}
	return "", true
}
