package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// decisionButton is what a click on one of deploybot's decision buttons
// decides, and of which kind of run.
type decisionButton struct {
	approve bool
	// sast marks a quality-gate button, whose value is a quality-gate run
	// id; the others' is a deploy run id.
	sast bool
}

// decisionButtons are deploybot's decision buttons by action id.
var decisionButtons = map[string]decisionButton{
	slackui.ActionApprove:    {approve: true},
	slackui.ActionReject:     {approve: false},
	slackui.ActionSASTAccept: {approve: true, sast: true},
	slackui.ActionSASTReject: {approve: false, sast: true},
}

// staleMessageSlack allows for clock skew between Slack (message ts) and
// Temporal (run start) when telling a click on an older run's message from
// one on the current run's.
const staleMessageSlack = 2 * time.Second

// handleInteraction handles one interaction payload, from HTTP or Socket
// Mode: a click on Approve or Reject (of a deploy request) or on Accept or
// Reject (of a failed quality gate) becomes a SignalDecision to the run the
// button names. Who may decide is the workflow's business (its rules are
// durable there); the gateway only checks that the button is deploybot's
// and that the run still waits.
func (s *Server) handleInteraction(ctx context.Context, cb slack.InteractionCallback) string {
	if cb.Type != slack.InteractionTypeBlockActions {
		s.log.Debug("interaction ignored", "type", cb.Type)
		return outcomeIgnored
	}
	var action *slack.BlockAction
	var button decisionButton
	for _, a := range cb.ActionCallback.BlockActions {
		if b, ok := decisionButtons[a.ActionID]; ok {
			action, button = a, b
			break
		}
		s.log.Debug("action ignored", "actionId", a.ActionID)
	}
	if action == nil {
		return outcomeIgnored
	}
	if !contract.IsSlackUserID(cb.User.ID) {
		s.log.Warn("click whose user is not a Slack user id ignored", "user", fmt.Sprintf("%q", cb.User.ID), "action", action.ActionID)
		return outcomeBadRequest
	}
	user := contract.User{ID: cb.User.ID, Name: contract.CleanName(cb.User.Username)}
	if user.Name == "" {
		user.Name = contract.CleanName(cb.User.Name)
	}
	click := clickOf(cb)
	// The button carries the run it decides (the workflow id alone on
	// messages posted before buttons named the run); anything else did not
	// come from deploybot's buttons.
	workflowID, runID := contract.ParseButtonValue(action.Value)
	log := s.log.With("via", "click", "action", action.ActionID, "user", user.ID, "channel", click.channel, "workflowId", workflowID, "runId", runID)
	app, err := buttonTarget(button, workflowID)
	if err == nil && !runIDLike(runID) {
		err = fmt.Errorf("%q is not a run id", runID)
	}
	if err != nil || user.ID == "" {
		log.Warn("click with a value that is not a run of its button ignored", "error", err)
		return outcomeBadRequest
	}
	// The run counts the click only if it is on its own request message.
	d := contract.Decision{Approve: button.approve, User: user, Source: "slack", MessageTS: click.messageTS}

	ctx, cancel := context.WithTimeout(ctx, s.opts.TemporalTimeout)
	defer cancel()
	info, err := s.starter.DescribeRun(ctx, workflowID, runID)
	switch {
	case errors.Is(err, ErrNotFound):
		return s.notWaiting(log, click, slackui.RunGone())
	case temporalUnavailable(err):
		return s.clickTemporalDown(log, click, err)
	case err != nil:
		log.Warn("could not describe the run; signalling anyway", "error", err)
		info = RunInfo{Run: Run{WorkflowID: workflowID}, Running: true}
	case !info.Running:
		return s.notWaiting(log, click, slackui.RunEnded(info.Ended()))
	case runID == "" && !button.sast && !info.StartTime.IsZero() && click.postedBefore(info.StartTime.Add(-staleMessageSlack)):
		// A deploy id is per app, so an old message's buttons name the
		// app's current run; the message predates that run, so it is not
		// the request this run waits on. (A quality-gate id is per
		// analysis: its buttons can only name their own run.)
		return s.notWaiting(log, click, slackui.NewerRun(app, contract.RunURL(s.cfg.TemporalUIURL, s.cfg.TemporalNamespace, info.WorkflowID, info.RunID)))
	}
	err = s.starter.SignalDecision(ctx, workflowID, info.RunID, d)
	switch {
	case err == nil:
		s.metrics.signals.WithLabelValues(contract.SignalDecision).Inc()
		log.Info("audit: decision delivered", "audit", true, "approve", d.Approve, "runId", info.RunID,
			"at", time.Now().UTC().Format(time.RFC3339))
		return outcomeSignalled
	case errors.Is(err, ErrNotFound):
		how := "" // unknown
		if after, derr := s.starter.DescribeRun(ctx, workflowID, info.RunID); derr == nil {
			how = after.Ended()
		}
		return s.notWaiting(log, click, slackui.RunEnded(how))
	case temporalUnavailable(err):
		return s.clickTemporalDown(log, click, err)
	default:
		log.Error("could not deliver the decision", "error", err)
		s.send(Reply{Channel: click.channel, ThreadTS: click.threadTS, User: user.ID,
			Text: slackui.ClickRefused(err.Error())}, false)
		return outcomeError
	}
}

