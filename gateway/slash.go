package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/contract"
)

// handleSlash handles the /deploy slash command, from HTTP or Socket Mode.
// A slash command has no event_id; its trigger_id is unique per
// invocation, so it plays that part. Replies go to its response_url.
func (s *Server) handleSlash(ctx context.Context, sc slack.SlashCommand) string {
	if sc.TriggerID == "" || sc.UserID == "" || sc.ChannelID == "" {
		s.log.Warn("slash command without trigger_id, user_id or channel_id ignored", "command", sc.Command)
		return outcomeBadRequest
	}
	if !contract.IsSlackUserID(sc.UserID) {
		s.log.Warn("slash command whose user_id is not a Slack user id ignored", "user", fmt.Sprintf("%q", sc.UserID))
		return outcomeBadRequest
	}
	return s.handleCommand(ctx, request{
		via: "slash", id: sc.TriggerID,
		user:    contract.User{ID: sc.UserID, Name: contract.CleanName(sc.UserName)},
		channel: sc.ChannelID, responseURL: sc.ResponseURL, text: sc.Text,
	})
}

// httpCommands serves POST /slack/commands (form-encoded). The reply, if
// any, goes to the response_url, so the acknowledgement is an empty 200.
func (s *Server) httpCommands(c *gin.Context) {
	form, err := url.ParseQuery(string(c.MustGet(ctxBody).([]byte)))
	if err != nil {
		c.Set(ctxOutcome, outcomeBadRequest)
		c.JSON(http.StatusBadRequest, errBody("not a form"))
		return
	}
	sc := slack.SlashCommand{
		TeamID: form.Get("team_id"), ChannelID: form.Get("channel_id"), ChannelName: form.Get("channel_name"),
		UserID: form.Get("user_id"), UserName: form.Get("user_name"), Command: form.Get("command"),
		Text: form.Get("text"), ResponseURL: form.Get("response_url"), TriggerID: form.Get("trigger_id"),
		APIAppID: form.Get("api_app_id"),
	}
	outcome := s.handleSlash(context.WithoutCancel(c.Request.Context()), sc)
	c.Set(ctxOutcome, outcome)
	if outcome == outcomeBadRequest {
		c.JSON(http.StatusBadRequest, errBody("trigger_id, user_id and channel_id are required"))
		return
	}
	c.Status(http.StatusOK)
}
