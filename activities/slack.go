package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/internal/slackerr"
	"github.com/deploybot/deploybot/internal/slackui"
)

// Error types of the ApplicationErrors the Slack activities return, for
// workflows (errors.As + Type()) and retry policies (NonRetryableErrorTypes).
const (
	// SlackRateLimitedErrorType is a retryable 429; the error's
	// NextRetryDelay is Slack's Retry-After, so Temporal waits that long.
	SlackRateLimitedErrorType = "SlackRateLimited"
	// SlackUnavailableErrorType is a retryable failure to reach Slack:
	// network error, 5xx, or one of Slack's transient error codes.
	SlackUnavailableErrorType = "SlackUnavailable"
	// SlackErrorType is a non-retryable error Slack answered (channel_not_found,
	// invalid_auth, …). Its message says what to fix; its first detail is
	// Slack's error code (appErr.Details(&code)).
	SlackErrorType = "SlackError"
	// SlackBadMessageErrorType is a non-retryable error before anything was
	// sent: the input or its view cannot be rendered (a bug in the caller).
	SlackBadMessageErrorType = "SlackBadMessage"
)

// SlackMetadataEventType is the event_type of the metadata deploybot puts on
// every message it posts; the payload's "key" is PostMessageInput.Key.
const SlackMetadataEventType = "deploybot_message"

// slackLookupPages bounds the dedupe lookup: 10 pages of 200 messages since
// the activity was scheduled is far more than any channel sees in a retry.
const (
	slackLookupPages    = 10
	slackLookupPageSize = 200
	// slackLookupSkew widens the window for clock skew between Temporal and Slack.
	slackLookupSkew = 5 * time.Minute
)

// SlackAPI is the part of *slack.Client the Slack activities use; tests
// give it a client pointed at a fake server.
type SlackAPI interface {
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
	PostEphemeralContext(ctx context.Context, channelID, userID string, options ...slack.MsgOption) (string, error)
	GetConversationHistoryContext(ctx context.Context, params *slack.GetConversationHistoryParameters) (*slack.GetConversationHistoryResponse, error)
	GetConversationRepliesContext(ctx context.Context, params *slack.GetConversationRepliesParameters) ([]slack.Message, bool, string, error)
	GetUserGroupMembersContext(ctx context.Context, userGroup string, options ...slack.GetUserGroupMembersOption) ([]string, error)
}

var _ SlackAPI = (*slack.Client)(nil)

// Slack groups the activities that talk to the Slack Web API. Workflows
// pass slackui views; rendering to Block Kit happens here, outside workflow
// history.
type Slack struct {
	Client SlackAPI
	// BotName is how users invite the bot in error hints ("/invite @deploybot");
	// "" means deploybot.
	BotName string
	// groups caches user groups' members for GroupMembers.
	groups groupCache
}

