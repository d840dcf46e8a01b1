package workflows_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
	"github.com/deploybot/deploybot/workflows"
)

// gateHarness runs QualityGateWorkflow with Slack, Temporal and email
// activities mocked, and records what they were asked to do.
type gateHarness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	slackRecorder
	supersedes []activities.SupersedeOlderInput
	emails     []activities.SendEmailInput
	// newer answers the n-th SupersedeOlder call (from 0); nil: none later.
	newer func(n int) *contract.Supersede
	// emailErrs are returned by SendEmail attempts in order (nil = sent).
	emailErrs []error
}

func newGateHarness(t *testing.T) *gateHarness {
	var s testsuite.WorkflowTestSuite
	h := &gateHarness{t: t, env: testEnv(&s)}
	env := h.env
	env.RegisterWorkflow(workflows.QualityGateWorkflow)
	var tp *activities.Temporal
	var em *activities.Email
	env.RegisterActivity(tp)
	env.RegisterActivity(em)
	h.mockSlack(env)
	env.OnActivity(tp.SupersedeOlder, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SupersedeOlderInput) (activities.SupersedeOlderResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.supersedes = append(h.supersedes, in)
			res := activities.SupersedeOlderResult{Signalled: []string{"sast-older"}}
			if h.newer != nil {
				res.Newer = h.newer(len(h.supersedes) - 1)
			}
			return res, nil
		}).Maybe()
	env.OnActivity(em.SendEmail, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SendEmailInput) (activities.SendEmailResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.emailErrs) > 0 {
				err := h.emailErrs[0]
				h.emailErrs = h.emailErrs[1:]
				if err != nil {
					return activities.SendEmailResult{}, err
				}
			}
			h.emails = append(h.emails, in)
			return activities.SendEmailResult{MessageID: in.MessageID}, nil
		}).Maybe()
	return h
}

var analysedAt = time.Date(2026, 3, 5, 14, 2, 11, 0, time.UTC)

func failedGate() contract.QualityGateInput {
	return contract.QualityGateInput{
		Analysis: contract.Analysis{
			Key: "deploybot:payments-api~branch-main~task-T1", TaskID: "T1",
			ProjectKey: "deploybot:payments-api", ProjectName: "payments-api",
			DashboardURL: "https://sonarqube.example.com/dashboard?id=deploybot%3Apayments-api",
			Branch:       "main", IsMain: true,
			Revision:   "9f2c1b7e5a3d4c6b8a0e1f2d3c4b5a6978675645",
			AnalysedAt: analysedAt, GateName: "Sonar way", GateStatus: contract.GateError,
			Conditions: []contract.GateCondition{
				{Metric: "new_security_rating", Operator: "GREATER_THAN", Value: "3", Status: "ERROR", ErrorThreshold: "1"},
				{Metric: "new_coverage", Operator: "LESS_THAN", Value: "42.5", Status: "ERROR", ErrorThreshold: "80"},
				{Metric: "new_duplicated_lines_density", Operator: "GREATER_THAN", Value: "0.0", Status: "OK", ErrorThreshold: "3"},
			},
		},
		Policy: contract.SASTPolicy{
			Channel: "C0SEC", Approvers: []string{bob.ID}, ApprovalTimeout: 24 * time.Hour,
			EmailTo: []string{"security@example.com"}, TemporalUIURL: "http://localhost:8233",
		},
	}
}

func (h *gateHarness) run(in contract.QualityGateInput) contract.QualityGateResult {
	h.t.Helper()
	return execute[contract.QualityGateResult](h.t, h.env, workflows.QualityGateWorkflow, in)
}

func (h *gateHarness) signal(after time.Duration, name string, arg any) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(name, arg) }, after)
}

// lastRequest is the request message as last shown (post or update).
func (h *gateHarness) lastRequest() *slackui.SASTRequest {
	h.t.Helper()
	for i := len(h.updates) - 1; i >= 0; i-- {
		if r := h.updates[i].Message.SASTRequest; r != nil {
			return r
		}
	}
	for _, p := range h.posts {
		if p.Message.SASTRequest != nil {
			return p.Message.SASTRequest
		}
	}
	h.t.Fatal("no quality-gate request was posted")
	return nil
}

