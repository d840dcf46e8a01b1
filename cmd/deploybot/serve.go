package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/devenv"
	"github.com/deploybot/deploybot/internal/httpserve"
	"github.com/deploybot/deploybot/internal/logging"
	"github.com/deploybot/deploybot/internal/metrics"
	"github.com/deploybot/deploybot/internal/temporalconn"
	"github.com/deploybot/deploybot/internal/version"
	"github.com/deploybot/deploybot/worker"
)

// start loads and validates the configuration of a process of role and
// builds its logger.
func start(cmd *cobra.Command, role config.Role) (*config.Config, *slog.Logger, error) {
	cfg, err := loadConfig(cmd, role)
	if err != nil {
		return nil, nil, err
	}
	log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	return cfg, log, err
}

func newGatewayCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "gateway",
		Short: "Serve Slack (HTTP or Socket Mode) and hand requests to Temporal",
		Long: `gateway runs deploybot's Slack front end. It verifies, authorizes and parses
each request, then starts or signals a Temporal workflow and answers at once
(well inside Slack's 3 seconds). It holds no Argo CD credentials and no state:
run as many as you like behind a load balancer.

HTTP (HTTP_HOST:HTTP_PORT, default 0.0.0.0:8080; FLASK_HOST/FLASK_PORT work too):
  POST /slack/events        mentions (@bot <command>); url_verification
  POST /slack/interactions  Approve / Reject buttons (also POST /interactions,
                            the old bot's path)
  POST /slack/commands      the /deploy slash command
  GET  /healthz             process up (also /health, the old bot's path)
  GET  /readyz              200 "ready", or 200 "degraded" with the reason while
                            Temporal is down (the gateway keeps answering Slack)
  GET  /metrics             Prometheus (gateway, Temporal SDK, Go runtime,
                            process, deploybot_build_info)
Every Slack request must carry a valid signature (SIGNING_SECRET) made less
than 5 minutes ago; anything else is refused, logged and counted.

Socket Mode: with SLACK_APP_TOKEN (xapp-…) set, the gateway also connects to
Slack over a WebSocket and serves events, buttons and slash commands through
the same handlers, with no public URL. The HTTP server keeps running for
/healthz, /readyz and /metrics.

Needs: SLACK_TOKEN, SIGNING_SECRET (or SLACK_APP_TOKEN), ALLOWED_USERS,
TEMPORAL_ADDRESS and friends. Run 'deploybot config check --for gateway' first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := start(cmd, config.RoleGateway)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			reg := metrics.NewRegistry("gateway")
			ts, stopMetrics, err := temporalSettings(cfg, "gateway", log, reg)
			if err != nil {
				return err
			}
			defer stopMetrics()
			// Lazy: the gateway starts and answers Slack ("Temporal is
			// unreachable") while Temporal is down, rather than crash-looping.
			tc, err := temporalconn.DialLazy(ts)
			if err != nil {
				return err
			}
			defer tc.Close()
			hctx, cancel := context.WithTimeout(ctx, gateway.DefaultTemporalTimeout)
			if _, err := tc.CheckHealth(hctx, &client.CheckHealthRequest{}); err != nil {
				log.Warn("Temporal is unreachable at start; serving anyway and telling Slack users until it answers", "temporal", cfg.TemporalAddress, "error", err)
			}
			cancel()
			gw, err := gateway.New(gateway.Options{
				Temporal: tc, Config: cfg, Logger: log, Registry: reg,
				Replier: gateway.NewSlackReplier(cfg.SlackToken, cfg.SlackAPIURL),
			})
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", cfg.HTTPAddr())
			if err != nil {
				return fmt.Errorf("listen on %s (HTTP_HOST/HTTP_PORT): %w", cfg.HTTPAddr(), err)
			}
			g, gctx := errgroup.WithContext(ctx)
			if cfg.SlackAppToken != "" {
				sm := gateway.NewSocketModeClient(cfg.SlackToken, cfg.SlackAppToken, cfg.SlackAPIURL)
				log.Info("gateway connecting to Slack in Socket Mode", "version", version.String())
				g.Go(func() error { return gw.RunSocketMode(gctx, sm) })
			}
			log.Info("gateway listening", "addr", l.Addr().String(), "socketMode", cfg.SlackAppToken != "", "version", version.String())
			g.Go(func() error { return gateway.Serve(gctx, l, gw, log) })
			return g.Wait()
		},
	}
}

func newWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run deploybot's workflows and activities (Argo CD, Slack, email)",
		Long: `worker polls TEMPORAL_TASK_QUEUE on TEMPORAL_ADDRESS and runs deploybot's