// NewSlackClient returns a Slack Web API client for the activities. apiURL
// overrides Slack's base URL (SLACK_API_URL; "" = https://slack.com/api/).
// The client never retries or sleeps by itself (slack-go retries only with
// OptionRetry, which is not set): Temporal owns retries, honouring
// Retry-After through the errors the activities return.
func NewSlackClient(token, apiURL string) *slack.Client {
	opts := []slack.Option{
		// A bound per call, below any sane StartToCloseTimeout, so a stuck
		// connection fails the attempt instead of the whole activity.
		slack.OptionHTTPClient(&http.Client{Timeout: 30 * time.Second}),
	}
	if apiURL != "" {
		if !strings.HasSuffix(apiURL, "/") {
			apiURL += "/" // slack-go appends the method name directly
		}
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return slack.New(token, opts...)
}

// PostMessage renders in.Message and posts it in in.Channel (in the thread
// in.ThreadTS if set), storing in.Key in the message metadata. A retried
// attempt first looks for a message with that key posted by an earlier
// attempt whose answer was lost, and returns it instead of posting twice.
func (s *Slack) PostMessage(ctx context.Context, in PostMessageInput) (PostMessageResult, error) {
	if in.Channel == "" {
		return PostMessageResult{}, slackBadMessage("PostMessage needs a channel")
	}
	text, blocks, err := slackui.Render(in.Message)
	if err != nil {
		return PostMessageResult{}, slackBadMessage(err.Error())
	}
	call := slackCall{method: "chat.postMessage", channel: in.Channel, ts: in.ThreadTS}

	if info := activity.GetInfo(ctx); info.Attempt > 1 && in.Key != "" {
		since := info.ScheduledTime
		if since.IsZero() {
			since = time.Now().Add(-24 * time.Hour)
		}
		ts, found, err := s.findByKey(ctx, in.Channel, in.ThreadTS, in.Key, since.Add(-slackLookupSkew))
		switch {
		case found:
			activity.GetLogger(ctx).Info("Slack message already posted by an earlier attempt", "channel", in.Channel, "ts", ts, "key", in.Key)
			return PostMessageResult{TS: ts, Channel: in.Channel}, nil
		case err != nil:
			aerr := s.wrapError(ctx, slackCall{method: lookupMethod(in.ThreadTS), channel: in.Channel, ts: in.ThreadTS}, err)
			if slackRetryable(aerr) {
				// Posting now could duplicate a message we just could not see.
				return PostMessageResult{}, aerr
			}
			// A lookup Slack refuses for good (e.g. the token lacks
			// channels:history) must not block the post: a rare duplicate
			// beats a message never sent.
			activity.GetLogger(ctx).Warn("Cannot look for an earlier attempt's Slack message; posting anyway", "error", aerr)
		}
	}

	opts := []slack.MsgOption{
		slack.MsgOptionText(text, false),
		slack.MsgOptionBlocks(blocks...),
		// Links to the Temporal UI would unfurl into noise under every message.
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}
	if in.ThreadTS != "" {
		opts = append(opts, slack.MsgOptionTS(in.ThreadTS))
		if in.Broadcast {
			opts = append(opts, slack.MsgOptionBroadcast())
		}
	}
	if in.Key != "" {
		opts = append(opts, slack.MsgOptionMetadata(slack.SlackMetadata{
			EventType:    SlackMetadataEventType,
			EventPayload: map[string]any{"key": in.Key},
		}))
	}
	channel, ts, err := s.Client.PostMessageContext(ctx, in.Channel, opts...)
	if err != nil {
		return PostMessageResult{}, s.wrapError(ctx, call, err)
	}
	if channel == "" {
		channel = in.Channel
	}
	return PostMessageResult{TS: ts, Channel: channel}, nil
}

// UpdateMessage renders in.Message and replaces the message in.TS with it.
// Editing is idempotent, so retries need no dedupe. The message keeps its
// metadata: chat.update leaves metadata alone when none is sent.
func (s *Slack) UpdateMessage(ctx context.Context, in UpdateMessageInput) (UpdateMessageResult, error) {
	if in.Channel == "" || in.TS == "" {
		return UpdateMessageResult{}, slackBadMessage("UpdateMessage needs a channel and the ts of the message to edit")
	}
	text, blocks, err := slackui.Render(in.Message)
	if err != nil {
		return UpdateMessageResult{}, slackBadMessage(err.Error())
	}
	_, _, _, err = s.Client.UpdateMessageContext(ctx, in.Channel, in.TS,
		slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
	if err != nil {
		return UpdateMessageResult{}, s.wrapError(ctx, slackCall{method: "chat.update", channel: in.Channel, ts: in.TS}, err)
	}
	return UpdateMessageResult{}, nil
}

// PostEphemeral shows in.Text (mrkdwn) to in.User only, in in.Channel (in
// the thread in.ThreadTS if set). Ephemeral messages cannot be read back,
// so a retried attempt may show it twice; that is harmless.
func (s *Slack) PostEphemeral(ctx context.Context, in PostEphemeralInput) (PostEphemeralResult, error) {
	if in.Channel == "" || in.User == "" {
		return PostEphemeralResult{}, slackBadMessage("PostEphemeral needs a channel and a user")
	}
	text, blocks, err := slackui.Render(slackui.Message{Text: in.Text})
	if err != nil {
		return PostEphemeralResult{}, slackBadMessage(err.Error())
	}
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	if in.ThreadTS != "" {
		opts = append(opts, slack.MsgOptionTS(in.ThreadTS))
	}
	if _, err := s.Client.PostEphemeralContext(ctx, in.Channel, in.User, opts...); err != nil {
		return PostEphemeralResult{}, s.wrapError(ctx, slackCall{method: "chat.postEphemeral", channel: in.Channel, user: in.User, ts: in.ThreadTS}, err)
	}
	return PostEphemeralResult{}, nil
}

func lookupMethod(threadTS string) string {
	if threadTS != "" {
		return "conversations.replies"
	}
	return "conversations.history"
}

// findByKey looks for a message deploybot posted with metadata key since
// the given time: among the thread's replies if threadTS is set, else
// among the channel's top-level messages.
func (s *Slack) findByKey(ctx context.Context, channel, threadTS, key string, since time.Time) (ts string, found bool, err error) {
	m, found, err := s.findRecent(ctx, channel, threadTS, since, true, func(m slack.Message) bool {
		return m.Metadata.EventType == SlackMetadataEventType && m.Metadata.EventPayload["key"] == key
	})
	return m.Timestamp, found, err
}

// findRecent pages through the thread's replies (threadTS set) or the
// channel's top-level messages since the given time, at most
// slackLookupPages pages, and returns the first message that matches.
func (s *Slack) findRecent(ctx context.Context, channel, threadTS string, since time.Time, withMetadata bool, match func(slack.Message) bool) (slack.Message, bool, error) {
	oldest := slackTimestamp(since)
	cursor := ""
	for range slackLookupPages {
		var (
			msgs    []slack.Message
			hasMore bool
			next    string
			err     error
		)
		if threadTS != "" {
			msgs, hasMore, next, err = s.Client.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
				ChannelID: channel, Timestamp: threadTS, Cursor: cursor, Oldest: oldest,
				Inclusive: true, Limit: slackLookupPageSize, IncludeAllMetadata: withMetadata,
			})
		} else {
			var resp *slack.GetConversationHistoryResponse
			resp, err = s.Client.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
				ChannelID: channel, Cursor: cursor, Oldest: oldest,
				Inclusive: true, Limit: slackLookupPageSize, IncludeAllMetadata: withMetadata,
			})
			if resp != nil {
				msgs, hasMore, next = resp.Messages, resp.HasMore, resp.ResponseMetaData.NextCursor
			}
		}
		if err != nil {
			return slack.Message{}, false, err
		}
		for _, m := range msgs {
			if match(m) {
				return m, true, nil
			}
		}
		if !hasMore || next == "" {
			return slack.Message{}, false, nil
		}
		cursor = next
	}
	return slack.Message{}, false, nil
}