func (h *gateHarness) threadTexts() []string {
	var out []string
	for _, p := range h.posts {
		if p.Message.Text != "" {
			out = append(out, p.Message.Text)
		}
	}
	return out
}

func TestQualityGateAccepted(t *testing.T) {
	h := newGateHarness(t)
	h.signal(time.Minute, contract.SignalDecision, contract.Decision{Approve: true, User: bob, Source: "slack"})
	res := h.run(failedGate())

	if res.Outcome != contract.OutcomeAccepted || res.DecidedBy == nil || res.DecidedBy.ID != bob.ID {
		t.Fatalf("result = %+v, want accepted by bob", res)
	}
	if len(h.posts) == 0 || h.posts[0].Channel != "C0SEC" || h.posts[0].ThreadTS != "" {
		t.Fatalf("request not posted at the top of SAST_CHANNEL: %+v", h.posts)
	}
	posted := h.posts[0].Message.SASTRequest
	if posted == nil || posted.State != slackui.RequestPending || posted.WorkflowID == "" || posted.ExpiresAt.IsZero() {
		t.Fatalf("posted request = %+v", posted)
	}
	if req := h.lastRequest(); req.State != slackui.RequestAccepted || req.DecidedBy.ID != bob.ID || req.DecidedAt.IsZero() {
		t.Errorf("request after the decision = %+v, want accepted by bob", req)
	}
	// Told once when the run starts, and once more while it waits (the
	// look again for runs visibility had not shown yet).
	if len(h.supersedes) != 2 || h.supersedes[0].Project != "deploybot:payments-api" || h.supersedes[0].Branch != "main" || h.supersedes[0].Newer.GatePassed || h.supersedes[1].Newer.WorkflowID != h.supersedes[0].Newer.WorkflowID {
		t.Errorf("older analyses not told correctly: %+v", h.supersedes)
	}
	if len(h.emails) != 1 {
		t.Fatalf("%d emails sent, want 1", len(h.emails))
	}
	e := h.emails[0]
	if len(e.To) != 1 || e.To[0] != "security@example.com" {
		t.Errorf("email to %v", e.To)
	}
	for _, want := range []string{"Security risk accepted", "deploybot:payments-api (main)", "9f2c1b7"} {
		if !strings.Contains(e.Subject, want) {
			t.Errorf("subject %q lacks %q", e.Subject, want)
		}
	}
	for _, want := range []string{
		"bob (U0BOB) accepted the risk", "Project:", "deploybot:payments-api", "Branch:", "main",
		"9f2c1b7e5a3d4c6b8a0e1f2d3c4b5a6978675645", "Decision:", "RISK ACCEPTED", "Decided by:",
		"new_security_rating", "3 (C)", "new_coverage", "42.5", "< ", "80",
		"https://sonarqube.example.com/dashboard?id=deploybot%3Apayments-api", "http://localhost:8233/namespaces/",
	} {
		if !strings.Contains(e.Text, want) {
			t.Errorf("email body lacks %q:\n%s", want, e.Text)
		}
	}
	if strings.Contains(e.Text, "new_duplicated_lines_density") {
		t.Errorf("email lists a condition that passed:\n%s", e.Text)
	}
	if e.Headers["X-Deploybot-Decision"] != "risk_accepted" || !strings.HasSuffix(e.MessageID, ".decision@deploybot>") {
		t.Errorf("headers %v, message id %q", e.Headers, e.MessageID)
	}
	if res.EmailMessageID == "" || res.EmailError != "" {
		t.Errorf("result email fields: %+v", res)
	}
}

func TestQualityGateRejected(t *testing.T) {
	h := newGateHarness(t)
	h.signal(time.Minute, contract.SignalDecision, contract.Decision{Approve: false, User: bob, Source: "slack"})
	res := h.run(failedGate())
	if res.Outcome != contract.OutcomeRejected {
		t.Fatalf("outcome = %s, want rejected", res.Outcome)
	}
	if req := h.lastRequest(); req.State != slackui.RequestRejected {
		t.Errorf("request state = %s", req.State)
	}
	if len(h.emails) != 1 || !strings.Contains(h.emails[0].Subject, "rejected") || !strings.Contains(h.emails[0].Text, "REJECTED") {
		t.Errorf("rejection email = %+v", h.emails)
	}
}

