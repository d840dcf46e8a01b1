package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/runsapi"
)

const sastTestToken = "sast-test-token"

// answer is one scripted answer of the fake runs API.
type answer struct {
	status int
	body   string
}

// runsAnswer is a 200 listing runs (newest first).
func runsAnswer(t *testing.T, runs ...runsapi.Run) answer {
	t.Helper()
	b, err := json.Marshal(runsapi.RunList{Runs: append([]runsapi.Run{}, runs...)})
	if err != nil {
		t.Fatal(err)
	}
	return answer{http.StatusOK, string(b)}
}

// errorAnswer is a 4xx/5xx with the API's error body.
func errorAnswer(status int, msg string) answer {
	b, _ := json.Marshal(runsapi.Error{Error: msg})
	return answer{status, string(b)}
}

// fakeRunsAPI serves the list route with script, one answer per request;
// the last answer repeats. It fails the test on any other route, on a
// wrong token and on a query that does not ask for the analysis.
type fakeRunsAPI struct {
	t      *testing.T
	srv    *httptest.Server
	script []answer

	mu      sync.Mutex
	queries []string
}

func newFakeRunsAPI(t *testing.T, script ...answer) *fakeRunsAPI {
	t.Helper()
	f := &fakeRunsAPI{t: t, script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRunsAPI) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != runsapi.BasePath {
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.NotFound(w, r)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+sastTestToken {
		f.t.Errorf("Authorization = %q", got)
	}
	f.mu.Lock()
	f.queries = append(f.queries, r.URL.RawQuery)
	a := f.script[min(len(f.queries), len(f.script))-1]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

// requests returns the query strings received so far.
func (f *fakeRunsAPI) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.queries...)
}

// sastResult is how a `deploybot sast wait` process ended.
type sastResult struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

// runSASTWait runs `deploybot sast wait args...` as a real process (this
// test binary, see TestMain) against apiURL, and waits for it to exit.
func runSASTWait(t *testing.T, apiURL string, args ...string) sastResult {
	t.Helper()
	return startSASTWait(t, apiURL, sastTestToken, args...)()
}

// startSASTWait starts `deploybot sast wait args...` with token and returns
// a function that waits for it to exit (at most 30s).
func startSASTWait(t *testing.T, apiURL, token string, args ...string) func() sastResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"sast", "wait"}, args...)...)
	cmd.Env = append(os.Environ(), "DEPLOYBOT_RUN_MAIN=1", sastGORACE(),
		"DEPLOYBOT_API_URL="+apiURL, "DEPLOYBOT_API_TOKEN="+token)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return func() sastResult {
		t.Helper()
		var err error
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("sast wait %q still running after 30s\nstdout: %s\nstderr: %s", args, out.String(), errOut.String())
		}
		res := sastResult{stdout: out.String(), stderr: errOut.String(), elapsed: time.Since(start)}
		var exitErr *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exitErr):
			res.code = exitErr.ExitCode()
		default:
			t.Fatal(err)
		}
		t.Logf("exit %d after %s\nstdout: %s\nstderr: %s", res.code, res.elapsed.Round(time.Millisecond), res.stdout, res.stderr)
		return res
	}
}

// sastGORACE keeps the race detector from sleeping 1s (atexit_sleep_ms)
// when a -race child exits 0, which would make exit 0 look slow.
func sastGORACE() string {
	return "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

// sastRun is a quality-gate run of project payments at abc123.
func sastRun(state, status, outcome string) runsapi.Run {
	r := runsapi.Run{
		ID: "sast-payments~main~AX1%2", RunID: "0197-run", Type: runsapi.TypeSAST,
		State: state, Status: status, Outcome: outcome,
		Project: "payments", Branch: "main", Revision: "abc123",
		StartedAt: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC),
		URL:       "http://localhost:8233/namespaces/default/workflows/sast-payments~main~AX1%252",
	}
	if state == runsapi.StateWaiting {
		r.ExpiresAt = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	}
	if state == runsapi.StateDone {
		r.ClosedAt = time.Date(2026, 3, 2, 10, 15, 0, 0, time.UTC)
	}
	if outcome == "accepted" || outcome == "rejected" {
		r.DecidedBy = &runsapi.User{ID: "U0BOB", Name: "Bob"}
	}
	return r
}

