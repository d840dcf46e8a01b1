package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/mail"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/logging"
	"github.com/deploybot/deploybot/internal/policy"
)

const exampleBotToken = "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"

// typeProblem explains a value that does not parse as its field's type.
// Secret values are never quoted (no typed field is secret today, but the
// rule must not depend on that).
func typeProblem(f field, name, raw string) Problem {
	got := "is " + strconv.Quote(raw) + ", "
	if f.secret {
		got = "is "
	}
	switch f.typ {
	case reflect.TypeOf(time.Duration(0)):
		return Problem{name, got + "not a duration: write a number with a unit (s, m or h)", f.def}
	case reflect.TypeOf(false):
		return Problem{name, got + "not a boolean: use true or false", "true"}
	case reflect.TypeOf(0):
		return Problem{name, got + "not a whole number", f.def}
	}
	return Problem{name, got + "not a valid " + f.typ.String(), f.def}
}

// isInvalid reports whether name failed to parse, so checks on its zero
// value do not pile a second, misleading problem onto the first.
func (m *meta) isInvalid(name string) bool { return m != nil && m.invalid[name] }

// checkFormats checks every value that is set, whatever the role. Values of
// secrets are never quoted.
func (c *Config) checkFormats(ps *problems) {
	ok := func(name string) bool { return !c.meta.isInvalid(name) }
	src := c.meta.source

	// Slack.
	if t := c.SlackToken; t != "" && !strings.HasPrefix(t, "xoxb-") {
		what := "is not a bot token (those start with xoxb-): copy the Bot User OAuth Token from your Slack app's OAuth & Permissions page"
		switch {
		case strings.HasPrefix(t, "xapp-"):
			what = "holds an app-level token (xapp-…): put that in SLACK_APP_TOKEN, and the Bot User OAuth Token (xoxb-…) here"
		case strings.HasPrefix(t, "xoxp-"):
			what = "holds a user token (xoxp-…): deploybot acts as a bot; use the Bot User OAuth Token (xoxb-…) from OAuth & Permissions"
		}
		ps.add(Problem{"SLACK_TOKEN", what, exampleBotToken})
	}
	if t := c.SlackAppToken; t != "" && !strings.HasPrefix(t, "xapp-") {
		what := "is not an app-level token (those start with xapp-): create one with the connections:write scope under Basic Information → App-Level Tokens"
		if strings.HasPrefix(t, "xoxb-") {
			what = "holds a bot token (xoxb-…): put that in SLACK_TOKEN; SLACK_APP_TOKEN takes an app-level token (xapp-…) from Basic Information → App-Level Tokens"
		}
		ps.add(Problem{"SLACK_APP_TOKEN", what, "xapp-1-A0123456789-1234567890123-0123456789abcdef"})
	}
	if c.SlackAPIURL != "" {
		if what := checkHTTPURL(c.SlackAPIURL); what != "" {
			ps.add(Problem{"SLACK_API_URL", what + " (it replaces https://slack.com/api/)", "http://127.0.0.1:8090/api/"})
		}
	}

	// Argo CD.
	c.checkInstancesFile(ps)
	if ns := c.ArgoCDNamespace; ns != "" && contract.ValidateNamespace(ns) != nil {
		ps.add(Problem{"ARGOCD_NAMESPACE", fmt.Sprintf("is %q, not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)", ns), "argocd"})
	}
	if c.ArgoCDURL != "" {
		if what := checkArgoCDURL(c.ArgoCDURL); what != "" {
			ps.add(Problem{"ARGOCD_URL", what, "https://argocd.example.com"})
		}
	}
	checkFile(ps, "ARGOCD_CA_FILE", c.ArgoCDCAFile, "/etc/deploybot/argocd/ca.crt")
	if c.ArgoCDCAFile != "" && ok("ARGOCD_VERIFY_SSL") && !c.ArgoCDVerifySSL {
		ps.add(Problem{"ARGOCD_VERIFY_SSL", "is false, but ARGOCD_CA_FILE is set: with verification off the CA is never used; remove ARGOCD_VERIFY_SSL=false so Argo CD's certificate is checked against ARGOCD_CA_FILE", "true"})
	}
	if ok("ARGOCD_LOG_TAIL_LINES") {
		checkRange(ps, "ARGOCD_LOG_TAIL_LINES", c.ArgoCDLogTailLines, 1, 10000, "", "50")
	}
	if bad := filter(c.RollbackTableFields, func(s string) bool { return strings.ContainsAny(s, " \t") }); len(bad) > 0 {
		ps.add(Problem{"ROLLBACK_TABLE_FIELDS", "has " + quoteList(bad) + ": Helm parameter names contain no spaces; separate names with commas", "image.tag,replicaCount"})
	}

	// Who may do what. A list equal to the one it defaults from is not
	// checked twice.
	c.checkUserIDs(ps, "ALLOWED_USERS", c.AllowedUsers)
	if !slices.Equal(c.Approvers, c.AllowedUsers) {
		c.checkUserIDs(ps, "APPROVERS", c.Approvers)
	}
	if !slices.Equal(c.SASTApprovers, c.Approvers) {
		c.checkUserIDs(ps, "SAST_APPROVERS", c.SASTApprovers)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"APPROVAL_TIMEOUT", c.ApprovalTimeout}, {"HEALTH_TIMEOUT", c.HealthTimeout}, {"SAST_APPROVAL_TIMEOUT", c.SASTApprovalTimeout}} {
		if ok(d.name) && d.v <= 0 {
			f, _ := fieldByEnv(d.name)
			ps.add(Problem{d.name, "is " + contract.FormatDuration(d.v) + "; it must be longer than zero", f.def})
		}
	}
	c.checkApprovalPolicyFile(ps)

	// Temporal.
	if what := checkHostPort(c.TemporalAddress, true); what != "" {
		ps.add(Problem{"TEMPORAL_ADDRESS", what, "localhost:7233 or my-ns.a1b2c.tmprl.cloud:7233"})
	}
	if c.TemporalNamespace == "" {
		ps.add(Problem{"TEMPORAL_NAMESPACE", "is empty", "default"})
	}
	if c.TemporalTaskQueue == "" {
		ps.add(Problem{"TEMPORAL_TASK_QUEUE", "is empty", "deploybot"})
	}
	certVar, keyVar := src("TEMPORAL_TLS_CLIENT_CERT_PATH"), src("TEMPORAL_TLS_CLIENT_KEY_PATH")
	switch {
	case c.TemporalTLSCert != "" && c.TemporalTLSKey == "":
		ps.add(Problem{keyVar, "is not set, but " + certVar + " is: mTLS needs both the client certificate and its key", "/etc/deploybot/temporal/tls.key"})
	case c.TemporalTLSCert == "" && c.TemporalTLSKey != "":
		ps.add(Problem{certVar, "is not set, but " + keyVar + " is: mTLS needs both the client certificate and its key", "/etc/deploybot/temporal/tls.crt"})
	}
	checkFile(ps, certVar, c.TemporalTLSCert, "/etc/deploybot/temporal/tls.crt")
	checkFile(ps, keyVar, c.TemporalTLSKey, "/etc/deploybot/temporal/tls.key")
	checkFile(ps, "TEMPORAL_TLS_SERVER_CA_CERT_PATH", c.TemporalTLSServerCAFile, "/etc/deploybot/temporal/ca.crt")
	if c.meta != nil && c.meta.set["TEMPORAL_TLS"] && ok("TEMPORAL_TLS") && !c.TemporalTLS {
		if why := c.temporalTLSImpliedBy(); why != "" {
			ps.add(Problem{"TEMPORAL_TLS", "is false, but " + why + " is set, which needs TLS: remove TEMPORAL_TLS=false or that setting", "true"})
		}
	}
	if ok("WORKER_WORKFLOW_CACHE_SIZE") {
		checkRange(ps, "WORKER_WORKFLOW_CACHE_SIZE", c.WorkerWorkflowCacheSize, 1, 100000, "", "2000")
	}
	if ok("ARGOCD_LOOKUP_CONCURRENCY") {
		checkRange(ps, "ARGOCD_LOOKUP_CONCURRENCY", c.ArgoCDLookupConcurrency, 1, 64, "", "10")
	}
	if ok("ARGOCD_HELM_CACHE_SIZE") {
		checkRange(ps, "ARGOCD_HELM_CACHE_SIZE", c.ArgoCDHelmCacheSize, 0, 100000, " (no cache)", "1000")
	}
	if ok("WORKER_STOP_TIMEOUT") && c.WorkerStopTimeout <= 0 {
		ps.add(Problem{"WORKER_STOP_TIMEOUT", "is " + contract.FormatDuration(c.WorkerStopTimeout) + "; it must be longer than zero (running activities get this long to finish)", "20s"})
	}
	if c.TemporalUIURL != "" {
		if what := checkHTTPURL(c.TemporalUIURL); what != "" {
			ps.add(Problem{"TEMPORAL_UI_URL", what, "https://cloud.temporal.io"})
		}
	}

	// Email, only when it is turned on.
	if c.SMTPHost != "" {
		if strings.Contains(c.SMTPHost, "://") || (strings.Contains(c.SMTPHost, ":") && net.ParseIP(c.SMTPHost) == nil) {
			ps.add(Problem{"SMTP_HOST", "is " + strconv.Quote(c.SMTPHost) + ": give the host name only, the port goes in SMTP_PORT", "smtp.example.com"})
		}
		if ok("SMTP_PORT") && (c.SMTPPort < 1 || c.SMTPPort > 65535) {
			ps.add(Problem{"SMTP_PORT", fmt.Sprintf("is %d; ports are 1 to 65535", c.SMTPPort), "587"})
		}
		switch strings.ToLower(c.SMTPTLS) {
		case "starttls", "tls":
		case "none":
			// Plaintext to another host is an explicit choice (a mail catcher
			// on a compose network), warned about at start; a password must
			// still never cross the network in clear.
			if !isLoopbackHost(c.SMTPHost) && (c.SMTPUsername != "" || c.SMTPPassword != "") {
				ps.add(Problem{"SMTP_TLS", "is \"none\" and SMTP_HOST " + strconv.Quote(c.SMTPHost) + " is not this host, so SMTP_USERNAME/SMTP_PASSWORD would cross the network unencrypted; use starttls or tls, or drop the login for a mail catcher", "starttls"})
			}
		case "opportunistic":
			if !isLoopbackHost(c.SMTPHost) {
				ps.add(Problem{"SMTP_TLS", "is \"opportunistic\" but SMTP_HOST " + strconv.Quote(c.SMTPHost) + " is not this host: anyone on the path could strip STARTTLS and read the emails (and SMTP_PASSWORD); use starttls or tls, or none without a login to choose plaintext knowingly (e.g. a mail catcher)", "starttls"})
			}
		default:
			ps.add(Problem{"SMTP_TLS", "is " + strconv.Quote(c.SMTPTLS) + ": use starttls, tls, opportunistic or none", "starttls"})
		}
		if c.SMTPFrom == "" {
			ps.add(Problem{"SMTP_FROM", "is not set, but SMTP_HOST is: emails need a sender address", "deploybot <deploybot@example.com>"})
		} else if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
			ps.add(Problem{"SMTP_FROM", "is " + strconv.Quote(c.SMTPFrom) + ", not an email address", "deploybot <deploybot@example.com>"})
		}
		switch {
		case c.SMTPUsername != "" && c.SMTPPassword == "":
			ps.add(Problem{"SMTP_PASSWORD", "is not set, but SMTP_USERNAME is: set both to log in, or neither", ""})
		case c.SMTPUsername == "" && c.SMTPPassword != "":
			ps.add(Problem{"SMTP_USERNAME", "is not set, but SMTP_PASSWORD is: set both to log in, or neither", "deploybot@example.com"})
		}
	}
	if bad := filter(c.SASTEmailTo, func(s string) bool { _, err := mail.ParseAddress(s); return err != nil }); len(bad) > 0 {
		ps.add(Problem{"SAST_EMAIL_TO", "has " + quoteList(bad) + ", not email addresses; separate addresses with commas", "dev-team@example.com,security@example.com"})
	}

	// Runs API tokens; never quoted (they are secrets), only their names.
	if _, bad := parseAPITokens(c.APITokens); len(bad) > 0 {
		ps.add(Problem{"API_TOKENS", strings.Join(bad, "; "), "ci@U0BOB:$(openssl rand -hex 32),dashboard:$(openssl rand -hex 32)"})
	}

	// HTTP server.
	if h := c.HTTPHost; strings.Contains(h, "://") || strings.Contains(h, "/") || (strings.Contains(h, ":") && net.ParseIP(h) == nil) {
		ps.add(Problem{src("HTTP_HOST"), "is " + strconv.Quote(h) + ": give an address to listen on, without scheme or port (the port goes in HTTP_PORT)", "0.0.0.0"})
	}
	if ok("HTTP_PORT") && (c.HTTPPort < 1 || c.HTTPPort > 65535) {
		ps.add(Problem{src("HTTP_PORT"), fmt.Sprintf("is %d; ports are 1 to 65535", c.HTTPPort), "8080"})
	}

	// Simulator and logging.
	if what := checkHostPort(c.ArgoCDSimAddr, false); what != "" {
		ps.add(Problem{"ARGOCD_SIM_ADDR", what, "127.0.0.1:8081"})
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		ps.add(Problem{"LOG_LEVEL", "is " + strconv.Quote(c.LogLevel) + ", not one of " + strings.Join(logging.Levels, ", "), "info"})
	}
	if _, err := logging.ParseFormat(c.LogFormat); err != nil {
		ps.add(Problem{"LOG_FORMAT", "is " + strconv.Quote(c.LogFormat) + ", not one of " + strings.Join(logging.Formats, ", "), "json"})
	}
}

