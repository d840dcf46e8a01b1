package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/devenv"
	"github.com/deploybot/deploybot/internal/temporalconn"
	"github.com/deploybot/deploybot/worker"
)

// WaitingTaskQueue is the task queue of the measured worker: only it polls
// there, so the runs it holds are exactly the ones the bench started.
const WaitingTaskQueue = "deploybot-bench-waiting"

// Bounds of the waiting-runs measurement.
const (
	MaxWaitingRuns = 50000
	// MemoryTargetRuns and MemoryTargetMB are the target: 1,000 runs
	// waiting for approval cost the worker less than 200 MB of RSS.
	MemoryTargetRuns = 1000
	MemoryTargetMB   = 200
)

// WaitingOptions configure the waiting-runs memory measurement.
type WaitingOptions struct {
	// Runs are cumulative steps: start runs until this many wait, measure,
	// go on to the next (e.g. 1000, 10000). Each 1..MaxWaitingRuns, ascending.
	Runs []int
	// CacheSize is the worker's WORKER_WORKFLOW_CACHE_SIZE; 0 = the
	// configuration's default (2000).
	CacheSize int
	// WorkerCommand, if set, runs the measured worker as a child process
	// (e.g. {"/usr/local/bin/deploybot", "worker"}), so its RSS is its own.
	// Empty runs it inside this process, whose RSS (which also holds the
	// gateway, the simulator and the Slack stand-in) is then an upper bound.
	WorkerCommand []string
	// WorkerEnv is added to the child worker's environment (which is
	// otherwise only what points it at the bench's stack), e.g. GOMEMLIMIT.
	WorkerEnv []string
	// TemporalBinary is the temporal CLI; "" = devenv's lookup.
	TemporalBinary string
	Progress       io.Writer
	Logger         *slog.Logger
	// SettleTimeout bounds the wait for each step's runs to reach their
	// approval wait; 0 = 60s plus 1s per 4 runs, at most 45 minutes.
	SettleTimeout time.Duration
}

func (o *WaitingOptions) defaults() {
	if len(o.Runs) == 0 {
		o.Runs = []int{MemoryTargetRuns}
	}
	if o.CacheSize == 0 {
		o.CacheSize = config.Default().WorkerWorkflowCacheSize
	}
}

// Validate checks the options as they are (RunWaiting fills the defaults
// of zero values first) and names the flag to fix.
func (o WaitingOptions) Validate() error {
	var errs []error
	prev := 0
	for _, n := range o.Runs {
		switch {
		case n < 1 || n > MaxWaitingRuns:
			errs = append(errs, fmt.Errorf("--runs %d is out of range: 1 to %d runs, e.g. --runs 1000,10000", n, MaxWaitingRuns))
		case n <= prev:
			errs = append(errs, fmt.Errorf("--runs must be ascending steps (each is how many runs wait in all), but %d follows %d: e.g. --runs 1000,10000", n, prev))
		}
		prev = n
	}
	if o.CacheSize < 1 || o.CacheSize > 100000 {
		errs = append(errs, fmt.Errorf("--cache-size %d is out of range: 1 to 100000 (WORKER_WORKFLOW_CACHE_SIZE), e.g. --cache-size 2000", o.CacheSize))
	}
	return errors.Join(errs...)
}

// WaitingReport is the worker's memory with runs waiting for approval.
type WaitingReport struct {
	Started time.Time `json:"started"`
	Host    Host      `json:"host"`
	// CacheSize is the worker's workflow cache (WORKER_WORKFLOW_CACHE_SIZE).
	CacheSize int `json:"cacheSize"`
	// Worker says which process was measured; Isolated is true when it is
	// a `deploybot worker` of its own, false when the RSS is the bench
	// process's (an upper bound).
	Worker   string `json:"worker"`
	Isolated bool   `json:"isolated"`
	// Baseline is the worker with no run, after it started polling.
	Baseline MemSample     `json:"baseline"`
	Steps    []WaitingStep `json:"steps"`
	// Target is the check of MemoryTargetRuns against MemoryTargetMB.
	Target string `json:"target,omitempty"`
	// Bound says how RSS behaved past the cache size.
	Bound string `json:"bound,omitempty"`
}

