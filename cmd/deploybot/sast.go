package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/runsapi"
)

// Exit codes of `deploybot sast wait`: the contract CI scripts branch on.
const (
	// exitSASTAccepted: the risk was accepted, or the gate passed.
	exitSASTAccepted = 0
	// exitSASTRefused: rejected, expired, superseded, cancelled, or the run
	// ended without an acceptance.
	exitSASTRefused = 1
	// exitSASTNoDecision: no decision in time, bad usage, or the API
	// refused the token; the pipeline learnt nothing about the risk.
	exitSASTNoDecision = 2
)

// Environment variables read by `deploybot sast wait`.
const (
	envAPIURL   = "DEPLOYBOT_API_URL"
	envAPIToken = "DEPLOYBOT_API_TOKEN"
)

// minSASTInterval keeps a forgotten pipeline from hammering the gateway.
const minSASTInterval = time.Second

func newSASTCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sast",
		Short: "Work with SonarQube quality-gate (SAST) approvals from CI",
		Long: `sast talks to the gateway's runs API about quality-gate runs: the security
approvals deploybot opens when a SonarQube analysis fails its quality gate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSASTWaitCmd())
	return cmd
}

const sastWaitLong = `wait blocks a CI pipeline until a security approver decides on the SonarQube
analysis of --project at --revision (and --branch, if given), then exits with a
code the pipeline can branch on.

It asks the gateway's runs API (GET /api/v1/runs?type=sast&project=…&revision=…)
every --interval and follows the newest matching run. Until SonarQube's webhook
has reached deploybot there is no run yet, and wait keeps waiting. Each change
(no analysis yet, waiting for an approver, decided) is printed to stderr once.
At the end one line goes to stdout, e.g.

  accepted by Bob (U0BOB) at 2026-03-02T10:15:00Z: http://localhost:8233/namespaces/default/workflows/sast-…

or, with --json, the final run as the runs API returns it.

Exit codes:
  0  the risk was accepted, or the quality gate passed (nothing to decide)
  1  the risk was rejected, the request expired, a newer analysis superseded
     it, it was cancelled, or the run ended otherwise without an acceptance
  2  no decision before --timeout, bad usage, or the API refused the token
     (401/403, or another 4xx that retrying cannot fix)

Server errors (5xx) and network errors are retried until --timeout; each
distinct error is printed once.

