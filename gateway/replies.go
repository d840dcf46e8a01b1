package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/deploybot/deploybot/internal/slackerr"
)

// errSkipped tells async that nothing needed sending.
var errSkipped = errors.New("already sent")

// send delivers rep after the acknowledgement (see async). With dedupe set,
// the reply is skipped if the thread already holds one with the same key: a
// retried event whose first delivery was answered.
func (s *Server) send(rep Reply, dedupe bool) {
	s.async(func(ctx context.Context) error {
		if dedupe && rep.Key != "" && rep.ThreadTS != "" {
			done, err := s.replier.Replied(ctx, rep.Channel, rep.ThreadTS, rep.Key)
			switch {
			case err != nil:
				// Better a second reply than none.
				s.log.Warn("could not check for an earlier reply; replying anyway", "channel", rep.Channel, "thread", rep.ThreadTS, "error", err)
			case done:
				s.log.Info("retried request already answered; not replying again", "channel", rep.Channel, "thread", rep.ThreadTS, "key", rep.Key)
				return errSkipped
			}
		}
		return s.replier.Reply(ctx, rep)
	}, "channel", rep.Channel, "thread", rep.ThreadTS, "user", rep.User, "responseUrl", rep.ResponseURL != "")
}

// Retries of the gateway's own replies (help, refusals, "already running",
// "Temporal is unreachable", "no longer waiting"): people must not be left
// with silence because Slack said 429 once.
const (
	// DefaultReplyBudget bounds all attempts of one reply.
	DefaultReplyBudget = 2 * time.Minute
	// maxReplyAttempts bounds how often one reply is tried.
	maxReplyAttempts = 6
	// maxReplyBackoff caps the wait between attempts when Slack names none.
	maxReplyBackoff = 10 * time.Second
)

// async runs f after the acknowledgement, in its own goroutine, so a slow
// or failing Slack never delays the acknowledgement. f is one attempt
// (bounded by replyTimeout); a failure Slack says is worth retrying (429
// with its Retry-After, 5xx, network) is tried again within the reply
// budget, and what is finally lost is counted and logged. At most
// maxRepliesInFlight run at once; beyond that f is dropped, logged and
// counted rather than piling up goroutines. Wait waits for them.
func (s *Server) async(f func(ctx context.Context) error, logArgs ...any) {
	select {
	case s.replySlots <- struct{}{}:
	default:
		s.metrics.replies.WithLabelValues("dropped").Inc()
		s.log.Error("too many replies in flight; dropped one", logArgs...)
		return
	}
	s.replies.Add(1)
	s.metrics.repliesFlight.Inc()
	go func() {
		defer func() {
			s.metrics.repliesFlight.Dec()
			<-s.replySlots
			s.replies.Done()
		}()
		deadline := time.Now().Add(s.opts.ReplyBudget)
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), min(replyTimeout, time.Until(deadline)))
			err := f(ctx)
			cancel()
			switch {
			case err == nil:
				s.metrics.replies.WithLabelValues("sent").Inc()
				return
			case errors.Is(err, errSkipped):
				s.metrics.replies.WithLabelValues("skipped").Inc()
				return
			}
			wait, retry := replyRetry(err, attempt)
			if !retry || attempt == maxReplyAttempts || time.Now().Add(wait).After(deadline) {
				s.metrics.replies.WithLabelValues("failed").Inc()
				s.log.Error("could not reply in Slack; the reply is lost", append([]any{"error", err, "attempts", attempt}, logArgs...)...)
				return
			}
			s.metrics.replyRetries.Inc()
			s.log.Warn("could not reply in Slack; trying again", append([]any{"error", err, "attempt", attempt, "in", wait.String()}, logArgs...)...)
			select {
			case <-time.After(wait):
			case <-s.stopping:
				// Shutting down: a reply waiting out a Retry-After is lost
				// rather than holding the process past its grace period.
				s.metrics.replies.WithLabelValues("failed").Inc()
				s.log.Error("could not reply in Slack before shutdown; the reply is lost", append([]any{"error", err, "attempts", attempt}, logArgs...)...)
				return
			}
		}
	}()
}

// replyRetry says whether a failed reply is worth another attempt, and
// after how long: Slack's Retry-After when it gave one, else a backoff.
func replyRetry(err error, attempt int) (time.Duration, bool) {
	backoff := min(time.Second<<(attempt-1), maxReplyBackoff)
	f := slackerr.Classify(err)
	switch {
	case !f.Retryable():
		return 0, false
	case f.RetryAfter > 0:
		return f.RetryAfter, true
	}
	return backoff, true
}