// ApprovalPolicyDefaults are the approval rules of the environment
// settings: what applies when no rule of APPROVAL_POLICY_FILE matches, and
// what fills the fields a rule leaves out. The instances are those of
// ARGOCD_INSTANCES_FILE (not checked when it does not load).
func (c *Config) ApprovalPolicyDefaults() policy.Defaults {
	d := policy.Defaults{
		Deploy: contract.DefaultDeployRule(contract.DeployPolicy{
			Approvers: clone(c.Approvers), AllowSelfApproval: c.AllowSelfApproval, ApprovalTimeout: c.ApprovalTimeout,
		}, clone(c.AllowedUsers)),
		Gate: contract.DefaultGateRule(contract.SASTPolicy{Approvers: clone(c.SASTApprovers), ApprovalTimeout: c.SASTApprovalTimeout}),
	}
	if s, err := c.ArgoCDInstances(); err == nil {
		d.DefaultInstance, d.Instances = s.Default, s.Names()
	}
	return d
}

// ApprovalPolicy loads APPROVAL_POLICY_FILE; unset, the policy has no rules
// and gives ApprovalPolicyDefaults, as deploybot behaved before the file.
func (c *Config) ApprovalPolicy() (*policy.Policy, error) {
	return policy.Load(c.ApprovalPolicyFile, c.ApprovalPolicyDefaults())
}

