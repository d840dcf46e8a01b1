package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/devenv"
	"github.com/deploybot/deploybot/internal/slackui"
	"github.com/deploybot/deploybot/internal/smtpsink"
	"github.com/deploybot/deploybot/internal/testenv"
)

// The compose files are checked as docker-compose itself resolves them
// (`docker-compose config`: interpolation, merge keys, override files), then
// against the code: commands and flags against the command tree, variables
// against internal/config (each service exactly what its process reads, and
// a configuration that process accepts), search attributes against
// internal/contract, ports and addresses against each other. Then the
// deploybot services run as the compose file starts them, on loopback.

const repoRoot = "../.."

type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Profiles    []string          `yaml:"profiles"`
	Restart     string            `yaml:"restart"`
	ReadOnly    bool              `yaml:"read_only"`
	CapDrop     []string          `yaml:"cap_drop"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

type composeProject struct {
	Services map[string]composeService `yaml:"services"`
}

// dockerCompose finds the docker-compose binary: CI installs it (Debian's
// docker-compose); elsewhere the tests skip, loudly.
func dockerCompose(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("docker-compose is not installed: .ci/run installs Debian's docker-compose")
		}
		t.Skip("SKIPPED: docker-compose is not installed (apt-get install docker-compose); the compose files are not checked")
	}
	return bin
}

// composeConfig runs `docker-compose [-f file]... config` in the repository
// with only env as the environment (no .env file of the developer's).
func composeConfig(t *testing.T, files []string, env map[string]string) (composeProject, error) {
	t.Helper()
	bin := dockerCompose(t)
	envFile := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(envFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--env-file", envFile}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	cmd := exec.Command(bin, append(args, "config")...)
	cmd.Dir = repoRoot
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return composeProject{}, fmt.Errorf("docker-compose %s config: %v: %s", strings.Join(args[2:], " "), err, errOut.String())
	}
	var p composeProject
	if err := yaml.Unmarshal(out.Bytes(), &p); err != nil {
		t.Fatalf("docker-compose config printed what is not YAML: %v\n%s", err, out.String())
	}
	return p, nil
}

// deploybotImage is the image the deploybot services run.
const deploybotImage = "deploybot:local"

// roleOf is the config role of a deploybot service: its subcommand.
func roleOf(t *testing.T, name string, s composeService) config.Role {
	t.Helper()
	if len(s.Command) == 0 {
		t.Fatalf("service %s runs the deploybot image without a command", name)
	}
	r := config.Role(s.Command[0])
	if !slices.Contains(config.Roles, r) || r == config.RoleDev {
		t.Fatalf("service %s runs `deploybot %s`, not a service role (%v)", name, s.Command[0], config.Roles)
	}
	return r
}

// lookupIn reads a service's environment the way a process reads its own.
func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// listenPort is the port a deploybot service listens on in its container.
func listenPort(t *testing.T, name string, s composeService) string {
	t.Helper()
	cfg, err := config.Load(lookupIn(s.Environment))
	if err != nil {
		t.Fatalf("service %s: %v", name, err)
	}
	switch roleOf(t, name, s) {
	case config.RoleGateway, config.RoleWorker:
		return strconv.Itoa(cfg.HTTPPort)
	case config.RoleSim:
		_, port, _ := net.SplitHostPort(cfg.ArgoCDSimAddr)
		return port
	case config.RolePlayground:
		_, port, _ := net.SplitHostPort(flagValue(t, s.Command, "--addr"))
		return port
	}
	return ""
}

// flagValue parses args with the real subcommand and returns a flag's value.
func flagValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	cmd, rest, err := newRootCmd().Find(args)
	if err != nil {
		t.Fatalf("deploybot %s: %v", strings.Join(args, " "), err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("deploybot %s: %v", strings.Join(args, " "), err)
	}
	return cmd.Flags().Lookup(strings.TrimPrefix(flag, "--")).Value.String()
}

func TestComposeDefault(t *testing.T) {
	p, err := composeConfig(t, []string{"docker-compose.yml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"argocd-sim", "gateway", "mailpit", "playground", "postgresql", "temporal", "temporal-schema", "temporal-setup", "temporal-ui", "worker"}
	var names []string
	for n := range p.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Fatalf("services = %v, want %v", names, want)
	}
	svc := p.Services

	// Order: postgres healthy → schema → server → namespace and search
	// attributes → deploybot; one-shots are waited for until they succeed.
	for _, d := range []struct{ service, on, condition string }{
		{"temporal-schema", "postgresql", "service_healthy"},
		{"temporal", "temporal-schema", "service_completed_successfully"},
		{"temporal-setup", "temporal", "service_healthy"},
		{"temporal-ui", "temporal", "service_healthy"},
		{"worker", "temporal-setup", "service_completed_successfully"},
		{"worker", "argocd-sim", "service_healthy"},
		{"worker", "mailpit", "service_healthy"},
		{"gateway", "temporal-setup", "service_completed_successfully"},
	} {
		if got := svc[d.service].DependsOn[d.on].Condition; got != d.condition {
			t.Errorf("%s depends on %s with %q, want %q", d.service, d.on, got, d.condition)
		}
	}
	for name, s := range svc {
		oneShot := name == "temporal-schema" || name == "temporal-setup"
		switch {
		case oneShot && !strings.HasPrefix(s.Restart, "on-failure"):
			t.Errorf("one-shot %s restarts %q, want on-failure", name, s.Restart)
		case !oneShot && (s.Healthcheck == nil || len(s.Healthcheck.Test) == 0):
			t.Errorf("service %s has no health check", name)
		}
	}

	// Search attributes: exactly what the workflows upsert.
	var sas []string
	for _, sa := range contract.SearchAttributes() {
		sas = append(sas, sa.Name+"="+sa.Type)
	}
	if got := strings.Fields(svc["temporal-setup"].Environment["DEPLOYBOT_SEARCH_ATTRIBUTES"]); !slices.Equal(got, sas) {
		t.Errorf("temporal-setup registers %v, want internal/contract's %v", got, sas)
	}
	if script := strings.Join(svc["temporal-setup"].Command, " "); !strings.Contains(script, "search-attribute create") || !strings.Contains(script, "$DEPLOYBOT_SEARCH_ATTRIBUTES") {
		t.Errorf("temporal-setup does not create the listed search attributes: %s", script)
	}

	checkDeploybotServices(t, p, 4) // argocd-sim, worker, gateway, playground

	gw, wk, pg, sim := svc["gateway"].Environment, svc["worker"].Environment, svc["playground"], svc["argocd-sim"]
	port := func(name string) string { return listenPort(t, name, svc[name]) }
	// Addresses across services.
	for _, c := range []struct{ what, got, want string }{
		{"worker TEMPORAL_ADDRESS", wk["TEMPORAL_ADDRESS"], "temporal:7233"},
		{"gateway TEMPORAL_ADDRESS", gw["TEMPORAL_ADDRESS"], "temporal:7233"},
		{"worker SLACK_API_URL", wk["SLACK_API_URL"], "http://playground:" + port("playground") + devenv.SlackAPIPath},
		{"gateway SLACK_API_URL", gw["SLACK_API_URL"], "http://playground:" + port("playground") + devenv.SlackAPIPath},
		{"worker ARGOCD_URL", wk["ARGOCD_URL"], "http://argocd-sim:" + port("argocd-sim")},
		{"worker ARGOCD_TOKEN", wk["ARGOCD_TOKEN"], sim.Environment["ARGOCD_SIM_TOKEN"]},
		{"worker SMTP_HOST:SMTP_PORT", wk["SMTP_HOST"] + ":" + wk["SMTP_PORT"], "mailpit:1025"},
		{"worker SMTP_TLS", wk["SMTP_TLS"], "none"},
		{"playground --gateway-url", flagValue(t, pg.Command, "--gateway-url"), "http://gateway:" + port("gateway")},
		{"playground SLACK_TOKEN", pg.Environment["SLACK_TOKEN"], wk["SLACK_TOKEN"]},
		{"gateway SLACK_TOKEN", gw["SLACK_TOKEN"], wk["SLACK_TOKEN"]},
		{"playground SIGNING_SECRET", pg.Environment["SIGNING_SECRET"], gw["SIGNING_SECRET"]},
		{"playground SONARQUBE_WEBHOOK_SECRET", pg.Environment["SONARQUBE_WEBHOOK_SECRET"], gw["SONARQUBE_WEBHOOK_SECRET"]},
		{"playground TEMPORAL_UI_URL", pg.Environment["TEMPORAL_UI_URL"], gw["TEMPORAL_UI_URL"]},
		{"gateway SAST_CHANNEL", gw["SAST_CHANNEL"], devenv.DevChannel.ID},
		// What a browser on the host opens.
		{"Temporal UI published at TEMPORAL_UI_URL", "http://localhost:" + publishedPort(t, svc["temporal-ui"], "8080"), gw["TEMPORAL_UI_URL"]},
		{"mailpit UI published at --mail-ui-url", "http://localhost:" + publishedPort(t, svc["mailpit"], "8025"), flagValue(t, pg.Command, "--mail-ui-url")},
		{"Temporal frontend published", publishedPort(t, svc["temporal"], "7233"), "7233"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	for _, name := range []string{"gateway", "argocd-sim", "playground"} {
		if publishedPort(t, svc[name], port(name)) == "" {
			t.Errorf("%s listens on %s but does not publish it", name, port(name))
		}
	}
	// The playground's people are who may ask and approve.
	people := map[string]bool{}
	for _, u := range devenv.DevUsers {
		people[u.ID] = true
	}
	for _, v := range []string{"ALLOWED_USERS", "APPROVERS", "SAST_APPROVERS"} {
		for _, id := range strings.Split(gw[v], ",") {
			if !people[id] {
				t.Errorf("gateway %s has %q, not one of the playground's people", v, id)
			}
		}
	}
}

// checkDeploybotServices: every deploybot service runs a real subcommand
// with flags it has, gets exactly the variables its process reads, in a
// configuration that process accepts, runs read-only without capabilities,
// and is health-checked by `deploybot probe` on the port it listens on.
func checkDeploybotServices(t *testing.T, p composeProject, started int) {
	t.Helper()
	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	const binary = "/usr/local/bin/deploybot"
	if !strings.Contains(string(dockerfile), `ENTRYPOINT ["`+binary+`"]`) {
		t.Fatalf("the Dockerfile's ENTRYPOINT is not %s, which the health checks run", binary)
	}
	seen := 0
	for name, s := range p.Services {
		if s.Image != deploybotImage || len(s.Profiles) > 0 {
			continue // not ours, or not started by default
		}
		seen++
		role := roleOf(t, name, s)
		cmd, rest, err := newRootCmd().Find(s.Command)
		if err != nil || cmd.Name() != string(role) {
			t.Errorf("%s: `deploybot %s` is not the %s command: %v", name, strings.Join(s.Command, " "), role, err)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("%s: `deploybot %s`: %v", name, strings.Join(s.Command, " "), err)
		}
		var keys []string
		for k := range s.Environment {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := slices.Sorted(slices.Values(config.Variables(role)))
		if !slices.Equal(keys, want) {
			t.Errorf("%s (deploybot %s) gets %v\nwant exactly what it reads: %v", name, role, keys, want)
		}
		if _, err := config.LoadFor(lookupIn(s.Environment), role); err != nil {
			t.Errorf("%s: `deploybot %s` would refuse to start: %v", name, role, err)
		}
		if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) {
			t.Errorf("%s: read_only %v, cap_drop %v; want a read-only root filesystem and no capabilities", name, s.ReadOnly, s.CapDrop)
		}
		path := "/healthz"
		if role == config.RoleGateway || role == config.RoleWorker {
			path = "/readyz"
		}
		wantCheck := []string{"CMD", binary, "probe", "http://127.0.0.1:" + listenPort(t, name, s) + path}
		if s.Healthcheck == nil || !slices.Equal(s.Healthcheck.Test, wantCheck) {
			t.Errorf("%s health check = %v, want %v", name, s.Healthcheck, wantCheck)
		}
	}
	if seen != started {
		t.Errorf("%d started services run %s, want %d", seen, deploybotImage, started)
	}
}

// publishedPort is the host port a service publishes containerPort on, or "".
func publishedPort(t *testing.T, s composeService, containerPort string) string {
	t.Helper()
	for _, p := range s.Ports {
		p = strings.TrimSuffix(p, "/tcp")
		parts := strings.Split(p, ":")
		if len(parts) >= 2 && parts[len(parts)-1] == containerPort {
			return parts[len(parts)-2]
		}
	}
	return ""
}

// realSlackEnv is what a user sets in .env for a real workspace.
var realSlackEnv = map[string]string{"SLACK_TOKEN": "xoxb-real-workspace", "SIGNING_SECRET": "real-signing-secret", "ALLOWED_USERS": "U0123ABCD"}

func TestComposeRealSlack(t *testing.T) {
	files := []string{"docker-compose.yml", "docker-compose.slack.yml"}
	p, err := composeConfig(t, files, realSlackEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Services["playground"].Profiles, []string{"playground"}) {
		t.Errorf("playground profiles = %v: it must not start with a real workspace", p.Services["playground"].Profiles)
	}
	for _, name := range []string{"worker", "gateway"} {
		env := p.Services[name].Environment
		if env["SLACK_API_URL"] != "" || env["SLACK_TOKEN"] != realSlackEnv["SLACK_TOKEN"] {
			t.Errorf("%s: SLACK_API_URL %q, SLACK_TOKEN %q; want slack.com and the workspace's token", name, env["SLACK_API_URL"], env["SLACK_TOKEN"])
		}
	}
	gw := p.Services["gateway"].Environment
	for _, v := range []string{"APPROVERS", "SAST_APPROVERS", "SAST_CHANNEL"} {
		if gw[v] != "" {
			t.Errorf("gateway %s = %q: the playground's people and channel must not carry over to a real workspace", v, gw[v])
		}
	}
	if gw["ALLOWED_USERS"] != realSlackEnv["ALLOWED_USERS"] || gw["SIGNING_SECRET"] != realSlackEnv["SIGNING_SECRET"] {
		t.Errorf("gateway ALLOWED_USERS %q, SIGNING_SECRET %q", gw["ALLOWED_USERS"], gw["SIGNING_SECRET"])
	}
	checkDeploybotServices(t, p, 3) // the playground is not started

	// Socket Mode instead of the signing secret works too; neither, or no
	// token or users, is refused with what to set.
	socket := map[string]string{"SLACK_TOKEN": "xoxb-real", "SLACK_APP_TOKEN": "xapp-1-A1-1-abc", "ALLOWED_USERS": "U0123ABCD"}
	if p, err := composeConfig(t, files, socket); err != nil {
		t.Error(err)
	} else if _, err := config.LoadFor(lookupIn(p.Services["gateway"].Environment), config.RoleGateway); err != nil {
		t.Errorf("Socket Mode: the gateway would refuse to start: %v", err)
	}
	noSecret := map[string]string{"SLACK_TOKEN": "xoxb-real", "ALLOWED_USERS": "U0123ABCD"}
	if p, err := composeConfig(t, files, noSecret); err != nil {
		t.Error(err)
	} else if _, err := config.LoadFor(lookupIn(p.Services["gateway"].Environment), config.RoleGateway); err == nil || !strings.Contains(err.Error(), "SIGNING_SECRET is not set") {
		t.Errorf("no signing secret nor app token: %v, want the gateway to refuse naming SIGNING_SECRET", err)
	}
	for _, missing := range []string{"SLACK_TOKEN", "ALLOWED_USERS"} {
		env := map[string]string{}
		for k, v := range realSlackEnv {
			if k != missing {
				env[k] = v
			}
		}
		if _, err := composeConfig(t, files, env); err == nil || !strings.Contains(err.Error(), "set "+missing+" in .env") {
			t.Errorf("without %s: %v, want docker-compose to refuse saying to set it", missing, err)
		}
	}
}

func mustConfig(t *testing.T, env map[string]string) composeProject {
	t.Helper()
	p, err := composeConfig(t, []string{"docker-compose.yml"}, env)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	envExampleLine = regexp.MustCompile(`^#?([A-Z][A-Z0-9_]*)=`)
	interpolation  = regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)`)
)

// TestEnvExample: .env.example names every variable (of deploybot and of
// the compose files) and nothing else, and uncommenting COMPOSE_FILE there
// switches the same command to the real-Slack variant.
func TestEnvExample(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	inExample := map[string]bool{}
	for _, l := range strings.Split(string(raw), "\n") {
		if m := envExampleLine.FindStringSubmatch(l); m != nil {
			inExample[m[1]] = true
		}
	}
	composeVars := map[string]bool{"COMPOSE_FILE": true, "COMPOSE_PROJECT_NAME": true}
	for _, f := range []string{"docker-compose.yml", "docker-compose.slack.yml"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "#") {
				continue
			}
			for _, m := range interpolation.FindAllStringSubmatch(l, -1) {
				composeVars[m[1]] = true
			}
		}
	}
	known := map[string]bool{}
	for _, s := range config.Default().Settings() {
		known[s.Name] = true
	}
	for v := range composeVars {
		if !inExample[v] {
			t.Errorf("the compose files read ${%s}, which .env.example does not show", v)
		}
	}
	for v := range inExample {
		if !composeVars[v] {
			t.Errorf(".env.example sets %s, which the compose files never read (it would do nothing)", v)
		}
	}
	for v := range known {
		if !inExample[v] && !strings.Contains(string(raw), v) {
			t.Errorf(".env.example does not mention %s", v)
		}
	}

	// As shipped, it changes nothing.
	if _, err := composeConfig(t, []string{"docker-compose.yml"}, nil); err != nil {
		t.Fatal(err)
	}
	// Uncommented COMPOSE_FILE plus the Slack variables: the real-Slack variant.
	dir := t.TempDir()
	var env bytes.Buffer
	env.WriteString("COMPOSE_FILE=docker-compose.yml:docker-compose.slack.yml\n")
	for k, v := range realSlackEnv {
		fmt.Fprintf(&env, "%s=%s\n", k, v)
	}
	envFile := filepath.Join(dir, ".env")
	if err := os.WriteFile(envFile, env.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dockerCompose(t), "--env-file", envFile, "config")
	cmd.Dir = repoRoot
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose with COMPOSE_FILE in the env file: %v\n%s", err, out)
	}
	var p composeProject
	if err := yaml.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Services["playground"].Profiles, []string{"playground"}) || p.Services["worker"].Environment["SLACK_TOKEN"] != realSlackEnv["SLACK_TOKEN"] {
		t.Errorf("COMPOSE_FILE in .env did not switch to the real-Slack variant: playground profiles %v, worker SLACK_TOKEN %q",
			p.Services["playground"].Profiles, p.Services["worker"].Environment["SLACK_TOKEN"])
	}
}

// TestComposeServicesRun starts the deploybot services exactly as
// docker-compose.yml does (its commands, its environment, its health
// checks), each as its own process on loopback, with a Temporal dev server
// in place of the PostgreSQL-backed one and an SMTP server in place of
// mailpit, and uses the product from the playground the way a browser does:
// alice asks for a sync, mallory cannot approve, bob approves, the thread
// ends Synced and Healthy; a failed quality gate accepted by bob is emailed.
func TestComposeServicesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four deploybot processes")
	}
	p := mustConfig(t, nil)
	srv := testenv.StartTemporal(t)
	mail, err := smtpsink.Start("127.0.0.1:0", smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	_, mailPort, _ := net.SplitHostPort(mail.Addr())

	// Every service:port of the compose network, and each listener, moves to
	// a free loopback port.
	order := []string{"argocd-sim", "playground", "gateway", "worker"}
	moved := map[string]string{"temporal:7233": srv.Address, "mailpit:1025": mail.Addr()}
	own := map[string]string{}
	for _, name := range order {
		port := listenPort(t, name, p.Services[name])
		free := strconv.Itoa(testenv.FreePort(t))
		moved[name+":"+port] = "127.0.0.1:" + free
		own[name] = free
	}
	rewrite := func(name, v string) string {
		for from, to := range moved {
			v = strings.ReplaceAll(v, from, to)
		}
		port := listenPort(t, name, p.Services[name])
		v = strings.ReplaceAll(v, "0.0.0.0:"+port, "127.0.0.1:"+own[name])
		return strings.ReplaceAll(v, "127.0.0.1:"+port+"/", "127.0.0.1:"+own[name]+"/")
	}
	for _, name := range order {
		s := p.Services[name]
		env := []string{"DEPLOYBOT_RUN_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		for k, v := range s.Environment {
			switch {
			case k == "HTTP_PORT":
				v = own[name]
			case k == "HTTP_HOST":
				v = "127.0.0.1"
			case k == "SMTP_HOST":
				v = "127.0.0.1"
			case k == "SMTP_PORT":
				v = mailPort
			case k == "LOG_LEVEL":
				v = "warn"
			default:
				v = rewrite(name, v)
			}
			env = append(env, k+"="+v)
		}
		args := make([]string, len(s.Command))
		for i, a := range s.Command {
			args[i] = rewrite(name, a)
		}
		startService(t, name, args, env)
		// As depends_on service_healthy: its own health check, run as compose runs it.
		check := s.Healthcheck.Test[2:] // after CMD and the binary
		for i := range check {
			check[i] = rewrite(name, check[i])
		}
		waitHealthy(t, name, check)
	}

	base := "http://127.0.0.1:" + own["playground"]
	pg := &playgroundClient{t: t, base: base}
	pg.say("alice", "@deploybot sync guestbook")
	req := pg.waitMessage("the approval request", func(m pgMessage) bool {
		return strings.Contains(string(m.Blocks), slackui.ActionApprove) && strings.Contains(string(m.Blocks), "guestbook")
	})
	pg.click("mallory", req.TS, slackui.ActionApprove, contract.DeployWorkflowID("guestbook"))
	pg.waitMessageFor("mallory", "mallory's refusal", func(m pgMessage) bool { return m.Ephemeral })
	pg.click("bob", req.TS, slackui.ActionApprove, contract.DeployWorkflowID("guestbook"))
	pg.waitMessage("Synced and Healthy in the thread", func(m pgMessage) bool {
		return strings.Contains(m.Text+string(m.Blocks), "Synced and Healthy")
	})

	// Security approval: the playground's sample failed gate, accepted by bob,
	// emailed to the mail catcher; the Emails panel points at mailpit.
	pg.post("/playground/api/sonarqube", map[string]string{"gate": "ERROR"})
	gate := pg.waitMessage("the quality-gate request", func(m pgMessage) bool {
		return strings.Contains(string(m.Blocks), slackui.ActionSASTAccept)
	})
	pg.click("bob", gate.TS, slackui.ActionSASTAccept, buttonValue(t, gate.Blocks, slackui.ActionSASTAccept))
	deadline := time.Now().Add(60 * time.Second)
	for len(mail.Messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if msgs := mail.Messages(); len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "Security risk accepted") {
		t.Fatalf("the mail catcher got %d messages, want the one decision email: %+v", len(msgs), msgs)
	}
	// Both processes serve the SDK's metrics next to runtime, process and build info.
	for _, name := range []string{"gateway", "worker"} {
		_, body := testenv.Get(t, "http://127.0.0.1:"+own[name]+"/metrics")
		for _, want := range []string{`deploybot_build_info{commit=`, `component="` + name + `"`, "temporal_request_total{", "go_goroutines ", "process_resident_memory_bytes "} {
			if !strings.Contains(body, want) {
				t.Errorf("%s /metrics lacks %q", name, want)
			}
		}
	}
	var emails struct {
		Enabled bool   `json:"enabled"`
		UIURL   string `json:"ui_url"`
	}
	pg.get("/playground/api/emails", &emails)
	if emails.Enabled || emails.UIURL != flagValue(t, p.Services["playground"].Command, "--mail-ui-url") {
		t.Errorf("Emails panel = %+v, want it to link the mail catcher", emails)
	}
}

// buttonValue is the value of the button actionID in Block Kit blocks.
func buttonValue(t *testing.T, blocks json.RawMessage, actionID string) string {
	t.Helper()
	var bs []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(blocks, &bs); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		for _, e := range b.Elements {
			if e.ActionID == actionID {
				return e.Value
			}
		}
	}
	t.Fatalf("no %s button in %s", actionID, blocks)
	return ""
}

func startService(t *testing.T, name string, args, env []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = env
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s (deploybot %s) output:\n%s", name, strings.Join(args, " "), out.String())
		}
	})
}

// waitHealthy runs the service's health check until it passes, as
// docker-compose does before starting what depends on it.
func waitHealthy(t *testing.T, name string, check []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		cmd := exec.Command(os.Args[0], check...)
		cmd.Env = []string{"DEPLOYBOT_RUN_MAIN=1"}
		out, err := cmd.CombinedOutput()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became healthy: deploybot %s: %v %s", name, strings.Join(check, " "), err, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type pgMessage struct {
	TS        string          `json:"ts"`
	ThreadTS  string          `json:"thread_ts"`
	Text      string          `json:"text"`
	Blocks    json.RawMessage `json:"blocks"`
	Ephemeral bool            `json:"ephemeral"`
}

// playgroundClient uses the playground's page API, as its JavaScript does.
type playgroundClient struct {
	t    *testing.T
	base string
}

func (c *playgroundClient) post(path string, body any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(c.base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	if resp.StatusCode != http.StatusOK || ans["ok"] != true {
		c.t.Fatalf("POST %s: %d %v", path, resp.StatusCode, ans)
	}
}

func (c *playgroundClient) get(path string, v any) {
	c.t.Helper()
	resp, err := http.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
}

func (c *playgroundClient) say(user, text string) {
	c.post("/playground/api/say", map[string]string{"user": user, "text": text})
}

func (c *playgroundClient) click(user, ts, actionID, value string) {
	c.post("/playground/api/click", map[string]string{"user": user, "message_ts": ts, "action_id": actionID, "value": value})
}

func (c *playgroundClient) waitMessage(what string, ok func(pgMessage) bool) pgMessage {
	c.t.Helper()
	return c.waitMessageFor("", what, ok)
}

func (c *playgroundClient) waitMessageFor(viewer, what string, ok func(pgMessage) bool) pgMessage {
	c.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		var st struct {
			Messages []pgMessage `json:"messages"`
		}
		c.get("/playground/api/state?user="+url.QueryEscape(viewer), &st)
		for _, m := range st.Messages {
			if ok(m) {
				return m
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("the playground never showed %s", what)
	return pgMessage{}
}
