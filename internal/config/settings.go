package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
)

// Setting is one variable as `config check` and logs show it.
type Setting struct {
	Name    string // environment variable
	Value   string // effective value, masked when Secret; "" when empty
	Default string // value when unset; may name another variable
	Secret  bool
	Set     bool   // the value came from the environment
	Note    string // anything the operator should know, e.g. "from FLASK_PORT (old name)"
	Help    string // what the variable is for
}

// Settings lists every variable, in a stable order (Config's field order,
// each older name right after the variable it stands for). Secrets are
// masked.
func (c *Config) Settings() []Setting {
	m := c.meta
	var defaults *Config
	if m == nil {
		defaults = Default() // built by hand: "set" means "not the default"
	}
	out := make([]Setting, 0, len(fieldList)+len(aliases))
	for _, f := range fieldList {
		s := Setting{Name: f.env, Default: defaultText(f), Secret: f.secret, Help: f.help}
		val := c.fieldValue(f)
		if m.isInvalid(f.env) {
			s.Value = m.raw[f.env]
		} else {
			s.Value = format(val)
		}
		if m != nil {
			s.Set = m.set[f.env]
		} else {
			s.Set = s.Value != format(defaults.fieldValue(f))
		}
		if f.secret {
			s.Value = mask(val, s.Value)
		} else {
			s.Value = redactURL(s.Value)
		}
		s.Note = c.note(f.env, s.Set)
		out = append(out, s)
		if old, ok := aliases[f.env]; ok {
			out = append(out, c.aliasSetting(old, f.env))
		}
	}
	return out
}

func (c *Config) fieldValue(f field) any {
	return reflect.ValueOf(c).Elem().Field(f.index).Interface()
}

func (c *Config) aliasSetting(old, cur string) Setting {
	s := Setting{Name: old, Help: "old name of " + cur + ", used only when " + cur + " is unset"}
	if c.meta == nil {
		return s
	}
	s.Value, s.Set = c.meta.raw[old], c.meta.raw[old] != ""
	switch {
	case s.Set && c.meta.alias[cur] == old:
		s.Note = "used as " + cur
	case s.Set:
		s.Note = "ignored: " + cur + " is set"
	}
	return s
}

// note says what is not obvious from a variable's value.
func (c *Config) note(name string, set bool) string {
	m := c.meta
	if m != nil && m.alias[name] != "" {
		n := "from " + m.alias[name] + " (old name)"
		if m.isInvalid(name) {
			n += "; invalid"
		}
		return n
	}
	if m.isInvalid(name) {
		return "invalid"
	}
	switch name {
	case "VERIFICATION_TOKEN":
		if set {
			return "accepted, unused: request signatures replace it"
		}
	case "ALLOWED_USERS":
		if len(c.AllowedUsers) == 0 {
			return "empty: nobody may request changes (in the old bot, empty meant everyone)"
		}
	case "ARGOCD_VERIFY_SSL":
		switch {
		case !c.ArgoCDVerifySSL && !m.isInvalid(name):
			return "OFF: Argo CD's certificate is not checked; trust a self-signed one with ARGOCD_CA_FILE instead"
		case !set && c.fromOldBot():
			return "true: unlike the old bot, Argo CD's certificate is checked"
		}
	case "HTTP_PORT":
		if !set && c.fromOldBot() && (m == nil || m.alias[name] == "") {
			return "the old bot listened on 5000 by default: point Slack's request URLs at this port, or set HTTP_PORT=5000"
		}
	case "API_TOKENS":
		if ts := c.APITokenList(); len(ts) > 0 {
			var parts []string
			for _, t := range ts {
				what := "reads"
				if t.User != "" {
					what = "decides as " + t.User
				}
				parts = append(parts, t.Name+" "+what)
			}
			return strings.Join(parts, ", ")
		}
	case "TEMPORAL_TLS":
		if !c.TemporalTLS && c.TemporalTLSEnabled() {
			return "on: implied by " + c.temporalTLSImpliedBy()
		}
	case "SMTP_TLS":
		if c.PlaintextSMTPToRemoteHost() {
			return "PLAINTEXT to " + c.SMTPHost + ": emails cross the network unencrypted (fine for a mail catcher, not for real mail)"
		}
	case "SIGNING_SECRET":
		if c.SigningSecret == "" && c.SlackAppToken != "" {
			return "not needed: Socket Mode (SLACK_APP_TOKEN)"
		}
	case "SLACK_API_URL":
		if m != nil && set && !strings.HasSuffix(m.raw[name], "/") {
			return "trailing / added (slack-go appends method names to it)"
		}
	case "APPROVERS", "SAST_APPROVERS":
		if m != nil && !set {
			return "defaults to " + defaultText(mustField(name))
		}
	case "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_FROM":
		if set && c.SMTPHost == "" {
			return "ignored: SMTP_HOST is not set"
		}
	}
	return ""
}

