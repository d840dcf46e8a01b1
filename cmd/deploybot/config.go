package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/deploybot/deploybot/internal/config"
)

// lookupKey carries the environment lookup in a command's context, so tests
// run commands against a fake environment without touching the process's.
type lookupKey struct{}

// withLookup returns ctx whose commands read variables through lookup.
func withLookup(ctx context.Context, lookup func(string) (string, bool)) context.Context {
	return context.WithValue(ctx, lookupKey{}, lookup)
}

// lookupFrom returns the lookup set by withLookup, else os.LookupEnv.
func lookupFrom(ctx context.Context) func(string) (string, bool) {
	if ctx != nil {
		if l, ok := ctx.Value(lookupKey{}).(func(string) (string, bool)); ok {
			return l
		}
	}
	return os.LookupEnv
}

// loadConfig loads and validates the configuration for roles from the
// command's environment (see withLookup).
func loadConfig(cmd *cobra.Command, roles ...config.Role) (*config.Config, error) {
	return config.LoadFor(lookupFrom(cmd.Context()), roles...)
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect deploybot's configuration",
		Long: `deploybot is configured only through environment variables. 'config check'
shows the effective value of each one and every problem with them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newConfigCheckCmd())
	return cmd
}

const allRoles = "all"

func newConfigCheckCmd() *cobra.Command {
	var forRoles string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Show the effective configuration and every problem with it",
		Long: `check reads deploybot's environment variables exactly as the processes do at
start and prints a table: each variable, its effective value (secrets masked),
where the value came from (env, default, or unset) and notes.

Then it checks them and, if anything would stop a process from starting, exits
non-zero listing every problem at once. Each problem names the variable, says
what is wrong and gives an example of a good value.

The format of every variable that is set is always checked. --for chooses
whose requirements are checked too:

  gateway     SLACK_TOKEN, and SIGNING_SECRET unless SLACK_APP_TOKEN is set
  worker      SLACK_TOKEN, ARGOCD_URL, ARGOCD_TOKEN (and SMTP_HOST when
              SAST_EMAIL_TO is set)
  argocd-sim  nothing
  dev         nothing (the playground supplies its own values)
  playground  SLACK_TOKEN and SIGNING_SECRET (shared with gateway and worker)
  all         gateway and worker, the production processes (default)

Several roles may be given, separated by commas. Run the check where the
process runs, with the same environment.`,
		Example: `  deploybot config check
  deploybot config check --for worker
  kubectl exec deploy/deploybot-gateway -- deploybot config check --for gateway`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			roles, err := parseRoles(forRoles)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(cmd, roles...)
			var problems *config.ProblemsError
			if err != nil && !errors.As(err, &problems) {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "deploybot configuration, checked for %s:\n\n", roleList(roles))
			if err := printSettings(out, cfg.Settings(), problems); err != nil {
				return err
			}
			if pol, err := cfg.ApprovalPolicy(); err == nil {
				// Who may ask for what, and whose approvals it needs: the
				// file's rules in order, then the environment's.
				fmt.Fprintf(out, "\napproval rules (%s):\n\n", orNone(pol.File(), "no APPROVAL_POLICY_FILE"))
				if err := pol.WriteTable(out); err != nil {
					return err
				}
			}
			if notes := cfg.MigrationNotes(); len(notes) > 0 {
				fmt.Fprintf(out, "\n%s\n", notes[0])
				for _, n := range notes[1:] {
					fmt.Fprintf(out, "  - %s\n", n)
				}
			}
			if problems != nil {
				return problems
			}
			_, err = fmt.Fprintf(out, "\nOK: the configuration is valid for %s.\n", roleList(roles))
			return err
		},
	}
	cmd.Flags().StringVar(&forRoles, "for", allRoles, "roles whose requirements to check: "+roleList(config.Roles)+" or all (= gateway,worker); comma-separated")
	_ = cmd.RegisterFlagCompletionFunc("for", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		names := []string{allRoles}
		for _, r := range config.Roles {
			names = append(names, string(r))
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// parseRoles turns the --for value into roles, in the order given.
func parseRoles(s string) ([]config.Role, error) {
	var roles []config.Role
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		var add []config.Role
		switch {
		case name == allRoles:
			add = []config.Role{config.RoleGateway, config.RoleWorker}
		case slices.Contains(config.Roles, config.Role(name)):
			add = []config.Role{config.Role(name)}
		default:
			return nil, fmt.Errorf("--for %q: unknown role %q; use %s or %s", s, name, roleList(config.Roles), allRoles)
		}
		for _, r := range add {
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	return roles, nil
}

func roleList(roles []config.Role) string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// maxValueWidth keeps long values (BOT_DESCRIPTION, URLs) from stretching
// every row of the table.
const maxValueWidth = 48

// printSettings writes the aligned table; rows with a problem say so.
func printSettings(w io.Writer, settings []config.Setting, problems *config.ProblemsError) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tVALUE\tSOURCE\tNOTE")
	for _, s := range settings {
		value := s.Value
		if value == "" {
			value = "-"
		} else if utf8.RuneCountInString(value) > maxValueWidth {
			value = string([]rune(value)[:maxValueWidth-1]) + "…"
		}
		source := "unset"
		switch {
		case s.Set:
			source = "env"
		case s.Default != "":
			source = "default"
		}
		note := s.Note
		if problems != nil && problems.Has(s.Name) {
			if note == "invalid" {
				note = "" // the problem says why
			}
			note = joinNonEmpty("; ", note, "PROBLEM, see below")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, value, source, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// tabwriter pads cells before an empty last column; drop that.
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " ")); err != nil {
			return err
		}
	}
	return nil
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}
