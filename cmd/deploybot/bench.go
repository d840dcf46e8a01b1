package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/deploybot/deploybot/internal/bench"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/logging"
)

func newBenchCmd() *cobra.Command {
	var (
		o     bench.Options
		rate  int
		sweep string
		out   benchOutput
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test the local stack: signed mentions and clicks vs. a bare Temporal start",
		Long: `bench starts deploybot's local stack (as 'deploybot dev' does, in a temporary
directory, on free loopback ports only: nothing else is touched or reachable)
and sends it signed Slack requests at --rate per second for --duration:

  floor    a bare Temporal StartWorkflow on a task queue no worker polls: what
           Temporal alone costs, measured in the same run on the same server
  mention  "@deploybot sync app-N": each starts a DeployWorkflow (checked in
           Temporal afterwards: a mention whose run is missing is an error)
  click    an approver's Approve click on those runs, on a message that is not
           their request message: the gateway verifies, parses, describes and
           signals; the run answers that the click does not count and keeps
           waiting, so every click takes the full path

The load is open-loop (each request leaves on schedule whatever became of the
others; latency counts from that time) and bounded: --rate at most 500/s,
--duration at most 2m, at most --max-in-flight unanswered requests (a request
due beyond that is not sent and counts as an "overflow" error).

The worker is paused while a phase is measured, as nothing polls the floor's
task queue either, and catches up after it ("settle"): the ratio to the floor
is then the gateway's own cost. --live-worker keeps it running instead, to see
the whole stack compete for this machine.

State goes to a temporary directory under $TMPDIR (removed at the end); the
dev server's SQLite syncs to it on every write, so a slow disk shows. Set
TMPDIR=/dev/shm to take the disk out of the measurement.

It prints, per phase: sent, ok, errors by kind (http_503: the gateway asked
Slack to redeliver; slack_*: answered in Slack as not done; timeout,
transport, overflow), the achieved rate, p50/p90/p99/max, and the p99 of
mentions and clicks over the floor's. --sweep runs every phase at each rate
and reports where the local Temporal server saturates: the lowest rate where
the floor achieves under 95% of it, fails, or its p99 passes 10x its p99 at the
lowest rate.

'bench waiting' measures the worker's memory with runs waiting for approval.`,
		Example: `  deploybot bench
  deploybot bench --sweep 25,50,100,200,400 --duration 10s
  deploybot bench --rate 100 --kind click --json
  deploybot bench waiting --runs 1000,2000,5000,10000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("rate") && cmd.Flags().Changed("sweep") {
				return fmt.Errorf("--rate and --sweep exclude each other: --rate %d runs one rate, --sweep %s runs each of its rates", rate, sweep)
			}
			o.Rates = []int{rate}
			if cmd.Flags().Changed("sweep") {
				rates, err := parseInts("--sweep", sweep, "25,50,100,200,400")
				if err != nil {
					return err
				}
				o.Rates = rates
			}
			if err := o.Validate(); err != nil {
				return err
			}
			o.TemporalBinary, o.Progress, o.Logger = out.setup(cmd)
			rep, err := bench.Run(cmd.Context(), o)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			return out.print(cmd, rep)
		},
	}
	f := cmd.Flags()
	f.IntVar(&rate, "rate", bench.DefaultRate, fmt.Sprintf("requests per second of each phase (1..%d)", bench.MaxRate))
	f.StringVar(&sweep, "sweep", "", "comma-separated rates to run one after another, e.g. 25,50,100,200,400 (instead of --rate)")
	f.DurationVar(&o.Duration, "duration", bench.DefaultDuration, fmt.Sprintf("length of each phase at each rate (1s..%s)", bench.MaxDuration))
	f.StringVar(&o.Kind, "kind", bench.KindAll, "which gateway requests to send after the floor: mention, click or all")
	f.IntVar(&o.MaxInFlight, "max-in-flight", bench.DefaultMaxInFlight, fmt.Sprintf("unanswered requests allowed at once (1..%d); one due beyond is an overflow error", bench.MaxInFlightLimit))
	f.BoolVar(&o.LiveWorker, "live-worker", false, "keep the worker running during the measured phases (default: paused, so the ratio is the gateway's own cost)")
	out.flags(f)
	cmd.AddCommand(newBenchWaitingCmd())
	return cmd
}

// benchWorker is the command line and extra environment of the worker
// `bench waiting` measures: this binary's own `deploybot worker`. Tests
// replace it.
var benchWorker = func() ([]string, []string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("find this binary to run `deploybot worker` from: %w; use --in-process", err)
	}
	var env []string
	// The Go runtime's settings the bench runs with apply to the worker too.
	for _, k := range []string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return []string{exe, "worker"}, env, nil
}

func newBenchWaitingCmd() *cobra.Command {
	var (
		o         bench.WaitingOptions
		runs      string
		inProcess bool
		out       benchOutput
	)
	cmd := &cobra.Command{
		Use:   "waiting",
		Short: "Measure the worker's memory with runs waiting for approval",
		Long: `waiting starts the local stack (temporary directory, loopback only), runs
'deploybot worker' as a child process on a task queue of its own, and starts
DeployWorkflow runs until each of --runs waits for approval (cumulative steps:
--runs 1000,10000 measures at 1,000 and again at 10,000). At each step it
reports the worker's RSS (VmRSS of /proc/<pid>/status) and peak RSS, its Go
heap in use and goroutines, and how many runs its workflow cache holds
(--cache-size, the worker's WORKER_WORKFLOW_CACHE_SIZE): runs beyond the cache
live in Temporal's history, not in the worker, so its memory stays bounded.

--in-process runs the worker inside this process instead; its RSS then also
holds the gateway, the simulator and the Slack stand-in, so it is an upper
bound of the worker's.

Target: 1,000 runs waiting for approval cost the worker < 200 MB of RSS.`,
		Example: `  deploybot bench waiting --runs 1000
  deploybot bench waiting --runs 1000,2000,5000,10000 --cache-size 2000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			steps, err := parseInts("--runs", runs, "1000,10000")
			if err != nil {
				return err
			}
			o.Runs = steps
			if err := o.Validate(); err != nil {
				return err
			}
			if !inProcess {
				if o.WorkerCommand, o.WorkerEnv, err = benchWorker(); err != nil {
					return err
				}
			}
			o.TemporalBinary, o.Progress, o.Logger = out.setup(cmd)
			rep, err := bench.RunWaiting(cmd.Context(), o)
			if err != nil {
				return fmt.Errorf("bench waiting: %w", err)
			}
			return out.print(cmd, rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&runs, "runs", strconv.Itoa(bench.MemoryTargetRuns), fmt.Sprintf("runs waiting for approval to measure at, ascending and comma-separated (each 1..%d)", bench.MaxWaitingRuns))
	f.IntVar(&o.CacheSize, "cache-size", config.Default().WorkerWorkflowCacheSize, "the worker's workflow cache (WORKER_WORKFLOW_CACHE_SIZE, 1..100000)")
	f.BoolVar(&inProcess, "in-process", false, "run the worker in this process (RSS is then an upper bound) instead of as a child 'deploybot worker'")
	out.flags(f)
	return cmd
}

// parseInts reads a comma-separated list of integers given to flag.
func parseInts(flag, s, example string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %q is not a whole number; give numbers separated by commas, e.g. %s %s", flag, s, part, flag, example)
		}
		out = append(out, n)
	}
	return out, nil
}

