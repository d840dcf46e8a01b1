package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/deploybot/deploybot/internal/version"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version.Get()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "deploybot %s\ncommit:  %s\nbuilt:   %s\ngo:      %s %s\n",
				v.Version, v.Commit, v.Date, v.GoVersion, v.Platform)
			return err
		},
	}
}
