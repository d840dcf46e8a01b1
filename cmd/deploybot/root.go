package main

import (
	"github.com/spf13/cobra"

	"github.com/deploybot/deploybot/internal/version"
)

const rootLong = `deploybot lets developers ask in Slack for Argo CD syncs and rollbacks of
production apps they cannot touch themselves. An approver approves with a
button; deploybot then does the work durably on Temporal, waits until the app
is Synced and Healthy, reports progress in the Slack thread, and keeps an audit
trail of who asked, who approved and what Argo CD did. The same approvals turn
a failed SonarQube quality gate into an accepted (or rejected) security risk.

One binary, one subcommand per process:

  gateway       serve Slack (HTTP or Socket Mode) and SonarQube webhooks; verify,
                authorize, then start or signal a Temporal workflow
  worker        run the workflows and the activities that call Argo CD, Slack
                and SMTP; the only process holding Argo CD credentials
  argocd-sim    run the Argo CD simulator (playground, demos, tests)
  dev           run everything locally: Temporal dev server, simulator,
                worker and gateway
  playground    the Slack stand-in and its page, as a service of its own
                (docker-compose)
  sast wait     block a pipeline until a security approver decides
  probe URL     exit 0 if URL answers 2xx (the image's health check)
  bench         load-test a local stack: signed mentions and clicks against a
                bare Temporal start; 'bench waiting': worker memory per waiting run
  chaos         fault drill: many deploys while workers, Temporal, Argo CD,
                Slack and SMTP fail; exits 1 if a promise was broken
  config check  show the effective configuration and every problem with it
  version       print version information

All configuration comes from environment variables (the old bot's names are
kept). Run 'deploybot config check --help' for how to check them.`

// newRootCmd builds the deploybot command tree.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:     "deploybot",
		Short:   "Approval-gated Argo CD syncs and rollbacks from Slack, run durably on Temporal",
		Long:    rootLong,
		Version: version.String(),
		// main prints the error once; usage after a runtime error is noise.
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetVersionTemplate("deploybot {{.Version}}\n")
	root.AddCommand(newVersionCmd(), newConfigCmd())
	root.AddCommand(extraCommands()...)
	return root
}
