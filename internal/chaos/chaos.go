// Package chaos is deploybot's fault drill: it runs many sync and rollback
// requests (approved, rejected or left to expire) and failed quality gates
// through the real gateway, Temporal dev server, worker processes, Argo CD
// simulator, Slack stand-in and SMTP sink on loopback, while it SIGKILLs
// workers, restarts Temporal, takes Argo CD and SMTP away and makes Slack
// answer 429 and 500. Then it checks the promises: every run is final,
// Argo CD did exactly one operation per approved run and none otherwise,
// no message was posted twice, no gate passed without a decision, no email
// was lost or sent twice.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os/exec"
	"sync"
	"time"
)

// Options shape a chaos run. Zero values take the defaults of `make chaos`.
type Options struct {
	// Runs is how many deploy requests, each on an app of its own; 100.
	Runs int
	// Gates is how many failed quality gates SonarQube delivers; 6.
	Gates int
	// Window is how long requests start and faults are injected; 100s.
	Window time.Duration
	// ArgoCDDown is how long Argo CD is unreachable within the window; 60s.
	ArgoCDDown time.Duration
	// SMTPDown is how long the SMTP server is gone; 20s.
	SMTPDown time.Duration
	// SlackFaults is how many Slack calls answer 429, and as many 500; 40.
	SlackFaults int
	// ApprovalTimeout is APPROVAL_TIMEOUT (and SAST_APPROVAL_TIMEOUT); 45s.
	ApprovalTimeout time.Duration
	// HealthTimeout is HEALTH_TIMEOUT, which bounds riding out Argo CD's
	// outage too; 3m.
	HealthTimeout time.Duration
	// Seed makes the schedule repeatable; 0 picks one (printed).
	Seed uint64
	// TemporalCLI is the temporal binary; "" = the usual lookup.
	TemporalCLI string
	// Dir keeps the Temporal database and every process's log. Required.
	Dir string
	// Worker returns the command that runs one `deploybot worker` with env
	// added to its environment. Required.
	Worker func(env []string) *exec.Cmd
	// Out receives progress and the final table; nil discards.
	Out io.Writer
	// Logger receives the components' logs; nil discards.
	Logger *slog.Logger
}

func (o *Options) defaults() error {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.Runs == 0 {
		o.Runs = 100
	}
	if o.Gates == 0 {
		o.Gates = 6
	}
	if o.SlackFaults == 0 {
		o.SlackFaults = 40
	}
	def(&o.Window, 100*time.Second)
	def(&o.ArgoCDDown, 60*time.Second)
	def(&o.SMTPDown, 20*time.Second)
	def(&o.ApprovalTimeout, 45*time.Second)
	def(&o.HealthTimeout, 3*time.Minute)
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.Dir == "":
		return errors.New("chaos: Options.Dir is required (where the Temporal database and logs go)")
	case o.Worker == nil:
		return errors.New("chaos: Options.Worker is required (how to run `deploybot worker`)")
	case o.Runs < 1 || o.Runs > 500:
		return fmt.Errorf("chaos: %d runs: use 1 to 500, e.g. 100", o.Runs)
	case o.Gates < 0 || o.Gates > 50:
		return fmt.Errorf("chaos: %d gates: use 0 to 50, e.g. 6", o.Gates)
	case o.Window < 10*time.Second || o.Window > 10*time.Minute:
		return fmt.Errorf("chaos: window %s: use 10s to 10m, e.g. 100s", o.Window)
	case o.ArgoCDDown >= o.Window:
		return fmt.Errorf("chaos: Argo CD down for %s does not fit in the %s window", o.ArgoCDDown, o.Window)
	case o.ArgoCDDown+30*time.Second > o.HealthTimeout:
		return fmt.Errorf("chaos: HEALTH_TIMEOUT %s must exceed the Argo CD outage (%s) by 30s: approved runs ride the outage out within it", o.HealthTimeout, o.ArgoCDDown)
	}
	return nil
}

// Run executes the drill and returns its report; the error is
// errViolations (wrapped) when any promise was broken, or what kept the
// drill from running.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Out, "chaos: %d runs, %d quality gates, seed %d, state in %s\n", opts.Runs, opts.Gates, opts.Seed, opts.Dir)
	st, err := startStack(ctx, opts, opts.Logger)
	if err != nil {
		return nil, err
	}
	defer st.close()

	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed))
	plan := newPlan(rng, opts)
	d := &driver{st: st, opts: opts, plan: plan}
	start := time.Now()
	var wg sync.WaitGroup
	faultCtx, stopFaults := context.WithCancel(ctx)
	faults := &faultLog{}
	st.workerMu.Lock()
	st.onExit = func(why string) { faults.add("%s", why) }
	st.workerMu.Unlock()
	wg.Add(1)
	go func() { defer wg.Done(); d.injectFaults(faultCtx, rng, faults) }()
	d.drive(ctx)
	stopFaults()
	wg.Wait()
	st.heal()
	fmt.Fprintf(opts.Out, "chaos: requests and faults done after %s; waiting for every run to end\n", time.Since(start).Round(time.Second))

	rep := d.settle(ctx)
	rep.Faults = faults.lines()
	st.workerMu.Lock()
	rep.WorkerKills, rep.WorkerExits = st.kills, st.exits
	st.workerMu.Unlock()
	rep.Seed = opts.Seed
	rep.Took = time.Since(start)
	rep.Print(opts.Out)
	if len(rep.Violations) > 0 {
		return rep, fmt.Errorf("%w: %d violations", errViolations, len(rep.Violations))
	}
	return rep, nil
}

// IsViolation tells a broken promise from a drill that could not run.
func IsViolation(err error) bool { return errors.Is(err, errViolations) }
