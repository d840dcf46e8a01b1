// Package bench is `deploybot bench`: a load tool that drives deploybot's
// local stack (devenv, started in a temporary directory on free loopback
// ports) with signed Slack mentions and clicks at a set rate for a set time,
// and measures, in the same run and against the same Temporal dev server,
// the floor: a bare Temporal StartWorkflow at the same rate. The gateway's
// cost is then a ratio of the two, and a sweep of rates finds where the
// local Temporal server saturates.
//
// The load is open-loop: request i leaves at start + i/rate whatever became
// of the earlier ones, and its latency is measured from that due time, so a
// slow server cannot slow the load down and hide its own queueing
// (coordinated omission). It is bounded: the rate, the duration and the
// requests in flight have maxima, and a request due while the in-flight cap
// is reached is not sent but counted as an "overflow" error.
//
// Each rate runs three phases one after another:
//
//   - floor: client.ExecuteWorkflow of a workflow type on a task queue no
//     worker polls, so nothing but the start is measured;
//   - mention: signed app_mention events "sync app-N", each starting a
//     DeployWorkflow of its own app (the simulator has one generated app per
//     request); afterwards every run is looked up in Temporal and must exist
//     with the mention's event id, or the mention counts as "not_started";
//   - click: signed block_actions Approve clicks by an approver (bob) on
//     those runs, while they wait for approval. The click's message is not
//     the run's request message (it is the bench's thread), so the gateway
//     does all its work — verify, parse, DescribeWorkflowExecution,
//     SignalWorkflow — and the run answers "not on this run's request
//     message" and goes on waiting: every click takes the full path, and no
//     run moves on to Argo CD, which would load the machine with follow-up
//     work that is not the click's.
//
// The bench runs its own worker, paused while a phase is measured (the
// runs and signals the phase makes wait in Temporal, as the floor's starts
// do), so the ratio to the floor is the gateway's cost rather than the
// worker's competing for the same CPU and Temporal server
// (Options.LiveWorker keeps it running). After each phase the worker runs
// and the bench waits (bounded) until it has caught up — every run idle in
// Temporal — and reports how long that took, so one phase's leftovers do
// not weigh on the next.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackapi"
)

// Kinds of load.
const (
	KindMention = "mention"
	KindClick   = "click"
	KindAll     = "all"
	// KindFloor is the phase of bare Temporal starts.
	KindFloor = "floor"
)

// Bounds and defaults.
const (
	DefaultRate        = 50
	MaxRate            = 500
	DefaultDuration    = 10 * time.Second
	MaxDuration        = 2 * time.Minute
	DefaultMaxInFlight = 1000 // MaxRate × the gateway's 2s Temporal deadline
	MaxInFlightLimit   = 2000
	// MaxRuns bounds the runs one bench starts (one simulator app each,
	// ~8 KiB in the simulator).
	MaxRuns = 60000
	// maxClickRuns bounds the runs --kind click creates to click on; its
	// clicks go round-robin over them.
	maxClickRuns = 1000
)

// FloorTaskQueue is where the floor's workflows are started: no worker
// polls it, so a start costs Temporal the start and nothing else.
const FloorTaskQueue = "deploybot-bench-floor"

// floorWorkflowType is the type of the floor's workflows (none runs).
const floorWorkflowType = "BenchFloor"

// Options configure a load run.
type Options struct {
	// Rates are the request rates per second, one after another (a sweep
	// when there are several); each 1..MaxRate.
	Rates []int
	// Duration of each phase at each rate; at most MaxDuration.
	Duration time.Duration
	// Kind is KindMention, KindClick or KindAll; "" = KindAll.
	Kind string
	// MaxInFlight caps the requests awaiting an answer; 0 = DefaultMaxInFlight.
	MaxInFlight int
	// TemporalBinary is the temporal CLI; "" = devenv's lookup.
	TemporalBinary string
	// Progress receives a line per phase as it ends; nil = none.
	Progress io.Writer
	// Logger receives the stack's logs; nil discards them.
	Logger *slog.Logger
	// SettleTimeout bounds the wait for the worker to catch up after a
	// phase (between phases it runs; runs it has not reached yet wait in
	// Temporal and are clicked on all the same); 0 = twice the phase's
	// duration, at least 10s, at most a minute.
	SettleTimeout time.Duration
	// LiveWorker keeps the worker running while the gateway's requests are
	// measured. By default it is paused during a measured phase (the runs
	// and signals wait in Temporal, as the floor's starts do) and catches up
	// between phases, so the ratio to the floor is the gateway's cost, not
	// the worker's competing for this machine's CPU and Temporal.
	LiveWorker bool
}

