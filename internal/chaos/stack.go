package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/playground"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/internal/smtpsink"
	"github.com/deploybot/deploybot/internal/temporaldev"
)

// The people, channels and secrets of the chaos stack.
const (
	slackToken    = "xoxb-deploybot-chaos"
	signingSecret = "deploybot-chaos-signing-secret"
	sonarSecret   = "deploybot-chaos-sonarqube-secret"
	apiToken      = "deploybot-chaos-api-token"
	taskQueue     = "deploybot-chaos"
	requester     = "U0ALICE"
	approver      = "U0BOB"
	deployChannel = "C0DEPLOYS"
	sastChannel   = "C0SEC"
	securityMail  = "security@example.com"
)

// stack is everything a chaos run breaks: the Temporal dev server (a child
// process, restarted on its SQLite file), the Argo CD simulator, the Slack
// stand-in, the SMTP sink (stopped and started again on its address), the
// gateway with the playground in front of it (what Slack would send), and
// `deploybot worker` child processes that are SIGKILLed.
type stack struct {
	opts Options
	log  *slog.Logger

	temporalMu   sync.Mutex
	temporal     *temporaldev.Server
	temporalOpts temporaldev.Options
	tc           client.Client

	sim     *argocdsim.Server
	simAddr string
	slack   *slackapi.Server

	mailMu    sync.Mutex
	mail      *smtpsink.Sink
	mailAddr  string
	mailOld   []smtpsink.Message // what stopped sinks had received
	gwURL     string
	httpSrv   *http.Server
	workerEnv []string

	workerMu sync.Mutex
	worker   *exec.Cmd
	workers  int // started so far
	kills    int
	exits    int // workers that exited by themselves (and were restarted)
	onExit   func(string)
	closing  bool // no more restarts
}

func startStack(ctx context.Context, opts Options, log *slog.Logger) (_ *stack, err error) {
	s := &stack{opts: opts, log: log, onExit: func(string) {}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.temporalOpts = temporaldev.Options{
		Binary: opts.TemporalCLI, DBFile: filepath.Join(opts.Dir, "temporal.db"), Port: port, UIPort: -1,
		LogFile: filepath.Join(opts.Dir, "temporal.log"), Logger: log.With("component", "temporal"),
	}
	if s.temporal, err = temporaldev.Start(ctx, s.temporalOpts); err != nil {
		return nil, err
	}
	// Lazy: the gateway and the driver must outlive the server's restart.
	if s.tc, err = client.NewLazyClient(client.Options{HostPort: s.temporal.Address, Logger: quietTemporalLogger{}}); err != nil {
		return nil, err
	}

	if s.sim, err = argocdsim.New(argocdsim.Options{ExtraApps: opts.Runs, OperationDuration: 2 * time.Second, Logger: log.With("component", "argocd-sim")}); err != nil {
		return nil, err
	}
	simLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.simAddr = simLis.Addr().String()
	go func() { _ = s.sim.Serve(simLis) }()

	s.slack = slackapi.New(slackapi.Options{
		Token:    slackToken,
		Users:    []slackapi.User{{ID: requester, Name: "alice"}, {ID: approver, Name: "bob"}},
		Channels: []slackapi.Channel{{ID: deployChannel, Name: "deploys"}, {ID: sastChannel, Name: "security"}},
		Logger:   log.With("component", "slack"),
	})
	if _, err = s.slack.Start(); err != nil {
		return nil, err
	}
	if s.mail, err = smtpsink.Start("127.0.0.1:0", smtpsink.Options{}); err != nil {
		return nil, err
	}
	s.mailAddr = s.mail.Addr()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.gwURL = "http://" + lis.Addr().String()
	cfg, err := s.gatewayConfig()
	if err != nil {
		return nil, err
	}
	gw, err := gateway.New(gateway.Options{Temporal: s.tc, Config: cfg, Logger: log.With("component", "gateway")})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", gw)
	mux.Handle(playground.Prefix+"/", playground.New(playground.Options{
		Slack: s.slack, SlackToken: slackToken, GatewayURL: s.gwURL, SigningSecret: signingSecret,
		SonarQubeSecret: sonarSecret, Users: []slackapi.User{{ID: requester, Name: "alice"}, {ID: approver, Name: "bob"}},
		Channel: slackapi.Channel{ID: deployChannel, Name: "deploys"}, Logger: log.With("component", "playground"),
	}))
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.httpSrv.Serve(lis) }()

	host, mport, _ := net.SplitHostPort(s.mailAddr)
	s.workerEnv = []string{
		"TEMPORAL_ADDRESS=" + s.temporal.Address, "TEMPORAL_TASK_QUEUE=" + taskQueue,
		"ARGOCD_URL=http://" + s.simAddr, "ARGOCD_TOKEN=" + argocdsim.DefaultToken,
		"SLACK_TOKEN=" + slackToken, "SLACK_API_URL=" + s.slack.URL() + "/api/",
		"SMTP_HOST=" + host, "SMTP_PORT=" + mport, "SMTP_TLS=none", "SMTP_FROM=deploybot <deploybot@example.com>",
		"HTTP_HOST=127.0.0.1", "LOG_LEVEL=info", "WORKER_STOP_TIMEOUT=1s", // info: the idempotency decisions are logged there
	}
	return s, s.startWorker()
}

