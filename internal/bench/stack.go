package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/devenv"
	"github.com/deploybot/deploybot/internal/temporalconn"
)

// stack is the local environment the bench drives: devenv's whole stack
// (Temporal dev server, Argo CD simulator, Slack stand-in, worker,
// gateway) in a temporary directory, on free loopback ports only.
type stack struct {
	urls    devenv.URLs
	cfg     *config.Config
	gateway string // base URL of the gateway, by IP
	tc      client.Client
	http    *http.Client
	slack   *slack.Client
	dir     string
	// temporalPID is the Temporal dev server's pid ("" if not found), for
	// its CPU use.
	temporalPID string

	cancel context.CancelFunc
	done   chan error
}

type stackOptions struct {
	temporalBinary string
	// apps is how many generated Argo CD apps the simulator has
	// (app-001 ...): one per run the bench starts.
	apps int
	// cacheSize is WORKER_WORKFLOW_CACHE_SIZE of the in-process worker.
	cacheSize   int
	maxInFlight int
	logger      *slog.Logger
}

// approvalTimeout is how long the bench's runs wait for approval: longer
// than any bench, so none expires while it measures.
const approvalTimeout = 24 * time.Hour

// startStack starts the environment and returns once everything answers.
func startStack(ctx context.Context, o stackOptions) (_ *stack, err error) {
	dir, err := os.MkdirTemp("", "deploybot-bench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	cfg := config.Default()
	// Loopback only, on ports picked free: nothing here is reachable from
	// another machine, and nothing clashes with a `deploybot dev`.
	cfg.HTTPHost, cfg.HTTPPort = "127.0.0.1", 0
	cfg.ArgoCDSimAddr = "127.0.0.1:0"
	cfg.ApprovalTimeout = approvalTimeout
	if o.cacheSize > 0 {
		cfg.WorkerWorkflowCacheSize = o.cacheSize
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	log := o.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &stack{dir: dir, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan devenv.URLs, 1)
	var runCfg = *cfg
	go func() {
		s.done <- devenv.Run(rctx, devenv.Options{
			Config: &runCfg, Dir: dir, TemporalBinary: o.temporalBinary,
			TemporalPort: port, TemporalUIPort: -1, ExtraApps: o.apps,
			// The bench runs its own worker, which it can pause.
			NoWorker: true,
			Logger:   log, OnReady: func(u devenv.URLs) { ready <- u },
		})
	}()
	select {
	case s.urls = <-ready:
	case err := <-s.done:
		cancel()
		if err == nil {
			err = errors.New("stopped before it was ready")
		}
		return nil, fmt.Errorf("start the local stack: %w", err)
	case <-ctx.Done():
		cancel()
		<-s.done
		return nil, ctx.Err()
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.cfg = cfg
	// devenv fills the signing secret and the people in its own copy; the
	// bench signs as the playground does, with the dev secret.
	s.cfg.SigningSecret = devenv.DevSigningSecret
	s.gateway = byIP(s.urls.Gateway)
	s.tc, err = temporalconn.Dial(ctx, temporalconn.Settings{Address: s.urls.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: log.With("component", "bench-temporal")})
	if err != nil {
		return nil, err
	}
	s.http = &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConns:        o.maxInFlight,
			MaxIdleConnsPerHost: o.maxInFlight,
			IdleConnTimeout:     time.Minute,
		},
	}
	s.slack = slack.New(devenv.DevSlackToken, slack.OptionAPIURL(s.urls.SlackAPI))
	s.temporalPID = childPID("temporal")
	return s, nil
}

// requestTimeout bounds one HTTP request of the bench: well past Slack's 3
// seconds, so a slow answer is measured rather than cut off.
const requestTimeout = 10 * time.Second

// close stops everything and removes the temporary directory.
func (s *stack) close() error {
	if s.tc != nil {
		s.tc.Close()
	}
	if s.http != nil {
		s.http.CloseIdleConnections()
	}
	s.cancel()
	err := <-s.done
	if rmErr := os.RemoveAll(s.dir); err == nil {
		err = rmErr
	}
	return err
}

// byIP rewrites http://localhost:port to http://127.0.0.1:port: the stack
// listens on IPv4 loopback, and "localhost" may try ::1 first.
func byIP(u string) string { return strings.Replace(u, "//localhost:", "//127.0.0.1:", 1) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// thread posts, as the bot, a message the bench's requests are made in the
// thread of (the runs post their requests there, which the Slack stand-in
// allows only under a message it has), and returns its ts.
func (s *stack) thread(ctx context.Context, text string) (string, error) {
	_, ts, err := s.slack.PostMessageContext(ctx, devenv.DevChannel.ID, slack.MsgOptionText(text, false))
	if err != nil {
		return "", fmt.Errorf("post the bench's thread in the Slack stand-in: %w", err)
	}
	return ts, nil
}

// requestCounts reads deploybot_gateway_requests_total of route from the
// gateway's /metrics, summed by outcome.
func (s *stack) requestCounts(ctx context.Context, route string) (map[string]float64, error) {
	series, err := scrape(ctx, s.http, s.gateway+"/metrics", "deploybot_gateway_requests_total")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, m := range series {
		if m.labels["route"] == route {
			out[m.labels["outcome"]] += m.value
		}
	}
	return out, nil
}

// sample is one series of a Prometheus text exposition.
type sample struct {
	labels map[string]string
	value  float64
}

var labelRE = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// scrape fetches url and returns the samples of the metric name.
func scrape(ctx context.Context, hc *http.Client, url, name string) ([]sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read metrics %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read metrics %s: %s", url, resp.Status)
	}
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		m := sample{labels: map[string]string{}}
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				continue
			}
			for _, kv := range labelRE.FindAllStringSubmatch(rest[1:end], -1) {
				m.labels[kv[1]] = kv[2]
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		if m.value, err = strconv.ParseFloat(fields[0], 64); err != nil {
			continue
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// metricValue is the sum of the samples of name at url, or -1 if there are none.
func metricValue(ctx context.Context, hc *http.Client, url, name string) float64 {
	series, err := scrape(ctx, hc, url, name)
	if err != nil || len(series) == 0 {
		return -1
	}
	var v float64
	for _, m := range series {
		v += m.value
	}
	return v
}

// diff is after - before, without the zeros.
func diff(before, after map[string]float64) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := int(v - before[k]); d != 0 {
			out[k] = d
		}
	}
	return out
}

// run is a DeployWorkflow run the bench started (through the gateway or
// directly) and may click on.
type run struct {
	app       string
	requestID string
	gateway.Run
}

// describeAll describes the runs, at most 16 at a time, and calls check
// with each answer (nil error) or failure.
func (s *stack) describeAll(ctx context.Context, runs []*run, check func(i int, info runState, err error)) {
	const concurrency = 16
	var wg sync.WaitGroup
	next := make(chan int)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				st, err := s.describe(dctx, runs[i].WorkflowID, runs[i].RunID)
				cancel()
				check(i, st, err)
			}
		}()
	}
	for i := range runs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
}

