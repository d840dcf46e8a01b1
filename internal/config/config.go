// Package config holds all of deploybot's configuration. It is read from the
// environment once at start (Load), checked as a whole so that every problem
// is reported at once, and then passed around as a plain struct.
//
// The variable names of the old Flask bot are kept. An empty variable counts
// as unset, and surrounding whitespace is trimmed (a token pasted with a
// trailing newline would otherwise fail every signature check).
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is deploybot's whole configuration. Each field's env tag names its
// variable; help tags explain them (they feed Settings and the docs); for
// tags name the processes that read it (Variables), so compose files and the
// Helm chart can be checked to give each process exactly what it reads.
//
// Secret fields are tagged json:"-" so a Config never carries them into a
// JSON dump or a Temporal payload; String, GoString and LogValue mask them.
type Config struct {
	SlackToken        string `env:"SLACK_TOKEN" for:"gateway,worker,playground" secret:"true" json:"-" help:"Slack bot token (xoxb-…) for the Web API; needed by gateway and worker"`
	SigningSecret     string `env:"SIGNING_SECRET" for:"gateway,playground" secret:"true" json:"-" help:"Slack signing secret; verifies every HTTP request from Slack (gateway; not needed with SLACK_APP_TOKEN)"`
	VerificationToken string `env:"VERIFICATION_TOKEN" for:"gateway" secret:"true" json:"-" help:"accepted for compatibility with the old bot, unused: request signatures replace it"`
	SlackAppToken     string `env:"SLACK_APP_TOKEN" for:"gateway" secret:"true" json:"-" help:"Slack app-level token (xapp-…); when set the gateway uses Socket Mode and needs no public URL"`
	SlackAPIURL       string `env:"SLACK_API_URL" for:"gateway,worker" help:"override of the Slack Web API base URL (tests, playground); a missing trailing / is added"`
	BotName           string `env:"BOT_NAME" for:"gateway,worker" envDefault:"deploybot" help:"name the bot uses for itself in replies and help"`
	BotDescription    string `env:"BOT_DESCRIPTION" for:"gateway" envDefault:"Syncs and rolls back Argo CD apps from Slack, with approvals and an audit trail." help:"one-line description shown in help"`

	ArgoCDURL                 string   `env:"ARGOCD_URL" for:"worker" help:"Argo CD server: https://host[:port][/path], http://host:port or host:port (TLS); needed by the worker"`
	ArgoCDToken               string   `env:"ARGOCD_TOKEN" for:"worker" secret:"true" json:"-" help:"Argo CD API token (argocd account generate-token); needed by the worker"`
	ArgoCDVerifySSL           bool     `env:"ARGOCD_VERIFY_SSL" for:"worker" envDefault:"true" help:"verify Argo CD's TLS certificate"`
	ArgoCDGRPCWeb             bool     `env:"ARGOCD_GRPC_WEB" for:"worker" envDefault:"false" help:"talk gRPC-Web to Argo CD (for proxies that do not pass HTTP/2 gRPC)"`
	ArgoCDCAFile              string   `env:"ARGOCD_CA_FILE" for:"worker" help:"path of the PEM CA bundle Argo CD's certificate is verified against instead of the system roots (in-cluster argocd-server uses a self-signed one by default)"`
	ArgoCDInstancesFile       string   `env:"ARGOCD_INSTANCES_FILE" for:"gateway,worker" help:"YAML file naming each Argo CD deploybot acts on (url, tokenEnv or tokenFile, caFile, projects, taskQueue); commands name one as app@instance. Instead of ARGOCD_URL/ARGOCD_TOKEN"`
	WorkerArgoCDInstances     []string `env:"WORKER_ARGOCD_INSTANCES" for:"worker" help:"comma-separated instances of ARGOCD_INSTANCES_FILE this worker serves (a fleet per instance); default: all"`
	ArgoCDNamespace           string   `env:"ARGOCD_NAMESPACE" for:"gateway,worker" envDefault:"argocd" help:"namespace Argo CD itself runs in: apps there are named bare (guestbook), apps in other namespaces namespace/app (team-a/guestbook)"`
	ArgoCDLogTailLines        int      `env:"ARGOCD_LOG_TAIL_LINES" for:"gateway" envDefault:"50" help:"lines per pod returned by logs APP (1..10000)"`
	RollbackTableFields       []string `env:"ROLLBACK_TABLE_FIELDS" for:"gateway" help:"comma-separated Helm parameter names shown by rollback_revisions, e.g. image.tag,replicaCount"`
	AutoDisableSyncOnRollback bool     `env:"AUTO_DISABLE_SYNC_ON_ROLLBACK" for:"gateway" envDefault:"false" help:"when Argo CD refuses a rollback because auto-sync is on, turn auto-sync off and retry"`

	AllowedUsers      []string      `env:"ALLOWED_USERS" for:"gateway" help:"comma-separated Slack user ids (U…/W…) who may request changes"`
	Approvers         []string      `env:"APPROVERS" for:"gateway" help:"comma-separated Slack user ids who may approve; default: ALLOWED_USERS"`
	AllowSelfApproval bool          `env:"ALLOW_SELF_APPROVAL" for:"gateway" envDefault:"false" help:"whether a requester may approve their own request"`
	ApprovalTimeout   time.Duration `env:"APPROVAL_TIMEOUT" for:"gateway" envDefault:"30m" help:"how long a request waits for approval before it expires"`
	HealthTimeout     time.Duration `env:"HEALTH_TIMEOUT" for:"gateway" envDefault:"10m" help:"how long a sync or rollback may take to end Healthy before it is reported as failed"`
	// ApprovalPolicyFile holds approval rules per app and SonarQube project
	// (internal/policy); the approval settings above are its default rule.
	ApprovalPolicyFile string `env:"APPROVAL_POLICY_FILE" for:"gateway" help:"YAML file of approval rules per app, instance, project, action and SonarQube project (who may request, N of M approvals from users and Slack user groups, timeout, reminders); first match wins, and ALLOWED_USERS, APPROVERS, ALLOW_SELF_APPROVAL, APPROVAL_TIMEOUT and SAST_* apply when none does"`

	TemporalAddress   string `env:"TEMPORAL_ADDRESS" for:"gateway,worker" envDefault:"localhost:7233" help:"Temporal frontend host:port"`
	TemporalNamespace string `env:"TEMPORAL_NAMESPACE" for:"gateway,worker" envDefault:"default" help:"Temporal namespace"`
	TemporalTaskQueue string `env:"TEMPORAL_TASK_QUEUE" for:"gateway,worker" envDefault:"deploybot" help:"Temporal task queue the worker polls"`
	TemporalAPIKey    string `env:"TEMPORAL_API_KEY" for:"gateway,worker" secret:"true" json:"-" help:"Temporal Cloud API key (turns on TLS)"`
	// The TLS variables carry the names of Temporal's own tools (the CLI and
	// the SDKs' envconfig), so one environment serves both.
	TemporalTLS             bool   `env:"TEMPORAL_TLS" for:"gateway,worker" envDefault:"false" help:"connect to Temporal over TLS; implied by TEMPORAL_API_KEY and every other TEMPORAL_TLS_* setting"`
	TemporalTLSCert         string `env:"TEMPORAL_TLS_CLIENT_CERT_PATH" for:"gateway,worker" help:"path of the mTLS client certificate (PEM); set together with TEMPORAL_TLS_CLIENT_KEY_PATH (TEMPORAL_TLS_CERT is accepted when this is unset)"`
	TemporalTLSKey          string `env:"TEMPORAL_TLS_CLIENT_KEY_PATH" for:"gateway,worker" help:"path of the mTLS client key (PEM); set together with TEMPORAL_TLS_CLIENT_CERT_PATH (TEMPORAL_TLS_KEY is accepted when this is unset)"`
	TemporalTLSServerCAFile string `env:"TEMPORAL_TLS_SERVER_CA_CERT_PATH" for:"gateway,worker" help:"path of a PEM CA bundle that signed the Temporal frontend's certificate (self-hosted Temporal behind a private CA); default: the system roots"`
	TemporalTLSServerName   string `env:"TEMPORAL_TLS_SERVER_NAME" for:"gateway,worker" help:"name to verify the Temporal frontend's certificate against (and send as SNI) when it differs from the host in TEMPORAL_ADDRESS"`
	// TemporalUIURL never ends with a slash, so callers can append paths.
	TemporalUIURL string `env:"TEMPORAL_UI_URL" for:"gateway,playground" envDefault:"http://localhost:8233" help:"Temporal web UI base URL, for links in Slack messages"`

	SonarQubeWebhookSecret string `env:"SONARQUBE_WEBHOOK_SECRET" for:"gateway,playground" secret:"true" json:"-" help:"SonarQube webhook secret; checks X-Sonar-Webhook-HMAC-SHA256"`
	// SonarQubeAllowUnsigned is the explicit opt-out of webhook signatures.
	SonarQubeAllowUnsigned bool          `env:"SONARQUBE_WEBHOOK_ALLOW_UNSIGNED" for:"gateway" envDefault:"false" help:"accept SonarQube webhooks without a signature when SONARQUBE_WEBHOOK_SECRET is unset (anyone who can reach the gateway can then raise approvals); logged as a warning"`
	SASTChannel            string        `env:"SAST_CHANNEL" for:"gateway" help:"Slack channel id (C…) where SonarQube quality-gate failures are posted"`
	SASTApprovers          []string      `env:"SAST_APPROVERS" for:"gateway" help:"comma-separated Slack user ids who may accept a security risk; default: APPROVERS"`
	SASTApprovalTimeout    time.Duration `env:"SAST_APPROVAL_TIMEOUT" for:"gateway" envDefault:"24h" help:"how long a security exception waits for a decision"`
	SMTPHost               string        `env:"SMTP_HOST" for:"worker" help:"SMTP server for emails; unset = no emails (the other SMTP_* are then ignored)"`
	SMTPPort               int           `env:"SMTP_PORT" for:"worker" envDefault:"587" help:"SMTP port"`
	SMTPUsername           string        `env:"SMTP_USERNAME" for:"worker" help:"SMTP user; set together with SMTP_PASSWORD"`
	SMTPPassword           string        `env:"SMTP_PASSWORD" for:"worker" secret:"true" json:"-" help:"SMTP password"`
	SMTPFrom               string        `env:"SMTP_FROM" for:"worker" help:"sender address, e.g. deploybot <deploybot@example.com>; required with SMTP_HOST"`
	SMTPTLS                string        `env:"SMTP_TLS" for:"worker" envDefault:"starttls" help:"starttls (STARTTLS required), tls (implicit TLS, port 465), none (plaintext: to a server on this host, or without a login to a mail catcher, warned about at start) or, on this host only, opportunistic"`
	SASTEmailTo            []string      `env:"SAST_EMAIL_TO" for:"gateway" help:"comma-separated addresses that get the next steps of an accepted security exception"`

	HTTPHost string `env:"HTTP_HOST" for:"gateway,worker" envDefault:"0.0.0.0" help:"listen host of the gateway, and of the worker's health and metrics endpoints (FLASK_HOST is accepted when this is unset)"`
	HTTPPort int    `env:"HTTP_PORT" for:"gateway,worker" envDefault:"8080" help:"listen port of the gateway, and of the worker's health and metrics endpoints (FLASK_PORT is accepted when this is unset)"`

	// WorkerStopTimeout is how long a stopping worker lets running
	// activities finish; keep it below the pod's termination grace period.
	WorkerStopTimeout time.Duration `env:"WORKER_STOP_TIMEOUT" for:"worker" envDefault:"20s" help:"on SIGTERM, how long the worker lets running activities finish before it exits; keep it below the pod's terminationGracePeriodSeconds"`
	// WorkerWorkflowCacheSize bounds the worker's sticky workflow cache: the
	// runs kept in memory between events (waiting approvals cost ~70 KiB
	// of RSS each there, measured by `deploybot bench waiting`); runs beyond it are replayed from history when they wake.
	WorkerWorkflowCacheSize int `env:"WORKER_WORKFLOW_CACHE_SIZE" for:"worker" envDefault:"2000" help:"how many runs the worker keeps in memory between events (1..100000); more are replayed from Temporal's history when they wake"`
	// ArgoCDLookupConcurrency and ArgoCDHelmCacheSize shape rollback_revisions'
	// Helm parameter lookups: each renders a chart on Argo CD's repo server.
	ArgoCDLookupConcurrency int `env:"ARGOCD_LOOKUP_CONCURRENCY" for:"worker" envDefault:"10" help:"how many Helm parameter lookups of rollback_revisions run at once against Argo CD's repo server (1..64)"`
	ArgoCDHelmCacheSize     int `env:"ARGOCD_HELM_CACHE_SIZE" for:"worker" envDefault:"1000" help:"how many (app, source, commit) Helm parameter lookups the worker remembers (0 = none, up to 100000); a commit never changes, so a repeated rollback_revisions is near-instant"`

	APITokens []string `env:"API_TOKENS" for:"gateway" secret:"true" json:"-" help:"comma-separated bearer tokens of the runs API: name@U0BOB:token decides as that Slack user (recorded as via token name), name:token or a bare token only reads"`

	ArgoCDSimAddr  string `env:"ARGOCD_SIM_ADDR" for:"argocd-sim" envDefault:"127.0.0.1:8081" help:"listen address of the Argo CD simulator"`
	ArgoCDSimToken string `env:"ARGOCD_SIM_TOKEN" for:"argocd-sim" envDefault:"dev-token" secret:"true" json:"-" help:"the bearer token the Argo CD simulator accepts"`

	LogLevel  string `env:"LOG_LEVEL" for:"gateway,worker,argocd-sim,playground" envDefault:"info" help:"debug, info, warn or error"`
	LogFormat string `env:"LOG_FORMAT" for:"gateway,worker,argocd-sim,playground" envDefault:"text" help:"text or json"`

	// meta records where values came from; nil for a Config built by hand.
	meta *meta
}

