package gateway

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/deploybot/deploybot/internal/contract"
)

// metrics are the gateway's Prometheus series. Every label value comes from
// a fixed set (route templates, outcomes, reasons, workflow types), never
// from user input, so cardinality stays bounded.
type metrics struct {
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	sigFailures   *prometheus.CounterVec
	started       *prometheus.CounterVec
	signals       *prometheus.CounterVec
	replies       *prometheus.CounterVec
	repliesFlight prometheus.Gauge
	replyRetries  prometheus.Counter
	temporalUp    prometheus.Gauge
	webhooks      *prometheus.CounterVec
	apiRefusals   *prometheus.CounterVec
	apiDecisions  *prometheus.CounterVec
}

// Request outcomes, the "outcome" label of deploybot_gateway_requests_total.
const (
	outcomeOK             = "ok"              // health, metrics, url_verification
	outcomeRefusedSig     = "bad_signature"   // failed verification; nothing was done
	outcomeTooLarge       = "too_large"       // body over the cap; nothing was done
	outcomeBadRequest     = "bad_request"     // verified but unreadable
	outcomeIgnored        = "ignored"         // an event or action deploybot does not handle
	outcomeHelp           = "help"            // help was asked for
	outcomePolicy         = "policy"          // policy APP was answered
	outcomeHistory        = "history"         // history APP was answered
	outcomeParseError     = "parse_error"     // malformed or unknown command
	outcomeUnauthorized   = "unauthorized"    // requester not in ALLOWED_USERS
	outcomeStarted        = "started"         // a workflow was started
	outcomeDuplicate      = "duplicate"       // a retry or replay of a request already handled
	outcomeAlreadyRunning = "already_running" // a deploy run is in flight for the app
	outcomeSignalled      = "signalled"       // a decision was delivered
	outcomeNotWaiting     = "not_waiting"     // a click on a run that is no longer waiting
	outcomeUnavailable    = "temporal_unavailable"
	outcomeBusy           = "temporal_busy"       // Temporal did not answer in time; the user was told to try again
	outcomeRedeliver      = "temporal_busy_retry" // Temporal did not answer in time; Slack will redeliver the event
	outcomeError          = "error"
	// SonarQube webhooks.
	outcomeUnsignedRefused = "unsigned_refused" // no SONARQUBE_WEBHOOK_SECRET and unsigned ones are not allowed
	outcomeSASTOff         = "sast_off"         // SAST_CHANNEL is not set
	// Runs API.
	outcomeAPIUnauthorized = "api_unauthorized" // no, or a wrong, bearer token
	outcomeNotFound        = "not_found"        // no deploy or quality-gate run with that id
	outcomeDecided         = "decided"          // a decision was accepted by the run
	outcomeRefused         = "refused"          // the run refused the decision
	outcomeNoWorker        = "no_worker"        // no worker answered in time
)

// webhookOutcomes are the outcomes a SonarQube delivery can have, the
// "outcome" label of deploybot_gateway_sonarqube_webhooks_total.
var webhookOutcomes = []string{
	outcomeStarted, outcomeDuplicate, outcomeIgnored, outcomeRefusedSig, outcomeUnsignedRefused,
	outcomeSASTOff, outcomeTooLarge, outcomeBadRequest, outcomeUnavailable, outcomeError,
}

// Reasons a runs API request is refused, the "reason" label of
// deploybot_gateway_api_refusals_total.
const (
	apiNoTokens = "no_tokens" // API_TOKENS is not set: the API is off
	apiMissing  = "missing"   // no bearer token
	apiWrong    = "wrong"     // a token that is not in API_TOKENS
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_gateway_requests_total",
			Help: "Requests handled by the gateway (HTTP routes and Socket Mode envelopes), by route, status code and outcome.",
		}, []string{"route", "code", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "deploybot_gateway_request_duration_seconds",
			Help:    "Time from request to acknowledgement, by route. Slack needs an answer within 3 s.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 3, 5},
		}, []string{"route"}),
		sigFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_gateway_signature_failures_total",
			Help: "Slack requests refused before anything was done, by reason: missing, malformed, stale, mismatch, too_large, no_secret.",
		}, []string{"reason"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_gateway_workflows_started_total",
			Help: "Workflows the gateway started, by workflow type.",
		}, []string{"workflow"}),
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_gateway_signals_sent_total",
			Help: "Signals the gateway delivered, by signal name.",
		}, []string{"signal"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_gateway_replies_total",
			Help: "Replies the gateway sent to Slack after acknowledging, by result: sent, failed (lost after its retries), dropped (too many in flight), skipped (already sent for a retried event).",
		}, []string{"result"}),
		repliesFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deploybot_gateway_replies_in_flight",
			Help: "Replies being sent to Slack right now.",
		}),
		replyRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deploybot_gateway_reply_retries_total",
			Help: "Attempts to send a gateway reply again after Slack refused one (429 with its Retry-After, 5xx, network).",
		}),
		temporalUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deploybot_gateway_temporal_up",
			Help: "1 if Temporal answered the last /readyz health check, 0 if not (the gateway then tells Slack users it is unreachable).",
		}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_gateway_sonarqube_webhooks_total",
			Help: "SonarQube webhook deliveries, by outcome. SonarQube does not retry, so temporal_unavailable and error are lost deliveries.",
		}, []string{"outcome"}),
		apiRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_gateway_api_refusals_total",
			Help: "Runs API requests refused before anything was done, by reason: no_tokens, missing, wrong.",
		}, []string{"reason"}),
		apiDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_gateway_api_decisions_total",
			Help: "Decisions sent through the runs API, by result: decided, refused, not_found, not_waiting, no_worker, temporal_unavailable, error.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.latency, m.sigFailures, m.started, m.signals, m.replies, m.repliesFlight, m.replyRetries, m.temporalUp,
		m.webhooks, m.apiRefusals, m.apiDecisions)
	// Series that alerts watch exist from the start at 0, so rate() and
	// increase() see the first failure.
	for _, r := range []string{reasonMissing, reasonMalformed, reasonStale, reasonMismatch, reasonTooLarge, reasonNoSecret} {
		m.sigFailures.WithLabelValues(r)
	}
	m.signals.WithLabelValues(contract.SignalDecision)
	for _, r := range []string{"sent", "failed", "dropped", "skipped"} {
		m.replies.WithLabelValues(r)
	}
	for _, o := range webhookOutcomes {
		m.webhooks.WithLabelValues(o)
	}
	for _, r := range []string{apiNoTokens, apiMissing, apiWrong} {
		m.apiRefusals.WithLabelValues(r)
	}
	return m
}

// observe records every HTTP request under its route template, never the
// raw path, so user input cannot blow up label cardinality.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	outcome := c.GetString(ctxOutcome)
	if outcome == "" {
		outcome = outcomeOK
		if c.Writer.Status() >= 400 {
			outcome = outcomeError
		}
	}
	s.record(route, strconv.Itoa(c.Writer.Status()), outcome, time.Since(start))
}

// record counts one request. code is the HTTP status, or "ack" /
// "ack_failed" for a Socket Mode envelope.
func (s *Server) record(route, code, outcome string, d time.Duration) {
	s.metrics.requests.WithLabelValues(route, code, outcome).Inc()
	s.metrics.latency.WithLabelValues(route).Observe(d.Seconds())
}
