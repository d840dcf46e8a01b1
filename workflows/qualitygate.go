package workflows

import (
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// emailActivities names the email activities; the worker registers real ones.
var emailActivities *activities.Email

// gateRun is a QualityGateWorkflow run's state; the status query returns
// its status field.
type gateRun struct {
	in       contract.QualityGateInput
	status   contract.QualityGateStatus
	request  slackui.SASTRequest
	runURL   string
	runID    string
	msg      messenger
	approval *approval
	result   contract.QualityGateResult
	// gateOrder: this run orders deliveries by contract.GateOrder.
	gateOrder bool
}

// gateOrderVersion marks runs that order a branch's deliveries by
// contract.GateOrder (evaluation time, then start, then id).
const gateOrderVersion = "sast-gate-order"

// lookAgainVersion marks runs that look for a later analysis of their
// branch once more while they wait. Visibility is eventually consistent:
// two deliveries whose runs start at the same moment (workers back after an
// outage) can each list the branch before the other is visible, and both
// would stay pending. A second look after lookAgainAfter finds the later one.
const lookAgainVersion = "sast-look-again"

// lookAgainAfter is far longer than visibility lags, even on a Temporal
// server catching up after a restart, and short beside any approval timeout.
const lookAgainAfter = 20 * time.Second

var _ = define(contract.WorkflowQualityGate, QualityGateWorkflow)

// QualityGateWorkflow carries one SonarQube analysis from the webhook to a
// recorded decision:
//
//  1. tell the pending runs of older analyses of the same project and
//     branch that this one supersedes them; a passing gate ends here;
//  2. post the failed conditions in SAST_CHANNEL with Accept risk / Reject
//     and wait for a security approver (a Slack click or the runs API), a
//     reminder at half the approval timeout, expiry, a newer analysis, or
//     cancellation;
//  3. record the decision on the message and email it to SAST_EMAIL_TO,
//     retrying; a send that keeps failing is reported in the thread.
func QualityGateWorkflow(ctx workflow.Context, in contract.QualityGateInput) (contract.QualityGateResult, error) {
	if err := in.Validate(); err != nil {
		return contract.QualityGateResult{}, invalidInput(err)
	}
	r := newGateRun(ctx, in)
	var err error
	if r.approval, err = newApproval(ctx, &r.status, r.msg, gateRules(in), sastDecisionResult); err != nil {
		return contract.QualityGateResult{}, err
	}
	// Runs of this version order the deliveries of a branch by when their
	// gate was evaluated (contract.GateOrder), so a gate that fails again
	// after passing gets a request again and exactly one of two look-alike
	// deliveries stays pending; older runs replay as they were.
	r.gateOrder = workflow.GetVersion(ctx, gateOrderVersion, workflow.DefaultVersion, 1) == 1
	a := in.Analysis
	upsert(ctx, contract.SASTSearchAttributes(a)...)

	newer := r.supersedeOlder(ctx)
	if r.gateOrder && newer != nil {
		// A later evaluation of the branch exists: this delivery is not the
		// gate's current state, whatever it says.
		return r.supersededBy(ctx, *newer)
	}
	if a.GateStatus == contract.GateOK {
		return r.end(ctx, contract.OutcomePassed, slackui.GatePassed(len(r.result.Superseded)))
	}
	if err := r.askForDecision(ctx); err != nil {
		return r.end(ctx, contract.OutcomeFailed, slackui.GateRequestNotPosted(errMessage(err)))
	}
	ended := r.approval.await(ctx)
	switch {
	case ended.Decision != nil:
		return r.decided(ctx, *ended.Decision, ended.Outcome, ended.Updated)
	case ended.Outcome == contract.OutcomeSuperseded:
		return r.supersededBy(ctx, ended.Interrupt.(contract.Supersede))
	}
	return r.end(ctx, ended.Outcome, r.approval.view.Note)
}

func newGateRun(ctx workflow.Context, in contract.QualityGateInput) *gateRun {
	info := workflow.GetInfo(ctx)
	ns := in.Policy.Namespace
	if ns == "" {
		ns = info.Namespace
	}
	r := &gateRun{
		in:     in,
		runURL: contract.RunURL(in.Policy.TemporalUIURL, ns, info.WorkflowExecution.ID, info.WorkflowExecution.RunID),
		runID:  info.WorkflowExecution.RunID,
		msg:    messenger{channel: in.Policy.Channel, key: info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID},
		status: contract.QualityGateStatus{
			Step:      contract.SASTStepSuperseding,
			Analysis:  in.Analysis,
			Channel:   in.Policy.Channel,
			StartedAt: workflow.Now(ctx),
		},
		result: contract.QualityGateResult{
			ProjectKey: in.Analysis.ProjectKey,
			Branch:     in.Analysis.BranchLabel(),
			Revision:   in.Analysis.Revision,
		},
	}
	if in.Rule != nil {
		r.status.Rule, r.result.Rule = in.Rule.Name, in.Rule.Name
	}
	r.request = slackui.SASTRequest{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, RunURL: r.runURL, Analysis: in.Analysis, State: slackui.RequestPending}
	return r
}

// supersedeOlder tells the pending runs of older analyses of this branch,
// and returns the run of a later one if there is one. It is best effort: a
// failure leaves an older request to expire or be decided, which is logged
// but does not hold up this analysis.
func (r *gateRun) supersedeOlder(ctx workflow.Context) *contract.Supersede {
	actx := workflow.WithActivityOptions(ctx, supersedeOptions)
	var res activities.SupersedeOlderResult
	err := workflow.ExecuteActivity(actx, temporalActivities.SupersedeOlder, activities.SupersedeOlderInput{
		Project:   r.in.Analysis.ProjectKey,
		Branch:    contract.SASTBranchAttr(r.in.Analysis),
		Newer:     r.self(ctx),
		Namespace: r.in.Policy.Namespace,
	}).Get(ctx, &res)
	if err != nil {
		workflow.GetLogger(ctx).Error("could not tell older pending analyses they are superseded", "error", err)
		return nil
	}
	for _, id := range res.Signalled {
		if !slices.Contains(r.result.Superseded, id) {
			r.result.Superseded = append(r.result.Superseded, id)
		}
	}
	return res.Newer
}

// self describes this run's analysis to the runs it supersedes.
func (r *gateRun) self(ctx workflow.Context) contract.Supersede {
	a := r.in.Analysis
	info := workflow.GetInfo(ctx)
	return contract.Supersede{
		WorkflowID:  info.WorkflowExecution.ID,
		Revision:    a.Revision,
		AnalysedAt:  a.AnalysedAt,
		EvaluatedAt: a.EvaluatedAt(),
		StartedAt:   info.WorkflowStartTime,
		GatePassed:  a.GateStatus == contract.GateOK,
		RunURL:      r.runURL,
	}
}

// askForDecision posts the request with Accept risk / Reject buttons; the
// approvers are reminded at half the approval timeout, and a newer analysis
// of the branch ends the wait.
func (r *gateRun) askForDecision(ctx workflow.Context) error {
	timeout := r.approval.rules.rule.Timeout
	err := r.approval.ask(ctx, approvalRequest{
		approvedState: slackui.RequestAccepted,
		render: func(v approvalView) slackui.Message {
			req := r.request
			req.State, req.DecidedBy, req.DecidedAt, req.Note, req.ExpiresAt, req.Approvals = v.State, v.DecidedBy, v.DecidedAt, v.Note, v.ExpiresAt, v.Progress
			return slackui.Message{SASTRequest: &req}
		},
		remind: r.reminder,
		closed: func(o contract.Outcome) string {
			if o == contract.OutcomeExpired {
				return slackui.GateExpired(timeout)
			}
			return slackui.CancelledBeforeDecision()
		},
		interrupts: r.interrupts(ctx),
	})
	r.status.ExpiresAt = r.approval.view.ExpiresAt
	if err != nil {
		return err
	}
	r.status.RequestTS = r.approval.ts
	r.status.Step = contract.SASTStepAwaitingDecision
	return nil
}

// interrupts end the wait for a later analysis of the branch: one told by
// its run, or one found by looking again.
func (r *gateRun) interrupts(ctx workflow.Context) []approvalInterrupt {
	told := approvalInterrupt{ch: workflow.GetSignalChannel(ctx, contract.SignalSuperseded), take: r.takeSupersede}
	if !r.gateOrder || workflow.GetVersion(ctx, lookAgainVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return []approvalInterrupt{told}
	}
	return []approvalInterrupt{told, {ch: r.lookAgain(ctx), take: r.takeSupersede}}
}

// lookAgain lists the branch's runs once more after lookAgainAfter (or half
// the approval timeout, if shorter), telling older ones again and sending a
// later one, if found, on the returned channel.
func (r *gateRun) lookAgain(ctx workflow.Context) workflow.ReceiveChannel {
	found := workflow.NewBufferedChannel(ctx, 1)
	after := min(lookAgainAfter, r.approval.rules.rule.Timeout/2)
	workflow.Go(ctx, func(ctx workflow.Context) {
		if workflow.Sleep(ctx, after) != nil {
			return
		}
		if newer := r.supersedeOlder(ctx); newer != nil {
			found.Send(ctx, *newer)
		}
	})
	return found
}

// takeSupersede ends the wait for a later analysis of the branch.
// Deliveries can arrive out of order: only a later one supersedes this one.
func (r *gateRun) takeSupersede(ctx workflow.Context, c workflow.ReceiveChannel) *approvalEnd {
	var s contract.Supersede
	c.Receive(ctx, &s)
	newer := !s.AnalysedAt.Before(r.in.Analysis.AnalysedAt)
	if r.gateOrder {
		newer = s.Order().After(r.self(ctx).Order())
	}
	if s.WorkflowID == "" || !newer {
		return nil
	}
	return &approvalEnd{Outcome: contract.OutcomeSuperseded, Interrupt: s}
}

// gateRules are the approval rule of a quality-gate run (the rule of
// APPROVAL_POLICY_FILE matching the SonarQube project, else SAST_APPROVERS)
// and its refusals' words.
func gateRules(in contract.QualityGateInput) approvalRules {
	if in.Rule != nil && !isEnvRule(*in.Rule) {
		return approvalRules{rule: *in.Rule, fromPolicy: true, notApprover: slackui.NotAnApproverOfRule(*in.Rule, slackui.TheGateOf(in.Analysis.ProjectKey))}
	}
	rs := approvalRules{
		rule:        contract.DefaultGateRule(in.Policy),
		notApprover: slackui.NotASecurityApprover(in.Analysis.ProjectKey),
	}
	if in.Rule != nil {
		rs.rule, rs.fromPolicy = *in.Rule, true
	}
	return rs
}

// QualityGateMayNotDecide applies a quality-gate run's approver rules to a
// first decision d: why it does not count, or "" if it does (or may).
func QualityGateMayNotDecide(in contract.QualityGateInput, d contract.Decision) string {
	return gateRules(in).why(d, nil, nil, nil)
}

// sastDecisionResult answers an accepted UpdateDecide on a quality-gate run.
func sastDecisionResult(d contract.Decision) contract.DecisionResult {
	outcome := contract.OutcomeRejected
	if d.Approve {
		outcome = contract.OutcomeAccepted
	}
	return contract.DecisionResult{Outcome: outcome, Message: slackui.GateDecisionAnswer(d.Approve)}
}

// reminder nudges the approvers in the thread.
func (r *gateRun) reminder(v approvalView) string {
	return slackui.GateReminder(v.ExpiresAt, r.approval.rules.rule)
}

// decided records the decision on the message and emails it.
func (r *gateRun) decided(ctx workflow.Context, d contract.Decision, outcome contract.Outcome, updated workflow.Future) (contract.QualityGateResult, error) {
	user, v := d.User, r.approval.view
	r.status.DecidedBy, r.status.DecidedAt = &user, v.DecidedAt
	r.result.DecidedBy, r.result.DecidedAt = &user, v.DecidedAt
	r.status.Approvals, r.result.Approvals = r.approval.approved, r.approval.approved
	r.request.State, r.request.DecidedBy, r.request.DecidedAt = v.State, v.DecidedBy, v.DecidedAt
	if len(r.in.Policy.EmailTo) > 0 {
		r.status.Step = contract.SASTStepEmailing
		workflow.SetCurrentDetails(ctx, slackui.GateStepDetails(r.status.Step, ""))
		r.email(ctx)
	}
	msg := slackui.GateDecided(v.State, user, slackui.GateEmail{To: r.in.Policy.EmailTo, Sent: r.status.EmailSent, Error: r.status.EmailError})
	if err := updated.Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("could not update the quality-gate request message", "error", err)
	}
	return r.end(ctx, outcome, msg)
}