// meta is what Load learnt beyond the values themselves.
type meta struct {
	set     map[string]bool   // variable was set (non-empty)
	raw     map[string]string // trimmed value as given, for every set variable
	alias   map[string]string // HTTP_HOST -> FLASK_HOST when the old name supplied it
	invalid map[string]bool   // value did not parse; the field holds its zero value
}

// Role is a deploybot process kind; each needs different settings.
type Role string

// The roles are named like the subcommands that run them.
const (
	// RoleGateway is the Slack and SonarQube front end (HTTP or Socket Mode).
	RoleGateway Role = "gateway"
	// RoleWorker is the Temporal worker that calls Argo CD, Slack and SMTP.
	RoleWorker Role = "worker"
	// RoleSim is the Argo CD simulator; it needs nothing.
	RoleSim Role = "argocd-sim"
	// RoleDev is the local playground; it supplies its own values.
	RoleDev Role = "dev"
	// RolePlayground is the Slack stand-in and its page run on their own
	// (docker-compose): it accepts SLACK_TOKEN and signs with SIGNING_SECRET.
	RolePlayground Role = "playground"
)

// Roles lists every role, in the order the CLI shows them.
var Roles = []Role{RoleGateway, RoleWorker, RoleSim, RoleDev, RolePlayground}

// Aliases: older names, used only when the current name is unset. FLASK_*
// are the old Flask bot's; TEMPORAL_TLS_CERT/KEY are deploybot's own names
// from before it took Temporal's.
var aliases = map[string]string{
	"HTTP_HOST":                     "FLASK_HOST",
	"HTTP_PORT":                     "FLASK_PORT",
	"TEMPORAL_TLS_CLIENT_CERT_PATH": "TEMPORAL_TLS_CERT",
	"TEMPORAL_TLS_CLIENT_KEY_PATH":  "TEMPORAL_TLS_KEY",
}

