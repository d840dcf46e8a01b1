package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/runsapi"
)

// DefaultDecisionTimeout bounds a runs API decision: the gateway waits for
// the run itself to accept or refuse it, which needs a worker.
const DefaultDecisionTimeout = 5 * time.Second

// apiToken is one of API_TOKENS: the SHA-256 of its secret, its name, and
// the Slack user it decides as ("" = it only reads).
type apiToken struct {
	sum  [sha256.Size]byte
	name string
	user string
}

// apiError is a runs API refusal: its HTTP status, its outcome for the
// metrics, and what to tell the caller.
type apiError struct {
	code    int
	outcome string
	msg     string
}

func (e *apiError) Error() string { return e.msg }

func apiErr(code int, outcome, format string, args ...any) *apiError {
	return &apiError{code: code, outcome: outcome, msg: fmt.Sprintf(format, args...)}
}

// apiFail answers err as runsapi.Error; an error that is not an *apiError
// is a 500.
func apiFail(c *gin.Context, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = apiErr(http.StatusInternalServerError, outcomeError, "%v", err)
	}
	c.Set(ctxOutcome, ae.outcome)
	c.JSON(ae.code, runsapi.Error{Error: ae.msg})
}

// authAPI lets a runs API request through only with a bearer token from
// API_TOKENS. The token is compared with every configured one, each in
// constant time and over SHA-256 sums of equal length, so the time taken
// says nothing about which token, or how much of one, matched. Refusals
// are logged and counted; the token is never logged.
func (s *Server) authAPI(c *gin.Context) {
	// params are the challenge's after its realm (RFC 6750).
	refuse := func(reason, params, msg string) {
		s.metrics.apiRefusals.WithLabelValues(reason).Inc()
		s.log.Warn("runs API request refused", "reason", reason, "method", c.Request.Method, "path", c.FullPath(),
			"remote", c.Request.RemoteAddr, "forwardedFor", c.GetHeader("X-Forwarded-For"), "userAgent", c.Request.UserAgent())
		c.Header("WWW-Authenticate", `Bearer realm="deploybot"`+params)
		c.Set(ctxOutcome, outcomeAPIUnauthorized)
		c.AbortWithStatusJSON(http.StatusUnauthorized, runsapi.Error{Error: msg})
	}
	if len(s.apiTokens) == 0 {
		refuse(apiNoTokens, "", "the runs API is off: set API_TOKENS to one or more bearer tokens")
		return
	}
	scheme, token, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		refuse(apiMissing, "", "missing bearer token: send Authorization: Bearer <one of API_TOKENS>")
		return
	}
	idx := s.tokenIndex(token)
	if idx < 0 {
		refuse(apiWrong, `, error="invalid_token"`, "wrong bearer token: it is not one of API_TOKENS")
		return
	}
	c.Set(ctxTokenIndex, idx)
	c.Next()
}

// tokenIndex is the index of token in API_TOKENS, or -1. Every configured
// token is compared, without an early exit.
func (s *Server) tokenIndex(token string) int {
	got := sha256.Sum256([]byte(token))
	idx, found := -1, 0
	for i, want := range s.apiTokens {
		match := subtle.ConstantTimeCompare(got[:], want.sum[:])
		idx = subtle.ConstantTimeSelect(match&^found, i, idx)
		found |= match
	}
	return idx
}

// noRoute answers unknown paths: JSON under the runs API, whose callers
// are programs; elsewhere it writes nothing, and gin answers with its own
// plain "404 page not found".
func (s *Server) noRoute(c *gin.Context) {
	if strings.HasPrefix(c.Request.URL.Path, runsapi.BasePath) {
		apiFail(c, apiErr(http.StatusNotFound, outcomeNotFound, "no such runs API route: %s %s (see GET %s, GET %s/{id}, POST %s/{id}/decision)",
			c.Request.Method, c.Request.URL.Path, runsapi.BasePath, runsapi.BasePath, runsapi.BasePath))
	}
}