func (o *Options) defaults() {
	if len(o.Rates) == 0 {
		o.Rates = []int{DefaultRate}
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Kind == "" {
		o.Kind = KindAll
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
}

// Validate checks the options as they are (Run fills the defaults of zero
// values first) and names the flag to fix, with a good value.
func (o Options) Validate() error {
	var errs []error
	for _, r := range o.Rates {
		if r < 1 || r > MaxRate {
			errs = append(errs, fmt.Errorf("--rate/--sweep %d is out of range: a rate is 1 to %d requests per second, e.g. --rate %d", r, MaxRate, DefaultRate))
		}
	}
	if o.Duration < time.Second || o.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("--duration %s is out of range: 1s to %s per phase, e.g. --duration %s", o.Duration, MaxDuration, DefaultDuration))
	}
	switch o.Kind {
	case KindMention, KindClick, KindAll:
	default:
		errs = append(errs, fmt.Errorf("--kind %q is not a kind of load: use mention, click or all", o.Kind))
	}
	if o.MaxInFlight < 1 || o.MaxInFlight > MaxInFlightLimit {
		errs = append(errs, fmt.Errorf("--max-in-flight %d is out of range: 1 to %d, e.g. --max-in-flight %d", o.MaxInFlight, MaxInFlightLimit, DefaultMaxInFlight))
	}
	if len(errs) == 0 {
		if n := o.runsNeeded(); n > MaxRuns {
			errs = append(errs, fmt.Errorf("--sweep/--rate and --duration ask for %d runs in all (rate × duration, summed over the sweep); the bench starts at most %d: shorten --duration or drop a rate", n, MaxRuns))
		}
	}
	return errors.Join(errs...)
}

// runsNeeded is how many DeployWorkflow runs (and simulator apps) the load
// starts.
func (o Options) runsNeeded() int {
	n := 0
	for _, r := range o.Rates {
		per := r * int(o.Duration/time.Second)
		if o.Kind == KindClick {
			per = min(per, maxClickRuns)
		}
		n += per
	}
	return n
}

// Phase is the result of one phase at one rate.
type Phase struct {
	Kind string `json:"kind"`
	Rate int    `json:"rate"`
	Stats
	// Outcomes are the gateway's own outcomes of the phase's requests
	// (deploybot_gateway_requests_total by outcome: started, signalled,
	// temporal_busy, ...); empty for the floor.
	Outcomes map[string]int `json:"outcomes,omitempty"`
	// P99Ratio is this phase's p99 over the floor's at the same rate (0
	// for the floor itself).
	P99Ratio float64 `json:"p99RatioToFloor,omitempty"`
	// Sustained: achieved ≥ 95% of the rate, no error, and (for the floor)
	// p99 within 10× the floor's p99 at the lowest rate.
	Sustained bool `json:"sustained"`
	// SettleSeconds is how long the worker took, after the phase, until
	// every run it touched was idle again; Unsettled how many were not
	// within the bound.
	SettleSeconds float64 `json:"settleSeconds,omitempty"`
	Unsettled     int     `json:"unsettled,omitempty"`
	// TemporalCores and BenchCores are the CPU the Temporal dev server and
	// the bench's own process (gateway, load generator, simulator, Slack
	// stand-in) used during the phase, in cores (-1: unknown).
	TemporalCores float64 `json:"temporalCores"`
	BenchCores    float64 `json:"benchCores"`
}

