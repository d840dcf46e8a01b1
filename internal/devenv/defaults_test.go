package devenv

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/config"
)

// TestDevDefaultsFillWhatIsUnset: with nothing set, dev points email at
// the SMTP sink, signs SonarQube webhooks and opens the runs API with dev
// constants, shortens the SAST timeout for the demo, and the result is a
// valid gateway and worker configuration.
func TestDevDefaultsFillWhatIsUnset(t *testing.T) {
	cfg := config.Default()
	if err := applyDevDefaults(cfg, "127.0.0.1:2525"); err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2]any{
		"SMTP_HOST":                {cfg.SMTPHost, "127.0.0.1"},
		"SMTP_PORT":                {cfg.SMTPPort, 2525},
		"SMTP_TLS":                 {cfg.SMTPTLS, "none"},
		"SMTP_FROM":                {cfg.SMTPFrom, DevSMTPFrom},
		"SAST_EMAIL_TO":            {strings.Join(cfg.SASTEmailTo, ","), DevSASTEmailTo},
		"SONARQUBE_WEBHOOK_SECRET": {cfg.SonarQubeWebhookSecret, DevSonarQubeWebhookSecret},
		"API_TOKENS":               {strings.Join(cfg.APITokens, ","), DevAPITokens},
		"SAST_APPROVAL_TIMEOUT":    {cfg.SASTApprovalTimeout, 10 * time.Minute},
		"SAST_CHANNEL":             {cfg.SASTChannel, DevChannel.ID},
		"SAST_APPROVERS":           {strings.Join(cfg.SASTApprovers, ","), "U0BOB"},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s = %v, want %v", name, pair[0], pair[1])
		}
	}
	// What devenv sets itself before the defaults.
	cfg.SlackToken, cfg.ArgoCDURL, cfg.ArgoCDToken = DevSlackToken, "http://127.0.0.1:8081", "dev-token"
	if err := cfg.Validate(config.RoleGateway, config.RoleWorker); err != nil {
		t.Errorf("dev configuration does not validate: %v", err)
	}
}

// TestDevDefaultsKeepWhatIsSet: values the user exported win, and a real
// SMTP server keeps its port, TLS and login.
func TestDevDefaultsKeepWhatIsSet(t *testing.T) {
	env := map[string]string{
		"SMTP_HOST": "smtp.example.com", "SMTP_PORT": "465", "SMTP_TLS": "tls",
		"SMTP_USERNAME": "bot", "SMTP_PASSWORD": "pw", "SMTP_FROM": "Bot <bot@example.com>",
		"SAST_EMAIL_TO": "sec@example.com", "SONARQUBE_WEBHOOK_SECRET": "mine",
		"API_TOKENS": "t1,t2", "SAST_APPROVAL_TIMEOUT": "2h", "SAST_CHANNEL": "C0SEC",
		"SAST_APPROVERS": "U0CAROL",
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	want := *cfg
	if err := applyDevDefaults(cfg, "127.0.0.1:2525"); err != nil {
		t.Fatal(err)
	}
	if cfg.SMTPHost != want.SMTPHost || cfg.SMTPPort != 465 || cfg.SMTPTLS != "tls" || cfg.SMTPUsername != "bot" ||
		cfg.SMTPPassword != "pw" || cfg.SMTPFrom != want.SMTPFrom || !slices.Equal(cfg.SASTEmailTo, want.SASTEmailTo) ||
		cfg.SonarQubeWebhookSecret != "mine" || !slices.Equal(cfg.APITokens, []string{"t1", "t2"}) ||
		cfg.SASTApprovalTimeout != 2*time.Hour || cfg.SASTChannel != "C0SEC" || !slices.Equal(cfg.SASTApprovers, []string{"U0CAROL"}) {
		t.Errorf("dev defaults overrode what was set:\n got %#v\nwant %#v", settings(cfg), settings(&want))
	}
}

// TestDevDefaultsSinkAddress: an address that is not host:port is a clear error.
func TestDevDefaultsSinkAddress(t *testing.T) {
	err := applyDevDefaults(config.Default(), "nowhere")
	if err == nil || !strings.Contains(err.Error(), `SMTP sink address "nowhere"`) {
		t.Errorf("err = %v, want one naming the sink address", err)
	}
}

// TestBannerShowsSASTEndpoints: the banner names the SonarQube webhook,
// the runs API with the dev token and a `sast wait` line, and the SMTP
// sink; a secret the user set is never printed.
func TestBannerShowsSASTEndpoints(t *testing.T) {
	cfg := config.Default()
	if err := applyDevDefaults(cfg, "127.0.0.1:2525"); err != nil {
		t.Fatal(err)
	}
	u := URLs{
		Gateway: "http://localhost:8080", ArgoCDSim: "http://localhost:8081", Playground: "http://localhost:8080/playground",
		SMTPSink: "127.0.0.1:2525", SonarQubeWebhook: "http://localhost:8080/webhooks/sonarqube", RunsAPI: "http://localhost:8080/api/v1/runs",
	}
	var b bytes.Buffer
	printBanner(&b, u, *cfg)
	for _, want := range []string{
		"SonarQube webhook  http://localhost:8080/webhooks/sonarqube   (secret " + DevSonarQubeWebhookSecret,
		"Runs API           http://localhost:8080/api/v1/runs   (Authorization: Bearer dev-api-token)",
		"deploybot sast wait --api-url http://localhost:8080 --token dev-api-token --project deploybot:payments-api --revision ",
		"SMTP sink          127.0.0.1:2525   (keeps the worker's email for security@example.com",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, b.String())
		}
	}

	cfg.SonarQubeWebhookSecret, cfg.APITokens = "s3cret-webhook", []string{"s3cret-token"}
	cfg.SMTPHost, cfg.SMTPPort = "smtp.example.com", 587
	b.Reset()
	printBanner(&b, u, *cfg)
	if strings.Contains(b.String(), "s3cret") {
		t.Errorf("banner prints a secret the user set:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "unused: SMTP_HOST sends email to smtp.example.com:587") {
		t.Errorf("banner does not say the sink is unused:\n%s", b.String())
	}
}

func settings(c *config.Config) map[string]string {
	out := map[string]string{}
	for _, s := range c.Settings() {
		out[s.Name] = s.Value
	}
	return out
}