The API URL is --api-url, else $DEPLOYBOT_API_URL, else ` + runsapi.DefaultURL + `.
The token is --token, else $DEPLOYBOT_API_TOKEN (one of the gateway's
API_TOKENS). Prefer the variable: command lines are visible to other users.`

const sastWaitExample = `  # GitLab CI, after sonar-scanner:
  export DEPLOYBOT_API_URL=https://deploybot.example.com
  export DEPLOYBOT_API_TOKEN=$DEPLOYBOT_TOKEN   # a masked CI variable
  deploybot sast wait --project "$CI_PROJECT_PATH" --revision "$CI_COMMIT_SHA" \
      --branch "$CI_COMMIT_REF_NAME" --timeout 4h`

func newSASTWaitCmd() *cobra.Command {
	var (
		o             sastWaitOptions
		apiURL, token string
	)
	cmd := &cobra.Command{
		Use:     "wait --project KEY --revision SHA",
		Short:   "Block until a security approver accepts or rejects an analysis; exit 0, 1 or 2",
		Long:    sastWaitLong,
		Example: sastWaitExample,
		// Bad usage must exit 2, not main's 1: a pipeline would read 1 as "rejected".
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &exitError{exitSASTNoDecision, fmt.Errorf("sast wait takes no arguments, got %q; use --project and --revision", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			lookup := lookupFrom(cmd.Context())
			if !cmd.Flags().Changed("api-url") {
				if v, ok := lookup(envAPIURL); ok && v != "" {
					apiURL = v
				}
			}
			if !cmd.Flags().Changed("token") {
				token, _ = lookup(envAPIToken)
			}
			if err := o.validate(token); err != nil {
				return &exitError{exitSASTNoDecision, err}
			}
			api, err := runsapi.NewClient(apiURL, token, &http.Client{Timeout: runsapi.DefaultTimeout})
			if err != nil {
				return &exitError{exitSASTNoDecision, fmt.Errorf("--api-url: %w", err)}
			}
			o.Stdout, o.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			if code := waitSAST(cmd.Context(), api, o); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{exitSASTNoDecision, err}
	})
	f := cmd.Flags()
	f.StringVar(&o.Project, "project", "", "SonarQube project key (required)")
	f.StringVar(&o.Revision, "revision", "", "commit SHA the analysis ran on (required)")
	f.StringVar(&o.Branch, "branch", "", "branch name, or pull request id; empty = any")
	f.DurationVar(&o.Timeout, "timeout", time.Hour, "give up (exit 2) after this long; 0 = wait forever")
	f.DurationVar(&o.Interval, "interval", 5*time.Second, "time between two looks at the API; at least 1s")
	f.StringVar(&apiURL, "api-url", runsapi.DefaultURL, "the gateway's base URL (default from "+envAPIURL+")")
	f.StringVar(&token, "token", "", "runs API bearer token, one of the gateway's API_TOKENS (default from "+envAPIToken+")")
	f.BoolVar(&o.JSON, "json", false, "print the final run as JSON instead of a line")
	return cmd
}

// sastWaitOptions is what `sast wait` waits for and where it reports.
type sastWaitOptions struct {
	Project, Branch, Revision string
	// Timeout bounds the whole wait; 0 = no limit.
	Timeout time.Duration
	// Interval is the time between two List calls.
	Interval time.Duration
	// JSON prints the final run as JSON instead of a line.
	JSON           bool
	Stdout, Stderr io.Writer
}

// validate checks the flags as a user gave them.
func (o *sastWaitOptions) validate(token string) error {
	o.Project, o.Revision, o.Branch = strings.TrimSpace(o.Project), strings.TrimSpace(o.Revision), strings.TrimSpace(o.Branch)
	var errs []error
	if o.Project == "" {
		errs = append(errs, errors.New("--project is required: the SonarQube project key, e.g. --project payments-api"))
	}
	if o.Revision == "" {
		errs = append(errs, errors.New("--revision is required: the commit SHA the analysis ran on, e.g. --revision \"$CI_COMMIT_SHA\""))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("--timeout %s is negative: use 0 to wait forever, or e.g. --timeout 4h", o.Timeout))
	}
	if o.Interval < minSASTInterval {
		errs = append(errs, fmt.Errorf("--interval %s is too short: use at least %s, e.g. --interval 5s", o.Interval, minSASTInterval))
	}
	if token == "" {
		errs = append(errs, errors.New(envAPIToken+" is not set: pass --token or export one of the gateway's API_TOKENS"))
	}
	return errors.Join(errs...)
}

// runLister is the part of *runsapi.Client that waitSAST uses.
type runLister interface {
	List(ctx context.Context, q runsapi.ListQuery) (*runsapi.RunList, error)
}

// waitSAST polls api until the newest quality-gate run of the analysis is
// decided, and returns the exit code (exitSAST…). It prints each change of
// state to o.Stderr and the final line (or run) to o.Stdout. The options
// are not validated here, so tests may use short intervals.
func waitSAST(ctx context.Context, api runLister, o sastWaitOptions) int {
	parent := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	// A few, not one: the newest is picked here by start time rather than
	// trusting the visibility store's order (some put running runs first).
	q := runsapi.ListQuery{Type: runsapi.TypeSAST, Project: o.Project, Branch: o.Branch, Revision: o.Revision, Limit: 10}
	var (
		last     *runsapi.Run
		lastLine string
		seenErrs = map[string]bool{}
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return o.giveUp(parent, last, lastLine)
		case <-timer.C:
		}
		list, err := api.List(ctx, q)
		switch {
		case err != nil && ctx.Err() != nil:
			return o.giveUp(parent, last, lastLine)
		case err != nil:
			var apiErr *runsapi.APIError
			if errors.As(err, &apiErr) && !apiErr.Retryable() {
				// A refused token or a wrong URL will not fix itself.
				fmt.Fprintln(o.Stderr, "deploybot: "+err.Error())
				return exitSASTNoDecision
			}
			if msg := err.Error(); !seenErrs[msg] {
				seenErrs[msg] = true
				fmt.Fprintf(o.Stderr, "deploybot: %s (retrying every %s)\n", msg, o.Interval)
			}
		default:
			last = newestRun(list.Runs)
			if code, done := sastVerdict(last); done {
				o.finish(last)
				return code
			}
			if line := o.describe(last); line != lastLine {
				fmt.Fprintln(o.Stderr, line)
				lastLine = line
			}
		}
		timer.Reset(o.Interval)
	}
}

// newestRun returns the run that holds the gate's current state: the run
// started last (the first of equals: the API lists newest first), or, when
// that one was superseded by a later evaluation of the same revision that
// arrived earlier (deliveries come out of order), the run that superseded
// it. nil when there is none.
func newestRun(runs []runsapi.Run) *runsapi.Run {
	var newest *runsapi.Run
	byID := map[string]*runsapi.Run{}
	for i := range runs {
		byID[runs[i].ID] = &runs[i]
		if newest == nil || runs[i].StartedAt.After(newest.StartedAt) {
			newest = &runs[i]
		}
	}
	for hops := 0; newest != nil && newest.SupersededBy != "" && hops < len(runs); hops++ {
		next, ok := byID[newest.SupersededBy]
		if !ok {
			break // a later revision's run: this revision is superseded
		}
		newest = next
	}
	return newest
}

// sastVerdict says whether run is decided and, if so, the exit code.
func sastVerdict(run *runsapi.Run) (code int, done bool) {
	if run == nil {
		return 0, false
	}
	switch contract.Outcome(run.Outcome) {
	case contract.OutcomeAccepted, contract.OutcomePassed:
		return exitSASTAccepted, true
	case contract.OutcomeRejected, contract.OutcomeExpired, contract.OutcomeSuperseded, contract.OutcomeCancelled:
		return exitSASTRefused, true
	}
	switch run.Status {
	case "", "running", "continued_as_new":
		// In flight (a continued_as_new run goes on as a new run).
		return 0, false
	case "completed":
		if run.Outcome == "" {
			// Completed runs always have an outcome: the gateway could not
			// read it this time (its Message says why), so ask again.
			return 0, false
		}
		// An outcome this version does not know: not an acceptance.
		return exitSASTRefused, true
	}
	// failed, canceled, terminated, timed_out: ended without an acceptance.
	return exitSASTRefused, true
}

// describe is the stderr line for where the wait stands.
func (o sastWaitOptions) describe(run *runsapi.Run) string {
	if run == nil {
		s := "no analysis of " + o.Project + " at " + o.Revision
		if o.Branch != "" {
			s += " on branch " + o.Branch
		}
		return s + " received yet"
	}
	var s string
	switch run.State {
	case runsapi.StateWaiting:
		s = "waiting for a SAST approver"
	case runsapi.StateRunning:
		s = "analysis of " + o.Project + " at " + o.Revision + " is being processed"
		if run.Step != "" {
			s += " (" + run.Step + ")"
		}
	default:
		s = "run " + run.ID + " is " + run.State + ", status " + run.Status
	}
	if run.Message != "" && run.State != runsapi.StateWaiting {
		// E.g. that no worker answered: worth seeing while the pipeline waits.
		s += " (" + run.Message + ")"
	}
	if run.URL != "" {
		s += ": " + run.URL
	}
	if !run.ExpiresAt.IsZero() && run.State == runsapi.StateWaiting {
		s += ", expires " + run.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return s
}

// finish prints the decided run to stdout: what, by whom, when, why, where.
func (o sastWaitOptions) finish(run *runsapi.Run) {
	if o.JSON {
		o.printJSON(run)
		return
	}
	s, why := run.Outcome, run.Message
	switch contract.Outcome(run.Outcome) {
	case "":
		s = "ended without a decision (" + run.Status + ")"
	case contract.OutcomePassed:
		why = cmp.Or(why, "the quality gate passed, nothing to decide")
	case contract.OutcomeExpired:
		why = cmp.Or(why, "nobody decided in time")
	case contract.OutcomeSuperseded:
		why = cmp.Or(why, "a newer analysis of "+o.Project+" arrived first")
	}
	if u := run.DecidedBy; u != nil {
		if u.Name != "" {
			s += " by " + u.Name + " (" + u.ID + ")"
		} else {
			s += " by " + u.ID
		}
	}
	if !run.ClosedAt.IsZero() {
		s += " at " + run.ClosedAt.UTC().Format(time.RFC3339)
	}
	if why != "" {
		s += " (" + why + ")"
	}
	if run.URL != "" {
		s += ": " + run.URL
	}
	fmt.Fprintln(o.Stdout, s)
}

// giveUp reports a wait that ended without a decision.
func (o sastWaitOptions) giveUp(parent context.Context, last *runsapi.Run, lastLine string) int {
	what := "no decision on " + o.Project + " at " + o.Revision
	if parent.Err() != nil {
		what = "interrupted: " + what
	} else {
		what += " within " + o.Timeout.String()
	}
	if lastLine != "" {
		what += "; last seen: " + lastLine
	}
	fmt.Fprintln(o.Stderr, "deploybot: "+what)
	if o.JSON && last != nil {
		o.printJSON(last)
	}
	return exitSASTNoDecision
}

// printJSON prints run to stdout as the runs API returns it.
func (o sastWaitOptions) printJSON(run *runsapi.Run) {
	enc := json.NewEncoder(o.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(run); err != nil {
		fmt.Fprintln(o.Stderr, "deploybot: print the run as JSON: "+err.Error())
	}
}