// apiDecisions maps the words POST .../decision accepts to approve or not.
var apiDecisions = map[string]bool{
	runsapi.DecisionApprove: true,
	runsapi.DecisionAccept:  true,
	runsapi.DecisionReject:  false,
}

// apiDecide serves POST /api/v1/runs/:id/decision: the decision is sent as
// the run's decide update, so the caller learns whether the run took it
// (the approver rules are the run's, exactly as for a click). Every
// attempt leaves an audit line: who, through which token (its index in
// API_TOKENS), and what came of it.
func (s *Server) apiDecide(c *gin.Context) {
	id, runID := c.Param("id"), c.Query("runId")
	tok := s.apiTokens[c.GetInt(ctxTokenIndex)]
	log := s.log.With("via", "api", "token", tok.name, "workflowId", id, "remote", c.Request.RemoteAddr)
	audit := func(result string, code int, args ...any) {
		s.metrics.apiDecisions.WithLabelValues(result).Inc()
		log.Info("audit: API decision", append([]any{"audit", true, "result", result, "code", code,
			"at", time.Now().UTC().Format(time.RFC3339)}, args...)...)
	}
	fail := func(err error) {
		var ae *apiError
		if errors.As(err, &ae) {
			audit(ae.outcome, ae.code, "error", ae.msg)
		} else {
			audit(outcomeError, http.StatusInternalServerError, "error", err.Error())
		}
		apiFail(c, err)
	}
	req, err := decisionRequest(c)
	if err != nil {
		fail(err)
		return
	}
	log = log.With("user", req.User, "decision", req.Decision)
	if err := checkRunID(id, runID); err != nil {
		fail(err)
		return
	}
	// A token decides as the one approver it is bound to, never as whoever
	// the body names: the run's approver rules then apply to that person.
	switch {
	case tok.user == "":
		fail(apiErr(http.StatusForbidden, outcomeRefused, "token %s may read runs but not decide: bind it to an approver in API_TOKENS, e.g. ci@U0BOB:<token>", tok.name))
		return
	case req.User != "" && req.User != tok.user:
		fail(apiErr(http.StatusForbidden, outcomeRefused, "token %s decides as %s only, not as %s", tok.name, tok.user, req.User))
		return
	}
	ctx := context.WithoutCancel(c.Request.Context())
	info, err := s.describeAPIRun(ctx, id, runID)
	if err != nil {
		fail(err)
		return
	}
	if !info.Running {
		fail(apiErr(http.StatusConflict, outcomeNotWaiting, "run %s is no longer waiting for a decision: it ended %s", id, info.Ended()))
		return
	}
	d := contract.Decision{Approve: apiDecisions[strings.ToLower(req.Decision)], Source: "api",
		User: contract.User{ID: tok.user, Name: contract.CleanName(req.UserName), Via: "token " + tok.name}}
	dctx, cancel := context.WithTimeout(ctx, s.opts.DecisionTimeout)
	res, err := s.starter.Decide(dctx, info.WorkflowID, info.RunID, d)
	cancel()
	if err != nil {
		fail(s.decisionError(ctx, info, err))
		return
	}
	audit(outcomeDecided, http.StatusOK, "outcome", res.Outcome, "runId", info.RunID)
	c.Set(ctxOutcome, outcomeDecided)
	resp := runsapi.DecisionResponse{Outcome: string(res.Outcome), Message: res.Message}
	if resp.Run, err = s.apiRun(ctx, info.WorkflowID, info.RunID); err != nil {
		// The decision stands; only the fresh look failed.
		resp.Run = s.baseRun(info)
		resp.Run.Message = runMessage("the decision was taken, but the run could not be read afterwards: %v", err)
	}
	c.JSON(http.StatusOK, resp)
}