// checkApprovalPolicyFile reports each problem of APPROVAL_POLICY_FILE
// (file, line and example) as a Problem of its own.
func (c *Config) checkApprovalPolicyFile(ps *problems) {
	if c.ApprovalPolicyFile == "" {
		return
	}
	_, err := c.ApprovalPolicy()
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		what := strings.TrimPrefix(e.Error(), policy.Variable+" ")
		if pe := (*policy.Error)(nil); !errors.As(e, &pe) {
			what = strings.TrimPrefix(e.Error(), policy.Variable+": ") // the file does not read
		}
		ps.add(Problem{"APPROVAL_POLICY_FILE", what, ""})
	}
}

func (c *Config) checkUserIDs(ps *problems, name string, ids []string) {
	if bad := filter(ids, func(s string) bool { return !contract.IsSlackUserID(s) }); len(bad) > 0 {
		ps.add(Problem{name, "has " + quoteList(bad) + ", not Slack user ids: use member ids (profile → ⋮ → Copy member ID), not names, separated by commas", "U012AB3CD,U045EF6GH"})
	}
}

// checkHTTPURL returns what is wrong with an http(s) URL, or "". It does not
// quote the URL: it could carry credentials.
func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a valid URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with http:// or https://"
	case u.Host == "":
		return "has no host"
	case u.User != nil:
		return "must not contain credentials"
	}
	return ""
}