// Load reads every variable through lookup (os.LookupEnv in production),
// applies defaults, and checks types and formats of everything that is set.
// Role requirements are Validate's job. On error (a *ProblemsError listing
// every problem) Load still returns the Config as far as it could be read,
// so `config check` can show it; do not run with it.
func Load(lookup func(string) (string, bool)) (*Config, error) {
	m := &meta{set: map[string]bool{}, raw: map[string]string{}, alias: map[string]string{}, invalid: map[string]bool{}}
	environ := map[string]string{} // non-nil: env must not fall back to os.Environ
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	for _, f := range fieldList {
		v, ok := get(f.env)
		if !ok {
			if old, isAlias := aliases[f.env]; isAlias {
				if v, ok = get(old); ok {
					m.alias[f.env] = old
				}
			}
		}
		if ok {
			environ[f.env], m.set[f.env], m.raw[f.env] = v, true, v
		}
	}
	for _, old := range aliases {
		if v, ok := get(old); ok {
			m.raw[old] = v
		}
	}

	c := &Config{meta: m}
	var ps problems
	err := env.ParseWithOptions(c, env.Options{
		Environment: environ,
		FuncMap: map[reflect.Type]env.ParserFunc{
			reflect.TypeOf(false):      parseBool,
			reflect.TypeOf([]string{}): parseList,
		},
	})
	if err != nil {
		var agg env.AggregateError
		if !errors.As(err, &agg) {
			return c, fmt.Errorf("config: %w", err)
		}
		for _, e := range agg.Errors {
			var pe env.ParseError
			if !errors.As(e, &pe) {
				return c, fmt.Errorf("config: %w", e) // a bug in the struct tags, not in the environment
			}
			f := fieldByName(pe.Name)
			m.invalid[f.env] = true
			ps.add(typeProblem(f, m.source(f.env), m.raw[f.env]))
		}
	}

	// A list with no items (",") is as good as unset.
	for _, f := range fieldList {
		if f.typ == reflect.TypeOf([]string{}) && reflect.ValueOf(c).Elem().Field(f.index).Len() == 0 {
			delete(m.set, f.env)
		}
	}
	// Derived defaults: approvers default to the people who may request.
	if !m.set["APPROVERS"] {
		c.Approvers = clone(c.AllowedUsers)
	}
	if !m.set["SAST_APPROVERS"] {
		c.SASTApprovers = clone(c.Approvers)
	}
	c.normalize()
	c.checkFormats(&ps)
	return c, ps.err()
}