var sastArgs = []string{"--project", "payments", "--revision", "abc123", "--branch", "main", "--interval", "1s", "--timeout", "20s"}

func TestSastWaitDecided(t *testing.T) {
	tests := []struct {
		outcome, status string
		wantCode        int
		wantStdout      string
	}{
		{"accepted", "completed", 0, "accepted by Bob (U0BOB) at 2026-03-02T10:15:00Z: http://localhost:8233/namespaces/default/workflows/sast-payments~main~AX1%252\n"},
		{"passed", "completed", 0, "passed at 2026-03-02T10:15:00Z (the quality gate passed, nothing to decide): http://localhost:8233/"},
		{"rejected", "completed", 1, "rejected by Bob (U0BOB) at 2026-03-02T10:15:00Z: http://"},
		{"expired", "completed", 1, "expired at 2026-03-02T10:15:00Z (nobody decided in time): http://"},
		{"superseded", "completed", 1, "superseded at 2026-03-02T10:15:00Z (a newer analysis of payments arrived first): http://"},
		{"cancelled", "canceled", 1, "cancelled at "},
		{"", "terminated", 1, "ended without a decision (terminated) at "},
		{"", "failed", 1, "ended without a decision (failed) at "},
		{"", "timed_out", 1, "ended without a decision (timed_out) at "},
		{"waived", "completed", 1, "waived at "}, // unknown outcomes are not acceptances
	}
	for _, tt := range tests {
		t.Run(tt.outcome+"_"+tt.status, func(t *testing.T) {
			t.Parallel()
			api := newFakeRunsAPI(t, runsAnswer(t, sastRun(runsapi.StateDone, tt.status, tt.outcome)))
			res := runSASTWait(t, api.srv.URL, sastArgs...)
			if res.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", res.code, tt.wantCode)
			}
			if !strings.HasPrefix(res.stdout, tt.wantStdout) || strings.Count(res.stdout, "\n") != 1 {
				t.Errorf("stdout = %q, want one line starting with %q", res.stdout, tt.wantStdout)
			}
			if res.stderr != "" {
				t.Errorf("stderr = %q, want nothing", res.stderr)
			}
			q := api.requests()
			if want := "branch=main&limit=10&project=payments&revision=abc123&type=sast"; len(q) != 1 || q[0] != want {
				t.Errorf("queries = %q, want one %q", q, want)
			}
		})
	}
}

func TestSastWaitAcceptedAfterWaiting(t *testing.T) {
	t.Parallel()
	api := newFakeRunsAPI(t,
		runsAnswer(t),
		runsAnswer(t, sastRun(runsapi.StateWaiting, "running", "")),
		runsAnswer(t, sastRun(runsapi.StateWaiting, "running", "")),
		// Decided, still emailing: the decision is final already.
		runsAnswer(t, sastRun(runsapi.StateRunning, "running", "accepted")),
	)
	res := runSASTWait(t, api.srv.URL, sastArgs...)
	if res.code != 0 {
		t.Errorf("exit code = %d, want 0", res.code)
	}
	if n := len(api.requests()); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	wantErr := "no analysis of payments at abc123 on branch main received yet\n" +
		"waiting for a SAST approver: http://localhost:8233/namespaces/default/workflows/sast-payments~main~AX1%252, expires 2026-03-03T10:00:00Z\n"
	if res.stderr != wantErr {
		t.Errorf("stderr = %q, want each state once:\n%q", res.stderr, wantErr)
	}
	if !strings.HasPrefix(res.stdout, "accepted by Bob (U0BOB): http://") {
		t.Errorf("stdout = %q", res.stdout)
	}
}

