package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/deploybot/deploybot/internal/contract"
)

// eventEnvelope is the outer JSON of an Events API request: a
// url_verification challenge or an event_callback.
type eventEnvelope struct {
	Type      string          `json:"type"`
	Challenge string          `json:"challenge"`
	EventID   string          `json:"event_id"`
	Event     json.RawMessage `json:"event"`
}

// mentionEvent is the part of an app_mention event deploybot reads.
type mentionEvent struct {
	Type     string          `json:"type"`
	User     string          `json:"user"`
	Text     string          `json:"text"`
	TS       string          `json:"ts"`
	ThreadTS string          `json:"thread_ts"`
	Channel  string          `json:"channel"`
	BotID    string          `json:"bot_id"`
	Edited   json.RawMessage `json:"edited"`
}

// eventResult is what the transport sends back for an event.
type eventResult struct {
	status  int
	body    any // JSON body, or nil for none
	outcome string
}

// handleEvent handles one Events API payload, from HTTP or Socket Mode.
// retry is the delivery attempt Slack reports (0 = first).
func (s *Server) handleEvent(ctx context.Context, payload []byte, retry int) eventResult {
	var env eventEnvelope
	if err := json.Unmarshal(payload, &env); err != nil {
		s.log.Warn("unreadable Slack event", "error", err)
		return eventResult{status: http.StatusBadRequest, body: errBody("not an Events API payload"), outcome: outcomeBadRequest}
	}
	switch env.Type {
	case "url_verification":
		return eventResult{status: http.StatusOK, body: gin.H{"challenge": env.Challenge}, outcome: outcomeOK}
	case "event_callback":
	default:
		s.log.Debug("Slack event envelope ignored", "type", env.Type)
		return eventResult{status: http.StatusOK, outcome: outcomeIgnored}
	}
	var ev mentionEvent
	if err := json.Unmarshal(env.Event, &ev); err != nil {
		s.log.Warn("unreadable Slack event", "eventId", env.EventID, "error", err)
		return eventResult{status: http.StatusBadRequest, body: errBody("unreadable event"), outcome: outcomeBadRequest}
	}
	switch {
	case ev.Type != "app_mention":
		s.log.Debug("Slack event ignored", "type", ev.Type, "eventId", env.EventID)
		return eventResult{status: http.StatusOK, outcome: outcomeIgnored}
	case ev.BotID != "" || ev.User == "":
		// Another bot (or this one) mentioning us: answering could loop.
		s.log.Debug("mention by a bot ignored", "eventId", env.EventID, "botId", ev.BotID)
		return eventResult{status: http.StatusOK, outcome: outcomeIgnored}
	case len(ev.Edited) > 0 && string(ev.Edited) != "null":
		// An edit re-delivers the mention; acting on it would run the
		// command a second time.
		s.log.Info("mention in an edited message ignored", "eventId", env.EventID, "user", ev.User)
		return eventResult{status: http.StatusOK, outcome: outcomeIgnored}
	case env.EventID == "" || ev.Channel == "" || ev.TS == "":
		s.log.Warn("mention without event_id, channel or ts ignored", "eventId", env.EventID)
		return eventResult{status: http.StatusBadRequest, body: errBody("event_id, channel and ts are required"), outcome: outcomeBadRequest}
	case !contract.IsSlackUserID(ev.User):
		// Slack sends member ids only; anything else is not to be echoed.
		s.log.Warn("mention whose user is not a Slack user id ignored", "eventId", env.EventID, "user", fmt.Sprintf("%q", ev.User))
		return eventResult{status: http.StatusBadRequest, body: errBody("event.user is not a Slack user id"), outcome: outcomeBadRequest}
	}
	thread := ev.ThreadTS
	if thread == "" {
		thread = ev.TS
	}
	outcome := s.handleCommand(ctx, request{
		via: "mention", id: env.EventID, retry: retry,
		user:    contract.User{ID: ev.User},
		channel: ev.Channel, threadTS: thread, text: ev.Text,
	})
	if outcome == outcomeRedeliver {
		// Not a 2xx: Slack delivers the event again, and its event id
		// keeps a delivery that did get through from starting twice.
		return eventResult{status: http.StatusServiceUnavailable, body: errBody("Temporal is busy; deliver this event again"), outcome: outcome}
	}
	return eventResult{status: http.StatusOK, outcome: outcome}
}

// httpEvents serves POST /slack/events. The work is not tied to the HTTP
// request's context: if Slack hangs up early, a half-done start must still
// finish (or be reported), not be cancelled midway.
func (s *Server) httpEvents(c *gin.Context) {
	res := s.handleEvent(context.WithoutCancel(c.Request.Context()), c.MustGet(ctxBody).([]byte), retryNum(c.GetHeader("X-Slack-Retry-Num")))
	c.Set(ctxOutcome, res.outcome)
	if res.body != nil {
		c.JSON(res.status, res.body)
		return
	}
	c.Status(res.status)
}

// retryNum reads X-Slack-Retry-Num; any value that is present counts as a
// retry even if it does not parse.
func retryNum(h string) int {
	if h == "" {
		return 0
	}
	n, err := strconv.Atoi(h)
	if err != nil || n < 1 {
		return 1
	}
	return n
}
