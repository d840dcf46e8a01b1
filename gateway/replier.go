package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/slack-go/slack"
)

// ReplyMetadataEventType is the Slack message metadata event_type of the
// gateway's own replies; the payload's "key" identifies the request the
// reply answers, so a retried request can see it was already answered.
const ReplyMetadataEventType = "deploybot_gateway_reply"

// Reply is one message from the gateway to a person. Exactly one
// destination applies: ResponseURL (a slash command's), else User (an
// ephemeral message to that user in Channel), else a message in Channel.
type Reply struct {
	Channel string
	// ThreadTS puts the reply in that thread.
	ThreadTS string
	// User, if set, makes the reply ephemeral: only that user sees it.
	User string
	// ResponseURL is a slash command's response_url; the reply is ephemeral.
	ResponseURL string
	Text        string
	// Key, if set, is stored in the message metadata (channel messages
	// only) so Replied can find it.
	Key string
}

// Replier sends the gateway's replies to Slack. SlackReplier is the real
// one.
type Replier interface {
	// Reply sends r.
	Reply(ctx context.Context, r Reply) error
	// Replied reports whether a reply with key is already in the thread.
	Replied(ctx context.Context, channel, threadTS, key string) (bool, error)
}

// SlackReplier is the Replier over the Slack Web API (slack-go) and
// response_url.
type SlackReplier struct {
	api  *slack.Client
	http *http.Client
}

var _ Replier = (*SlackReplier)(nil)

// NewSlackReplier returns a Replier posting with the bot token. apiURL
// overrides Slack's base URL (SLACK_API_URL; "" = https://slack.com/api/).
func NewSlackReplier(token, apiURL string) *SlackReplier {
	hc := &http.Client{Timeout: 10 * time.Second}
	opts := []slack.Option{slack.OptionHTTPClient(hc)}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return &SlackReplier{api: slack.New(token, opts...), http: hc}
}

// Reply implements Replier.
func (s *SlackReplier) Reply(ctx context.Context, r Reply) error {
	switch {
	case r.ResponseURL != "":
		return s.respond(ctx, r.ResponseURL, r.Text)
	case r.User != "":
		opts := []slack.MsgOption{slack.MsgOptionText(r.Text, false)}
		if r.ThreadTS != "" {
			opts = append(opts, slack.MsgOptionTS(r.ThreadTS))
		}
		_, err := s.api.PostEphemeralContext(ctx, r.Channel, r.User, opts...)
		return err
	default:
		opts := []slack.MsgOption{slack.MsgOptionText(r.Text, false)}
		if r.ThreadTS != "" {
			opts = append(opts, slack.MsgOptionTS(r.ThreadTS))
		}
		if r.Key != "" {
			opts = append(opts, slack.MsgOptionMetadata(slack.SlackMetadata{
				EventType: ReplyMetadataEventType, EventPayload: map[string]any{"key": r.Key},
			}))
		}
		_, _, err := s.api.PostMessageContext(ctx, r.Channel, opts...)
		return err
	}
}

// respond posts an ephemeral message to a slash command's response_url.
func (s *SlackReplier) respond(ctx context.Context, url, text string) error {
	body, err := json.Marshal(map[string]any{"response_type": "ephemeral", "text": text})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("response_url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("response_url: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("response_url answered %s: %s: %w", resp.Status, msg, responseURLCause(resp))
	}
	return nil
}

// responseURLCause is a response_url's non-2xx answer as the error slack-go
// gives for the same answer from the Web API, so that slackerr classifies
// both alike.
func responseURLCause(resp *http.Response) error {
	if resp.StatusCode == http.StatusTooManyRequests {
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			return &slack.RateLimitedError{RetryAfter: time.Duration(secs) * time.Second}
		}
	}
	return slack.StatusCodeError{Code: resp.StatusCode, Status: resp.Status}
}

// Replied implements Replier by reading the thread's replies with their
// metadata. Only the first page is read: a retry comes within minutes of
// the request, and the gateway's reply is among the first in its thread.
func (s *SlackReplier) Replied(ctx context.Context, channel, threadTS, key string) (bool, error) {
	msgs, _, _, err := s.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
		ChannelID: channel, Timestamp: threadTS, Limit: 200, IncludeAllMetadata: true,
	})
	if err != nil {
		return false, err
	}
	for _, m := range msgs {
		if m.Metadata.EventType == ReplyMetadataEventType && m.Metadata.EventPayload["key"] == key {
			return true, nil
		}
	}
	return false, nil
}