workflows and the activities that call Argo CD, Slack and SMTP.

It is the only component that holds Argo CD credentials (ARGOCD_URL,
ARGOCD_TOKEN). Workers are stateless: run several for availability; a killed
worker's runs continue on another one. Ctrl-C or SIGTERM stops it gracefully:
running activities get WORKER_STOP_TIMEOUT (default 20s) to finish.

HTTP (HTTP_HOST:HTTP_PORT, default 0.0.0.0:8080), for probes and Prometheus:
  GET /healthz   process up (also /health, the old bot's path)
  GET /readyz    Temporal answers and has seen this worker poll the task queue
  GET /metrics   Temporal SDK metrics, Go runtime, process, deploybot_build_info

Run 'deploybot config check --for worker' first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := start(cmd, config.RoleWorker)
			if err != nil {
				return err
			}
			argo, queue, err := worker.ArgoCDFromConfig(cfg, log, "deploybot/"+version.String())
			if err != nil {
				return err
			}
			defer argo.Close()
			cfg.TemporalTaskQueue = queue
			// Claim the port first: a clash fails before anything connects.
			l, err := net.Listen("tcp", cfg.HTTPAddr())
			if err != nil {
				return fmt.Errorf("listen on %s for the worker's health and metrics (HTTP_HOST/HTTP_PORT): %w", cfg.HTTPAddr(), err)
			}
			defer l.Close()
			ctx := cmd.Context()
			reg := metrics.NewRegistry("worker")
			ts, stopMetrics, err := temporalSettings(cfg, "worker", log, reg)
			if err != nil {
				return err
			}
			defer stopMetrics()
			// Lazy, like the gateway: a worker started while Temporal is down
			// waits for it (not ready meanwhile) instead of crash-looping.
			tc, err := temporalconn.DialLazy(ts)
			if err != nil {
				return err
			}
			defer tc.Close()
			w, err := worker.NewFromConfig(cfg, tc, argo, log)
			if err != nil {
				return err
			}
			health := &worker.Health{Temporal: tc, Identity: ts.Identity, TaskQueue: cfg.TemporalTaskQueue, Registry: reg}
			log.Info("worker connecting", "temporal", cfg.TemporalAddress, "namespace", cfg.TemporalNamespace, "taskQueue", cfg.TemporalTaskQueue,
				"identity", ts.Identity, "health", l.Addr().String(), "stopTimeout", cfg.WorkerStopTimeout.String(), "version", version.String())
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error {
				if err := awaitTemporal(gctx, tc, cfg, log); err != nil {
					return err
				}
				if err := worker.CheckSearchAttributes(gctx, tc, cfg.TemporalNamespace, log); err != nil {
					return err
				}
				return worker.Run(gctx, w, log, health)
			})
			g.Go(func() error { return httpserve.Serve(gctx, l, health.Handler(), nil) })
			return g.Wait()
		},
	}
}