// buttonTarget checks that value, a button's value, is the id of a run of
// the button's kind, and returns the app of a deploy run.
func buttonTarget(b decisionButton, value string) (app string, err error) {
	if b.sast {
		return "", contract.ValidateSASTWorkflowID(value)
	}
	app, ok := contract.AppFromDeployWorkflowID(value)
	if !ok {
		return "", fmt.Errorf("%q is not a deploy run id", value)
	}
	return app, contract.ValidateAppName(app)
}

// click is where a button was clicked.
type click struct {
	user      string
	channel   string
	messageTS string // the message holding the buttons
	threadTS  string // its thread, if it is in one
}

func clickOf(cb slack.InteractionCallback) click {
	c := click{
		user:      cb.User.ID,
		channel:   cb.Container.ChannelID,
		messageTS: cb.Container.MessageTs,
		threadTS:  cb.Container.ThreadTs,
	}
	if c.channel == "" {
		c.channel = cb.Channel.ID
	}
	if c.messageTS == "" {
		c.messageTS = cb.Message.Timestamp
	}
	if c.threadTS == "" {
		c.threadTS = cb.Message.ThreadTimestamp
	}
	return c
}

// postedBefore reports whether the clicked message was posted before t;
// false when its ts is unknown.
func (c click) postedBefore(t time.Time) bool {
	secs, err := strconv.ParseFloat(c.messageTS, 64)
	if err != nil || secs <= 0 {
		return false
	}
	return time.Unix(0, int64(secs*float64(time.Second))).Before(t)
}

// notWaiting answers a click on a request that no longer waits: the clicker
// is told why. The message itself is the run's to edit: the gateway never
// rewrites it from the click payload's copy, which the clicker controls.
func (s *Server) notWaiting(log *slog.Logger, c click, why slackui.StaleClick) string {
	log.Info("click on a request that is no longer waiting", "why", why.String())
	s.send(Reply{Channel: c.channel, ThreadTS: c.threadTS, User: c.user, Text: slackui.ClickChangedNothing(why)}, false)
	return outcomeNotWaiting
}

func (s *Server) clickTemporalDown(log *slog.Logger, c click, err error) string {
	if temporalBusy(err) {
		log.Warn("Temporal did not answer in time; click not delivered", "error", err)
		s.send(Reply{Channel: c.channel, ThreadTS: c.threadTS, User: c.user,
			Text: slackui.ClickTemporalBusy(s.opts.TemporalTimeout)}, false)
		return outcomeBusy
	}
	log.Error("Temporal is unreachable; click not delivered", "error", err)
	s.send(Reply{Channel: c.channel, ThreadTS: c.threadTS, User: c.user,
		Text: slackui.ClickTemporalUnreachable()}, false)
	return outcomeUnavailable
}

// httpInteractions serves POST /slack/interactions and /interactions: the
// payload is JSON in the form field "payload".
func (s *Server) httpInteractions(c *gin.Context) {
	form, err := url.ParseQuery(string(c.MustGet(ctxBody).([]byte)))
	var cb slack.InteractionCallback
	if err == nil {
		err = json.Unmarshal([]byte(form.Get("payload")), &cb)
	}
	if err != nil {
		s.log.Warn("unreadable interaction payload", "error", err)
		c.Set(ctxOutcome, outcomeBadRequest)
		c.JSON(http.StatusBadRequest, errBody("no interaction payload"))
		return
	}
	c.Set(ctxOutcome, s.handleInteraction(context.WithoutCancel(c.Request.Context()), cb))
	c.Status(http.StatusOK)
}
