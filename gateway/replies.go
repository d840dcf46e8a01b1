package gateway

import (
	"context"
	"errors"
)

// errSkipped tells async that nothing needed sending.
var errSkipped = errors.New("already sent")

// send delivers rep after the acknowledgement (see async). With dedupe set,
// the reply is skipped if the thread already holds one with the same key: a
// retried event whose first delivery was answered.
func (s *Server) send(rep Reply, dedupe bool) {
	s.async("reply in Slack", func(ctx context.Context) error {
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

// async runs f after the acknowledgement, in its own goroutine with a
// deadline, so a slow or failing Slack never delays the acknowledgement. At
// most maxRepliesInFlight run at once; beyond that f is dropped, logged and
// counted rather than piling up goroutines. Wait waits for them.
func (s *Server) async(what string, f func(ctx context.Context) error, logArgs ...any) {
	select {
	case s.replySlots <- struct{}{}:
	default:
		s.metrics.replies.WithLabelValues("dropped").Inc()
		s.log.Error("too many replies in flight; dropped one", append([]any{"what", what}, logArgs...)...)
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
		ctx, cancel := context.WithTimeout(context.Background(), replyTimeout)
		defer cancel()
		switch err := f(ctx); {
		case errors.Is(err, errSkipped):
			s.metrics.replies.WithLabelValues("skipped").Inc()
		case err != nil:
			s.metrics.replies.WithLabelValues("failed").Inc()
			s.log.Error("could not "+what, append([]any{"error", err}, logArgs...)...)
		default:
			s.metrics.replies.WithLabelValues("sent").Inc()
		}
	}()
}
