// Package devenv runs deploybot's whole local environment in one process for
// `deploybot dev`: the Temporal dev server (a supervised child process), the
// Argo CD simulator, the Slack stand-in, an SMTP sink, the worker, the
// gateway and the playground page. It prints every URL, and when its context
// ends it stops everything it started, in reverse order.
package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/playground"
	"github.com/deploybot/deploybot/internal/runsapi"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/internal/smtpsink"
	"github.com/deploybot/deploybot/internal/temporalconn"
	"github.com/deploybot/deploybot/internal/temporaldev"
	"github.com/deploybot/deploybot/worker"
)

// Options configures the local environment.
type Options struct {
	// Config is the base configuration (from the environment); devenv points
	// its Temporal and Argo CD settings at what it starts.
	Config *config.Config
	// Dir keeps local state (the Temporal SQLite file and logs); "" = .deploybot.
	Dir string
	// TemporalBinary is the temporal CLI; "" = ./bin/temporal or $PATH.
	TemporalBinary string
	// TemporalPort and TemporalUIPort; 0 = 7233 and 8233.
	TemporalPort, TemporalUIPort int
	// Out receives the banner with the URLs.
	Out io.Writer
	// Logger receives component logs.
	Logger *slog.Logger
	// OnReady, if set, is called with the URLs once everything answers.
	OnReady func(URLs)
	// Mail is an SMTP sink the caller started and closes (tests keep it to
	// read the mail); nil = Run starts one on a free loopback port and
	// stops it with everything else.
	Mail *smtpsink.Sink
	// ExtraApps adds generated apps app-001... to the Argo CD simulator (as
	// `argocd-sim --extra-apps` does), e.g. one per run of `deploybot
	// bench`; 0 = the demo apps only.
	ExtraApps int
	// ArgoCDVersion is the Argo CD release the simulator speaks (see
	// argocdsim.Options.Version); "" = $ARGOCD_SIM_VERSION, else
	// DefaultArgoCDVersion.
	ArgoCDVersion string
	// NoWorker leaves the worker (built, but never started) to the caller,
	// who runs its own on the task queue: `deploybot bench` pauses it while
	// it measures the gateway alone.
	NoWorker bool
}

// URLs are the addresses of a running local environment.
type URLs struct {
	Gateway         string // http://host:port of the gateway
	TemporalUI      string // Temporal web UI
	TemporalAddress string // Temporal frontend host:port
	ArgoCDSim       string // http://host:port of the Argo CD simulator (gRPC, gRPC-Web and REST), instance DevDefaultInstance
	ArgoCDSimProd   string // the second simulator, instance DevSecondInstance (app@prod)
	ArgoCDVersion   string // the Argo CD release the simulator reports, e.g. v3.1.16+argocdsim
	SlackAPI        string // base URL of the Slack Web API stand-in (SLACK_API_URL)
	Playground      string // the web page that stands in for Slack
	SMTPSink        string // host:port of the SMTP sink that keeps the worker's email
	// SonarQubeWebhook is the gateway's endpoint for SonarQube's webhook.
	SonarQubeWebhook string
	// RunsAPI is the gateway's runs API (bearer tokens from API_TOKENS).
	RunsAPI string
}

// DefaultArgoCDVersion is the Argo CD release line the local simulator
// speaks unless told otherwise: the one most teams run, where
// `automated: {enabled: false}` turns auto-sync off.
const DefaultArgoCDVersion = "3.1"

// argoCDVersion is the simulator's version: opts, then ARGOCD_SIM_VERSION
// (read like AUTO_DISABLE_SYNC_ON_ROLLBACK, outside the shared
// configuration, as only the local environment uses it), then the default.
func argoCDVersion(opts Options, lookup func(string) (string, bool)) string {
	if opts.ArgoCDVersion != "" {
		return opts.ArgoCDVersion
	}
	if v, ok := lookup("ARGOCD_SIM_VERSION"); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return DefaultArgoCDVersion
}

