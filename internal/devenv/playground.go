package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/deploybot/deploybot/internal/httpserve"
	"github.com/deploybot/deploybot/internal/playground"
	"github.com/deploybot/deploybot/internal/slackapi"
)

// SlackAPIPath is where the Slack stand-in's Web API is served; a worker or
// gateway points SLACK_API_URL at <playground URL> + SlackAPIPath.
const SlackAPIPath = "/api/"

// PlaygroundOptions configures the playground run as a service of its own
// (docker-compose), next to a gateway and a worker in other processes.
type PlaygroundOptions struct {
	// Addr is the listen address of the page and the Slack Web API stand-in.
	Addr string
	// GatewayURL is where the page sends the signed Slack requests.
	GatewayURL string
	// SlackToken is the bot token the stand-in accepts (the worker's and
	// gateway's SLACK_TOKEN).
	SlackToken string
	// SigningSecret signs the requests (the gateway's SIGNING_SECRET).
	SigningSecret string
	// SonarQubeSecret signs the sample webhooks (SONARQUBE_WEBHOOK_SECRET).
	SonarQubeSecret string
	// TemporalUIURL is linked from the page, as a browser reaches it.
	TemporalUIURL string
	// MailUIURL is the mail catcher's web page, linked from the Emails panel.
	MailUIURL string
	Out       io.Writer
	Logger    *slog.Logger
	// OnReady, if set, gets the base URL once it serves.
	OnReady func(baseURL string)
}

// standIns builds the Slack Web API stand-in and the page over it, with the
// playground's people and channel.
func standIns(slackToken string, pg playground.Options, log *slog.Logger) (*slackapi.Server, http.Handler) {
	slack := slackapi.New(slackapi.Options{
		Token: slackToken, Users: DevUsers, UserGroups: DevUserGroups, Channels: []slackapi.Channel{DevChannel},
		Logger: log.With("component", "slack-api"),
	})
	pg.Slack, pg.SlackToken, pg.Users, pg.Channel = slack, slackToken, DevUsers, DevChannel
	pg.Logger = log.With("component", "playground")
	return slack, playground.New(pg)
}

// RunPlayground serves the playground page and the Slack Web API stand-in on
// one address until ctx ends: /playground for people, /api/ (and the upload
// and file URLs it hands out) for the worker's and gateway's Slack clients,
// /healthz for health checks.
func RunPlayground(ctx context.Context, opts PlaygroundOptions) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	switch {
	case opts.GatewayURL == "":
		return errors.New("playground: --gateway-url is empty: give the gateway's base URL as this process reaches it, e.g. http://gateway:8080")
	case opts.SlackToken == "":
		return errors.New("playground: SLACK_TOKEN is not set: give the bot token the stand-in should accept (the worker's and gateway's SLACK_TOKEN), e.g. " + DevSlackToken)
	case opts.SigningSecret == "":
		return errors.New("playground: SIGNING_SECRET is not set: give the gateway's signing secret so the page can sign requests as Slack does, e.g. " + DevSigningSecret)
	}
	l, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("playground: listen on %s (--addr): %w", opts.Addr, err)
	}
	slack, pg := standIns(opts.SlackToken, playground.Options{
		GatewayURL: opts.GatewayURL, SigningSecret: opts.SigningSecret, SonarQubeSecret: opts.SonarQubeSecret,
		TemporalUIURL: opts.TemporalUIURL, MailUIURL: opts.MailUIURL,
		// Ends the live-update streams, so shutdown does not wait for open pages.
		Done: ctx.Done(),
	}, log)
	mux := http.NewServeMux()
	mux.Handle(playground.Prefix, pg)
	mux.Handle(playground.Prefix+"/", pg)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	mux.Handle("/", slack.Handler())

	base := "http://" + browserAddr(l.Addr())
	fmt.Fprintf(opts.Out, `
deploybot playground is running. Ctrl-C stops it.

  Playground      %s%s   (act as alice, bob, carol or mallory)
  Slack Web API   %s%s   (set SLACK_API_URL of the worker and gateway to this, as they reach it)
  Gateway         %s   (where the page sends signed Slack requests)
  Temporal UI     %s
  Emails          %s

`, base, playground.Prefix, base, SlackAPIPath, opts.GatewayURL, orDash(opts.TemporalUIURL), orDash(opts.MailUIURL))
	log.Info("playground listening", "addr", l.Addr().String(), "gateway", opts.GatewayURL)
	if opts.OnReady != nil {
		opts.OnReady(base)
	}
	return httpserve.Serve(ctx, l, mux, nil)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