func TestSastWaitTimeoutWithoutRun(t *testing.T) {
	t.Parallel()
	api := newFakeRunsAPI(t, runsAnswer(t))
	res := runSASTWait(t, api.srv.URL, "--project", "payments", "--revision", "abc123", "--interval", "1s", "--timeout", "2s")
	if res.code != 2 {
		t.Errorf("exit code = %d, want 2", res.code)
	}
	if res.elapsed < 2*time.Second || res.elapsed > 10*time.Second {
		t.Errorf("exited after %s, want about 2s", res.elapsed)
	}
	if n := len(api.requests()); n < 2 {
		t.Errorf("%d requests in 2s at 1s intervals, want at least 2", n)
	}
	if !strings.Contains(res.stderr, "no analysis of payments at abc123 received yet\n") ||
		!strings.Contains(res.stderr, "deploybot: no decision on payments at abc123 within 2s") ||
		strings.Count(res.stderr, "received yet") != 2 { // once as progress, once in the final message
		t.Errorf("stderr = %q", res.stderr)
	}
	if res.stdout != "" {
		t.Errorf("stdout = %q, want nothing", res.stdout)
	}
}

func TestSastWaitUnauthorizedExitsAtOnce(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		api := newFakeRunsAPI(t, errorAnswer(status, "invalid API token"))
		res := runSASTWait(t, api.srv.URL, sastArgs...)
		if res.code != 2 {
			t.Errorf("%d: exit code = %d, want 2", status, res.code)
		}
		if n := len(api.requests()); n != 1 {
			t.Errorf("%d: %d requests, want 1: a refused token is not retried", status, n)
		}
		if !strings.Contains(res.stderr, "invalid API token") {
			t.Errorf("%d: stderr = %q", status, res.stderr)
		}
		if status == http.StatusUnauthorized && !strings.Contains(res.stderr, "API_TOKENS") {
			t.Errorf("401: stderr does not say which tokens are accepted: %q", res.stderr)
		}
	}
}

func TestSastWaitRetriesServerErrors(t *testing.T) {
	t.Parallel()
	api := newFakeRunsAPI(t,
		errorAnswer(http.StatusInternalServerError, "temporal unavailable"),
		errorAnswer(http.StatusInternalServerError, "temporal unavailable"),
		runsAnswer(t, sastRun(runsapi.StateDone, "completed", "accepted")),
	)
	res := runSASTWait(t, api.srv.URL, sastArgs...)
	if res.code != 0 {
		t.Errorf("exit code = %d, want 0", res.code)
	}
	if n := len(api.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if strings.Count(res.stderr, "temporal unavailable") != 1 || !strings.Contains(res.stderr, "500 Internal Server Error") {
		t.Errorf("stderr = %q, want the 500 once", res.stderr)
	}
}

func TestSastWaitRetriesUnreachableAPI(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // connection refused from now on
	res := runSASTWait(t, url, "--project", "payments", "--revision", "abc123", "--interval", "1s", "--timeout", "2s")
	if res.code != 2 {
		t.Errorf("exit code = %d, want 2", res.code)
	}
	if strings.Count(res.stderr, "connection refused") != 1 || !strings.Contains(res.stderr, "retrying") {
		t.Errorf("stderr = %q, want the network error once", res.stderr)
	}
}

func TestSastWaitJSON(t *testing.T) {
	t.Parallel()
	want := sastRun(runsapi.StateDone, "completed", "rejected")
	api := newFakeRunsAPI(t, runsAnswer(t, want))
	res := runSASTWait(t, api.srv.URL, append([]string{"--json"}, sastArgs...)...)
	if res.code != 1 {
		t.Errorf("exit code = %d, want 1", res.code)
	}
	var got runsapi.Run
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
		t.Fatalf("stdout is not a run: %v\n%s", err, res.stdout)
	}
	if got.ID != want.ID || got.Outcome != "rejected" || got.DecidedBy == nil || got.DecidedBy.ID != "U0BOB" || !got.ClosedAt.Equal(want.ClosedAt) {
		t.Errorf("run = %+v, want %+v", got, want)
	}
}

