package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/deploybot/deploybot/internal/testenv"
)

// TestRunAgainstTheDevStack runs every phase for a second at 10/s against
// the real local stack and checks that the report is complete and that
// nothing failed: every mention started its run, every click reached its
// run. It asserts no latency: speeds belong in docs/benchmarks.md. (The rate
// is low because the dev server's SQLite syncs to disk: on a loaded machine,
// under -race, 20/s already misses the gateway's 2s Temporal deadline.)
func TestRunAgainstTheDevStack(t *testing.T) {
	const testRate = 10
	bin := testenv.TemporalCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var progress testenv.SyncBuffer
	rep, err := Run(ctx, Options{Rates: []int{testRate}, Duration: time.Second, TemporalBinary: bin, Progress: &progress, SettleTimeout: 2 * time.Minute})
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	if len(rep.Phases) != 3 {
		t.Fatalf("phases = %+v, want floor, mention and click", rep.Phases)
	}
	for i, kind := range []string{KindFloor, KindMention, KindClick} {
		ph := rep.Phases[i]
		if ph.Kind != kind || ph.Rate != testRate {
			t.Errorf("phase %d = %s at %d/s, want %s at %d/s", i, ph.Kind, ph.Rate, kind, testRate)
		}
		if ph.Scheduled != testRate || ph.Sent != testRate || ph.OK != testRate || ph.ErrorCount() != 0 {
			t.Errorf("%s: scheduled %d, sent %d, ok %d, errors %v %v; want %d sent and ok, no error", kind, ph.Scheduled, ph.Sent, ph.OK, ph.Errors, ph.ErrorSamples, testRate)
		}
		if ph.P50Ms <= 0 || ph.P90Ms < ph.P50Ms || ph.P99Ms < ph.P90Ms || ph.MaxMs < ph.P99Ms || ph.AchievedRate <= 0 {
			t.Errorf("%s: percentiles or rate missing or out of order: %+v", kind, ph.Stats)
		}
		if ph.TemporalCores < 0 || ph.BenchCores < 0 {
			t.Errorf("%s: CPU of the Temporal server %v, of the bench %v; want both measured", kind, ph.TemporalCores, ph.BenchCores)
		}
		if kind != KindFloor && (ph.P99Ratio <= 0 || ph.Unsettled != 0) {
			t.Errorf("%s: p99 ratio %v, unsettled %d; want a ratio and every run settled", kind, ph.P99Ratio, ph.Unsettled)
		}
	}
	if got := rep.Phases[1].Outcomes["started"]; got != testRate {
		t.Errorf("gateway outcomes of the mentions = %v, want started %d", rep.Phases[1].Outcomes, testRate)
	}
	if got := rep.Phases[2].Outcomes["signalled"]; got != testRate {
		t.Errorf("gateway outcomes of the clicks = %v, want signalled %d", rep.Phases[2].Outcomes, testRate)
	}
	if rep.Errors != 0 || rep.Saturation.Definition == "" || len(rep.Targets) != 2 || rep.ProcessRSSMB <= 0 {
		t.Errorf("report: errors %d, saturation %+v, targets %+v, RSS %v", rep.Errors, rep.Saturation, rep.Targets, rep.ProcessRSSMB)
	}
	var text, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"floor", "mention", "click", "p99/floor", "Saturation", "Target"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Phases) != 3 {
		t.Errorf("JSON report does not read back (%v):\n%s", err, js.String())
	}
}

// TestRunWaitingInProcess starts runs up to two steps with a worker in the
// test's process and a cache smaller than the runs, and checks that every
// run waits and that each step is measured.
func TestRunWaitingInProcess(t *testing.T) {
	bin := testenv.TemporalCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := RunWaiting(ctx, WaitingOptions{Runs: []int{5, 12}, CacheSize: 8, TemporalBinary: bin})
	if err != nil {
		t.Fatalf("RunWaiting: %v", err)
	}
	if rep.Isolated || rep.CacheSize != 8 || len(rep.Steps) != 2 || rep.Baseline.RSSMB <= 0 {
		t.Fatalf("report = %+v", rep)
	}
	for i, want := range []int{5, 12} {
		s := rep.Steps[i]
		if s.Runs != want || s.Waiting != want || s.RSSMB <= 0 || s.HeapMB <= 0 || s.Goroutines <= 0 {
			t.Errorf("step %d = %+v, want %d runs all waiting, memory measured", i, s, want)
		}
	}
	if rep.Bound == "" {
		t.Errorf("no bound past the cache of 8 with 12 runs: %+v", rep)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "upper bound") {
		t.Errorf("an in-process measurement must say it is an upper bound:\n%s", text.String())
	}
}