// benchOutput holds the flags both bench commands share: where the Temporal
// CLI is, whether to log the stack's warnings, and the report's format.
type benchOutput struct {
	asJSON   bool
	verbose  bool
	tempoBin string
}

func (b *benchOutput) flags(f *pflag.FlagSet) {
	f.BoolVar(&b.asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&b.verbose, "verbose", false, "log the stack's warnings to stderr")
	f.StringVar(&b.tempoBin, "temporal-bin", "", "path of the temporal CLI (default: $TEMPORAL_CLI, ./bin/temporal, $PATH)")
}

// setup returns the Temporal CLI, the progress writer and the logger: the
// stack's warnings when verbose, else nothing.
func (b *benchOutput) setup(cmd *cobra.Command) (string, io.Writer, *slog.Logger) {
	log := slog.New(slog.DiscardHandler)
	if b.verbose {
		if l, err := logging.New(cmd.ErrOrStderr(), "warn", "text"); err == nil {
			log = l
		}
	}
	return b.tempoBin, cmd.ErrOrStderr(), log
}

func (b *benchOutput) print(cmd *cobra.Command, rep interface {
	WriteJSON(io.Writer) error
	WriteText(io.Writer) error
}) error {
	if b.asJSON {
		return rep.WriteJSON(cmd.OutOrStdout())
	}
	return rep.WriteText(cmd.OutOrStdout())
}