// slackTimestamp formats t the way Slack writes message timestamps.
func slackTimestamp(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

// slackCall says which call failed, for error messages that name what to fix.
type slackCall struct {
	method, channel, ts, user, group string
}

func slackBadMessage(msg string) error {
	return temporal.NewNonRetryableApplicationError("slack: "+msg, SlackBadMessageErrorType, nil)
}

// slackRetryable reports whether Temporal would retry err.
func slackRetryable(err error) bool {
	var appErr *temporal.ApplicationError
	return !errors.As(err, &appErr) || !appErr.NonRetryable()
}

// wrapError turns a slack-go error into an ApplicationError Temporal can act
// on: rate limits wait for Retry-After, outages retry with the activity's
// retry policy, and errors only a person can fix stop at once with a
// message saying what to do.
func (s *Slack) wrapError(ctx context.Context, call slackCall, err error) error {
	if ctx.Err() != nil {
		// Cancelled or timed out: let Temporal see it as such.
		return err
	}
	prefix := "slack " + call.method + ": "

	f := slackerr.Classify(err)
	switch {
	case f.Kind == slackerr.RateLimited && f.RetryAfter > 0:
		return temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("%srate limited, retrying after %s", prefix, f.RetryAfter),
			SlackRateLimitedErrorType,
			temporal.ApplicationErrorOptions{NextRetryDelay: f.RetryAfter, Cause: err})
	case f.Kind == slackerr.RateLimited: // no Retry-After: the retry policy's backoff
		return temporal.NewApplicationErrorWithCause(prefix+"rate limited", SlackRateLimitedErrorType, err)
	case f.Kind == slackerr.Unavailable && f.Status != "":
		return temporal.NewApplicationErrorWithCause(prefix+"Slack is unavailable: "+f.Status, SlackUnavailableErrorType, err)
	case f.Kind == slackerr.Unavailable && f.Code != "":
		return temporal.NewApplicationErrorWithCause(prefix+f.Code+": Slack had a transient failure", SlackUnavailableErrorType, err)
	case f.Kind == slackerr.Unavailable:
		// Network errors, a proxy's HTML page, a cut connection: try again.
		return temporal.NewApplicationErrorWithCause(prefix+err.Error(), SlackUnavailableErrorType, err)
	case f.Status != "":
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%sHTTP %s: check SLACK_API_URL (it must be Slack's Web API base URL, ending in /api/)", prefix, f.Status),
			SlackErrorType, err, f.Code)
	}
	// Any other ok:false answer is about the request itself (channel,
	// token, scopes, payload): the same call would fail again.
	var se slack.SlackErrorResponse
	errors.As(err, &se)
	return temporal.NewNonRetryableApplicationError(prefix+f.Code+": "+s.slackHint(call, se), SlackErrorType, err, f.Code)
}

