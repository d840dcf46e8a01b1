// Package gateway is deploybot's front door for Slack: it verifies,
// authorizes and parses what Slack sends (over HTTP or Socket Mode), then
// starts a Temporal workflow or signals one and acknowledges at once. It
// never calls Argo CD and holds no Argo CD credentials; all state lives in
// Temporal, so any number of gateways can run.
//
// It also takes SonarQube's webhooks (POST /webhooks/sonarqube: one
// quality-gate run per analysis) and serves the runs API (/api/v1/runs:
// read runs, decide them on behalf of a named user) to tools outside
// Slack, authenticated by the bearer tokens of API_TOKENS.
//
// Every Slack request takes the same path whatever the transport: verify
// (HTTP only: Slack signs the request; a Socket Mode connection is
// authenticated by Slack itself), parse, authorize, start or signal with a
// short Temporal deadline, acknowledge. Replies that the gateway itself
// owes (help, refusals, "already running", "Temporal is unreachable") are
// sent after the acknowledgement, so a slow Slack Web API never makes the
// acknowledgement late.
package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/httpserve"
	"github.com/deploybot/deploybot/internal/policy"
	"github.com/deploybot/deploybot/internal/runsapi"
)

// Defaults of the time and size budgets.
const (
	// DefaultTemporalTimeout bounds every Temporal call made while Slack
	// waits, so the acknowledgement stays inside Slack's 3 seconds even when
	// Temporal is down.
	DefaultTemporalTimeout = 2 * time.Second
	// MaxBodyBytes caps a Slack request body; Slack's own payloads are far
	// smaller, so anything bigger is refused unread (413).
	MaxBodyBytes = 1 << 20
	// MaxClockSkew is how far a request's timestamp may be from now before it
	// is refused as stale (a replay).
	MaxClockSkew = 5 * time.Minute
	// replyTimeout bounds one reply to Slack, sent after the acknowledgement.
	replyTimeout = 10 * time.Second
	// maxRepliesInFlight bounds the replies being sent at once; beyond it a
	// reply is dropped and counted rather than piling up goroutines.
	maxRepliesInFlight = 256
)

// ctxKey is the type of the gateway's gin context keys, so no other code's
// key can collide with them.
type ctxKey int

const (
	// ctxBody is the verified request body.
	ctxBody ctxKey = iota
	// ctxOutcome is the outcome handlers set, for the metrics.
	ctxOutcome
	// ctxTokenIndex is the index, in API_TOKENS, of the token that
	// authenticated a runs API request (never the token itself).
	ctxTokenIndex
)

// errBody is the JSON body of an HTTP error answer, for Slack's or an
// operator's HTTP client: Slack never shows it to anyone.
func errBody(msg string) gin.H { return gin.H{"error": msg} }

// Options configures the gateway.
type Options struct {
	// Temporal is the client used to answer /readyz and, unless Starter is
	// set, to start and signal workflows. Required.
	Temporal client.Client
	// Config supplies the signing secret, ALLOWED_USERS, the approval policy
	// and the task queue; nil = config.Default(), whose empty signing secret
	// refuses every Slack request over HTTP.
	Config *config.Config
	// Starter starts and signals workflows; nil = a TemporalStarter over
	// Temporal on Config.TemporalTaskQueue.
	Starter Starter
	// Replier sends the gateway's own replies; nil = a SlackReplier with
	// Config.SlackToken and Config.SlackAPIURL.
	Replier Replier
	// Groups says who is in the Slack user groups the approval policy lets
	// ask; nil = SlackGroups with Config.SlackToken and Config.SlackAPIURL.
	Groups GroupReader
	// Logger receives request and audit logs.
	Logger *slog.Logger
	// Registry receives the gateway's metrics; nil = a fresh registry.
	Registry *prometheus.Registry
	// TemporalTimeout bounds Temporal calls made while Slack waits; 0 =
	// DefaultTemporalTimeout.
	TemporalTimeout time.Duration
	// WebhookTimeout bounds the start of a SonarQube delivery's run; 0 =
	// DefaultWebhookTimeout.
	WebhookTimeout time.Duration
	// DecisionTimeout bounds a runs API decision, which waits for the
	// worker's answer; 0 = DefaultDecisionTimeout.
	DecisionTimeout time.Duration
	// ReplyBudget bounds the attempts of one of the gateway's own replies;
	// 0 = DefaultReplyBudget.
	ReplyBudget time.Duration
}