// checkArgoCDURL accepts what internal/argocd accepts: https://host[:port][/path],
// http://host[:port][/path], or host[:port] meaning TLS like the argocd CLI's
// --server. It does not quote the URL: it could carry credentials.
func checkArgoCDURL(s string) string {
	const forms = "write https://host[:port][/path], http://host:port or host:port"
	if !strings.Contains(s, "://") {
		if strings.ContainsAny(s, "/?#@ ") {
			return "has no scheme: " + forms
		}
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "is not a valid URL: " + forms
	}
	if sch := strings.ToLower(u.Scheme); sch != "http" && sch != "https" {
		return "must use http:// or https:// (or be host:port)"
	}
	if u.User != nil {
		return "must not contain credentials: put the token in ARGOCD_TOKEN"
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "must not have a query or fragment: " + forms
	}
	if u.Hostname() == "" {
		return "has no host: " + forms
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "has a port that is not a number from 1 to 65535"
		}
	}
	if path := strings.Trim(u.Path, "/"); path == "api" || strings.HasPrefix(path, "api/") || strings.Contains(path, "/api/") || strings.HasSuffix(path, "/api") {
		return "ends in an API path: give the server's base URL (deploybot adds /api/…)"
	}
	return ""
}

// checkHostPort returns what is wrong with a host:port address, or "".
func checkHostPort(s string, needHost bool) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "is " + strconv.Quote(s) + ", not host:port"
	}
	if needHost && host == "" {
		return "is " + strconv.Quote(s) + ", which has no host"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "is " + strconv.Quote(s) + ", whose port is not a number from 1 to 65535"
	}
	return ""
}