func TestOpenLoopKeepsItsScheduleAndBoundsInFlight(t *testing.T) {
	var inFlight, peak atomic.Int64
	slow := func(ctx context.Context, i int) (string, bool) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer inFlight.Add(-1)
		time.Sleep(100 * time.Millisecond)
		if i%10 == 0 {
			return "http_503", true
		}
		return "", true
	}
	// 200/s for 0.25s with answers taking 100ms: ~20 are in flight at once,
	// more than the cap of 5, so the rest overflow instead of queueing.
	l := openLoop(context.Background(), 200, 50, 5, slow)
	s := l.stats()
	if peak.Load() > 5 {
		t.Errorf("%d requests in flight at once, cap is 5", peak.Load())
	}
	if s.Errors[ErrOverflow] == 0 || s.Sent+s.Errors[ErrOverflow] != 50 || s.Scheduled != 50 {
		t.Errorf("stats = %+v, want overflows counted and sent + overflow = 50", s)
	}
	// Request i is due at i × 5ms whatever the others did.
	for i := 1; i < 50; i++ {
		if l.lat[i] >= 0 && l.lat[i] < 100*time.Millisecond {
			t.Errorf("request %d: latency %v is less than its 100ms answer", i, l.lat[i])
		}
	}
}

func TestStatsCountsErrorsAndAnsweredLatencies(t *testing.T) {
	start := time.Now()
	l := &load{
		rate: 10, scheduled: 4, start: start,
		lat:  []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, -1, 30 * time.Millisecond},
		errs: []string{"", "", "timeout", "http_503"},
		done: []time.Time{start.Add(10 * time.Millisecond), start.Add(120 * time.Millisecond), start.Add(200 * time.Millisecond), start.Add(400 * time.Millisecond)},
		lag:  make([]time.Duration, 4),
	}
	s := l.stats()
	if s.OK != 2 || s.Sent != 4 || s.Errors["timeout"] != 1 || s.Errors["http_503"] != 1 || s.ErrorCount() != 2 {
		t.Errorf("stats = %+v", s)
	}
	if s.P50Ms != 20 || s.MaxMs != 30 || s.AchievedRate != 5 {
		t.Errorf("p50 %v, max %v, achieved %v; want 20, 30 and 2 ok in 0.4s = 5/s", s.P50Ms, s.MaxMs, s.AchievedRate)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p*100, got, c.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Rates: []int{501}}, "--rate/--sweep 501"},
		{Options{Rates: []int{0}}, "--rate/--sweep 0"},
		{Options{Duration: 3 * time.Minute}, "--duration 3m0s"},
		{Options{Duration: time.Millisecond}, "--duration 1ms"},
		{Options{Kind: "slash"}, `--kind "slash"`},
		{Options{MaxInFlight: 5000}, "--max-in-flight 5000"},
		{Options{Rates: []int{500, 400}, Duration: 2 * time.Minute, Kind: KindAll, MaxInFlight: 1}, "at most 60000"},
	} {
		err := c.o.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want it to name %s", c.o, err, c.want)
		}
	}
	for _, o := range []Options{
		{Rates: []int{25, 50, 100, 200, 400}, Duration: 10 * time.Second, Kind: KindAll, MaxInFlight: DefaultMaxInFlight},
		{Rates: []int{MaxRate}, Duration: MaxDuration, Kind: KindMention, MaxInFlight: MaxInFlightLimit},
	} {
		if err := o.Validate(); err != nil {
			t.Errorf("Validate(%+v) refuses what the limits allow: %v", o, err)
		}
	}
	for _, c := range []struct {
		o    WaitingOptions
		want string
	}{
		{WaitingOptions{Runs: []int{0}}, "--runs 0"},
		{WaitingOptions{Runs: []int{MaxWaitingRuns + 1}}, "--runs 50001"},
		{WaitingOptions{Runs: []int{1000, 500}}, "ascending"},
		{WaitingOptions{Runs: []int{10}, CacheSize: 0}, "--cache-size 0"},
	} {
		err := c.o.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want it to name %s", c.o, err, c.want)
		}
	}
}