// gatewayConfig is the gateway's configuration, loaded and checked like
// the environment of a real one.
func (s *stack) gatewayConfig() (*config.Config, error) {
	env := map[string]string{
		"SIGNING_SECRET": signingSecret, "SLACK_TOKEN": slackToken, "SLACK_API_URL": s.slack.URL() + "/api/",
		"ALLOWED_USERS": requester + "," + approver, "APPROVERS": approver,
		"APPROVAL_TIMEOUT": s.opts.ApprovalTimeout.String(), "HEALTH_TIMEOUT": s.opts.HealthTimeout.String(),
		"TEMPORAL_ADDRESS": s.temporal.Address, "TEMPORAL_TASK_QUEUE": taskQueue,
		"SONARQUBE_WEBHOOK_SECRET": sonarSecret, "SAST_CHANNEL": sastChannel, "SAST_APPROVERS": approver,
		"SAST_APPROVAL_TIMEOUT": s.opts.ApprovalTimeout.String(), "SAST_EMAIL_TO": securityMail,
		"API_TOKENS": "chaos@" + approver + ":" + apiToken,
	}
	cfg, err := config.LoadFor(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.RoleGateway)
	if err != nil {
		return nil, fmt.Errorf("chaos: gateway configuration: %w", err)
	}
	return cfg, nil
}

// startWorker starts one more `deploybot worker` process.
func (s *stack) startWorker() error {
	s.workerMu.Lock()
	defer s.workerMu.Unlock()
	port, err := freePort()
	if err != nil {
		return err
	}
	s.workers++
	logFile, err := os.Create(filepath.Join(s.opts.Dir, fmt.Sprintf("worker-%02d.log", s.workers)))
	if err != nil {
		return err
	}
	cmd := s.opts.Worker(append(append([]string{}, s.workerEnv...), "HTTP_PORT="+strconv.Itoa(port)))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("chaos: start a worker (%s): %w", cmd.Path, err)
	}
	s.worker = cmd
	go s.supervise(cmd, logFile)
	return nil
}

// supervise restarts a worker that exited by itself (a worker that cannot
// reach Temporal at start exits), as Kubernetes or compose would.
func (s *stack) supervise(cmd *exec.Cmd, logFile *os.File) {
	_ = cmd.Wait()
	logFile.Close()
	s.workerMu.Lock()
	exited := s.worker == cmd && !s.closing
	if exited {
		s.worker = nil
		s.exits++
	}
	notify := s.onExit
	s.workerMu.Unlock()
	if exited {
		notify(fmt.Sprintf("worker exited by itself (%v): %s", cmd.ProcessState, lastLine(logFile.Name())))
		time.Sleep(time.Second)
		s.workerMu.Lock()
		again := s.worker == nil && !s.closing
		s.workerMu.Unlock()
		if again {
			if err := s.startWorker(); err != nil {
				s.log.Error("chaos: could not restart an exited worker", "error", err)
			}
		}
	}
}

// killWorker SIGKILLs the running worker: no graceful stop, activities in
// flight are abandoned mid-call.
func (s *stack) killWorker() {
	s.workerMu.Lock()
	defer s.workerMu.Unlock()
	if s.worker == nil {
		return
	}
	_ = s.worker.Process.Signal(syscall.SIGKILL)
	s.worker, s.kills = nil, s.kills+1
}

// restartTemporal stops the dev server and starts it again on the same
// port and SQLite file: history survives, connections do not.
func (s *stack) restartTemporal(ctx context.Context) error {
	s.temporalMu.Lock()
	defer s.temporalMu.Unlock()
	_ = s.temporal.Stop(ctx)
	var err error
	for attempt := 0; attempt < 20; attempt++ { // the port may linger briefly
		if s.temporal, err = temporaldev.Start(ctx, s.temporalOpts); err == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("chaos: restart the Temporal dev server: %w", err)
}

// stopMail and startMail take the SMTP server away and bring it back on
// the same address.
func (s *stack) stopMail() {
	s.mailMu.Lock()
	defer s.mailMu.Unlock()
	if s.mail != nil {
		// Close first: a message accepted while closing must be counted.
		_ = s.mail.Close()
		s.mailOld = append(s.mailOld, s.mail.Messages()...)
		s.mail = nil
	}
}

func (s *stack) startMail() error {
	s.mailMu.Lock()
	defer s.mailMu.Unlock()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if s.mail, err = smtpsink.Start(s.mailAddr, smtpsink.Options{}); err == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("chaos: restart the SMTP sink on %s: %w", s.mailAddr, err)
}

// emails is every message any incarnation of the sink received.
func (s *stack) emails() []smtpsink.Message {
	s.mailMu.Lock()
	defer s.mailMu.Unlock()
	out := append([]smtpsink.Message{}, s.mailOld...)
	if s.mail != nil {
		out = append(out, s.mail.Messages()...)
	}
	return out
}

func (s *stack) close() {
	s.workerMu.Lock()
	s.closing = true
	s.workerMu.Unlock()
	s.killWorker()
	if s.httpSrv != nil {
		_ = s.httpSrv.Close()
	}
	if s.tc != nil {
		s.tc.Close()
	}
	s.temporalMu.Lock()
	if s.temporal != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_ = s.temporal.Stop(ctx)
		cancel()
	}
	s.temporalMu.Unlock()
	if s.sim != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.sim.Shutdown(ctx)
		cancel()
	}
	if s.slack != nil {
		s.slack.Close()
	}
	s.stopMail()
}

// lastLine is the last non-empty line of a log file, for saying why a
// process ended.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("chaos: find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// quietTemporalLogger drops the SDK's own logs: during a server restart it
// logs every failed poll, which is the point of the exercise, not news.
type quietTemporalLogger struct{}

func (quietTemporalLogger) Debug(string, ...interface{}) {}
func (quietTemporalLogger) Info(string, ...interface{})  {}
func (quietTemporalLogger) Warn(string, ...interface{})  {}
func (quietTemporalLogger) Error(string, ...interface{}) {}

var errViolations = errors.New("chaos: invariants violated")