// MemSample is the measured worker's memory at one moment.
type MemSample struct {
	RSSMB     float64 `json:"rssMb"`
	PeakRSSMB float64 `json:"peakRssMb"`
	HeapMB    float64 `json:"goHeapInuseMb"`
	// Goroutines, and CachedRuns (the SDK's temporal_sticky_cache_size; -1
	// when unknown), of the worker.
	Goroutines int `json:"goroutines"`
	CachedRuns int `json:"cachedRuns"`
}

// WaitingStep is the worker with Runs runs started, Waiting of them idle
// in their approval wait.
type WaitingStep struct {
	Runs    int `json:"runs"`
	Waiting int `json:"waiting"`
	// StartSeconds is how long starting this step's runs took; SettleSeconds
	// how long until they all waited.
	StartSeconds  float64 `json:"startSeconds"`
	SettleSeconds float64 `json:"settleSeconds"`
	MemSample
	// KiBPerCachedRun is (RSS - baseline RSS) / min(runs, cache size).
	KiBPerCachedRun float64 `json:"kibPerCachedRun"`
}

// RunWaiting starts the local stack and a worker on its own task queue,
// starts DeployWorkflow runs until each step's count waits for approval,
// and measures the worker's memory at each step.
func RunWaiting(ctx context.Context, opts WaitingOptions) (*WaitingReport, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	total := opts.Runs[len(opts.Runs)-1]
	rep := &WaitingReport{
		Started: time.Now().UTC(), CacheSize: opts.CacheSize,
		Host: Host{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), LoadAvgStart: loadAvg()},
	}
	fmt.Fprintf(progress, "bench waiting: starting the local stack (Temporal dev server, Argo CD simulator with %d apps) on loopback\n", total)
	st, err := startStack(ctx, stackOptions{temporalBinary: opts.TemporalBinary, apps: total, cacheSize: opts.CacheSize, maxInFlight: 16, logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	defer st.close()
	threadTS, err := st.thread(ctx, "deploybot bench: runs waiting for approval")
	if err != nil {
		return nil, err
	}
	w, err := startMeasuredWorker(ctx, st, opts)
	if err != nil {
		return nil, err
	}
	defer w.stop()
	rep.Worker, rep.Isolated = w.describe(), w.isolated()
	fmt.Fprintf(progress, "bench waiting: measuring %s, workflow cache %d\n", rep.Worker, opts.CacheSize)
	sleep(ctx, 2*time.Second)
	rep.Baseline = w.sample(ctx)

	started, waiting := 0, 0
	for _, target := range opts.Runs {
		n := target - started
		fmt.Fprintf(progress, "bench waiting: starting %d runs (%d in all)\n", n, target)
		t0 := time.Now()
		runs, err := st.startDirect(ctx, WaitingTaskQueue, started+1, n, threadTS)
		if err != nil {
			return nil, err
		}
		startTook := time.Since(t0)
		timeout := opts.SettleTimeout
		if timeout == 0 {
			timeout = min(time.Minute+time.Duration(n)*time.Second/4, 45*time.Minute)
		}
		left, took := st.settle(ctx, runs, timeout)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		started, waiting = target, waiting+n-left
		// Let the worker's last tasks and a GC cycle pass before reading.
		sleep(ctx, 3*time.Second)
		var s MemSample
		for range 3 {
			s = w.sample(ctx)
			sleep(ctx, time.Second)
		}
		step := WaitingStep{Runs: target, Waiting: waiting, StartSeconds: round(startTook.Seconds(), 1), SettleSeconds: round(took.Seconds(), 1), MemSample: s}
		if c := min(target, opts.CacheSize); c > 0 {
			step.KiBPerCachedRun = round((s.RSSMB-rep.Baseline.RSSMB)*1024/float64(c), 1)
		}
		rep.Steps = append(rep.Steps, step)
		fmt.Fprintf(progress, "bench waiting: %d runs, %d waiting: RSS %.0f MB (peak %.0f), Go heap %.0f MB, %d goroutines, %d runs cached\n",
			target, waiting, s.RSSMB, s.PeakRSSMB, s.HeapMB, s.Goroutines, s.CachedRuns)
	}
	rep.judge()
	rep.Host.LoadAvgEnd = loadAvg()
	return rep, nil
}

// judge checks the target and describes the bound past the cache.
func (rep *WaitingReport) judge() {
	for _, s := range rep.Steps {
		if s.Runs == MemoryTargetRuns {
			verdict := "met"
			if s.RSSMB >= MemoryTargetMB {
				verdict = fmt.Sprintf("missed by %.0f MB", s.RSSMB-MemoryTargetMB)
			}
			if s.Waiting < s.Runs {
				verdict += fmt.Sprintf(" (only %d of %d runs were waiting)", s.Waiting, s.Runs)
			}
			upper := ""
			if !rep.Isolated {
				upper = " (an upper bound: the bench's own process)"
			}
			rep.Target = fmt.Sprintf("%d runs waiting: worker RSS %.0f MB%s, target < %d MB: %s", s.Runs, s.RSSMB, upper, MemoryTargetMB, verdict)
		}
	}
	// Past the cache, runs live in Temporal, not in the worker: compare
	// the last step the cache holds whole with the last step beyond it.
	var within, beyond *WaitingStep
	for i := range rep.Steps {
		s := &rep.Steps[i]
		if s.Runs <= rep.CacheSize {
			within = s
		} else {
			beyond = s
		}
	}
	if beyond == nil {
		return
	}
	if within == nil {
		within = &WaitingStep{Runs: 0, MemSample: rep.Baseline}
	}
	grew := beyond.RSSMB - within.RSSMB
	rep.Bound = fmt.Sprintf("from %d to %d runs waiting (cache %d) RSS went from %.0f to %.0f MB (%+.0f MB)", within.Runs, beyond.Runs, rep.CacheSize, within.RSSMB, beyond.RSSMB, grew)
	if within.Runs > 0 && within.KiBPerCachedRun > 0 {
		unbounded := within.RSSMB + within.KiBPerCachedRun*float64(beyond.Runs-within.Runs)/1024
		rep.Bound += fmt.Sprintf("; at the %.1f KiB per run measured at %d, %d runs all in memory would take about %.0f MB", within.KiBPerCachedRun, within.Runs, beyond.Runs, unbounded)
	}
	if beyond.CachedRuns >= 0 {
		rep.Bound += fmt.Sprintf("; the cache holds %d runs", beyond.CachedRuns)
	}
}

// WriteText prints the report as a table.
func (rep *WaitingReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "deploybot bench waiting, %s: worker workflow cache %d (WORKER_WORKFLOW_CACHE_SIZE); %d CPUs, load average %s at start, %s at end\n",
		rep.Started.Format("2006-01-02 15:04 MST"), rep.CacheSize, rep.Host.CPUs, rep.Host.LoadAvgStart, rep.Host.LoadAvgEnd)
	fmt.Fprintf(w, "Measured: %s\n\n", rep.Worker)
	fmt.Fprintf(w, "%8s %8s %9s %10s %9s %10s %11s %11s %13s %9s\n", "runs", "waiting", "RSS MB", "peak MB", "heap MB", "goroutines", "cached runs", "KiB/cached", "start s", "settle s")
	fmt.Fprintf(w, "%8d %8s %9.0f %10.0f %9.0f %10d %11s %11s %13s %9s\n", 0, "-", rep.Baseline.RSSMB, rep.Baseline.PeakRSSMB, rep.Baseline.HeapMB, rep.Baseline.Goroutines, cached(rep.Baseline.CachedRuns), "-", "-", "-")
	for _, s := range rep.Steps {
		fmt.Fprintf(w, "%8d %8d %9.0f %10.0f %9.0f %10d %11s %11.1f %13.1f %9.1f\n", s.Runs, s.Waiting, s.RSSMB, s.PeakRSSMB, s.HeapMB, s.Goroutines, cached(s.CachedRuns), s.KiBPerCachedRun, s.StartSeconds, s.SettleSeconds)
	}
	fmt.Fprintln(w)
	if rep.Target != "" {
		fmt.Fprintln(w, "Target: "+rep.Target)
	}
	if rep.Bound != "" {
		fmt.Fprintln(w, "Bound: "+rep.Bound)
	}
	if !rep.Isolated {
		fmt.Fprintln(w, "Note: RSS is the bench process's (gateway, simulator, Slack stand-in and load generator share it with the worker): an upper bound of the worker's.")
	}
	return nil
}