// checkFile checks that a configured path names a readable regular file, so
// a missing mount fails at start rather than at the first connection.
// checkRange reports n outside lo..hi; loNote says what lo means, if anything.
func checkRange(ps *problems, name string, n, lo, hi int, loNote, example string) {
	if n < lo || n > hi {
		ps.add(Problem{name, fmt.Sprintf("is %d; it must be between %d%s and %d", n, lo, loNote, hi), example})
	}
}

func checkFile(ps *problems, name, path, example string) {
	if path == "" {
		return
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ps.add(Problem{name, "is " + strconv.Quote(path) + ", which does not exist: give the path of a PEM file", example})
	case err != nil:
		ps.add(Problem{name, "is " + strconv.Quote(path) + ", which cannot be read (" + err.Error() + ")", example})
	case !st.Mode().IsRegular():
		ps.add(Problem{name, "is " + strconv.Quote(path) + ", which is not a regular file: give the path of a PEM file", example})
	}
}

func filter(items []string, bad func(string) bool) []string {
	var out []string
	for _, s := range items {
		if bad(s) {
			out = append(out, s)
		}
	}
	return out
}

// quoteList quotes items for a message, eliding after five.
func quoteList(items []string) string {
	const limit = 5
	q := make([]string, 0, limit+1)
	for i, s := range items {
		if i == limit {
			q = append(q, fmt.Sprintf("and %d more", len(items)-limit))
			break
		}
		q = append(q, strconv.Quote(s))
	}
	return strings.Join(q, ", ")
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
