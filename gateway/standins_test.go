package gateway_test

import (
	"time"

	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/workflows"
)

// The stand-ins below take the place of DeployWorkflow and
// QualityGateWorkflow in the gateway's tests: they answer the status
// query, take a decision as the SignalDecision signal or the decide
// update (validated by the real workflows' own validator and approver
// rules, so the API is tested against what runs really answer), record
// search attributes as the real ones do, and end with the decision. They
// need no Argo CD, Slack or SMTP, which the gateway's tests do not have.

// startRunsWorker runs a worker on the harness's task queue with the
// stand-ins registered under the contract's names, plus the read-only
// command workflows (which are not runs the runs API serves).
func (h *harness) startRunsWorker() {
	h.t.Helper()
	w := sdkworker.New(h.tc, h.cfg.TemporalTaskQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(standInDeploy, workflow.RegisterOptions{Name: contract.WorkflowDeploy})
	w.RegisterWorkflowWithOptions(standInQualityGate, workflow.RegisterOptions{Name: contract.WorkflowQualityGate})
	w.RegisterWorkflowWithOptions(fakeCommand, workflow.RegisterOptions{Name: contract.WorkflowAppStatus})
	if err := w.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(w.Stop)
}

// decisionWait is a run waiting for one decision from its approvers.
type decisionWait struct {
	// mayNotDecide is the real run's approver rules.
	mayNotDecide func(contract.Decision) string
	// approved is what an approval makes of the request.
	approved contract.Outcome
	decision *contract.Decision
	at       time.Time
}

// check is the real workflows' validator.
func (w *decisionWait) check(d contract.Decision) error {
	var by *contract.User
	if w.decision != nil {
		by = &w.decision.User
	}
	return workflows.ValidateDecision(d, w.decision == nil, by, w.mayNotDecide)
}

func (w *decisionWait) outcome() contract.Outcome {
	if w.decision.Approve {
		return w.approved
	}
	return contract.OutcomeRejected
}

// wait takes decisions from the update and the signal until one is
// allowed, then records who decided in the search attributes.
func (w *decisionWait) wait(ctx workflow.Context) error {
	take := func(ctx workflow.Context, d contract.Decision) {
		w.decision, w.at = &d, workflow.Now(ctx)
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateDecide,
		func(ctx workflow.Context, d contract.Decision) (contract.DecisionResult, error) {
			take(ctx, d)
			return contract.DecisionResult{Outcome: w.outcome(), Message: "decided by " + d.User.Mention()}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, d contract.Decision) error { return w.check(d) }})
	if err != nil {
		return err
	}
	signals := workflow.GetSignalChannel(ctx, contract.SignalDecision)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var d contract.Decision
			signals.Receive(ctx, &d)
			if w.check(d) == nil {
				take(ctx, d)
			}
		}
	})
	if err := workflow.Await(ctx, func() bool { return w.decision != nil }); err != nil {
		return err
	}
	return workflow.UpsertTypedSearchAttributes(ctx, contract.SearchAttrApprovedBy.ValueSet(w.decision.User.ID))
}

// standInDeploy stands in for DeployWorkflow: approved, it succeeds at once.
func standInDeploy(ctx workflow.Context, in contract.DeployInput) (contract.DeployResult, error) {
	r := in.Request
	st := contract.DeployStatus{
		Step: contract.StepAwaitingApproval, App: r.App, Action: r.Action, RequestedBy: r.RequestedBy, Channel: r.Channel,
		StartedAt: workflow.Now(ctx), ExpiresAt: workflow.Now(ctx).Add(in.Policy.ApprovalTimeout),
	}
	w := &decisionWait{approved: contract.OutcomeApproved,
		mayNotDecide: func(d contract.Decision) string { return workflows.DeployMayNotDecide(in, "", d) }}
	if err := workflow.SetQueryHandler(ctx, contract.QueryStatus, func() (contract.DeployStatus, error) {
		if w.decision != nil {
			st.DecidedBy, st.Outcome = &w.decision.User, w.outcome()
		}
		return st, nil
	}); err != nil {
		return contract.DeployResult{}, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, contract.SearchAttrDeployApp.ValueSet(r.App),
		contract.SearchAttrDeployAction.ValueSet(string(r.Action)), contract.SearchAttrRequestedBy.ValueSet(r.RequestedBy.ID)); err != nil {
		return contract.DeployResult{}, err
	}
	if err := w.wait(ctx); err != nil {
		return contract.DeployResult{}, err
	}
	res := contract.DeployResult{Outcome: contract.OutcomeRejected, App: r.App, Action: r.Action, DecidedBy: &w.decision.User, Message: "rejected"}
	if w.decision.Approve {
		res.Outcome, res.Message = contract.OutcomeSucceeded, r.App+" is Synced and Healthy"
	}
	return res, workflow.UpsertTypedSearchAttributes(ctx, contract.SearchAttrDeployOutcome.ValueSet(string(res.Outcome)))
}

// standInQualityGate stands in for QualityGateWorkflow: a passed gate
// ends at once; a failed one waits for a decision.
func standInQualityGate(ctx workflow.Context, in contract.QualityGateInput) (contract.QualityGateResult, error) {
	a := in.Analysis
	res := contract.QualityGateResult{Outcome: contract.OutcomePassed, ProjectKey: a.ProjectKey, Branch: contract.SASTBranchAttr(a), Revision: a.Revision}
	st := contract.QualityGateStatus{
		Step: contract.SASTStepAwaitingDecision, Analysis: a, Channel: in.Policy.Channel,
		StartedAt: workflow.Now(ctx), ExpiresAt: workflow.Now(ctx).Add(in.Policy.ApprovalTimeout),
	}
	w := &decisionWait{approved: contract.OutcomeAccepted,
		mayNotDecide: func(d contract.Decision) string { return workflows.QualityGateMayNotDecide(in, d) }}
	if err := workflow.SetQueryHandler(ctx, contract.QueryStatus, func() (contract.QualityGateStatus, error) {
		if w.decision != nil {
			st.DecidedBy, st.Outcome = &w.decision.User, w.outcome()
		}
		return st, nil
	}); err != nil {
		return res, err
	}
	if a.GateStatus == contract.GateError {
		if err := w.wait(ctx); err != nil {
			return res, err
		}
		res.Outcome, res.DecidedBy, res.DecidedAt = w.outcome(), &w.decision.User, w.at
		res.Message = "the risk was " + string(res.Outcome)
	}
	return res, workflow.UpsertTypedSearchAttributes(ctx, contract.SearchAttrSASTOutcome.ValueSet(string(res.Outcome)))
}