// Server is the gateway: an http.Handler for the HTTP transport and the
// handler of Socket Mode events (RunSocketMode).
type Server struct {
	opts    Options
	cfg     *config.Config
	log     *slog.Logger
	engine  *gin.Engine
	metrics *metrics
	starter Starter
	replier Replier
	// instances are the Argo CD instances commands may name (app@instance).
	instances config.ArgoCDInstances
	// approvals is APPROVAL_POLICY_FILE (or the environment's rules alone):
	// who may ask for what, and the rules new runs carry.
	approvals *policy.Policy
	groups    GroupReader
	// apiTokens are API_TOKENS, their secrets kept as SHA-256 sums compared
	// in constant time.
	apiTokens []apiToken

	replySlots chan struct{}
	replies    sync.WaitGroup
	// stopping is closed by Drain: replies stop waiting to try again.
	stopping chan struct{}
	stopOnce sync.Once
}

// New builds the gateway's routes.
func New(opts Options) (*Server, error) {
	if opts.Temporal == nil {
		return nil, errors.New("gateway: a Temporal client is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Config == nil {
		opts.Config = config.Default()
	}
	if opts.TemporalTimeout <= 0 {
		opts.TemporalTimeout = DefaultTemporalTimeout
	}
	if opts.WebhookTimeout <= 0 {
		opts.WebhookTimeout = DefaultWebhookTimeout
	}
	if opts.DecisionTimeout <= 0 {
		opts.DecisionTimeout = DefaultDecisionTimeout
	}
	if opts.ReplyBudget <= 0 {
		opts.ReplyBudget = DefaultReplyBudget
	}
	cfg := opts.Config
	instances, err := cfg.ArgoCDInstances()
	if err != nil {
		return nil, err
	}
	if opts.Starter == nil {
		opts.Starter = &TemporalStarter{Client: opts.Temporal, TaskQueue: cfg.TemporalTaskQueue, Instances: instances}
	}
	if opts.Replier == nil {
		opts.Replier = NewSlackReplier(cfg.SlackToken, cfg.SlackAPIURL)
	}
	if opts.Groups == nil {
		opts.Groups = NewSlackGroups(cfg.SlackToken, cfg.SlackAPIURL)
	}
	approvals, err := cfg.ApprovalPolicy()
	if err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{
		opts: opts, cfg: cfg, log: opts.Logger,
		engine: gin.New(), metrics: newMetrics(opts.Registry),
		starter: opts.Starter, replier: opts.Replier,
		instances: instances,
		approvals: approvals, groups: opts.Groups,
		replySlots: make(chan struct{}, maxRepliesInFlight),
		stopping:   make(chan struct{}),
	}
	if len(cfg.AllowedUsers) == 0 && len(approvals.Rules()) == 0 {
		s.log.Warn("ALLOWED_USERS is empty and there is no APPROVAL_POLICY_FILE: nobody may request anything but help")
	}
	if f := approvals.File(); f != "" {
		s.log.Info("approval policy loaded", "file", f, "rules", len(approvals.Rules()))
	}
	if cfg.SigningSecret == "" {
		s.log.Warn("SIGNING_SECRET is not set: every Slack request over HTTP will be refused (Socket Mode still works)")
	}
	switch {
	case cfg.SonarQubeWebhookSecret == "" && cfg.SonarQubeAllowUnsigned:
		s.log.Warn("SONARQUBE WEBHOOKS ARE NOT AUTHENTICATED: SONARQUBE_WEBHOOK_SECRET is not set and SONARQUBE_WEBHOOK_ALLOW_UNSIGNED is true, so anyone who can reach " + SonarQubePath + " can raise quality-gate approvals. Set SONARQUBE_WEBHOOK_SECRET on the gateway and on the SonarQube webhook.")
	case cfg.SonarQubeWebhookSecret == "" && cfg.SASTChannel != "":
		s.log.Warn("SONARQUBE_WEBHOOK_SECRET is not set: every SonarQube webhook will be refused")
	}
	for _, t := range cfg.APITokenList() {
		s.apiTokens = append(s.apiTokens, apiToken{sum: sha256.Sum256([]byte(t.Token)), name: t.Name, user: t.User})
	}
	if len(s.apiTokens) == 0 {
		s.log.Info("API_TOKENS is not set: the runs API (" + runsapi.BasePath + ") refuses every request")
	}

	s.engine.Use(gin.Recovery(), s.observe)
	s.engine.GET("/healthz", s.healthz)
	s.engine.GET("/health", s.healthz) // the old bot's path, still in migrated probes
	s.engine.GET("/readyz", s.readyz)
	s.engine.GET("/metrics", gin.WrapH(promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{Registry: opts.Registry})))
	slackRoutes := s.engine.Group("/", s.verifySlack)
	slackRoutes.POST("/slack/events", s.httpEvents)
	slackRoutes.POST("/slack/interactions", s.httpInteractions)
	slackRoutes.POST("/interactions", s.httpInteractions) // the old bot's path, still set in existing Slack apps
	slackRoutes.POST("/slack/commands", s.httpCommands)
	// SonarQube signs its own way (or not at all), so not behind verifySlack.
	s.engine.POST(SonarQubePath, s.sonarQubeWebhook)
	api := s.engine.Group(runsapi.BasePath, s.authAPI)
	api.GET("", s.apiListRuns)
	api.GET("/:id", s.apiGetRun)
	api.POST("/:id/decision", s.apiDecide)
	s.engine.NoRoute(s.noRoute)
	return s, nil
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Drain is Wait on shutdown: replies waiting to try again give up (and are
// counted lost), attempts in progress finish. Serve calls it.
func (s *Server) Drain(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stopping) })
	return s.Wait(ctx)
}

