package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/sonarqube"
)

// SonarQubePath is where SonarQube delivers its project webhooks.
const SonarQubePath = "/webhooks/sonarqube"

// DefaultWebhookTimeout bounds the Temporal start of a SonarQube delivery:
// SonarQube waits 10 s for an answer, so 5 s leaves room for the rest.
const DefaultWebhookTimeout = 5 * time.Second

// sonarQubeWebhook serves POST /webhooks/sonarqube: it authenticates the
// delivery (X-Sonar-Webhook-HMAC-SHA256 over the raw body), parses it and
// starts one QualityGateWorkflow per analysis, failed or passed (a passing
// analysis supersedes the pending requests of older ones). SonarQube never
// retries a delivery, so one that cannot be started is logged at Error
// level with everything needed to find the analysis again.
func (s *Server) sonarQubeWebhook(c *gin.Context) {
	log := s.log.With("via", "sonarqube", "remote", c.Request.RemoteAddr,
		"projectHeader", c.GetHeader(sonarqube.ProjectHeader))
	answerSonarQube := func(code int, outcome string, body gin.H) {
		s.metrics.webhooks.WithLabelValues(outcome).Inc()
		c.Set(ctxOutcome, outcome)
		c.JSON(code, body)
	}
	body, err := readBody(c)
	switch {
	case errors.Is(err, errTooLarge):
		log.Warn("SonarQube webhook refused: body too large", "detail", err.Error())
		answerSonarQube(http.StatusRequestEntityTooLarge, outcomeTooLarge, gin.H{"error": "the delivery is larger than SonarQube's webhooks ever are: " + err.Error()})
		return
	case err != nil:
		log.Warn("SonarQube webhook body unreadable", "error", err)
		answerSonarQube(http.StatusBadRequest, outcomeBadRequest, gin.H{"error": "could not read the body"})
		return
	}
	switch {
	case s.cfg.SonarQubeWebhookSecret != "":
		if err := sonarqube.VerifySignature(s.cfg.SonarQubeWebhookSecret, body, c.GetHeader(sonarqube.SignatureHeader)); err != nil {
			log.Warn("SonarQube webhook refused", "reason", err.Error(), "forwardedFor", c.GetHeader("X-Forwarded-For"), "userAgent", c.Request.UserAgent())
			answerSonarQube(http.StatusUnauthorized, outcomeRefusedSig, gin.H{"error": err.Error()})
			return
		}
	case !s.cfg.SonarQubeAllowUnsigned:
		log.Warn("SonarQube webhook refused: SONARQUBE_WEBHOOK_SECRET is not set")
		answerSonarQube(http.StatusServiceUnavailable, outcomeUnsignedRefused, gin.H{"error": "SonarQube webhooks are refused: SONARQUBE_WEBHOOK_SECRET is not set. Set it to the secret of the SonarQube webhook (or SONARQUBE_WEBHOOK_ALLOW_UNSIGNED=true to accept unsigned deliveries)."})
		return
	}
	if s.cfg.SASTChannel == "" {
		log.Warn("SonarQube webhook refused: SAST_CHANNEL is not set")
		answerSonarQube(http.StatusServiceUnavailable, outcomeSASTOff, gin.H{"error": "quality-gate approvals are off: set SAST_CHANNEL to the Slack channel id (C…) where failed quality gates are posted"})
		return
	}
	p, err := sonarqube.Parse(body)
	if err != nil {
		log.Warn("SonarQube webhook unreadable", "error", err)
		answerSonarQube(http.StatusBadRequest, outcomeBadRequest, gin.H{"error": err.Error()})
		return
	}
	a := p.Analysis()
	log = log.With("project", a.ProjectKey, "branch", contract.SASTBranchAttr(a), "revision", a.Revision,
		"analysisKey", a.Key, "taskId", a.TaskID)
	if p.Gate == nil {
		// The analysis task itself failed: there is no gate to decide on.
		log.Info("SonarQube delivery without a quality gate ignored", "taskStatus", p.Status)
		answerSonarQube(http.StatusOK, outcomeIgnored, gin.H{"ignored": "the analysis task ended " + p.Status + " without a quality gate result: nothing to decide"})
		return
	}
	log = log.With("gate", a.GateStatus)
	rule := s.approvals.ForGate(a.ProjectKey)
	in := contract.QualityGateInput{Analysis: a, Policy: s.sastPolicy(), Rule: &rule}
	if err := in.Validate(); err != nil {
		log.Warn("SonarQube delivery cannot start a run", "error", err)
		answerSonarQube(http.StatusBadRequest, outcomeBadRequest, gin.H{"error": err.Error()})
		return
	}
	// Not tied to the request: if SonarQube hangs up, the start still
	// finishes or is logged as lost.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), s.opts.WebhookTimeout)
	defer cancel()
	run, err := s.starter.StartQualityGate(ctx, in)
	var dup *AlreadyStartedError
	switch {
	case err == nil:
		s.metrics.started.WithLabelValues(contract.WorkflowQualityGate).Inc()
		log.Info("audit: quality-gate run started", "audit", true, "workflowId", run.WorkflowID, "runId", run.RunID,
			"at", time.Now().UTC().Format(time.RFC3339))
		answerSonarQube(http.StatusOK, outcomeStarted, gin.H{"workflowId": run.WorkflowID, "runId": run.RunID,
			"url": contract.RunURL(s.cfg.TemporalUIURL, s.cfg.TemporalNamespace, run.WorkflowID, run.RunID)})
	case errors.As(err, &dup):
		log.Info("SonarQube delivered an analysis already handled; nothing started", "workflowId", dup.WorkflowID, "runId", dup.RunID)
		answerSonarQube(http.StatusOK, outcomeDuplicate, gin.H{"workflowId": dup.WorkflowID, "duplicate": true})
	case temporalUnavailable(err):
		log.Error("Temporal is unreachable: SonarQube delivery LOST (SonarQube does not retry: re-run the analysis once Temporal answers)",
			"error", err)
		answerSonarQube(http.StatusServiceUnavailable, outcomeUnavailable, gin.H{"error": "Temporal, deploybot's workflow engine, is unreachable, so the analysis was not recorded: " + err.Error()})
	default:
		log.Error("Temporal refused the quality-gate run: SonarQube delivery LOST (SonarQube does not retry)", "error", err)
		answerSonarQube(http.StatusInternalServerError, outcomeError, gin.H{"error": "Temporal refused to start the quality-gate run: " + err.Error()})
	}
}

// sastPolicy is the quality-gate policy a new run carries in its input.
func (s *Server) sastPolicy() contract.SASTPolicy {
	return contract.SASTPolicy{
		Channel:         s.cfg.SASTChannel,
		Approvers:       append([]string(nil), s.cfg.SASTApprovers...),
		ApprovalTimeout: s.cfg.SASTApprovalTimeout,
		EmailTo:         append([]string(nil), s.cfg.SASTEmailTo...),
		TemporalUIURL:   s.cfg.TemporalUIURL,
		Namespace:       s.cfg.TemporalNamespace,
	}
}
