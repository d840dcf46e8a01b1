package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/internal/slackui"
)

// PostResponseInput is the input of Slack.PostResponse.
type PostResponseInput struct {
	// ResponseURL is the slash command's response_url, as Slack sent it to
	// the gateway (which verified the request's signature).
	ResponseURL string
	Message     slackui.Message
}

// PostResponseResult is the result of Slack.PostResponse.
type PostResponseResult struct{}

// responseHTTPClient posts to response URLs. It needs no token (the URL is
// the secret), so it is a plain client with a bound per call.
var responseHTTPClient = &http.Client{Timeout: 15 * time.Second}

// maxResponseBody bounds how much of Slack's answer is read for an error.
const maxResponseBody = 4 << 10

// PostResponse renders in.Message and posts it to a slash command's
// response_url as a message everyone in the channel sees
// ({"response_type":"in_channel", text, blocks}). It is how a command
// answers when it has no channel to post in (or the bot is not in it).
// Slack accepts five posts per response_url within 30 minutes; an expired or
// used-up URL is a non-retryable SlackError, a 5xx or network error is
// retried, a 429 waits for Retry-After.
//
// Retries may show the message twice if Slack took it but the answer was
// lost: response URLs offer no way to look a message up.
func (s *Slack) PostResponse(ctx context.Context, in PostResponseInput) (PostResponseResult, error) {
	u, err := url.Parse(in.ResponseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return PostResponseResult{}, slackBadMessage("PostResponse needs the slash command's response_url (an absolute http(s) URL)")
	}
	text, blocks, err := slackui.Render(in.Message)
	if err != nil {
		return PostResponseResult{}, slackBadMessage(err.Error())
	}
	body, err := json.Marshal(struct {
		ResponseType string        `json:"response_type"`
		Text         string        `json:"text"`
		Blocks       []slack.Block `json:"blocks,omitempty"`
	}{"in_channel", text, blocks})
	if err != nil {
		return PostResponseResult{}, slackBadMessage("cannot encode the response: " + err.Error())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.ResponseURL, bytes.NewReader(body))
	if err != nil {
		return PostResponseResult{}, slackBadMessage("cannot build the response request: " + err.Error())
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := responseHTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return PostResponseResult{}, err
		}
		return PostResponseResult{}, temporal.NewApplicationErrorWithCause(
			"slack response_url: "+redactURL(err, in.ResponseURL), SlackUnavailableErrorType, nil)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	return PostResponseResult{}, responseError(resp, answer)
}

// responseError classifies response_url's answer: Slack answers 200 "ok"
// (or {"ok":true}), and errors as a status with a short text or
// {"ok":false,"error":...}.
func responseError(resp *http.Response, answer []byte) error {
	code := strings.TrimSpace(string(answer))
	var j struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	if json.Unmarshal(answer, &j) == nil && j.OK != nil {
		if *j.OK && resp.StatusCode < 300 {
			return nil
		}
		code = j.Error
	}
	const prefix = "slack response_url: "
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		delay := time.Second
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			delay = time.Duration(secs) * time.Second
		}
		return temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("%srate limited, retrying after %s", prefix, delay), SlackRateLimitedErrorType,
			temporal.ApplicationErrorOptions{NextRetryDelay: delay})
	case resp.StatusCode >= 500:
		return temporal.NewApplicationError(prefix+"Slack is unavailable: "+resp.Status, SlackUnavailableErrorType)
	case resp.StatusCode >= 300:
		if code == "" {
			code = fmt.Sprintf("http_%d", resp.StatusCode)
		}
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s%s (%s): %s", prefix, code, resp.Status, responseHint(code)), SlackErrorType, nil, code)
	case code != "" && code != "ok" && j.OK != nil && !*j.OK:
		return temporal.NewNonRetryableApplicationError(prefix+code+": "+responseHint(code), SlackErrorType, nil, code)
	}
	return nil
}

// responseHint says what a response_url error means for the person reading it.
func responseHint(code string) string {
	switch code {
	case "expired_url":
		return "the slash command's response_url expired (Slack keeps it 30 minutes); run the command again"
	case "used_url":
		return "the slash command's response_url was used five times already; run the command again"
	case "invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text":
		return "Slack rejected the message deploybot built: this is a deploybot bug in internal/slackui, please report it"
	}
	return "Slack refused the slash command's response"
}

// redactURL keeps the response_url (a bearer secret) out of error
// messages, which end up in workflow history.
func redactURL(err error, raw string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " response_url: " + ue.Err.Error()
	}
	return strings.ReplaceAll(err.Error(), raw, "<response_url>")
}