func TestQualityGateUnauthorizedThenExpires(t *testing.T) {
	h := newGateHarness(t)
	h.signal(time.Minute, contract.SignalDecision, contract.Decision{Approve: true, User: mallory, Source: "slack"})
	h.signal(2*time.Minute, contract.SignalDecision, contract.Decision{Approve: true, User: alice, Source: "slack"})
	res := h.run(failedGate())

	if res.Outcome != contract.OutcomeExpired || res.DecidedBy != nil {
		t.Fatalf("result = %+v, want expired with nobody deciding", res)
	}
	if len(h.ephemerals) != 2 || h.ephemerals[0].User != mallory.ID || !strings.Contains(h.ephemerals[0].Text, "not a security approver") {
		t.Errorf("refusals = %+v", h.ephemerals)
	}
	if req := h.lastRequest(); req.State != slackui.RequestExpired {
		t.Errorf("request state = %s, want expired", req.State)
	}
	texts := h.threadTexts()
	if len(texts) != 1 || !strings.Contains(texts[0], "Reminder") || !strings.Contains(texts[0], "<@U0BOB>") {
		t.Errorf("thread = %q, want one reminder naming the approvers", texts)
	}
	if len(h.emails) != 0 {
		t.Errorf("an expired request sent %d emails", len(h.emails))
	}
}

func TestQualityGateReminderAtHalfTimeout(t *testing.T) {
	h := newGateHarness(t)
	var remindersAt11h, remindersAt13h int
	count := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.threadTexts())
	}
	h.env.RegisterDelayedCallback(func() { remindersAt11h = count() }, 11*time.Hour)
	h.env.RegisterDelayedCallback(func() { remindersAt13h = count() }, 13*time.Hour)
	h.signal(14*time.Hour, contract.SignalDecision, contract.Decision{Approve: true, User: bob})
	if res := h.run(failedGate()); res.Outcome != contract.OutcomeAccepted {
		t.Fatalf("outcome = %s", res.Outcome)
	}
	if remindersAt11h != 0 || remindersAt13h != 1 {
		t.Errorf("reminders: %d before half of 24h, %d after; want 0 then 1", remindersAt11h, remindersAt13h)
	}
	if h.posts[1].ThreadTS != h.posts[0].ThreadTS && h.posts[1].ThreadTS == "" {
		t.Errorf("reminder not in the request's thread: %+v", h.posts[1])
	}
}

func TestQualityGateSupersededByPassingAnalysis(t *testing.T) {
	h := newGateHarness(t)
	// An older delivery arriving late does not supersede.
	h.signal(time.Minute, contract.SignalSuperseded, contract.Supersede{WorkflowID: "sast-old", AnalysedAt: analysedAt.Add(-time.Hour), GatePassed: true})
	h.signal(2*time.Minute, contract.SignalSuperseded, contract.Supersede{WorkflowID: "sast-new", Revision: "abcdef0123456789", AnalysedAt: analysedAt.Add(time.Hour), GatePassed: true})
	res := h.run(failedGate())
	if res.Outcome != contract.OutcomeSuperseded || res.SupersededBy != "sast-new" {
		t.Fatalf("result = %+v, want superseded by sast-new", res)
	}
	req := h.lastRequest()
	if req.State != slackui.RequestSuperseded || !strings.Contains(req.Note, "abcdef0") || !strings.Contains(req.Note, "passed") {
		t.Errorf("request = %+v, want superseded saying the newer revision passed", req)
	}
	if len(h.emails) != 0 {
		t.Errorf("superseded request sent email")
	}
}