// Saturation is where the floor stopped keeping up.
type Saturation struct {
	// Definition says what saturated means.
	Definition string `json:"definition"`
	// Rate is the lowest rate of the sweep where the floor was not
	// sustained; 0 if it kept up at every rate tried.
	Rate int `json:"rate"`
	// Reason says why that rate counts as saturated.
	Reason string `json:"reason,omitempty"`
	// HighestSustained is the highest rate below Rate where the floor was
	// sustained (0: none).
	HighestSustained int `json:"highestSustained"`
}

// Target is the check of one kind of request against the target: p99 ≤
// 1.5× the floor's p99 at the highest sustained rate (≥ 50/s), and < 100 ms.
type Target struct {
	Kind       string  `json:"kind"`
	Rate       int     `json:"rate"`
	P99Ms      float64 `json:"p99Ms"`
	FloorP99Ms float64 `json:"floorP99Ms"`
	Ratio      float64 `json:"ratio"`
	Met        bool    `json:"met"`
	Note       string  `json:"note"`
}

// TargetRule is the target the report checks.
const TargetRule = "p99 ≤ 1.5× the floor's p99 at the highest sustained rate (≥ 50/s), and < 100 ms"

// Report is the result of a load run.
type Report struct {
	Started     time.Time     `json:"started"`
	Host        Host          `json:"host"`
	Rates       []int         `json:"rates"`
	Duration    time.Duration `json:"-"`
	DurationSec float64       `json:"durationSeconds"`
	Kind        string        `json:"kind"`
	MaxInFlight int           `json:"maxInFlight"`
	// LiveWorker: the worker ran during the measured phases (else it was
	// paused and caught up between them).
	LiveWorker bool       `json:"liveWorker"`
	Phases     []Phase    `json:"phases"`
	Saturation Saturation `json:"saturation"`
	Targets    []Target   `json:"targets"`
	// ProcessRSSMB is the bench process's resident memory at the end (it
	// holds the gateway, worker, simulator and Slack stand-in).
	ProcessRSSMB float64 `json:"processRssMb"`
	// Errors counts the failed requests of every phase.
	Errors int `json:"errors"`
}

// Host describes the machine, whose load skews every number.
type Host struct {
	CPUs         int    `json:"cpus"`
	GOMAXPROCS   int    `json:"gomaxprocs"`
	LoadAvgStart string `json:"loadAverageStart"`
	LoadAvgEnd   string `json:"loadAverageEnd"`
}

// Run starts the local stack, runs the phases at each rate and returns the
// report. The stack is stopped and its directory removed before it returns.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{
		Started: time.Now().UTC(), Rates: opts.Rates, Duration: opts.Duration, DurationSec: opts.Duration.Seconds(),
		Kind: opts.Kind, MaxInFlight: opts.MaxInFlight, LiveWorker: opts.LiveWorker,
		Host: Host{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), LoadAvgStart: loadAvg()},
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	apps := warmupRuns + opts.runsNeeded()
	fmt.Fprintf(progress, "bench: starting the local stack (Temporal dev server, Argo CD simulator with %d apps, worker, gateway) on loopback\n", apps)
	st, err := startStack(ctx, stackOptions{temporalBinary: opts.TemporalBinary, apps: apps, maxInFlight: opts.MaxInFlight, logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	defer st.close()
	w, err := newLocalWorker(ctx, st, st.cfg.TemporalTaskQueue, 0, opts.Logger)
	if err != nil {
		return nil, err
	}
	defer w.close()

	b := &bencher{st: st, w: w, opts: opts, progress: progress, sg: signer{secret: []byte(st.cfg.SigningSecret)}, nextApp: 1}
	b.runID = fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff)
	if err := b.warmup(ctx); err != nil {
		return nil, err
	}
	for _, rate := range opts.Rates {
		if err := b.rate(ctx, rep, rate); err != nil {
			return nil, err
		}
	}
	rep.judge()
	rep.Host.LoadAvgEnd = loadAvg()
	if rss, err := readRSS("self"); err == nil {
		rep.ProcessRSSMB = mb(rss)
	}
	return rep, nil
}