// WriteJSON prints the report as indented JSON.
func (rep *WaitingReport) WriteJSON(w io.Writer) error { return writeJSON(w, rep) }

func cached(n int) string {
	if n < 0 {
		return "n/a"
	}
	return strconv.Itoa(n)
}

// measuredWorker is the worker whose memory is measured.
type measuredWorker interface {
	describe() string
	isolated() bool
	sample(ctx context.Context) MemSample
	stop()
}

func startMeasuredWorker(ctx context.Context, st *stack, opts WaitingOptions) (measuredWorker, error) {
	if len(opts.WorkerCommand) > 0 {
		return startChildWorker(ctx, st, opts)
	}
	return startInProcessWorker(ctx, st, opts)
}

// childWorker is `deploybot worker` in a process of its own.
type childWorker struct {
	cmd     *exec.Cmd
	metrics string // its /metrics URL
	hc      *http.Client
	done    chan error
	log     string
}

func startChildWorker(ctx context.Context, st *stack, opts WaitingOptions) (*childWorker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(st.dir, "worker.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(opts.WorkerCommand[0], opts.WorkerCommand[1:]...)
	// Only what the worker needs, all of it pointing at the bench's stack.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"TEMPORAL_ADDRESS=" + st.urls.TemporalAddress, "TEMPORAL_NAMESPACE=" + st.cfg.TemporalNamespace,
		"TEMPORAL_TASK_QUEUE=" + WaitingTaskQueue,
		"ARGOCD_URL=" + byIP(st.urls.ArgoCDSim), "ARGOCD_TOKEN=" + st.cfg.ArgoCDSimToken,
		"SLACK_TOKEN=" + devenv.DevSlackToken, "SLACK_API_URL=" + st.urls.SlackAPI,
		"HTTP_HOST=127.0.0.1", "HTTP_PORT=" + strconv.Itoa(port),
		"WORKER_WORKFLOW_CACHE_SIZE=" + strconv.Itoa(opts.CacheSize),
		"WORKER_STOP_TIMEOUT=5s", "LOG_LEVEL=warn",
	}
	cmd.Env = append(cmd.Env, opts.WorkerEnv...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no orphan if the bench is killed
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the worker %s: %w", strings.Join(opts.WorkerCommand, " "), err)
	}
	w := &childWorker{cmd: cmd, hc: &http.Client{Timeout: 5 * time.Second}, done: make(chan error, 1), log: logPath,
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port)}
	go func() { w.done <- cmd.Wait() }()
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-w.done:
			w.done <- err
			return nil, fmt.Errorf("the worker exited before it was ready (%v): %s", err, tail(logPath))
		default:
		}
		if resp, err := w.hc.Get(ready); err == nil {
			drain(resp.Body)
			if resp.StatusCode == http.StatusOK {
				return w, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			w.stop()
			return nil, fmt.Errorf("the worker did not become ready within 90s: %s", tail(logPath))
		}
		sleep(ctx, 250*time.Millisecond)
	}
}

