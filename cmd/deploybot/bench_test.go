package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/bench"
	"github.com/deploybot/deploybot/internal/testenv"
)

// Flags out of bounds are refused before anything starts, with an error
// that names the flag and a value that works.
func TestBenchRefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--rate", "1000"}, "--rate/--sweep 1000 is out of range: a rate is 1 to 500 requests per second, e.g. --rate 50"},
		{[]string{"bench", "--rate", "0"}, "--rate/--sweep 0 is out of range"},
		{[]string{"bench", "--duration", "5m"}, "--duration 5m0s is out of range: 1s to 2m0s per phase, e.g. --duration 10s"},
		{[]string{"bench", "--duration", "10ms"}, "--duration 10ms is out of range"},
		{[]string{"bench", "--kind", "slash"}, `--kind "slash" is not a kind of load: use mention, click or all`},
		{[]string{"bench", "--sweep", "25,abc"}, `--sweep "25,abc": "abc" is not a whole number; give numbers separated by commas, e.g. --sweep 25,50,100,200,400`},
		{[]string{"bench", "--sweep", "25,900"}, "--rate/--sweep 900 is out of range"},
		{[]string{"bench", "--rate", "50", "--sweep", "25,50"}, "--rate and --sweep exclude each other"},
		{[]string{"bench", "--max-in-flight", "0"}, "--max-in-flight 0 is out of range: 1 to 2000"},
		{[]string{"bench", "--sweep", "500,500", "--duration", "2m"}, "the bench starts at most 60000: shorten --duration or drop a rate"},
		{[]string{"bench", "extra"}, `unknown command "extra" for "deploybot bench"`},
		{[]string{"bench", "waiting", "--runs", "0"}, "--runs 0 is out of range: 1 to 50000 runs, e.g. --runs 1000,10000"},
		{[]string{"bench", "waiting", "--runs", "1000,500"}, "--runs must be ascending steps"},
		{[]string{"bench", "waiting", "--runs", "1k"}, `--runs "1k": "1k" is not a whole number`},
		{[]string{"bench", "waiting", "--cache-size", "0"}, "--cache-size 0 is out of range: 1 to 100000 (WORKER_WORKFLOW_CACHE_SIZE), e.g. --cache-size 2000"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			out, errOut, code := execute(t, nil, c.args...)
			if code != 1 || !strings.Contains(errOut, c.want) {
				t.Errorf("code %d, stderr %q; want 1 and %q", code, errOut, c.want)
			}
			if out != "" || strings.Contains(errOut, "starting the local stack") {
				t.Errorf("something started or printed before the flags were checked:\nstdout: %s\nstderr: %s", out, errOut)
			}
		})
	}
}

func TestBenchIsListed(t *testing.T) {
	out, _, code := execute(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "bench         load-test a local stack") {
		t.Errorf("root help does not list bench:\n%s", out)
	}
	out, _, code = execute(t, nil, "bench", "--help")
	for _, want := range []string{"--rate", "--duration", "--sweep", "--kind", "--json", "--max-in-flight", "waiting", "loopback", "open-loop"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("bench --help lacks %q:\n%s", want, out)
		}
	}
}

// A short real run through the command: JSON with every phase, no error.
func TestBenchCommandRuns(t *testing.T) {
	bin := testenv.TemporalCLI(t)
	out, errOut, code := execute(t, nil, "bench", "--rate", "10", "--duration", "1s", "--json", "--temporal-bin", bin)
	if code != 0 {
		t.Fatalf("code %d, stderr:\n%s", code, errOut)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON (%v):\n%s", err, out)
	}
	// A 503 is the gateway's designed "Temporal is busy, Slack will retry"
	// answer, which a loaded CI machine may rightly get; anything else is a
	// failure, and every phase must get answers through.
	if len(rep.Phases) != 3 {
		t.Fatalf("report: %d phases, want 3:\n%s", len(rep.Phases), out)
	}
	for _, p := range rep.Phases {
		for kind, n := range p.Errors {
			if kind != "http_503" && n > 0 {
				t.Errorf("%s phase: %d %s errors:\n%s", p.Kind, n, kind, out)
			}
		}
		if p.OK == 0 {
			t.Errorf("%s phase: no request answered ok:\n%s", p.Kind, out)
		}
	}
}

// `bench waiting` measures a child `deploybot worker` (this test binary,
// which runs main() when DEPLOYBOT_RUN_MAIN=1): its own RSS, and its
// workflow cache holding no more runs than its size.
func TestBenchWaitingMeasuresAChildWorker(t *testing.T) {
	bin := testenv.TemporalCLI(t)
	orig := benchWorker
	t.Cleanup(func() { benchWorker = orig })
	benchWorker = func() ([]string, []string, error) {
		return []string{os.Args[0], "worker"}, []string{"DEPLOYBOT_RUN_MAIN=1"}, nil
	}
	out, errOut, code := execute(t, nil, "bench", "waiting", "--runs", "3,8", "--cache-size", "5", "--json", "--temporal-bin", bin)
	if code != 0 {
		t.Fatalf("code %d, stderr:\n%s", code, errOut)
	}
	var rep bench.WaitingReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON (%v):\n%s", err, out)
	}
	if !rep.Isolated || !strings.Contains(rep.Worker, "worker") || rep.CacheSize != 5 || len(rep.Steps) != 2 {
		t.Fatalf("report = %+v", rep)
	}
	for i, want := range []int{3, 8} {
		s := rep.Steps[i]
		if s.Runs != want || s.Waiting != want || s.RSSMB <= 0 || s.HeapMB <= 0 || s.CachedRuns < 0 || s.CachedRuns > 5 {
			t.Errorf("step %d = %+v; want %d runs waiting, memory measured, at most 5 runs cached", i, s, want)
		}
	}
}