// Wait blocks until every reply sent after an acknowledgement is done, or
// ctx ends.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.replies.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gateway: replies still in flight: %w", ctx.Err())
	}
}

// healthz says the process is up; it checks nothing else so a slow Temporal
// never gets the pod restarted.
func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// readyz says whether this gateway can take requests. It can while
// Temporal is down: it is the one that tells Slack users so, and a gateway
// taken out of rotation would leave them with connection errors instead.
// So /readyz answers 200 with status "degraded" and Temporal's error then
// (and deploybot_gateway_temporal_up drops to 0 for alerts).
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.opts.TemporalTimeout)
	defer cancel()
	if _, err := s.opts.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		s.metrics.temporalUp.Set(0)
		c.JSON(http.StatusOK, gin.H{"status": "degraded", "temporal": "unreachable: " + err.Error()})
		return
	}
	s.metrics.temporalUp.Set(1)
	c.JSON(http.StatusOK, gin.H{"status": "ready", "temporal": "ok"})
}

// Serve runs h on l until ctx ends, then shuts down gracefully, giving
// in-flight requests (and, when h is a *Server, its pending replies) up to
// 10 seconds.
func Serve(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger) error {
	var waitReplies func(context.Context) error
	if gw, ok := h.(*Server); ok {
		waitReplies = gw.Drain
	}
	if err := httpserve.Serve(ctx, l, h, waitReplies); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if log != nil {
		log.Info("gateway stopped", "addr", l.Addr().String())
	}
	return nil
}