func (w *childWorker) describe() string {
	return fmt.Sprintf("child process `%s` (pid %d), RSS its own", strings.Join(w.cmd.Args, " "), w.cmd.Process.Pid)
}

func (w *childWorker) isolated() bool { return true }

func (w *childWorker) sample(ctx context.Context) MemSample {
	pid := strconv.Itoa(w.cmd.Process.Pid)
	var s MemSample
	if v, err := readRSS(pid); err == nil {
		s.RSSMB = mb(v)
	}
	if v, err := readStatus(pid, "VmHWM"); err == nil {
		s.PeakRSSMB = mb(v)
	}
	s.HeapMB = mb(int64(max(metricValue(ctx, w.hc, w.metrics, "go_memstats_heap_inuse_bytes"), 0)))
	s.Goroutines = int(metricValue(ctx, w.hc, w.metrics, "go_goroutines"))
	s.CachedRuns = int(metricValue(ctx, w.hc, w.metrics, "temporal_sticky_cache_size"))
	return s
}

func (w *childWorker) stop() {
	if w.cmd.Process == nil {
		return
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-w.done:
		w.done <- err
	case <-time.After(15 * time.Second):
		_ = w.cmd.Process.Kill()
	}
}

// inProcessWorker is the measured worker inside the bench's own process.
type inProcessWorker struct{ *localWorker }