// Default returns the configuration with every variable unset.
func Default() *Config {
	c, err := Load(func(string) (string, bool) { return "", false })
	if err != nil {
		panic("config: defaults do not load: " + err.Error()) // tests guard this
	}
	return c
}

// LoadFor is Load followed by Validate for the given roles, with the problems
// of both reported together.
func LoadFor(lookup func(string) (string, bool), roles ...Role) (*Config, error) {
	c, err := Load(lookup)
	var loadErr *ProblemsError
	if err != nil && !errors.As(err, &loadErr) {
		return c, err
	}
	verr := c.Validate(roles...)
	var valErr *ProblemsError
	if verr != nil && !errors.As(verr, &valErr) {
		return c, verr
	}
	return c, merge(loadErr, valErr).err()
}

// FromEnv loads the configuration from the process environment and validates
// it for the given roles.
func FromEnv(roles ...Role) (*Config, error) {
	return LoadFor(os.LookupEnv, roles...)
}

// Validate checks c for the given roles: the formats of everything set (as
// Load does, so a Config built or changed by hand is checked too) plus what
// each role needs. It returns a *ProblemsError listing every problem, or an
// error for an unknown role.
func (c *Config) Validate(roles ...Role) error {
	var ps problems
	c.checkFormats(&ps)
	for _, r := range roles {
		switch r {
		case RoleGateway:
			c.requireSlackToken(&ps)
			if c.SigningSecret == "" && c.SlackAppToken == "" {
				ps.add(Problem{"SIGNING_SECRET", "is not set: the gateway needs it to verify requests from Slack (Basic Information → App Credentials → Signing Secret), or set SLACK_APP_TOKEN to use Socket Mode instead", "8f742231b10e8888abcd99yyyzzz85a5"})
			}
			if c.SASTChannel != "" && c.SonarQubeWebhookSecret == "" && !c.SonarQubeAllowUnsigned {
				ps.add(Problem{"SONARQUBE_WEBHOOK_SECRET", "is not set, but SAST_CHANNEL is: every SonarQube webhook would be refused. Set the secret of the SonarQube webhook here (or SONARQUBE_WEBHOOK_ALLOW_UNSIGNED=true to accept unsigned deliveries)", "a-long-random-string"})
			}
		case RoleWorker:
			c.requireSlackToken(&ps)
			switch {
			case c.ArgoCDInstancesFile != "":
				c.checkWorkerInstances(&ps)
			default:
				if c.ArgoCDURL == "" {
					ps.add(Problem{"ARGOCD_URL", "is not set: export the URL of your Argo CD server (or name several in ARGOCD_INSTANCES_FILE)", "https://argocd.example.com"})
				}
				if c.ArgoCDToken == "" {
					ps.add(Problem{"ARGOCD_TOKEN", "is not set: create an API token for a deploybot account with `argocd account generate-token --account deploybot`", "eyJhbGciOi…"})
				}
			}
			if len(c.SASTEmailTo) > 0 && c.SMTPHost == "" {
				ps.add(Problem{"SMTP_HOST", "is not set, but SAST_EMAIL_TO is: the worker needs an SMTP server to send those emails", "smtp.example.com"})
			}
		case RolePlayground:
			if c.SlackToken == "" {
				ps.add(Problem{"SLACK_TOKEN", "is not set: the playground's Slack stand-in accepts this bot token; give the worker and gateway the same", "xoxb-deploybot-dev"})
			}
			if c.SigningSecret == "" {
				ps.add(Problem{"SIGNING_SECRET", "is not set: the playground signs the requests it sends the gateway with it, as Slack does; give the gateway the same", "deploybot-dev-signing-secret"})
			}
		case RoleSim, RoleDev:
			// Nothing required: the simulator has defaults, dev supplies its own.
		default:
			return fmt.Errorf("unknown role %q: use one of %s", r, joinRoles(Roles))
		}
	}
	return ps.err()
}