// temporalDownErr is the answer when Temporal cannot be reached.
func temporalDownErr(err error) *apiError {
	return apiErr(http.StatusServiceUnavailable, outcomeUnavailable, "Temporal, deploybot's workflow engine, is unreachable, so nothing was done: %v", err)
}

// decisionRequest reads and checks the body of a decision.
func decisionRequest(c *gin.Context) (runsapi.DecisionRequest, error) {
	var req runsapi.DecisionRequest
	body, err := readBody(c)
	switch {
	case errors.Is(err, errTooLarge):
		return req, apiErr(http.StatusRequestEntityTooLarge, outcomeTooLarge, "the body is over %d bytes; a decision is a small JSON object like {\"decision\":\"approve\",\"user\":\"U0BOB\"}", MaxBodyBytes)
	case err != nil:
		return req, apiErr(http.StatusBadRequest, outcomeBadRequest, "could not read the body: %v", err)
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, apiErr(http.StatusBadRequest, outcomeBadRequest, `the body must be JSON like {"decision":"approve","user":"U0BOB"}: %v`, err)
	}
	if _, ok := apiDecisions[strings.ToLower(req.Decision)]; !ok {
		return req, apiErr(http.StatusBadRequest, outcomeBadRequest, "decision %q is not one of %s, %s, %s",
			req.Decision, runsapi.DecisionApprove, runsapi.DecisionAccept, runsapi.DecisionReject)
	}
	if req.User != "" && !contract.IsSlackUserID(req.User) {
		return req, apiErr(http.StatusBadRequest, outcomeBadRequest, "user %q is not a Slack user id; it may be left out: the token decides as the user API_TOKENS binds it to", req.User)
	}
	return req, nil
}

// decisionError says what a failed decide update means for the caller.
func (s *Server) decisionError(ctx context.Context, info RunInfo, err error) error {
	var app *temporal.ApplicationError
	var timeout *client.WorkflowUpdateServiceTimeoutOrCanceledError
	var unavailable *serviceerror.Unavailable
	// The SDK reports both "no worker took the update" and "Temporal went
	// away" as a timeout; its cause tells them apart.
	timedOut := errors.As(err, &timeout) || errors.Is(err, context.DeadlineExceeded)
	switch {
	case errors.As(err, &app) && app.Type() == contract.DecisionNotAllowedErrorType:
		return apiErr(http.StatusForbidden, outcomeRefused, "%s", app.Message())
	case errors.As(err, &app) && app.Type() == contract.DecisionNotWaitingErrorType:
		return apiErr(http.StatusConflict, outcomeNotWaiting, "%s", app.Message())
	case errors.As(err, &app) && app.Type() == contract.DecisionInvalidErrorType:
		return apiErr(http.StatusBadRequest, outcomeBadRequest, "%s", app.Message())
	case errors.Is(err, ErrNotFound):
		// It was running a moment ago; Temporal says not found for a run
		// that has closed since.
		dctx, cancel := context.WithTimeout(ctx, s.opts.TemporalTimeout)
		defer cancel()
		if after, derr := s.starter.DescribeRun(dctx, info.WorkflowID, info.RunID); derr == nil {
			return apiErr(http.StatusConflict, outcomeNotWaiting, "run %s is no longer waiting for a decision: it ended %s", info.WorkflowID, after.Ended())
		}
		return apiErr(http.StatusNotFound, outcomeNotFound, "no run with id %q", info.WorkflowID)
	case errors.As(err, &unavailable) || (!timedOut && temporalUnavailable(err)):
		return temporalDownErr(err)
	case timedOut:
		return apiErr(http.StatusGatewayTimeout, outcomeNoWorker, "no worker answered within %s: is `deploybot worker` running? The decision was not taken", s.opts.DecisionTimeout)
	case errors.As(err, &app):
		return apiErr(http.StatusInternalServerError, outcomeError, "the run could not take the decision: %s", app.Message())
	}
	return apiErr(http.StatusInternalServerError, outcomeError, "Temporal refused the decision: %v", err)
}