// slackHint says, for a permanent Slack error, what a person must do.
func (s *Slack) slackHint(call slackCall, se slack.SlackErrorResponse) string {
	bot := slackui.BotName(s.BotName)
	switch se.Err {
	case "channel_not_found":
		return fmt.Sprintf("channel %s does not exist or the bot cannot see it: check the channel id, and for a private channel invite the bot: /invite @%s", call.channel, bot)
	case "not_in_channel":
		return fmt.Sprintf("the bot is not a member of channel %s: invite it with /invite @%s", call.channel, bot)
	case "is_archived", "channel_is_archived":
		return fmt.Sprintf("channel %s is archived: unarchive it or use another channel", call.channel)
	case "invalid_auth", "not_authed":
		return "Slack does not accept SLACK_TOKEN: set it to the app's Bot User OAuth Token (xoxb-…)"
	case "account_inactive", "token_revoked", "token_expired":
		return "SLACK_TOKEN was revoked (app uninstalled or its user deactivated): reinstall the Slack app and update SLACK_TOKEN"
	case "not_allowed_token_type":
		return "SLACK_TOKEN is the wrong kind of token: use the app's Bot User OAuth Token (xoxb-…), not an app-level (xapp-…) token"
	case "missing_scope":
		if strings.HasPrefix(call.method, "usergroups.") {
			return "the Slack app lacks the usergroups:read bot scope, which approval policies naming Slack user groups need: " +
				"add it to the app's bot scopes (the manifests in deploy/slack have it; or under OAuth & Permissions), " +
				"reinstall the app and update SLACK_TOKEN"
		}
		needed := se.Needed
		if needed == "" {
			needed = "the scope " + call.method + " needs"
		}
		return fmt.Sprintf("the Slack app lacks %s: add it under OAuth & Permissions, reinstall the app and update SLACK_TOKEN", needed)
	case "no_such_subteam":
		return fmt.Sprintf("Slack user group %s does not exist or is disabled: check the group id (S…) in the approval policy, "+
			"or re-enable the group in Slack", call.group)
	case "plan_upgrade_required":
		if strings.HasPrefix(call.method, "usergroups.") {
			return "this Slack workspace's plan has no user groups: name users instead of groups in the approval policy"
		}
	case "invalid_blocks", "invalid_blocks_format", "msg_too_long", "msg_blocks_too_long", "no_text", "too_many_attachments",
		"invalid_metadata_format", "invalid_metadata_schema", "metadata_too_large", "metadata_must_be_sent_from_app":
		detail := strings.Join(se.ResponseMetadata.Messages, "; ")
		if detail != "" {
			detail = " (" + detail + ")"
		}
		return "Slack rejected the message deploybot built" + detail + ": this is a deploybot bug in internal/slackui, please report it"
	case "message_not_found", "thread_not_found":
		return fmt.Sprintf("message %s was not found in channel %s: it may have been deleted", call.ts, call.channel)
	case "cant_update_message":
		return fmt.Sprintf("message %s in channel %s was not posted by the bot, so it cannot be edited", call.ts, call.channel)
	case "edit_window_closed":
		return fmt.Sprintf("message %s in channel %s is too old to edit under the workspace's settings", call.ts, call.channel)
	case "user_not_in_channel":
		return fmt.Sprintf("user %s is not a member of channel %s, so they cannot be shown a message there", call.user, call.channel)
	case "user_not_found":
		return fmt.Sprintf("user %s does not exist in this workspace", call.user)
	case "restricted_action", "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
		"restricted_action_non_threadable_channel", "posting_to_general_channel_denied":
		return fmt.Sprintf("the workspace does not let the bot post in channel %s: ask a Slack admin, or use another channel", call.channel)
	case "ekm_access_denied", "access_denied", "no_permission", "team_access_not_granted":
		return "the workspace denies the bot this action: ask a Slack admin"
	}
	return "see https://docs.slack.dev/reference/methods/" + call.method + " for what this error means"
}
