package main

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/deploybot/deploybot/internal/chaos"
)

func newChaosCmd() *cobra.Command {
	var (
		o    chaos.Options
		keep bool
	)
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Fault drill on loopback: many deploys and quality gates while workers, Temporal, Argo CD, Slack and SMTP fail",
		Long: `chaos runs sync and rollback requests (approved, rejected or left to
expire) and failed quality gates through the gateway, a Temporal dev server,
'deploybot worker' processes, the Argo CD simulator, the Slack stand-in and an
SMTP sink, all on loopback, while it SIGKILLs workers at random moments,
restarts Temporal once, takes Argo CD away (--argocd-down), makes Slack answer
429 and 500, and stops SMTP for a while. Then it checks that every run ended,
that Argo CD did exactly one operation per approved run and none for the
others, that no message or email was sent twice or lost, and that no failed
quality gate passed without a decision. It prints a table and exits 1 on any
violation. 'make chaos' runs the full drill; 'make test' a short one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this binary to run workers from: %w", err)
			}
			if o.Dir == "" {
				if o.Dir, err = os.MkdirTemp("", "deploybot-chaos-"); err != nil {
					return err
				}
				if !keep {
					defer os.RemoveAll(o.Dir)
				}
			}
			o.Worker = func(env []string) *exec.Cmd {
				c := exec.Command(self, "worker")
				c.Env = append(os.Environ(), env...)
				return c
			}
			o.Out = cmd.OutOrStdout()
			_, err = chaos.Run(cmd.Context(), o)
			if keep || (err != nil && chaos.IsViolation(err)) {
				fmt.Fprintf(cmd.OutOrStdout(), "logs and the Temporal database are in %s\n", o.Dir)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Runs, "runs", 100, "deploy requests, each on an app of its own (1..500)")
	f.IntVar(&o.Gates, "gates", 6, "failed quality gates SonarQube delivers (0..50)")
	f.DurationVar(&o.Window, "window", 100*time.Second, "how long requests start and faults are injected")
	f.DurationVar(&o.ArgoCDDown, "argocd-down", 60*time.Second, "how long Argo CD is unreachable")
	f.DurationVar(&o.SMTPDown, "smtp-down", 20*time.Second, "how long the SMTP server is gone")
	f.IntVar(&o.SlackFaults, "slack-faults", 40, "Slack calls answered 429, and as many answered 500")
	f.DurationVar(&o.ApprovalTimeout, "approval-timeout", 45*time.Second, "APPROVAL_TIMEOUT of the drill's requests")
	f.DurationVar(&o.HealthTimeout, "health-timeout", 3*time.Minute, "HEALTH_TIMEOUT (bounds riding out Argo CD's outage)")
	f.Uint64Var(&o.Seed, "seed", 0, "random seed of the schedule (0 = new; printed so a run can be repeated)")
	f.StringVar(&o.Dir, "dir", "", "keep the Temporal database and logs here (default: a temporary directory)")
	f.BoolVar(&keep, "keep", false, "keep the temporary directory")
	f.StringVar(&o.TemporalCLI, "temporal", "", "the temporal CLI (default: $TEMPORAL_CLI, ./bin/temporal, $PATH)")
	return cmd
}