// Two deliveries of a branch whose runs start together can miss each other
// in visibility; the older run finds the later one when it looks again.
func TestQualityGateLooksAgainForALaterAnalysis(t *testing.T) {
	h := newGateHarness(t)
	later := contract.Supersede{WorkflowID: "sast-later", Revision: "abcdef0123456789", EvaluatedAt: analysedAt.Add(time.Minute), StartedAt: analysedAt.Add(time.Minute)}
	h.newer = func(n int) *contract.Supersede {
		if n == 0 {
			return nil // not visible yet when the run started
		}
		return &later
	}
	var at time.Time
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		if info.ActivityType.Name == "SupersedeOlder" {
			at = h.env.Now()
		}
	})
	start := h.env.Now()
	res := h.run(failedGate())
	if res.Outcome != contract.OutcomeSuperseded || res.SupersededBy != "sast-later" {
		t.Fatalf("result = %+v, want superseded by sast-later", res)
	}
	if len(h.supersedes) != 2 {
		t.Fatalf("SupersedeOlder called %d times, want 2", len(h.supersedes))
	}
	if got := at.Sub(start); got < 20*time.Second || got > time.Minute {
		t.Errorf("looked again after %s, want 20s", got)
	}
	if req := h.lastRequest(); req.State != slackui.RequestSuperseded {
		t.Errorf("request state = %s, want superseded", req.State)
	}
}

func TestQualityGatePassedSupersedesOlderAndEnds(t *testing.T) {
	h := newGateHarness(t)
	in := failedGate()
	in.Analysis.GateStatus = contract.GateOK
	in.Policy = contract.SASTPolicy{} // a passing gate needs no channel
	res := h.run(in)
	if res.Outcome != contract.OutcomePassed || len(res.Superseded) != 1 {
		t.Fatalf("result = %+v, want passed with one older run told", res)
	}
	if len(h.supersedes) != 1 || !h.supersedes[0].Newer.GatePassed || !h.supersedes[0].Newer.AnalysedAt.Equal(analysedAt) {
		t.Errorf("supersede = %+v", h.supersedes)
	}
	if len(h.posts) != 0 || len(h.emails) != 0 {
		t.Errorf("a passing gate posted %d messages and sent %d emails", len(h.posts), len(h.emails))
	}
}

func TestQualityGateEmailLateThenSent(t *testing.T) {
	h := newGateHarness(t)
	unavailable := temporal.NewApplicationError("email: 451 try later", activities.EmailUnavailableErrorType)
	// The first round (3 minutes of attempts) fails entirely; the second
	// round's second attempt gets through.
	for range 12 {
		h.emailErrs = append(h.emailErrs, unavailable)
	}
	h.signal(time.Minute, contract.SignalDecision, contract.Decision{Approve: true, User: bob})
	res := h.run(failedGate())
	if res.Outcome != contract.OutcomeAccepted || res.EmailError != "" || len(h.emails) != 1 {
		t.Fatalf("result = %+v, %d emails; want accepted and one email", res, len(h.emails))
	}
	texts := strings.Join(h.threadTexts(), "\n")
	if !strings.Contains(texts, "has not gone out yet") || !strings.Contains(texts, "went out after all") {
		t.Errorf("thread = %q, want the late email reported then its success", texts)
	}
}

func TestQualityGateEmailRejectedReported(t *testing.T) {
	h := newGateHarness(t)
	h.emailErrs = []error{temporal.NewNonRetryableApplicationError("email: 535 authentication failed: check SMTP_USERNAME and SMTP_PASSWORD", activities.EmailRejectedErrorType, nil)}
	h.signal(time.Minute, contract.SignalDecision, contract.Decision{Approve: true, User: bob})
	res := h.run(failedGate())
	if res.Outcome != contract.OutcomeAccepted || !strings.Contains(res.EmailError, "535") {
		t.Fatalf("result = %+v, want accepted with the email error", res)
	}
	texts := strings.Join(h.threadTexts(), "\n")
	if !strings.Contains(texts, "could not be sent") || !strings.Contains(texts, "SMTP_USERNAME") || strings.Contains(texts, "keeps trying") {
		t.Errorf("thread = %q, want one failure report naming the cause, no retry promise", texts)
	}
}