func mustField(name string) field {
	f, ok := fieldByEnv(name)
	if !ok {
		panic("config: no variable " + name)
	}
	return f
}

// defaultText is a field's default as documentation shows it.
func defaultText(f field) string {
	switch f.env {
	case "APPROVERS":
		return "ALLOWED_USERS"
	case "SAST_APPROVERS":
		return "APPROVERS"
	}
	return f.def
}

// format renders a value the way it would be written in the environment.
func format(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case time.Duration:
		return contract.FormatDuration(x)
	case []string:
		return strings.Join(x, ",")
	}
	return fmt.Sprint(v)
}

// mask hides a secret. The Slack token kind is kept (xoxb-…(redacted)):
// it is not secret and tells a wrong kind of token apart.
func mask(v any, text string) string {
	if list, ok := v.([]string); ok {
		if len(list) == 0 {
			return ""
		}
		return fmt.Sprintf("**** (%d)", len(list))
	}
	if text == "" {
		return ""
	}
	for _, p := range []string{"xoxb-", "xoxp-", "xapp-", "xoxe-"} {
		if strings.HasPrefix(text, p) {
			return p + "…(redacted)"
		}
	}
	return "****"
}

// redactURL hides a password in a URL-looking value.
func redactURL(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// LogValue makes logging a Config safe: every variable, secrets masked. The
// receiver is a value so that a copied Config is masked too.
func (c Config) LogValue() slog.Value {
	settings := c.Settings()
	attrs := make([]slog.Attr, 0, len(settings))
	for _, s := range settings {
		attrs = append(attrs, slog.String(s.Name, s.Value))
	}
	return slog.GroupValue(attrs...)
}

// String prints the configuration with secrets masked, so %v and %+v are
// safe.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("config.Config{")
	for i, s := range c.Settings() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.Name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(s.Value))
	}
	b.WriteByte('}')
	return b.String()
}

// GoString makes %#v as safe as %v.
func (c Config) GoString() string { return c.String() }

// oldBotNames are variables only the old Flask bot had; seeing one means an
// environment carried over from it.
var oldBotNames = []string{"FLASK_HOST", "FLASK_PORT", "VERIFICATION_TOKEN"}

// fromOldBot reports whether the environment looks carried over from the old
// bot, so notes can say what now behaves differently.
func (c *Config) fromOldBot() bool { return len(c.oldBotNamesSet()) > 0 }

// oldBotNamesSet lists the oldBotNames the environment sets.
func (c *Config) oldBotNamesSet() []string {
	if c.meta == nil {
		return nil
	}
	var seen []string
	for _, n := range oldBotNames {
		if c.meta.raw[n] != "" {
			seen = append(seen, n)
		}
	}
	return seen
}

// MigrationNotes are the differences from the old Flask bot that bite an
// environment carried over from it; none when nothing of it is seen.
func (c *Config) MigrationNotes() []string {
	seen := c.oldBotNamesSet()
	if len(seen) == 0 {
		return nil
	}
	users := "ALLOWED_USERS lists " + strconv.Itoa(len(c.AllowedUsers)) + " user(s): only they may request changes"
	if len(c.AllowedUsers) == 0 {
		users = "ALLOWED_USERS is empty, which now means NOBODY may request changes (the old bot let everyone): list the member ids (U…) of the people who may"
	}
	port := "HTTP_PORT is " + strconv.Itoa(c.HTTPPort)
	if src := c.meta.source("HTTP_PORT"); src != "HTTP_PORT" {
		port += " (from " + src + ")"
	} else if !c.meta.set["HTTP_PORT"] {
		port += ", not the old bot's 5000: update Slack's request URLs, or set HTTP_PORT=5000"
	}
	verify := "ARGOCD_VERIFY_SSL defaults to true: Argo CD's certificate is checked (for a self-signed argocd-server, set ARGOCD_CA_FILE rather than turning it off)"
	if !c.ArgoCDVerifySSL {
		verify = "ARGOCD_VERIFY_SSL=false keeps the old bot's unchecked TLS; set ARGOCD_CA_FILE to the argocd-server CA and remove it"
	}
	return []string{
		"This environment comes from the old bot (" + strings.Join(seen, ", ") + " set). What behaves differently:",
		users,
		verify,
		port + "; FLASK_HOST/FLASK_PORT are still read when HTTP_HOST/HTTP_PORT are unset",
		"Health checks: use /healthz (liveness) and /readyz (readiness); /health still answers for old probes",
		"VERIFICATION_TOKEN is accepted and ignored: every Slack request is checked against SIGNING_SECRET's signature instead",
	}
}