func TestJudgeFindsSaturation(t *testing.T) {
	floor := func(rate int, achieved, p99 float64, errs map[string]int) Phase {
		return Phase{Kind: KindFloor, Rate: rate, Stats: Stats{OK: rate * 10, Errors: errs, AchievedRate: achieved, P99Ms: p99}}
	}
	mention := func(rate int, p99 float64) Phase {
		return Phase{Kind: KindMention, Rate: rate, Stats: Stats{OK: rate * 10, Errors: map[string]int{}, AchievedRate: float64(rate), P99Ms: p99}}
	}
	rep := &Report{Rates: []int{25, 50, 100, 200}, Phases: []Phase{
		floor(25, 25, 10, nil), mention(25, 12),
		floor(50, 50, 12, nil), mention(50, 15),
		floor(100, 99, 150, nil), mention(100, 400), // p99 jumps past 10× 10ms
		floor(200, 120, 900, map[string]int{"temporal_deadline_exceeded": 3}),
	}}
	rep.judge()
	if rep.Saturation.Rate != 100 || rep.Saturation.HighestSustained != 50 || !strings.Contains(rep.Saturation.Reason, "p99") {
		t.Errorf("saturation = %+v, want 100/s by p99, 50/s sustained", rep.Saturation)
	}
	if len(rep.Targets) != 1 || rep.Targets[0].Rate != 50 || !rep.Targets[0].Met || rep.Targets[0].Ratio != 1.25 {
		t.Errorf("targets = %+v, want mention at 50/s met at 1.25×", rep.Targets)
	}
	rep = &Report{Rates: []int{50}, Phases: []Phase{floor(50, 50, 10, nil), mention(50, 20)}}
	rep.judge()
	if rep.Saturation.Rate != 0 || rep.Targets[0].Met || !strings.Contains(rep.Targets[0].Note, "2.00× the floor") {
		t.Errorf("saturation %+v, targets %+v; want no saturation and the target missed at 2×", rep.Saturation, rep.Targets)
	}
}

func TestScrapeParsesTheExposition(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `# HELP deploybot_gateway_requests_total Requests.
# TYPE deploybot_gateway_requests_total counter
deploybot_gateway_requests_total{code="200",outcome="started",route="/slack/events"} 7
deploybot_gateway_requests_total{code="503",outcome="temporal_busy_retry",route="/slack/events"} 2
deploybot_gateway_requests_total{code="200",outcome="signalled",route="/slack/interactions"} 4
deploybot_gateway_requests_total_other 99
go_goroutines 42
`)
	}))
	defer srv.Close()
	got, err := scrape(context.Background(), srv.Client(), srv.URL, "deploybot_gateway_requests_total")
	if err != nil || len(got) != 3 || got[1].labels["outcome"] != "temporal_busy_retry" || got[1].value != 2 {
		t.Fatalf("scrape = %+v, %v", got, err)
	}
	if v := metricValue(context.Background(), srv.Client(), srv.URL, "go_goroutines"); v != 42 {
		t.Errorf("go_goroutines = %v, want 42", v)
	}
	if v := metricValue(context.Background(), srv.Client(), srv.URL, "temporal_sticky_cache_size"); v != -1 {
		t.Errorf("a missing metric = %v, want -1", v)
	}
	before := map[string]float64{"started": 3}
	after := map[string]float64{"started": 10, "temporal_busy": 2, "ok": 0}
	if d := diff(before, after); d["started"] != 7 || d["temporal_busy"] != 2 || len(d) != 2 {
		t.Errorf("diff = %v", d)
	}
}

func TestTemporalErrKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "temporal_deadline_exceeded"},
		{fmt.Errorf("start: %w", serviceerror.NewDeadlineExceeded("context deadline exceeded")), "temporal_deadline_exceeded"},
		{serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT, "slow down"), "temporal_resource_exhausted"},
		{status.Error(codes.Unavailable, "down"), "temporal_unavailable"},
		{serviceerror.NewWorkflowExecutionAlreadyStarted("taken", "", "run"), "temporal_already_started"},
		{errors.New("what"), "temporal_error"},
	} {
		if got := temporalErrKind(c.err); got != c.want {
			t.Errorf("temporalErrKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestProcStat(t *testing.T) {
	ppid, comm, cpu, err := procStat("self")
	if err != nil || ppid != os.Getppid() || comm == "" || cpu < 0 {
		t.Errorf("procStat(self) = %d %q %v %v; want the parent %d", ppid, comm, cpu, err, os.Getppid())
	}
	if childPID("no-such-command") != "" {
		t.Error("found a child that does not exist")
	}
}
