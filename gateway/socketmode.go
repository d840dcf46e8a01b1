package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// maxSocketHandlers bounds the Socket Mode requests handled at once; each
// finishes within the Temporal deadline, so this is plenty.
const maxSocketHandlers = 64

// NewSocketModeClient returns a Socket Mode client for the bot token and
// the app-level token (xapp-…). apiURL overrides Slack's base URL
// (SLACK_API_URL; "" = https://slack.com/api/).
func NewSocketModeClient(botToken, appToken, apiURL string) *socketmode.Client {
	opts := []slack.Option{slack.OptionAppLevelToken(appToken)}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return socketmode.New(slack.New(botToken, opts...))
}

// acker acknowledges a Socket Mode request by envelope id;
// (*socketmode.Client).AckCtx is one.
type acker func(ctx context.Context, envelopeID string, payload any) error

// ackTimeout bounds an acknowledgement: SendCtx blocks while the socket is
// down, and a handler must not wait forever for it.
const ackTimeout = 5 * time.Second

// RunSocketMode serves Slack's events, interactions and slash commands over
// sm's WebSocket until ctx ends; no public URL is needed. Each request goes
// through the same handlers as over HTTP, minus the signature check (Slack
// authenticates the socket with the app-level token), and is acknowledged
// once handled, within the Temporal deadline.
func (s *Server) RunSocketMode(ctx context.Context, sm *socketmode.Client) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(ctx) }()
	slots := make(chan struct{}, maxSocketHandlers)
	var handlers sync.WaitGroup
	defer handlers.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt := <-sm.Events:
			if evt.Request == nil || !isSlackRequest(evt.Type) {
				s.socketLifecycle(evt)
				continue
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			handlers.Add(1)
			go func() {
				defer func() { <-slots; handlers.Done() }()
				s.handleSocketEvent(context.WithoutCancel(ctx), evt, sm.AckCtx)
			}()
		}
	}
}

func isSlackRequest(t socketmode.EventType) bool {
	switch t {
	case socketmode.EventTypeEventsAPI, socketmode.EventTypeInteractive, socketmode.EventTypeSlashCommand:
		return true
	}
	return false
}

// handleSocketEvent handles one request from the socket and acknowledges it.
func (s *Server) handleSocketEvent(ctx context.Context, evt socketmode.Event, ack acker) {
	start := time.Now()
	req := *evt.Request
	var outcome string
	switch evt.Type {
	case socketmode.EventTypeEventsAPI:
		// The raw payload, not slack-go's parsed form, so both transports
		// read events with the same code.
		outcome = s.handleEvent(ctx, req.Payload, req.RetryAttempt).outcome
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok {
			outcome = outcomeBadRequest
			break
		}
		outcome = s.handleInteraction(ctx, cb)
	case socketmode.EventTypeSlashCommand:
		sc, ok := evt.Data.(slack.SlashCommand)
		if !ok {
			outcome = outcomeBadRequest
			break
		}
		outcome = s.handleSlash(ctx, sc)
	}
	if outcome == outcomeRedeliver {
		// Unacknowledged, Slack delivers the envelope again.
		s.record("socketmode/"+string(evt.Type), "not_acked", outcome, time.Since(start))
		return
	}
	code := "ack"
	actx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if err := ack(actx, req.EnvelopeID, nil); err != nil {
		code = "ack_failed"
		s.log.Error("could not acknowledge a Socket Mode request", "type", evt.Type, "envelope", req.EnvelopeID, "error", err)
	}
	s.record("socketmode/"+string(evt.Type), code, outcome, time.Since(start))
}

// socketLifecycle logs what the Socket Mode client reports about its
// connection.
func (s *Server) socketLifecycle(evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		s.log.Info("slack socket mode connecting")
	case socketmode.EventTypeConnected:
		s.log.Info("slack socket mode connected")
	case socketmode.EventTypeHello:
		s.log.Debug("slack socket mode hello")
	case socketmode.EventTypeDisconnect:
		s.log.Info("slack socket mode: Slack asked to reconnect")
	case socketmode.EventTypeInvalidAuth:
		s.log.Error("slack socket mode: SLACK_APP_TOKEN was refused (invalid_auth); create an app-level token with connections:write")
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorWriteFailed, socketmode.EventTypeErrorBadMessage:
		s.log.Warn("slack socket mode error", "type", evt.Type, "detail", fmt.Sprint(evt.Data))
	default:
		s.log.Debug("slack socket mode event ignored", "type", evt.Type)
	}
}