func newSimCmd() *cobra.Command {
	var (
		addr, token, argoVersion string
		useTLS                   bool
		opDuration               time.Duration
		extraApps                int
		appNamespaces            []string
		accounts                 []string
		policyFile, defaultRole  string
		logsEnforce              bool
	)
	cmd := &cobra.Command{
		Use:   "argocd-sim",
		Short: "Run the Argo CD simulator (gRPC, gRPC-Web and REST on one port)",
		Long: `argocd-sim serves a simulated Argo CD API with seeded demo apps
(guestbook, payments, checkout, frontend, ledger, search), with the real
server's semantics and error codes. --argocd-version chooses the release it
speaks: 2.14 (the default), 3.0 or 3.1 (where automated.enabled: false turns
auto-sync off). The official argocd CLI works against it:

  argocd app list --server 127.0.0.1:8081 --plaintext --auth-token dev-token

The token (--token) is the admin account's. --accounts adds local accounts
with their own tokens, whose calls Argo CD's RBAC authorizes with
--rbac-policy-file (argocd-rbac-cm's policy.csv), as argocd-server does:

  deploybot argocd-sim --argocd-version 3.1 --accounts deploybot=bot-token \
    --rbac-policy-file deploy/argocd/policy.csv

The admin API on the same port (GET /sim/stats, POST /sim/faults, POST
/sim/reset) injects faults and reads call counters; it is a test tool,
bound to loopback by default.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := start(cmd, config.RoleSim)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("addr") {
				addr = cfg.ArgoCDSimAddr
			}
			if !cmd.Flags().Changed("token") {
				token = cfg.ArgoCDSimToken
			}
			if v, ok := lookupFrom(cmd.Context())("ARGOCD_SIM_VERSION"); ok && !cmd.Flags().Changed("argocd-version") {
				argoVersion = strings.TrimSpace(v)
			}
			if _, err := argocdsim.ParseVersion(argoVersion); err != nil {
				return fmt.Errorf("--argocd-version (or ARGOCD_SIM_VERSION): %w", err)
			}
			byToken, policy, err := simRBAC(cmd, token, accounts, policyFile)
			if err != nil {
				return err
			}
			return argocdsim.Run(cmd.Context(), addr, argocdsim.Options{
				Token: token, TLS: useTLS, OperationDuration: opDuration, ExtraApps: extraApps, Version: argoVersion,
				AppNamespaces: appNamespaces, Logger: log,
				Accounts: byToken, RBACPolicy: policy, RBACDefaultRole: strings.TrimSpace(defaultRole), LogsRBACEnforce: logsEnforce,
			})
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8081", "listen address (default from ARGOCD_SIM_ADDR)")
	cmd.Flags().StringVar(&token, "token", "dev-token", "the admin account's bearer token (default from ARGOCD_SIM_TOKEN)")
	cmd.Flags().BoolVar(&useTLS, "tls", false, "serve TLS with a self-signed certificate generated at start")
	cmd.Flags().DurationVar(&opDuration, "operation-duration", 2*time.Second, "how long a sync or rollback runs")
	cmd.Flags().IntVar(&extraApps, "extra-apps", 0, "add this many generated apps (for large-list demos)")
	cmd.Flags().StringSliceVar(&appNamespaces, "application-namespaces", nil, "namespaces besides argocd whose apps are served, as argocd-server's flag (names or globs); team-a serves the seeded team-a/guestbook")
	cmd.Flags().StringVar(&argoVersion, "argocd-version", "2.14", "Argo CD release to speak: 2.14, 3.0, 3.1 or a release of those lines such as v3.1.16 (default from ARGOCD_SIM_VERSION)")
	cmd.Flags().StringSliceVar(&accounts, "accounts", nil, "local accounts besides admin, as NAME=TOKEN (e.g. deploybot=bot-token), authorized by the RBAC policy (default from ARGOCD_SIM_ACCOUNTS, which keeps the tokens out of ps)")
	cmd.Flags().StringVar(&policyFile, "rbac-policy-file", "", "argocd-rbac-cm's policy.csv to authorize calls with, e.g. deploy/argocd/policy.csv (default from ARGOCD_SIM_RBAC_POLICY_FILE)")
	cmd.Flags().StringVar(&defaultRole, "rbac-default-role", "", "argocd-rbac-cm's policy.default, e.g. role:readonly")
	cmd.Flags().BoolVar(&logsEnforce, "rbac-log-enforce", false, `2.14: PodLogs checks "logs, get" too, as with argocd-cm's server.rbac.log.enforce.enable: "true" (3.0+ always checks it)`)
	return cmd
}

// Sources of argocd-sim's account and RBAC settings, for error messages.
const (
	simAccountsSrc   = "--accounts (or ARGOCD_SIM_ACCOUNTS)"
	simPolicyFileSrc = "--rbac-policy-file (or ARGOCD_SIM_RBAC_POLICY_FILE)"
)

// simRBAC reads argocd-sim's accounts (NAME=TOKEN, comma-separated in
// ARGOCD_SIM_ACCOUNTS) and RBAC policy file (flags win over variables) and
// returns the simulator's token -> account map and the policy. Errors name
// the flag and variable and give an example; they never repeat a token.
func simRBAC(cmd *cobra.Command, adminToken string, accounts []string, policyFile string) (map[string]string, string, error) {
	lookup := lookupFrom(cmd.Context())
	if v, ok := lookup("ARGOCD_SIM_ACCOUNTS"); ok && !cmd.Flags().Changed("accounts") {
		accounts = strings.Split(v, ",")
	}
	if v, ok := lookup("ARGOCD_SIM_RBAC_POLICY_FILE"); ok && !cmd.Flags().Changed("rbac-policy-file") {
		policyFile = strings.TrimSpace(v)
	}
	byToken := map[string]string{}
	for i, entry := range accounts {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, tok, ok := strings.Cut(entry, "=")
		name, tok = strings.TrimSpace(name), strings.TrimSpace(tok)
		switch {
		case !ok || name == "" || tok == "":
			return nil, "", fmt.Errorf("%s: entry %d is not NAME=TOKEN; e.g. deploybot=bot-token", simAccountsSrc, i+1)
		case strings.ContainsAny(name, " \t:"):
			return nil, "", fmt.Errorf("%s: %q is not an account name; e.g. deploybot=bot-token", simAccountsSrc, name)
		case tok == adminToken:
			return nil, "", fmt.Errorf("%s: %s has the admin's token (--token or ARGOCD_SIM_TOKEN); give it its own, e.g. %s=bot-token", simAccountsSrc, name, name)
		case byToken[tok] != "":
			return nil, "", fmt.Errorf("%s: %s and %s have the same token; give each its own, e.g. %s=bot-token,%s=ci-token", simAccountsSrc, byToken[tok], name, byToken[tok], name)
		}
		byToken[tok] = name
	}
	if policyFile == "" {
		return byToken, "", nil
	}
	b, err := os.ReadFile(policyFile)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w; e.g. deploy/argocd/policy.csv", simPolicyFileSrc, err)
	}
	if err := argocdsim.ValidateRBACPolicy(string(b)); err != nil {
		return nil, "", fmt.Errorf("%s: Argo CD refuses %s: %w; see deploy/argocd/policy.csv for the format", simPolicyFileSrc, policyFile, err)
	}
	return byToken, string(b), nil
}

