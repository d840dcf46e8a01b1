package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newProbeCmd is the health check of a distroless image, which has no shell
// and no curl: compose and exec probes run `deploybot probe URL`.
func newProbeCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "probe URL",
		Short: "Exit 0 if URL answers 2xx: the health check of the distroless image",
		Long: `probe sends GET URL and exits 0 when the answer is 2xx (printing the start of
the body), 1 otherwise (with the status and the start of the body on stderr), 2
on bad usage. The deploybot
image has no shell or curl, so docker-compose health checks and Kubernetes exec
probes run it:

  healthcheck:
    test: ["CMD", "/usr/local/bin/deploybot", "probe", "http://127.0.0.1:8080/readyz"]`,
		Example: `  deploybot probe http://127.0.0.1:8080/healthz
  deploybot probe --timeout 2s http://127.0.0.1:8080/readyz`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.ExactArgs(1)(cmd, args); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("probe: %w: give the URL to check, e.g. http://127.0.0.1:8080/readyz", err)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := url.Parse(args[0])
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return &exitError{code: 2, err: fmt.Errorf("probe: %q is not an http(s) URL, e.g. http://127.0.0.1:8080/readyz", args[0])}
			}
			if timeout <= 0 {
				return &exitError{code: 2, err: fmt.Errorf("probe: --timeout must be longer than zero, e.g. 3s")}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("probe: %w", err)}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("probe %s: %w", u.Redacted(), err)}
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				return &exitError{code: 1, err: fmt.Errorf("probe %s: %s %s", u.Redacted(), resp.Status, strings.TrimSpace(string(body)))}
			}
			// The answer is worth reading by hand (a gateway's "degraded").
			_, err = fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(body)))
			return err
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}