func (c *Config) requireSlackToken(ps *problems) {
	if c.SlackToken == "" {
		ps.add(Problem{"SLACK_TOKEN", "is not set: export your Slack app's Bot User OAuth Token (OAuth & Permissions)", "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"})
	}
}

// HTTPAddr is the gateway's listen address, HTTP_HOST:HTTP_PORT.
func (c *Config) HTTPAddr() string {
	return net.JoinHostPort(c.HTTPHost, strconv.Itoa(c.HTTPPort))
}

// TemporalTLSEnabled reports whether the Temporal connection uses TLS:
// TEMPORAL_TLS=true, or any setting that only makes sense over TLS.
func (c *Config) TemporalTLSEnabled() bool {
	return c.TemporalTLS || c.temporalTLSImpliedBy() != ""
}

// temporalTLSImpliedBy names the first set variable that needs TLS, or "".
func (c *Config) temporalTLSImpliedBy() string {
	for _, v := range []struct{ name, value string }{
		{"TEMPORAL_API_KEY", c.TemporalAPIKey},
		{c.meta.source("TEMPORAL_TLS_CLIENT_CERT_PATH"), c.TemporalTLSCert},
		{c.meta.source("TEMPORAL_TLS_CLIENT_KEY_PATH"), c.TemporalTLSKey},
		{"TEMPORAL_TLS_SERVER_CA_CERT_PATH", c.TemporalTLSServerCAFile},
		{"TEMPORAL_TLS_SERVER_NAME", c.TemporalTLSServerName},
	} {
		if v.value != "" {
			return v.name
		}
	}
	return ""
}