// email sends the decision to SAST_EMAIL_TO. A first, short round of
// attempts covers a blip; if it fails the thread is told and a long round
// follows, so people know the email is late rather than lost.
func (r *gateRun) email(ctx workflow.Context) {
	in := decisionEmail(r)
	var res activities.SendEmailResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, emailFirstOptions), emailActivities.SendEmail, in).Get(ctx, &res)
	if err != nil && errType(err) != activities.EmailRejectedErrorType && errType(err) != activities.EmailBadMessageErrorType {
		r.msg.note(ctx, r.status.RequestTS, slackui.EmailLate(r.in.Policy.EmailTo, errMessage(err), emailRetryFor), "email-late")
		err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, emailRetryOptions), emailActivities.SendEmail, in).Get(ctx, &res)
		if err == nil {
			r.msg.note(ctx, r.status.RequestTS, slackui.EmailSentLate(), "email-sent-late")
		}
	}
	if err != nil {
		r.status.EmailError = errMessage(err)
		r.result.EmailError = r.status.EmailError
		r.msg.note(ctx, r.status.RequestTS, slackui.EmailNotSent(slackui.DecisionEmail, r.in.Policy.EmailTo, r.status.EmailError), "email-failed")
		return
	}
	r.status.EmailSent = true
	r.result.EmailMessageID = res.MessageID
}

// supersededBy closes the request because a newer analysis arrived.
func (r *gateRun) supersededBy(ctx workflow.Context, s contract.Supersede) (contract.QualityGateResult, error) {
	r.status.SupersededBy, r.result.SupersededBy = s.WorkflowID, s.WorkflowID
	note := slackui.Superseded(s)
	r.approval.show(ctx, slackui.RequestSuperseded, note)
	return r.end(ctx, contract.OutcomeSuperseded, note)
}

// end records the outcome and returns the result.
func (r *gateRun) end(ctx workflow.Context, outcome contract.Outcome, msg string) (contract.QualityGateResult, error) {
	if ctx.Err() != nil {
		ctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	r.status.Step = contract.SASTStepDone
	r.status.Outcome, r.result.Outcome = outcome, outcome
	r.status.Message, r.result.Message = msg, msg
	workflow.SetCurrentDetails(ctx, slackui.GateStepDetails(r.status.Step, outcome))
	r.status.FinishedAt = workflow.Now(ctx)
	upsert(ctx, contract.SearchAttrSASTOutcome.ValueSet(string(outcome)))
	r.approval.finishHandlers(ctx)
	return r.result, nil
}

// emailRetryFor is how long the second round of email attempts lasts.
const emailRetryFor = time.Hour