func newDevCmd() *cobra.Command {
	var (
		temporalBin, stateDir string
		temporalPort, uiPort  int
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything locally: Temporal dev server, Argo CD simulator, worker, gateway",
		Long: `dev brings up deploybot's whole local environment in one command, with no
accounts: the Temporal dev server (child process, UI on :8233, history kept
in .deploybot/temporal.db), the Argo CD simulator, the worker and the gateway.
It prints every URL. Ctrl-C or SIGTERM stops everything it started.

The temporal CLI is looked up in --temporal-bin, $TEMPORAL_CLI, ./bin/temporal
and $PATH; 'make run' installs the pinned version into ./bin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := start(cmd, config.RoleDev)
			if err != nil {
				return err
			}
			return devenv.Run(cmd.Context(), devenv.Options{
				Config: cfg, Dir: stateDir, TemporalBinary: temporalBin,
				TemporalPort: temporalPort, TemporalUIPort: uiPort,
				Out: cmd.OutOrStdout(), Logger: log,
			})
		},
	}
	cmd.Flags().StringVar(&temporalBin, "temporal-bin", "", "path of the temporal CLI (default: $TEMPORAL_CLI, ./bin/temporal, $PATH)")
	cmd.Flags().StringVar(&stateDir, "state-dir", ".deploybot", "directory for the Temporal database and logs")
	cmd.Flags().IntVar(&temporalPort, "temporal-port", 7233, "Temporal frontend port")
	cmd.Flags().IntVar(&uiPort, "temporal-ui-port", 8233, "Temporal web UI port")
	return cmd
}

// temporalSettings is the Temporal connection of a gateway or worker, with
// the SDK's metrics going to reg; the returned func stops the metrics.
func temporalSettings(cfg *config.Config, identity string, log *slog.Logger, reg *prometheus.Registry) (temporalconn.Settings, func(), error) {
	handler, stop, err := metrics.Temporal(reg, log)
	if err != nil {
		return temporalconn.Settings{}, nil, err
	}
	host, _ := os.Hostname()
	return temporalconn.Settings{
			Address: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace,
			APIKey: cfg.TemporalAPIKey, TLS: cfg.TemporalTLS,
			TLSCertFile: cfg.TemporalTLSCert, TLSKeyFile: cfg.TemporalTLSKey,
			ServerCAFile: cfg.TemporalTLSServerCAFile, ServerName: cfg.TemporalTLSServerName,
			// The pid tells apart two processes on one host; the worker's
			// /readyz looks for exactly this identity among the pollers.
			Identity:       fmt.Sprintf("deploybot-%s-%d@%s", identity, os.Getpid(), host),
			Logger:         log,
			MetricsHandler: handler,
		}, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = stop(ctx)
		}, nil
}

func newPlaygroundCmd() *cobra.Command {
	var addr, gatewayURL, mailUIURL string
	cmd := &cobra.Command{
		Use:   "playground",
		Short: "Serve the Slack stand-in and its page on their own, for a gateway and worker elsewhere",
		Long: `playground serves what 'deploybot dev' embeds, as a service of its own
(docker-compose): a web page that stands in for Slack, and the Slack Web API
stand-in the worker and gateway post to. The page sends --gateway-url exactly
the signed requests Slack would send, so the production code path runs.

  /playground   the page: act as alice (may request), bob (approves, in
                @platform), carol (in @payments-leads) or mallory (not allowed)
  /api/         the Slack Web API stand-in: set SLACK_API_URL of the worker
                and the gateway to http://<this host>:<port>/api/
  /healthz      health check

It accepts SLACK_TOKEN (give the worker and gateway the same), signs with
SIGNING_SECRET and SONARQUBE_WEBHOOK_SECRET (the gateway's), and links
TEMPORAL_UI_URL and --mail-ui-url as a browser reaches them. The people are
U0ALICE, U0BOB, U0CAROL and U0MALLORY, and the user groups S0PLATFORM
(@platform: bob) and S0PAYLEADS (@payments-leads: carol): set ALLOWED_USERS,
APPROVERS, SAST_APPROVERS (or APPROVAL_POLICY_FILE) of the gateway and worker
to match, and SAST_CHANNEL=C0DEPLOYS.`,
		Example: `  deploybot playground --addr 0.0.0.0:8090 --gateway-url http://gateway:8080 --mail-ui-url http://localhost:8025`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := start(cmd, config.RolePlayground)
			if err != nil {
				return err
			}
			return devenv.RunPlayground(cmd.Context(), devenv.PlaygroundOptions{
				Addr: addr, GatewayURL: gatewayURL, MailUIURL: mailUIURL,
				SlackToken: cfg.SlackToken, SigningSecret: cfg.SigningSecret, SonarQubeSecret: cfg.SonarQubeWebhookSecret,
				TemporalUIURL: cfg.TemporalUIURL, Out: cmd.OutOrStdout(), Logger: log,
			})
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8090", "listen address of the page and the Slack Web API stand-in")
	cmd.Flags().StringVar(&gatewayURL, "gateway-url", "http://127.0.0.1:8080", "the gateway's base URL, as this process reaches it")
	cmd.Flags().StringVar(&mailUIURL, "mail-ui-url", "", "web page of the mail catcher that gets the worker's email, linked from the Emails panel")
	return cmd
}

// awaitTemporal returns once Temporal answers for the namespace, saying
// once that the worker waits; an error only when ctx ends first.
func awaitTemporal(ctx context.Context, tc client.Client, cfg *config.Config, log *slog.Logger) error {
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := temporalconn.WaitReady(quick, tc, cfg.TemporalNamespace)
	cancel()
	if err == nil {
		return nil
	}
	log.Warn("Temporal does not answer; the worker waits for it and polls once it does (/readyz says not ready meanwhile)",
		"temporal", cfg.TemporalAddress, "namespace", cfg.TemporalNamespace, "error", err)
	if err := temporalconn.WaitReady(ctx, tc, cfg.TemporalNamespace); err != nil {
		return fmt.Errorf("cannot reach Temporal at %s: %w; check TEMPORAL_ADDRESS, e.g. temporal-frontend:7233", cfg.TemporalAddress, err)
	}
	log.Info("Temporal answers; the worker starts polling", "temporal", cfg.TemporalAddress)
	return nil
}