// PlaintextSMTPToRemoteHost reports whether emails go unencrypted to another
// host (SMTP_TLS=none to a mail catcher), which processes warn about at start.
func (c *Config) PlaintextSMTPToRemoteHost() bool {
	return c.SMTPHost != "" && strings.EqualFold(c.SMTPTLS, "none") && !isLoopbackHost(c.SMTPHost)
}

// normalize puts values in the form callers expect.
func (c *Config) normalize() {
	// slack-go appends method names to the base URL without a separator.
	if c.SlackAPIURL != "" && !strings.HasSuffix(c.SlackAPIURL, "/") {
		c.SlackAPIURL += "/"
	}
	c.TemporalUIURL = strings.TrimRight(c.TemporalUIURL, "/")
	c.LogLevel = strings.ToLower(c.LogLevel)
	if c.LogLevel == "warning" {
		c.LogLevel = "warn"
	}
	c.LogFormat = strings.ToLower(c.LogFormat)
}

// source is the variable a value was actually read from (FLASK_PORT for
// HTTP_PORT when only the old name was set), so problems name what the user
// wrote.
func (m *meta) source(name string) string {
	if m != nil && m.alias[name] != "" {
		return m.alias[name]
	}
	return name
}

// parseBool accepts the usual spellings, case-insensitively.
func parseBool(s string) (any, error) {
	switch strings.ToLower(s) {
	case "1", "t", "true", "y", "yes", "on":
		return true, nil
	case "0", "f", "false", "n", "no", "off":
		return false, nil
	}
	return nil, errors.New("not a boolean")
}

