// Package slackerr tells which Slack Web API failures are worth trying
// again, and when: the worker's activities (through Temporal's retries) and
// the gateway's own replies both go by it.
package slackerr

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/slack-go/slack"
)

// Kind is what a failed call calls for.
type Kind int

const (
	// Permanent: Slack answered about the request itself (channel,
	// token, scope, payload); the same call fails again.
	Permanent Kind = iota
	// RateLimited: a 429; wait RetryAfter (when Slack said) and try again.
	RateLimited
	// Unavailable: Slack could not be reached or had a transient failure.
	Unavailable
)

// Failure is a classified error.
type Failure struct {
	Kind Kind
	// RetryAfter is Slack's Retry-After for a RateLimited failure, at
	// least a second ("0" still means "not now"); 0 when Slack gave none.
	RetryAfter time.Duration
	// Code is Slack's error code (channel_not_found, …), or http_<status>
	// for an HTTP answer that is no Web API answer; "" for network errors.
	Code string
	// Status is the HTTP status line of a StatusCodeError.
	Status string
}

// Retryable reports whether the call may succeed when tried again.
func (f Failure) Retryable() bool { return f.Kind != Permanent }

// transientCodes are the error codes Slack documents as "try again".
var transientCodes = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"team_added_to_org":   true,
}

// Classify sorts a slack-go error. Anything that is not an answer from
// Slack (a network error, a proxy's page, a cut connection) is Unavailable.
func Classify(err error) Failure {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return Failure{Kind: RateLimited, RetryAfter: max(rl.RetryAfter, time.Second), Code: "ratelimited"}
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		code := "http_" + strconv.Itoa(sc.Code)
		switch {
		case sc.Code == http.StatusTooManyRequests:
			return Failure{Kind: RateLimited, Code: code, Status: sc.Status}
		case sc.Code >= 500:
			return Failure{Kind: Unavailable, Code: code, Status: sc.Status}
		}
		return Failure{Kind: Permanent, Code: code, Status: sc.Status}
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch {
		case se.Err == "ratelimited" || se.Err == "rate_limited":
			return Failure{Kind: RateLimited, Code: se.Err}
		case transientCodes[se.Err]:
			return Failure{Kind: Unavailable, Code: se.Err}
		}
		return Failure{Kind: Permanent, Code: se.Err}
	}
	return Failure{Kind: Unavailable}
}