func TestSastWaitBadUsage(t *testing.T) {
	t.Parallel()
	api := newFakeRunsAPI(t, runsAnswer(t))
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"missing project", []string{"--revision", "abc123"}, nil, "--project is required"},
		{"missing revision", []string{"--project", "payments"}, nil, "--revision is required"},
		{"short interval", []string{"--project", "p", "--revision", "r", "--interval", "100ms"}, nil, "--interval 100ms is too short: use at least 1s"},
		{"negative timeout", []string{"--project", "p", "--revision", "r", "--timeout", "-5m"}, nil, "--timeout -5m0s is negative"},
		{"no token", []string{"--project", "p", "--revision", "r"}, []string{"DEPLOYBOT_API_TOKEN="}, "DEPLOYBOT_API_TOKEN is not set: pass --token or export one of the gateway's API_TOKENS"},
		{"bad URL", []string{"--project", "p", "--revision", "r", "--api-url", "localhost:8080"}, nil, "--api-url: runs API URL \"localhost:8080\" must start with http:// or https://"},
		{"unknown flag", []string{"--project", "p", "--revision", "r", "--sha", "x"}, nil, "unknown flag: --sha"},
		{"argument", []string{"--project", "p", "--revision", "r", "extra"}, nil, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], append([]string{"sast", "wait"}, tt.args...)...)
			cmd.Env = append(os.Environ(), "DEPLOYBOT_RUN_MAIN=1", sastGORACE(), "DEPLOYBOT_API_URL="+api.srv.URL, "DEPLOYBOT_API_TOKEN="+sastTestToken)
			cmd.Env = append(cmd.Env, tt.env...)
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			err := cmd.Run()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
				t.Errorf("err = %v, want exit code 2", err)
			}
			if !strings.HasPrefix(errOut.String(), "deploybot: ") || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("stderr = %q, want it to say %q", errOut.String(), tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", out.String())
			}
		})
	}
	if n := len(api.requests()); n != 0 {
		t.Errorf("bad usage made %d requests", n)
	}
}

func TestSastWaitHelpDocumentsExitCodes(t *testing.T) {
	out, errOut, code := execute(t, nil, "sast", "wait", "--help")
	if code != 0 || errOut != "" {
		t.Fatalf("--help: code %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"Exit codes:", "  0  the risk was accepted", "  1  the risk was rejected", "  2  no decision before --timeout", "DEPLOYBOT_API_URL", "DEPLOYBOT_API_TOKEN", "API_TOKENS", "--interval", "--json"} {
		if !strings.Contains(out, want) {
			t.Errorf("help does not mention %q:\n%s", want, out)
		}
	}
}

// fakeLister scripts waitSAST's client in-process.
type fakeLister struct {
	answers []func() (*runsapi.RunList, error)
	calls   int
}

func (f *fakeLister) List(ctx context.Context, q runsapi.ListQuery) (*runsapi.RunList, error) {
	a := f.answers[min(f.calls, len(f.answers)-1)]
	f.calls++
	return a()
}

func listOf(runs ...runsapi.Run) func() (*runsapi.RunList, error) {
	return func() (*runsapi.RunList, error) { return &runsapi.RunList{Runs: runs}, nil }
}

func TestSastWaitSteps(t *testing.T) {
	waiting := sastRun(runsapi.StateWaiting, "running", "")
	newer := waiting
	newer.ID, newer.URL = "sast-payments~main~AX2", "http://ui/sast-payments~main~AX2"
	newer.StartedAt = waiting.StartedAt.Add(time.Minute)
	superseding := sastRun(runsapi.StateRunning, "running", "")
	superseding.Step = "superseding_older"
	continued := sastRun(runsapi.StateRunning, "continued_as_new", "")
	noWorker := sastRun(runsapi.StateRunning, "running", "")
	noWorker.Message = "the worker did not answer"
	unread := sastRun(runsapi.StateDone, "completed", "")
	unread.Message = "could not read the run's result"
	api := &fakeLister{answers: []func() (*runsapi.RunList, error){
		listOf(superseding), listOf(superseding), listOf(continued), listOf(noWorker), listOf(waiting),
		func() (*runsapi.RunList, error) { return nil, errors.New("connection reset") },
		func() (*runsapi.RunList, error) { return nil, errors.New("connection reset") },
		listOf(waiting),
		listOf(waiting, newer), // not in order: the newest is picked by start time
		listOf(unread),         // completed, outcome not read: not a verdict
		listOf(sastRun(runsapi.StateDone, "completed", "accepted")),
	}}
	var out, errOut bytes.Buffer
	code := waitSAST(context.Background(), api, sastWaitOptions{
		Project: "payments", Revision: "abc123", Interval: time.Millisecond, Timeout: 10 * time.Second, Stdout: &out, Stderr: &errOut,
	})
	if code != 0 || api.calls != len(api.answers) {
		t.Errorf("code %d after %d calls, want 0 after %d", code, api.calls, len(api.answers))
	}
	want := "analysis of payments at abc123 is being processed (superseding_older): " + waiting.URL + "\n" +
		"analysis of payments at abc123 is being processed: " + waiting.URL + "\n" +
		"analysis of payments at abc123 is being processed (the worker did not answer): " + waiting.URL + "\n" +
		"waiting for a SAST approver: " + waiting.URL + ", expires 2026-03-03T10:00:00Z\n" +
		"deploybot: connection reset (retrying every 1ms)\n" +
		"waiting for a SAST approver: http://ui/sast-payments~main~AX2, expires 2026-03-03T10:00:00Z\n" +
		"run " + waiting.ID + " is done, status completed (could not read the run's result): " + waiting.URL + "\n"
	if errOut.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut.String(), want)
	}
}

func TestSastWaitInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	api := &fakeLister{answers: []func() (*runsapi.RunList, error){func() (*runsapi.RunList, error) {
		cancel()
		return &runsapi.RunList{Runs: []runsapi.Run{sastRun(runsapi.StateWaiting, "running", "")}}, nil
	}}}
	var out, errOut bytes.Buffer
	code := waitSAST(ctx, api, sastWaitOptions{Project: "p", Revision: "r", Interval: time.Hour, JSON: true, Stdout: &out, Stderr: &errOut})
	if code != 2 {
		t.Errorf("code = %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), "deploybot: interrupted: no decision on p at r; last seen: waiting for a SAST approver") {
		t.Errorf("stderr = %q", errOut.String())
	}
	var last runsapi.Run
	if err := json.Unmarshal(out.Bytes(), &last); err != nil || last.State != runsapi.StateWaiting {
		t.Errorf("--json on interrupt: stdout %q (%v), want the last run", out.String(), err)
	}
}

// TestNewestRunFollowsTheGatesCurrentState (Step 7, defect 1): when the run
// started last was superseded by a later evaluation that arrived earlier,
// sast wait follows that one, so a gate failing now is never read as passed.
func TestNewestRunFollowsTheGatesCurrentState(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	runs := []runsapi.Run{
		{ID: "late-pass", StartedAt: t0.Add(time.Minute), Outcome: "superseded", SupersededBy: "fail-again"},
		{ID: "fail-again", StartedAt: t0, State: runsapi.StateWaiting},
		{ID: "first", StartedAt: t0.Add(-time.Minute), Outcome: "superseded", SupersededBy: "late-pass"},
	}
	got := newestRun(runs)
	if got == nil || got.ID != "fail-again" {
		t.Fatalf("newestRun = %+v, want the pending failure", got)
	}
	if _, done := sastVerdict(got); done {
		t.Error("a pending failure counts as decided")
	}
	// Superseded by another revision's run (not in this revision's list):
	// this revision's gate is superseded.
	other := []runsapi.Run{{ID: "old", StartedAt: t0, Outcome: "superseded", SupersededBy: "newer-revision"}}
	if got := newestRun(other); got == nil || got.ID != "old" {
		t.Errorf("newestRun = %+v, want the superseded run itself", got)
	}
	// A cycle (never written by deploybot) does not hang.
	cycle := []runsapi.Run{{ID: "a", SupersededBy: "b"}, {ID: "b", SupersededBy: "a"}}
	if newestRun(cycle) == nil {
		t.Error("newestRun on a cycle = nil")
	}
}