// parseList splits on commas, trims items and drops empty ones, so
// "U1, U2," means [U1 U2].
func parseList(s string) (any, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

func clone(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// field describes one Config field, from its struct tags.
type field struct {
	index      int
	name       string // Go field name
	env        string
	def        string
	hasDefault bool
	secret     bool
	help       string
	typ        reflect.Type
	roles      []string // processes that read it (the for tag)
}

// fieldList is every Config field with an env tag, in declaration order.
var fieldList = func() []field {
	t := reflect.TypeOf(Config{})
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		name, ok := sf.Tag.Lookup("env")
		if !ok {
			continue
		}
		def, hasDef := sf.Tag.Lookup("envDefault")
		out = append(out, field{
			index: i, name: sf.Name, env: name, def: def, hasDefault: hasDef,
			secret: sf.Tag.Get("secret") == "true", help: sf.Tag.Get("help"), typ: sf.Type,
			roles: strings.Split(sf.Tag.Get("for"), ","),
		})
	}
	return out
}()

// Variables lists, in Config's order, the variables the process of role
// reads (older names not included). RoleDev reads them all.
func Variables(role Role) []string {
	var out []string
	for _, f := range fieldList {
		if role == RoleDev || slices.Contains(f.roles, string(role)) {
			out = append(out, f.env)
		}
	}
	return out
}

func fieldByName(goName string) field {
	for _, f := range fieldList {
		if f.name == goName {
			return f
		}
	}
	return field{name: goName, env: goName}
}

func fieldByEnv(name string) (field, bool) {
	for _, f := range fieldList {
		if f.env == name {
			return f, true
		}
	}
	return field{}, false
}