// The Argo CD instances of `deploybot dev`: the default (the simulator on
// ARGOCD_SIM_ADDR, apps named bare) and a second one whose apps are app@prod,
// where deploybot may use project "default" only.
const (
	DevDefaultInstance = "staging"
	DevSecondInstance  = "prod"
)

// DevAppNamespaces are the namespaces besides argocd whose Applications the
// default simulator serves (as argocd-server's --application-namespaces):
// team-a holds team-a/guestbook, a second guestbook in project team-a.
var DevAppNamespaces = []string{"team-a"}

// DevApprovalPolicy is the approval policy of `deploybot dev` when
// APPROVAL_POLICY_FILE is not set: ledger and checkout, apps of project
// payments, need one approval of @platform (bob) and one of @payments-leads
// (carol); everything else is the environment's rule (bob approves).
const DevApprovalPolicy = `# Written by deploybot dev: the playground's approval policy
# (deploy/approval-policy.example.yaml explains every field).
groups: {platform: S0PLATFORM, payments-leads: S0PAYLEADS}
rules:
  - name: payments-two-approvals
    match: {projects: [payments], apps: [checkout, ledger], actions: [sync, rollback]}
    requesters: {users: [U0ALICE, U0CAROL]}
    approvals:
      - {count: 1, from: {groups: [platform]}}
      - {count: 1, from: {groups: [payments-leads]}}
`

// writePolicy writes DevApprovalPolicy into dir.
func writePolicy(dir string) (string, error) {
	file := filepath.Join(dir, "approval-policy.yaml")
	if err := os.WriteFile(file, []byte(DevApprovalPolicy), 0o600); err != nil {
		return "", fmt.Errorf("write the dev approval policy: %w", err)
	}
	return file, nil
}

// writeInstances writes the dev instances file and the token file it names.
func writeInstances(dir, defaultURL, secondURL, token string) (string, error) {
	tokenFile := filepath.Join(dir, "argocd-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the dev Argo CD token file: %w", err)
	}
	file := filepath.Join(dir, "argocd-instances.yaml")
	body := fmt.Sprintf("# Written by deploybot dev: the two local Argo CD simulators.\ndefault: %s\ninstances:\n"+
		"- {name: %s, url: %s, tokenFile: %s}\n- {name: %s, url: %s, tokenFile: %s, projects: [default]}\n",
		DevDefaultInstance, DevDefaultInstance, defaultURL, tokenFile, DevSecondInstance, secondURL, tokenFile)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		return "", fmt.Errorf("write the dev Argo CD instances file: %w", err)
	}
	return file, nil
}

// DevSlackToken is the bot token the local Slack stand-in accepts.
const DevSlackToken = "xoxb-deploybot-dev"

// DevUsers are the playground's people: alice may request, bob approves,
// mallory may do neither; carol leads payments (DevUserGroups), for
// approval policies that name Slack user groups.
var DevUsers = []slackapi.User{
	{ID: "U0ALICE", Name: "alice", RealName: "Alice (requester)"},
	{ID: "U0BOB", Name: "bob", RealName: "Bob (approver)"},
	{ID: "U0CAROL", Name: "carol", RealName: "Carol (payments lead)"},
	{ID: "U0MALLORY", Name: "mallory", RealName: "Mallory (not allowed)"},
	{ID: slackapi.DefaultBotUserID, Name: "deploybot", RealName: "deploybot", IsBot: true},
}

// DevUserGroups are the playground's Slack user groups: @platform (bob) and
// @payments-leads (carol).
var DevUserGroups = []slackapi.UserGroup{
	{ID: "S0PLATFORM", Handle: "platform", Name: "Platform team", Users: []string{"U0BOB"}},
	{ID: "S0PAYLEADS", Handle: "payments-leads", Name: "Payments leads", Users: []string{"U0CAROL"}},
}

// DevChannel is the playground's channel.
var DevChannel = slackapi.Channel{ID: "C0DEPLOYS", Name: "deploys"}