func startInProcessWorker(ctx context.Context, st *stack, opts WaitingOptions) (*inProcessWorker, error) {
	w, err := newLocalWorker(ctx, st, WaitingTaskQueue, opts.CacheSize, opts.Logger)
	if err != nil {
		return nil, err
	}
	if err := w.start(); err != nil {
		w.close()
		return nil, err
	}
	return &inProcessWorker{w}, nil
}

func (w *inProcessWorker) describe() string {
	return "a worker inside the bench process (its RSS also holds the gateway, simulator and Slack stand-in: an upper bound)"
}

func (w *inProcessWorker) isolated() bool { return false }

func (w *inProcessWorker) sample(context.Context) MemSample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := MemSample{HeapMB: mb(int64(ms.HeapInuse)), Goroutines: runtime.NumGoroutine(), CachedRuns: -1}
	if v, err := readRSS("self"); err == nil {
		s.RSSMB = mb(v)
	}
	if v, err := readStatus("self", "VmHWM"); err == nil {
		s.PeakRSSMB = mb(v)
	}
	return s
}

func (w *inProcessWorker) stop() { w.close() }

// localWorker is a deploybot worker in this process on the stack's
// Temporal, which can be stopped and started again (each start is a new
// SDK worker: a stopped one cannot start again).
type localWorker struct {
	cfg    config.Config
	tc     client.Client
	argo   *argocd.Client
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan error
}

func newLocalWorker(ctx context.Context, st *stack, taskQueue string, cacheSize int, log *slog.Logger) (*localWorker, error) {
	cfg := *st.cfg
	cfg.TemporalTaskQueue = taskQueue
	if cacheSize > 0 {
		cfg.WorkerWorkflowCacheSize = cacheSize
	}
	cfg.SlackToken, cfg.SlackAPIURL = devenv.DevSlackToken, st.urls.SlackAPI
	cfg.ArgoCDURL, cfg.ArgoCDToken = byIP(st.urls.ArgoCDSim), cfg.ArgoCDSimToken
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	argo, err := argocd.New(argocd.Options{URL: cfg.ArgoCDURL, Token: cfg.ArgoCDToken, VerifySSL: true, Logger: log})
	if err != nil {
		return nil, err
	}
	tc, err := temporalconn.Dial(ctx, temporalconn.Settings{Address: st.urls.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: log})
	if err != nil {
		_ = argo.Close()
		return nil, err
	}
	return &localWorker{cfg: cfg, tc: tc, argo: argo, log: log}, nil
}

// start starts a worker unless one runs.
func (w *localWorker) start() error {
	if w.cancel != nil {
		return nil
	}
	sw, err := worker.NewFromConfig(&w.cfg, w.tc, w.argo, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	if err := sw.Start(); err != nil {
		return fmt.Errorf("start the worker: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan error, 1)
	go func() {
		<-ctx.Done()
		sw.Stop()
		w.done <- nil
	}()
	return nil
}

// stop stops the running worker, if any, once its tasks in hand are done.
func (w *localWorker) stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	<-w.done
	w.cancel = nil
}

// close stops the worker and its connections.
func (w *localWorker) close() {
	w.stop()
	w.tc.Close()
	_ = w.argo.Close()
}

// readRSS is VmRSS of /proc/<pid>/status in bytes.
func readRSS(pid string) (int64, error) { return readStatus(pid, "VmRSS") }

// readStatus reads a "kB" field of /proc/<pid>/status, in bytes.
func readStatus(pid, field string) (int64, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			break
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no %s in /proc/%s/status", field, pid)
}

func mb(b int64) float64 { return round(float64(b)/(1<<20), 1) }

// tail is the end of the file at path, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}