type bencher struct {
	st *stack
	w  *localWorker
	// pool is every run started so far (each still waits for approval).
	pool     []*run
	opts     Options
	progress io.Writer
	sg       signer
	runID    string
	nextApp  int
	seq      atomic.Int64
}

// warmupRuns is how many mentions (and clicks) the warm-up sends.
const warmupRuns = 20

// warmup sends a little of every kind of request, unmeasured, so the first
// measured phase does not pay for cold caches and connections.
func (b *bencher) warmup(ctx context.Context) error {
	fmt.Fprintf(b.progress, "bench: warming up (%d floor starts, mentions and clicks at 10/s, not measured)\n", warmupRuns)
	threadTS, err := b.st.thread(ctx, "deploybot bench: warm-up")
	if err != nil {
		return err
	}
	b.floor(ctx, 10, warmupRuns)
	_, runs, err := b.mentions(ctx, 10, warmupRuns, threadTS)
	if err != nil {
		return err
	}
	if len(runs) > 0 {
		if _, err := b.clicks(ctx, 10, warmupRuns, runs, threadTS); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// pause stops the worker for a measured phase, unless it is to stay live,
// and waits until the Temporal server is quiet: its follow-up work of the
// last phase (transfer tasks, timers, visibility) is not to weigh on the
// next one, whichever that is.
func (b *bencher) pause(ctx context.Context) {
	if !b.opts.LiveWorker {
		b.w.stop()
	}
	b.st.waitQuiet(ctx)
}

// rate runs the phases at one rate.
func (b *bencher) rate(ctx context.Context, rep *Report, rate int) error {
	n := rate * int(b.opts.Duration/time.Second)
	if b.opts.LiveWorker {
		if err := b.w.start(); err != nil {
			return err
		}
	}
	b.pause(ctx)
	floor := b.floor(ctx, rate, n)
	b.report(rep, floor)
	if err := ctx.Err(); err != nil {
		return err
	}
	threadTS, err := b.st.thread(ctx, fmt.Sprintf("deploybot bench: %d requests per second", rate))
	if err != nil {
		return err
	}
	var runs []*run
	if b.opts.Kind != KindClick {
		var ph Phase
		ph, runs, err = b.mentions(ctx, rate, n, threadTS)
		if err != nil {
			return err
		}
		ph.P99Ratio = ratio(ph.P99Ms, floor.P99Ms)
		b.report(rep, ph)
	} else {
		k := min(n, maxClickRuns)
		fmt.Fprintf(b.progress, "bench: %d/s: starting %d runs to click on\n", rate, k)
		if err := b.w.start(); err != nil {
			return err
		}
		if runs, err = b.st.startDirect(ctx, b.st.cfg.TemporalTaskQueue, b.nextApp, k, threadTS); err != nil {
			return err
		}
		b.nextApp += k
		if left, _ := b.st.settle(ctx, runs, b.settleTimeout()); left > 0 {
			fmt.Fprintf(b.progress, "bench: %d/s: %d of %d runs were still not waiting for approval when the clicks began\n", rate, left, k)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.pool = append(b.pool, runs...)
	if b.opts.Kind != KindMention {
		if len(runs) == 0 {
			// None of this rate's mentions started a run: click on the
			// earlier rates' runs, which still wait.
			runs = b.pool
		}
		if len(runs) == 0 {
			return fmt.Errorf("at %d/s no run was started, so there is nothing to click on", rate)
		}
		ph, err := b.clicks(ctx, rate, n, runs, threadTS)
		if err != nil {
			return err
		}
		ph.P99Ratio = ratio(ph.P99Ms, floor.P99Ms)
		b.report(rep, ph)
	}
	return ctx.Err()
}

func (b *bencher) report(rep *Report, ph Phase) {
	rep.Phases = append(rep.Phases, ph)
	rep.Errors += ph.ErrorCount()
	errs := "no errors"
	if n := ph.ErrorCount(); n > 0 {
		errs = fmt.Sprintf("%d errors %s", n, formatCounts(ph.Errors))
	}
	fmt.Fprintf(b.progress, "bench: %d/s %-7s sent %d, ok %d, %s, %.1f/s, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		ph.Rate, ph.Kind, ph.Sent, ph.OK, errs, ph.AchievedRate, ph.P50Ms, ph.P99Ms, ph.MaxMs)
}

func (b *bencher) settleTimeout() time.Duration {
	if b.opts.SettleTimeout > 0 {
		return b.opts.SettleTimeout
	}
	return min(max(2*b.opts.Duration, 10*time.Second), time.Minute)
}

// floor starts n workflows at rate on a task queue nobody polls, each
// with the gateway's own Temporal deadline.
func (b *bencher) floor(ctx context.Context, rate, n int) Phase {
	var errs samples
	cpu := b.st.cpu()
	l := openLoop(ctx, rate, n, b.opts.MaxInFlight, func(ctx context.Context, i int) (string, bool) {
		sctx, cancel := context.WithTimeout(ctx, gateway.DefaultTemporalTimeout)
		defer cancel()
		_, err := b.st.tc.ExecuteWorkflow(sctx, client.StartWorkflowOptions{
			ID:        fmt.Sprintf("bench-floor-%s-%d-%d", b.runID, rate, i),
			TaskQueue: FloorTaskQueue,
		}, floorWorkflowType)
		if err != nil {
			kind := temporalErrKind(err)
			errs.add(kind, err.Error())
			return kind, true
		}
		return "", true
	})
	ph := Phase{Kind: KindFloor, Rate: rate, Stats: l.stats()}
	ph.TemporalCores, ph.BenchCores = cpu.cores()
	ph.ErrorSamples = errs.get()
	return ph
}

// temporalErrKind names a failed Temporal call by its gRPC code, e.g.
// temporal_deadline_exceeded (the caller's deadline or the server's own).
func temporalErrKind(err error) string {
	var dup *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &dup) {
		return "temporal_already_started"
	}
	c := serviceerror.ToStatus(err).Code()
	if c == codes.Unknown {
		c = status.Code(err)
	}
	if c != codes.Unknown && c != codes.OK {
		return "temporal_" + snake(c.String())
	}
	return "temporal_error"
}

// snake turns a gRPC code name (DeadlineExceeded) into deadline_exceeded.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mentions sends n signed "sync app-N" mentions at rate, then checks in
// Temporal that each started its run, and waits for the worker to bring
// every run to its approval wait.
func (b *bencher) mentions(ctx context.Context, rate, n int, threadTS string) (Phase, []*run, error) {
	first := b.nextApp
	b.nextApp += n
	bodies := make([][]byte, n)
	runs := make([]*run, n)
	base := time.Now().Unix()
	for i := range n {
		app := appName(first + i)
		eventID := fmt.Sprintf("EvBench%s%d", b.runID, first+i)
		ts := fmt.Sprintf("%d.%06d", base, (first+i)%1000000)
		bodies[i] = mentionBody(eventID, devRequester, "<@"+slackapi.DefaultBotUserID+"> sync "+app, ts, threadTS)
		runs[i] = &run{app: app, requestID: eventID, Run: gateway.Run{WorkflowID: contract.DeployWorkflowID(app)}}
	}
	ph, l, errs, err := b.send(ctx, KindMention, "/slack/events", "application/json", rate, bodies)
	if err != nil {
		return Phase{}, nil, err
	}
	// Every acknowledged mention must have started its own run.
	var acked []int
	for i := range runs {
		if l.errs[i] == "" {
			acked = append(acked, i)
		}
	}
	check := make([]*run, len(acked))
	for j, i := range acked {
		check[j] = runs[i]
	}
	b.st.describeAll(ctx, check, func(j int, st runState, err error) {
		i := acked[j]
		if err != nil || st.requestID != runs[i].requestID || !st.running {
			l.errs[i] = "not_started"
			if err == nil {
				err = fmt.Errorf("latest run of %s: request %q, running %v", runs[i].WorkflowID, st.requestID, st.running)
			}
			errs.add("not_started", err.Error())
			return
		}
		runs[i].RunID = st.runID
	})
	var started []*run
	for i, r := range runs {
		if l.errs[i] == "" {
			started = append(started, r)
		}
	}
	ph.Stats = l.stats()
	ph.ErrorSamples = errs.get()
	if err := b.w.start(); err != nil {
		return Phase{}, nil, err
	}
	left, took := b.st.settle(ctx, started, b.settleTimeout())
	ph.SettleSeconds, ph.Unsettled = took.Seconds(), left
	return ph, started, ctx.Err()
}

// send posts the signed bodies to the gateway's path at rate, after the
// worker is paused, and returns the phase with the gateway's outcome counts
// and the CPU used; Stats are left to the caller, which may still mark
// acknowledged requests as failed.
func (b *bencher) send(ctx context.Context, kind, path, contentType string, rate int, bodies [][]byte) (Phase, *load, *samples, error) {
	before, err := b.st.requestCounts(ctx, path)
	if err != nil {
		return Phase{}, nil, nil, err
	}
	b.pause(ctx)
	errs := &samples{}
	cpu := b.st.cpu()
	l := openLoop(ctx, rate, len(bodies), b.opts.MaxInFlight, func(ctx context.Context, i int) (string, bool) {
		return b.st.post(ctx, b.sg, path, contentType, bodies[i], errs)
	})
	temporalCores, benchCores := cpu.cores()
	after, err := b.st.requestCounts(ctx, path)
	if err != nil {
		return Phase{}, nil, nil, err
	}
	return Phase{Kind: kind, Rate: rate, Outcomes: diff(before, after), TemporalCores: temporalCores, BenchCores: benchCores}, l, errs, nil
}

// clicks sends n signed Approve clicks by the approver at rate,
// round-robin over runs, on a message that is not their request message.
func (b *bencher) clicks(ctx context.Context, rate, n int, runs []*run, threadTS string) (Phase, error) {
	bodies := make([][]byte, n)
	for i := range n {
		r := runs[i%len(runs)]
		bodies[i] = clickBody(devApprover, "bob", contract.ButtonValue(r.WorkflowID, r.RunID), threadTS,
			fmt.Sprintf("%d.%d.bench%s", time.Now().Unix(), b.seq.Add(1), b.runID))
	}
	ph, l, errs, err := b.send(ctx, KindClick, "/slack/interactions", "application/x-www-form-urlencoded", rate, bodies)
	if err != nil {
		return Phase{}, err
	}
	ph.Stats = l.stats()
	ph.ErrorSamples = errs.get()
	// A click is answered 200 whatever became of it; the gateway's outcome
	// says whether the decision reached the run. Anything but "signalled"
	// was answered in Slack as a failure (busy, unreachable, not waiting).
	for outcome, c := range ph.Outcomes {
		if outcome == "signalled" || c <= 0 {
			continue
		}
		c = min(c, ph.OK)
		if c == 0 {
			continue
		}
		ph.Errors["slack_"+outcome] += c
		ph.AchievedRate = round(ph.AchievedRate*float64(ph.OK-c)/float64(ph.OK), 1)
		ph.OK -= c
	}
	if err := b.w.start(); err != nil {
		return Phase{}, err
	}
	clicked := runs[:min(n, len(runs))]
	left, took := b.st.settle(ctx, clicked, b.settleTimeout())
	ph.SettleSeconds, ph.Unsettled = took.Seconds(), left
	return ph, ctx.Err()
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return round(a/b, 2)
}

// Saturation criteria of the floor.
const (
	minAchieved = 0.95
	p99Jump     = 10
)

// judge marks the sustained phases, finds the saturation rate and checks
// the targets.
func (rep *Report) judge() {
	var baseP99 float64
	baseRate := 0
	for _, ph := range rep.Phases {
		if ph.Kind == KindFloor && (baseRate == 0 || ph.Rate < baseRate) {
			baseRate, baseP99 = ph.Rate, ph.P99Ms
		}
	}
	rep.Saturation.Definition = fmt.Sprintf("the lowest rate where the floor (bare StartWorkflow) does not keep up: it achieves < %d%% of the rate, has any error, or its p99 is over %d× its p99 at the lowest rate (%d/s)",
		int(minAchieved*100), p99Jump, baseRate)
	floors := map[int]Phase{}
	for i := range rep.Phases {
		ph := &rep.Phases[i]
		why := unsustained(*ph)
		if why == "" && ph.Kind == KindFloor && baseP99 > 0 && ph.P99Ms > p99Jump*baseP99 {
			why = fmt.Sprintf("p99 %.1f ms is over %d× the %.1f ms at %d/s", ph.P99Ms, p99Jump, baseP99, baseRate)
		}
		ph.Sustained = why == ""
		if ph.Kind == KindFloor {
			floors[ph.Rate] = *ph
			if !ph.Sustained && (rep.Saturation.Rate == 0 || ph.Rate < rep.Saturation.Rate) {
				rep.Saturation.Rate, rep.Saturation.Reason = ph.Rate, why
			}
		}
	}
	for rate, f := range floors {
		if f.Sustained && (rep.Saturation.Rate == 0 || rate < rep.Saturation.Rate) && rate > rep.Saturation.HighestSustained {
			rep.Saturation.HighestSustained = rate
		}
	}
	// The target is checked at the highest sustained rate, which must be
	// at least 50/s; below that the ratio is still shown.
	at := rep.Saturation.HighestSustained
	for _, kind := range []string{KindMention, KindClick} {
		var ph *Phase
		for i := range rep.Phases {
			if rep.Phases[i].Kind == kind && rep.Phases[i].Rate == at {
				ph = &rep.Phases[i]
			}
		}
		has := slices.ContainsFunc(rep.Phases, func(p Phase) bool { return p.Kind == kind })
		if !has {
			continue
		}
		t := Target{Kind: kind, Rate: at}
		if ph == nil {
			t.Note = "not checked: the floor was sustained at no rate in this run (try a lower --rate or --sweep 10,25,50)"
			rep.Targets = append(rep.Targets, t)
			continue
		}
		f := floors[at]
		t.P99Ms, t.FloorP99Ms, t.Ratio = ph.P99Ms, f.P99Ms, ratio(ph.P99Ms, f.P99Ms)
		var missed []string
		if at < 50 {
			missed = append(missed, fmt.Sprintf("the floor sustains no rate of 50/s or more here (highest %d/s)", at))
		}
		if t.Ratio > 1.5 {
			missed = append(missed, fmt.Sprintf("%.2f× the floor, %.0f%% over 1.5×", t.Ratio, (t.Ratio/1.5-1)*100))
		}
		if t.P99Ms >= 100 {
			missed = append(missed, fmt.Sprintf("%.1f ms, %.1f ms over 100 ms", t.P99Ms, t.P99Ms-100))
		}
		if ph.ErrorCount() > 0 {
			missed = append(missed, fmt.Sprintf("%d errors", ph.ErrorCount()))
		}
		t.Met = len(missed) == 0
		measured := fmt.Sprintf("p99 %.1f ms = %.2f× the floor's %.1f ms", t.P99Ms, t.Ratio, t.FloorP99Ms)
		if t.Met {
			t.Note = "met: " + measured
		} else {
			t.Note = measured + "; missed: " + strings.Join(missed, "; ")
		}
		rep.Targets = append(rep.Targets, t)
	}
}

// unsustained says why a phase did not keep up with its rate, or "".
func unsustained(ph Phase) string {
	if n := ph.ErrorCount(); n > 0 {
		return fmt.Sprintf("%d errors %s", n, formatCounts(ph.Errors))
	}
	if ph.AchievedRate < minAchieved*float64(ph.Rate) {
		return fmt.Sprintf("achieved %.1f/s, under %d%% of %d/s", ph.AchievedRate, int(minAchieved*100), ph.Rate)
	}
	return ""
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute averages, or "unknown".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