func TestQualityGateDecideUpdate(t *testing.T) {
	h := newGateHarness(t)
	type answer struct {
		res contract.DecisionResult
		err error
	}
	answers := map[string]*answer{}
	update := func(after time.Duration, name string, d contract.Decision) {
		answers[name] = &answer{}
		h.env.RegisterDelayedCallback(func() {
			h.env.UpdateWorkflow(contract.UpdateDecide, name, &testsuite.TestUpdateCallback{
				OnAccept: func() {},
				OnReject: func(err error) { answers[name].err = err },
				OnComplete: func(v any, err error) {
					if err != nil {
						answers[name].err = err
						return
					}
					answers[name].res = v.(contract.DecisionResult)
				},
			}, d)
		}, after)
	}
	update(time.Minute, "nouser", contract.Decision{Approve: true})
	update(2*time.Minute, "mallory", contract.Decision{Approve: true, User: mallory, Source: "api"})
	update(3*time.Minute, "bob", contract.Decision{Approve: true, User: bob, Source: "api"})
	// Arrives in the same workflow task as bob's: validated, but the loop takes bob's first.
	update(3*time.Minute, "late", contract.Decision{Approve: false, User: bob, Source: "api"})
	res := h.run(failedGate())

	if res.Outcome != contract.OutcomeAccepted || res.DecidedBy.ID != bob.ID {
		t.Fatalf("result = %+v, want accepted by bob through the API", res)
	}
	wantType := map[string]string{
		"nouser": contract.DecisionInvalidErrorType, "mallory": contract.DecisionNotAllowedErrorType,
		"late": contract.DecisionNotWaitingErrorType,
	}
	for name, typ := range wantType {
		var appErr *temporal.ApplicationError
		if a := answers[name]; a.err == nil || !errors.As(a.err, &appErr) || appErr.Type() != typ {
			t.Errorf("update %s: err = %v, want ApplicationError %s", name, a.err, typ)
		}
	}
	if a := answers["bob"]; a.err != nil || a.res.Outcome != contract.OutcomeAccepted {
		t.Errorf("bob's update = %+v", a)
	}
	if len(h.ephemerals) != 0 {
		t.Errorf("API refusals must not be posted in Slack: %+v", h.ephemerals)
	}
}

func TestQualityGateCancelled(t *testing.T) {
	h := newGateHarness(t)
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, time.Minute)
	h.env.ExecuteWorkflow(workflows.QualityGateWorkflow, failedGate())
	var res contract.QualityGateResult
	if err := h.env.GetWorkflowResult(&res); err != nil && !temporal.IsCanceledError(err) {
		t.Fatalf("workflow error: %v", err)
	}
	if req := h.lastRequest(); req.State != slackui.RequestCancelled {
		t.Errorf("request state after cancel = %s", req.State)
	}
}

func TestQualityGateInvalidInput(t *testing.T) {
	h := newGateHarness(t)
	in := failedGate()
	in.Policy.Channel = ""
	h.env.ExecuteWorkflow(workflows.QualityGateWorkflow, in)
	err := h.env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != workflows.InvalidInputErrorType || !strings.Contains(err.Error(), "SAST_CHANNEL") {
		t.Fatalf("error = %v, want InvalidInput naming SAST_CHANNEL", err)
	}
}

// TestQualityGateEmailNamesCannotForgeLines (Step 7, defect 11): a name
// with CR/LF (from a crafted request) cannot add a line such as "Bcc:" to
// the email, and a decision through the runs API says through which token.
func TestQualityGateEmailNamesCannotForgeLines(t *testing.T) {
	h := newGateHarness(t)
	forged := contract.User{ID: bob.ID, Name: "bob\r\nBcc: evil@example.com", Via: "token ci"}
	h.signal(time.Minute, contract.SignalDecision, contract.Decision{Approve: true, User: forged, Source: "api"})
	h.run(failedGate())
	if len(h.emails) != 1 {
		t.Fatalf("%d emails, want 1", len(h.emails))
	}
	for _, line := range strings.Split(h.emails[0].Text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "Bcc:") {
			t.Errorf("the name forged a line %q:\n%s", line, h.emails[0].Text)
		}
	}
	if !strings.Contains(h.emails[0].Text, "bob Bcc: evil@example.com (U0BOB) via token ci accepted the risk") {
		t.Errorf("email does not say who decided through which token:\n%s", h.emails[0].Text)
	}
}
