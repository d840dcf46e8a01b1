package main

import "github.com/spf13/cobra"

// extraCommands returns the subcommands that run deploybot's processes
// (gateway, worker, argocd-sim, dev). It lives in its own file so they can be
// added without touching the root command.
func extraCommands() []*cobra.Command {
	return []*cobra.Command{newGatewayCmd(), newWorkerCmd(), newSimCmd(), newDevCmd(), newPlaygroundCmd(), newSASTCmd(), newProbeCmd(), newChaosCmd(), newBenchCmd()}
}