// runState is what the bench reads of a run from Temporal.
type runState struct {
	runID     string
	requestID string
	running   bool
	// idle: running with no pending activity or workflow task — a deploy
	// run waiting for a decision (or for a timer).
	idle bool
}

func (s *stack) describe(ctx context.Context, workflowID, runID string) (runState, error) {
	resp, err := s.tc.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return runState{}, err
	}
	info := resp.GetWorkflowExecutionInfo()
	st := runState{
		runID:   info.GetExecution().GetRunId(),
		running: info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
	}
	if p := info.GetMemo().GetFields()[gateway.MemoRequestID]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &st.requestID)
	}
	st.idle = st.running && len(resp.GetPendingActivities()) == 0 && resp.GetPendingWorkflowTask() == nil
	return st, nil
}

// settle waits until every run is idle (waiting for its decision, the
// worker done with it), or timeout. It returns how many are not known to be
// idle, and how long it waited. The worker takes runs roughly in the order
// they were started, so each pass looks at them in that order, 16 at a
// time, and stops at the first batch with one still busy: the look itself
// stays a small load on Temporal while the worker catches up.
func (s *stack) settle(ctx context.Context, runs []*run, timeout time.Duration) (unsettled int, took time.Duration) {
	start := time.Now()
	deadline := start.Add(timeout)
	pending := runs
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		var still []*run
		for len(pending) > 0 && ctx.Err() == nil {
			batch := pending[:min(16, len(pending))]
			pending = pending[len(batch):]
			busy := make([]bool, len(batch))
			s.describeAll(ctx, batch, func(i int, st runState, err error) { busy[i] = err != nil || !st.idle })
			for i, r := range batch {
				if busy[i] {
					still = append(still, r)
				}
			}
			if len(still) > 0 {
				break
			}
		}
		pending = append(still, pending...)
		if len(pending) > 0 {
			sleep(ctx, 500*time.Millisecond)
		}
	}
	return len(pending), time.Since(start).Round(100 * time.Millisecond)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// appName is the simulator's generated app number i (1-based).
func appName(i int) string { return fmt.Sprintf("app-%03d", i) }

// policy is the policy of the runs the bench starts directly, as the
// gateway would give them with devenv's configuration.
func (s *stack) policy() contract.DeployPolicy {
	return contract.DeployPolicy{
		Approvers:       []string{devApprover},
		ApprovalTimeout: approvalTimeout,
		HealthTimeout:   s.cfg.HealthTimeout,
		TemporalUIURL:   s.urls.TemporalUI,
		Namespace:       s.cfg.TemporalNamespace,
	}
}

// The playground's people (devenv.DevUsers): alice may request, bob approves.
const (
	devRequester = "U0ALICE"
	devApprover  = "U0BOB"
)

// startDirect starts DeployWorkflow runs of apps first..first+n-1 on
// taskQueue straight through Temporal (as the gateway's starter does),
// at most 8 at a time, in thread threadTS.
func (s *stack) startDirect(ctx context.Context, taskQueue string, first, n int, threadTS string) ([]*run, error) {
	starter := &gateway.TemporalStarter{Client: s.tc, TaskQueue: taskQueue}
	runs := make([]*run, n)
	errs := make(chan error, n)
	slots := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-slots }()
			app := appName(first + i)
			reqID := fmt.Sprintf("bench-direct-%s", app)
			in := contract.DeployInput{
				Request: contract.DeployRequest{
					App: app, Action: contract.ActionSync,
					RequestedBy: contract.User{ID: devRequester, Name: "alice"},
					Channel:     devenv.DevChannel.ID, ThreadTS: threadTS,
				},
				Policy: s.policy(),
			}
			var r gateway.Run
			var err error
			for attempt := 0; attempt < 5; attempt++ {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				r, err = starter.StartDeploy(sctx, in, reqID)
				cancel()
				if err == nil || ctx.Err() != nil {
					break
				}
				sleep(ctx, time.Second)
			}
			if err != nil {
				errs <- fmt.Errorf("start the run of %s: %w", app, err)
				return
			}
			runs[i] = &run{app: app, requestID: reqID, Run: r}
		}(i)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return runs, nil
}

// drain reads and closes a response body so its connection is reused.
func drain(r io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 1<<20))
	_ = r.Close()
}