// Run starts the environment and blocks until ctx ends or a component fails;
// either way everything started is stopped before it returns.
func Run(ctx context.Context, opts Options) (err error) {
	if opts.Config == nil {
		return errors.New("devenv: no configuration")
	}
	cfg := *opts.Config // devenv rewrites addresses; the caller's copy stays as it was
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Dir == "" {
		opts.Dir = ".deploybot"
	}
	if opts.TemporalPort == 0 {
		opts.TemporalPort = 7233
	}
	if opts.TemporalUIPort == 0 {
		opts.TemporalUIPort = 8233
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return fmt.Errorf("create state directory %s: %w", opts.Dir, err)
	}

	// Claim the listening ports first so a clash fails before anything starts.
	simLis, err := net.Listen("tcp", cfg.ArgoCDSimAddr)
	if err != nil {
		return fmt.Errorf("listen for the Argo CD simulator on %s (ARGOCD_SIM_ADDR): %w; free the port or set ARGOCD_SIM_ADDR=127.0.0.1:18081", cfg.ArgoCDSimAddr, err)
	}
	defer simLis.Close()
	gwLis, err := net.Listen("tcp", cfg.HTTPAddr())
	if err != nil {
		return fmt.Errorf("listen for the gateway on %s (HTTP_HOST/HTTP_PORT): %w; free the port or set HTTP_PORT=18080", cfg.HTTPAddr(), err)
	}
	defer gwLis.Close()
	mail := opts.Mail
	if mail == nil {
		// Loopback only: the sink accepts mail from anyone who reaches it.
		if mail, err = smtpsink.Start("127.0.0.1:0", smtpsink.Options{}); err != nil {
			return fmt.Errorf("start the SMTP sink: %w", err)
		}
		defer mail.Close()
	}

	tsrv, err := temporaldev.Start(ctx, temporaldev.Options{
		Binary:    opts.TemporalBinary,
		DBFile:    filepath.Join(opts.Dir, "temporal.db"),
		LogFile:   filepath.Join(opts.Dir, "temporal.log"),
		Port:      opts.TemporalPort,
		UIPort:    opts.TemporalUIPort,
		Namespace: cfg.TemporalNamespace,
		Logger:    log.With("component", "temporal"),
	})
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := tsrv.Stop(context.Background()); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	cfg.TemporalAddress = tsrv.Address
	cfg.TemporalUIURL = tsrv.UIURL
	cfg.TemporalAPIKey, cfg.TemporalTLSCert, cfg.TemporalTLSKey = "", "", ""

	sim, err := argocdsim.New(argocdsim.Options{
		Token: cfg.ArgoCDSimToken, ExtraApps: opts.ExtraApps, Version: argoCDVersion(opts, os.LookupEnv),
		AppNamespaces: DevAppNamespaces, Logger: log.With("component", "argocd-sim"),
	})
	if err != nil {
		return fmt.Errorf("create Argo CD simulator (ARGOCD_SIM_VERSION, e.g. 3.1): %w", err)
	}
	// The simulator serves before the Argo CD client is built: the client
	// probes the server while it is constructed.
	g, gctx := errgroup.WithContext(ctx)
	defer func() {
		if err != nil && ctx.Err() == nil {
			// A failed start must still stop what already runs.
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = sim.Shutdown(sctx)
		}
	}()
	g.Go(func() error {
		if err := sim.Serve(simLis); err != nil {
			return fmt.Errorf("Argo CD simulator: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return sim.Shutdown(sctx)
	})
	// A second Argo CD, as platform teams run one per environment: apps
	// there are app@prod, and only its project "default" is deploybot's.
	prodLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the second Argo CD simulator (%s): %w", DevSecondInstance, err)
	}
	defer prodLis.Close()
	prod, err := argocdsim.New(argocdsim.Options{
		Token: cfg.ArgoCDSimToken, Version: argoCDVersion(opts, os.LookupEnv), Logger: log.With("component", "argocd-sim-"+DevSecondInstance),
	})
	if err != nil {
		return fmt.Errorf("create the second Argo CD simulator: %w", err)
	}
	g.Go(func() error {
		if err := prod.Serve(prodLis); err != nil {
			return fmt.Errorf("Argo CD simulator %s: %w", DevSecondInstance, err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return prod.Shutdown(sctx)
	})
	simURL := "http://" + simLis.Addr().String()
	prodURL := "http://" + prodLis.Addr().String()
	if cfg.ArgoCDInstancesFile, err = writeInstances(opts.Dir, simURL, prodURL, cfg.ArgoCDSimToken); err != nil {
		return err
	}
	cfg.ArgoCDURL, cfg.ArgoCDToken, cfg.ArgoCDGRPCWeb = "", "", false
	if cfg.ApprovalPolicyFile == "" {
		if cfg.ApprovalPolicyFile, err = writePolicy(opts.Dir); err != nil {
			return err
		}
	}

	argo, _, err := worker.ArgoCDFromConfig(&cfg, log.With("component", "argocd"), "deploybot-dev")
	if err != nil {
		return err
	}
	defer argo.Close()

	// Slack stand-in: the worker's unchanged slack-go client talks to it;
	// the page over it is served on the gateway's listener.
	if err := applyDevDefaults(&cfg, mail.Addr()); err != nil {
		return err
	}
	gwURL := "http://" + browserAddr(gwLis.Addr())
	slack, pg := standIns(DevSlackToken, playground.Options{
		GatewayURL: "http://" + dialAddr(gwLis.Addr()), SigningSecret: cfg.SigningSecret, SonarQubeSecret: cfg.SonarQubeWebhookSecret,
		Mail: mail, TemporalUIURL: tsrv.UIURL,
		Done: gctx.Done(), // ends the page's live streams so the gateway's shutdown does not wait for them
	}, log)
	slackURL, err := slack.Start()
	if err != nil {
		return fmt.Errorf("start the Slack stand-in: %w", err)
	}
	defer slack.Close()
	cfg.SlackToken, cfg.SlackAPIURL = DevSlackToken, strings.TrimSuffix(slackURL, "/")+SlackAPIPath

	tc, err := temporalconn.Dial(ctx, temporalconn.Settings{
		Address: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace,
		Logger: log.With("component", "temporal-client"),
	})
	if err != nil {
		return err
	}
	defer tc.Close()

	w, err := worker.NewFromConfig(&cfg, tc, argo, log.With("component", "worker"))
	if err != nil {
		return err
	}
	gw, err := gateway.New(gateway.Options{Temporal: tc, Config: &cfg, Logger: log.With("component", "gateway")})
	if err != nil {
		return err
	}

	// One listener serves the gateway and the playground page.
	mux := http.NewServeMux()
	mux.Handle(playground.Prefix, pg)
	mux.Handle(playground.Prefix+"/", pg)
	mux.Handle("/", gw)
	urls := URLs{
		Gateway:          gwURL,
		TemporalUI:       tsrv.UIURL,
		TemporalAddress:  tsrv.Address,
		ArgoCDSim:        "http://" + browserAddr(simLis.Addr()),
		ArgoCDSimProd:    prodURL,
		ArgoCDVersion:    sim.Version().Raw,
		SlackAPI:         cfg.SlackAPIURL,
		Playground:       gwURL + playground.Prefix,
		SMTPSink:         mail.Addr(),
		SonarQubeWebhook: gwURL + playground.SonarQubeWebhookPath,
		RunsAPI:          gwURL + runsapi.BasePath,
	}

	if !opts.NoWorker {
		g.Go(func() error { return worker.Run(gctx, w, log.With("component", "worker"), nil) })
	}
	g.Go(func() error {
		if err := gateway.Serve(gctx, gwLis, mux, log.With("component", "gateway")); err != nil {
			return err
		}
		// Serve waits for the gateway's background work only when it is
		// given the gateway itself; here it is behind the mux.
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return gw.Drain(wctx)
	})
	g.Go(func() error {
		select {
		case <-tsrv.Done():
			return tsrv.Err()
		case <-gctx.Done():
			return nil
		}
	})

	printBanner(opts.Out, urls, cfg)
	if opts.OnReady != nil {
		opts.OnReady(urls)
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	fmt.Fprintln(opts.Out, "deploybot dev: stopped")
	return err
}

func printBanner(w io.Writer, u URLs, cfg config.Config) {
	simHost := u.ArgoCDSim[len("http://"):]
	fmt.Fprintf(w, `
deploybot dev is running. Ctrl-C stops everything it started.

  Gateway            %s   (health: %s/healthz, metrics: %s/metrics)
  Temporal UI        %s
  Temporal frontend  %s   (namespace %s, task queue %s)
  Argo CD simulator  %s   (Argo CD %s: gRPC, gRPC-Web and REST on one port; token %s)
                     try: argocd app list --server %s --plaintext --auth-token %s
  Argo CD "prod"     %s   (a second Argo CD: its apps are app@prod, e.g. sync guestbook@prod; project default only)
  Playground         %s   (the Slack stand-in: act as alice, bob, carol or mallory)
  Slack stand-in     %s   (Web API the worker posts to)
  SonarQube webhook  %s   (secret %s; the playground sends samples)
  Runs API           %s   (Authorization: Bearer %s)
                     try: deploybot sast wait --api-url %s --token %s --project %s --revision <revision of the analysis>
  SMTP sink          %s   (%s)
  State              .deploybot/ (Temporal history survives restarts)

`, u.Gateway, u.Gateway, u.Gateway, u.TemporalUI, u.TemporalAddress, cfg.TemporalNamespace, cfg.TemporalTaskQueue,
		u.ArgoCDSim, u.ArgoCDVersion, cfg.ArgoCDSimToken, simHost, cfg.ArgoCDSimToken, u.ArgoCDSimProd, u.Playground, u.SlackAPI,
		u.SonarQubeWebhook, devValue(cfg.SonarQubeWebhookSecret, DevSonarQubeWebhookSecret, "SONARQUBE_WEBHOOK_SECRET"),
		u.RunsAPI, devValue(firstToken(cfg), DevAPIToken, "a token from API_TOKENS"),
		u.Gateway, devValue(firstToken(cfg), DevAPIToken, "$TOKEN"), playground.SampleProjectKey,
		u.SMTPSink, mailNote(cfg, u.SMTPSink))
}

// devValue shows a dev default as is, but never a secret the user set
// (the banner often ends up in screenshots and chat): it names it instead.
func devValue(v, devDefault, name string) string {
	if v == devDefault {
		return v
	}
	return name
}

// firstToken is the secret of the first runs API token.
func firstToken(cfg config.Config) string {
	if ts := cfg.APITokenList(); len(ts) > 0 {
		return ts[0].Token
	}
	return ""
}

// mailNote says where the worker's email goes.
func mailNote(cfg config.Config, sink string) string {
	if net.JoinHostPort(cfg.SMTPHost, strconv.Itoa(cfg.SMTPPort)) != sink {
		return "unused: SMTP_HOST sends email to " + net.JoinHostPort(cfg.SMTPHost, strconv.Itoa(cfg.SMTPPort))
	}
	return "keeps the worker's email for " + strings.Join(cfg.SASTEmailTo, ", ") + "; see the playground's Emails panel"
}

// browserAddr turns a listener address into one a browser on this machine can
// open (0.0.0.0 is not a destination).
func browserAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := ta.IP.String()
	if ta.IP.IsUnspecified() || ta.IP.IsLoopback() {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(ta.Port))
}

// dialAddr is the address to dial a listener on from this machine.
func dialAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
}

// DevSigningSecret signs the Slack requests the playground sends the gateway
// when SIGNING_SECRET is not set.
const DevSigningSecret = "deploybot-dev-signing-secret"

// DevSonarQubeWebhookSecret is SONARQUBE_WEBHOOK_SECRET in dev when not set:
// the playground signs its sample webhooks with it, and a local SonarQube
// can be pointed at the gateway with it.
const DevSonarQubeWebhookSecret = "deploybot-dev-sonarqube-secret"

// DevAPIToken is the runs API's bearer token in dev when API_TOKENS is not
// set (`deploybot sast wait --token`); it decides as bob (DevAPITokens).
const DevAPIToken = "dev-api-token"

// DevAPITokens is API_TOKENS in dev when not set: DevAPIToken, named dev and
// bound to bob, so decisions through the API are bob's, "via token dev".
const DevAPITokens = "dev@U0BOB:" + DevAPIToken

// Dev email settings when not set: the worker sends to the SMTP sink.
const (
	// DevSMTPFrom is SMTP_FROM in dev.
	DevSMTPFrom = "deploybot <deploybot@localhost>"
	// DevSASTEmailTo is SAST_EMAIL_TO in dev.
	DevSASTEmailTo = "security@example.com"
)

// Demo timeouts for `deploybot dev`: short enough for a snappy demo, long
// enough to read and click.
const (
	devApprovalTimeout = 10 * time.Minute
	devHealthTimeout   = 3 * time.Minute
	// devSASTApprovalTimeout: the reminder comes at half, after 5 minutes.
	devSASTApprovalTimeout = 10 * time.Minute
)

// applyDevDefaults fills what the local environment needs and the user did
// not set: a signing secret, the playground's people (alice may request,
// bob may request and approve, mallory neither), demo timeouts, turning
// auto-sync off on rollback so the payments demo rollback works, the SMTP
// sink at sinkAddr as the mail server, a SonarQube webhook secret and a runs
// API token. The configuration does not say which values were set, so a
// timeout equal to the production default counts as not set.
func applyDevDefaults(cfg *config.Config, sinkAddr string) error {
	def := config.Default()
	if _, set := os.LookupEnv("AUTO_DISABLE_SYNC_ON_ROLLBACK"); !set {
		cfg.AutoDisableSyncOnRollback = true
	}
	if cfg.ApprovalTimeout == def.ApprovalTimeout {
		cfg.ApprovalTimeout = devApprovalTimeout
	}
	if cfg.HealthTimeout == def.HealthTimeout {
		cfg.HealthTimeout = devHealthTimeout
	}
	if cfg.SASTApprovalTimeout == def.SASTApprovalTimeout {
		cfg.SASTApprovalTimeout = devSASTApprovalTimeout
	}
	if cfg.SigningSecret == "" {
		cfg.SigningSecret = DevSigningSecret
	}
	if len(cfg.AllowedUsers) == 0 {
		cfg.AllowedUsers = []string{"U0ALICE", "U0BOB"}
		cfg.Approvers = []string{"U0BOB"}
	}
	if len(cfg.SASTApprovers) == 0 {
		cfg.SASTApprovers = []string{"U0BOB"}
	}
	if cfg.SASTChannel == "" {
		cfg.SASTChannel = DevChannel.ID
	}
	if cfg.SonarQubeWebhookSecret == "" {
		cfg.SonarQubeWebhookSecret = DevSonarQubeWebhookSecret
	}
	if len(cfg.APITokens) == 0 {
		cfg.APITokens = []string{DevAPITokens}
	}
	// A user's SMTP_HOST is a real server: keep it with its port and TLS.
	if cfg.SMTPHost == "" {
		host, port, err := net.SplitHostPort(sinkAddr)
		if err != nil {
			return fmt.Errorf("SMTP sink address %q: %w", sinkAddr, err)
		}
		if cfg.SMTPPort, err = strconv.Atoi(port); err != nil {
			return fmt.Errorf("SMTP sink address %q: port: %w", sinkAddr, err)
		}
		// The sink is on loopback and offers no TLS; config allows "none"
		// only for loopback hosts.
		cfg.SMTPHost, cfg.SMTPTLS = host, "none"
		cfg.SMTPUsername, cfg.SMTPPassword = "", ""
	}
	if cfg.SMTPFrom == "" {
		cfg.SMTPFrom = DevSMTPFrom
	}
	if len(cfg.SASTEmailTo) == 0 {
		cfg.SASTEmailTo = []string{DevSASTEmailTo}
	}
	return nil
}
