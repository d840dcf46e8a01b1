package bench

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// ErrOverflow is the error kind of a request that was due while MaxInFlight
// requests were still unanswered: it is not sent, and counts as an error.
const ErrOverflow = "overflow"

// shot sends request i and returns "" when it succeeded or the kind of
// error it met (an HTTP status, a Temporal error code, "transport", ...).
// answered says whether an answer came at all: its latency counts then,
// even when the answer is an error (a 503 is an answer Slack waited for).
type shot func(ctx context.Context, i int) (errKind string, answered bool)

// load is the raw outcome of one open-loop phase.
type load struct {
	rate      int
	scheduled int
	start     time.Time // due time of request 0
	// Per request: latency from its due time to its answer (-1: none),
	// its error kind ("" = ok), and when its answer came.
	lat  []time.Duration
	errs []string
	done []time.Time
	// lag is how late each request left the generator (CPU starvation of
	// the generator itself shows here, and in lat, never hidden).
	lag []time.Duration
}

// openLoop sends n requests at rate per second, each at its due time
// start + i/rate whatever happened to the earlier ones (an open loop: a slow
// answer does not delay the next request, so latency is not understated by
// coordinated omission). At most maxInFlight are unanswered at once; a
// request due while that many wait is not sent and counts as ErrOverflow.
// Latency is measured from the due time, not from the actual send.
func openLoop(ctx context.Context, rate, n, maxInFlight int, fire shot) *load {
	l := &load{
		rate: rate, scheduled: n,
		lat: make([]time.Duration, n), errs: make([]string, n),
		done: make([]time.Time, n), lag: make([]time.Duration, n),
	}
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	// A short lead so request 0 is not late by the setup of this loop.
	l.start = time.Now().Add(20 * time.Millisecond)
	for i := 0; i < n; i++ {
		due := l.start.Add(time.Duration(int64(i) * int64(time.Second) / int64(rate)))
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if ctx.Err() != nil {
			for j := i; j < n; j++ {
				l.lat[j], l.errs[j] = -1, "cancelled"
			}
			break
		}
		select {
		case slots <- struct{}{}:
		default:
			l.lat[i], l.errs[i], l.done[i] = -1, ErrOverflow, time.Now()
			continue
		}
		l.lag[i] = time.Since(due)
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			defer func() { <-slots }()
			kind, answered := fire(ctx, i)
			now := time.Now()
			l.errs[i], l.done[i] = kind, now
			l.lat[i] = -1
			if answered {
				l.lat[i] = now.Sub(due)
			}
		}(i, due)
	}
	wg.Wait()
	return l
}

// Stats are the numbers of one phase.
type Stats struct {
	// Scheduled is rate × duration; Sent excludes overflows.
	Scheduled int `json:"scheduled"`
	Sent      int `json:"sent"`
	OK        int `json:"ok"`
	// Errors counts failed requests by kind.
	Errors map[string]int `json:"errors"`
	// AchievedRate is OK answers per second, from the first request's due
	// time to the last answer.
	AchievedRate float64 `json:"achievedRate"`
	// Latencies in milliseconds, of every answered request, from its due
	// time.
	P50Ms float64 `json:"p50Ms"`
	P90Ms float64 `json:"p90Ms"`
	P99Ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
	// SendLagP99Ms is how late the generator itself sent (p99): above a few
	// milliseconds, the machine, not the server, is the bottleneck.
	SendLagP99Ms float64 `json:"sendLagP99Ms"`
	// ErrorSamples holds the first message of each kind of error.
	ErrorSamples map[string]string `json:"errorSamples,omitempty"`
}

// samples keeps the first message of each kind of error.
type samples struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *samples) add(kind, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	if _, ok := s.m[kind]; !ok {
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		s.m[kind] = msg
	}
}

func (s *samples) get() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m
}

// ErrorCount is the number of failed requests.
func (s Stats) ErrorCount() int {
	n := 0
	for _, c := range s.Errors {
		n += c
	}
	return n
}

// stats summarizes l.
func (l *load) stats() Stats {
	s := Stats{Scheduled: l.scheduled, Errors: map[string]int{}}
	var lat, lag []time.Duration
	last := l.start
	for i := range l.scheduled {
		if l.errs[i] != ErrOverflow && l.errs[i] != "cancelled" {
			s.Sent++
			lag = append(lag, l.lag[i])
		}
		if l.errs[i] == "" {
			s.OK++
		} else {
			s.Errors[l.errs[i]]++
		}
		if l.lat[i] >= 0 {
			lat = append(lat, l.lat[i])
		}
		if l.done[i].After(last) {
			last = l.done[i]
		}
	}
	if d := last.Sub(l.start); d > 0 {
		s.AchievedRate = round(float64(s.OK)/d.Seconds(), 1)
	}
	s.P50Ms, s.P90Ms, s.P99Ms, s.MaxMs = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.90)), ms(percentile(lat, 0.99)), ms(percentile(lat, 1))
	s.SendLagP99Ms = ms(percentile(lag, 0.99))
	return s
}

// percentile returns the p-quantile of d (nearest rank; p = 1 is the max);
// 0 for none. It sorts d.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	rank := int(math.Ceil(p*float64(len(d)))) - 1
	return d[min(max(rank, 0), len(d)-1)]
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 1) }

func round(v float64, digits int) float64 {
	f := math.Pow(10, float64(digits))
	return math.Round(v*f) / f
}
