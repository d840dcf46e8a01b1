package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// approvals takes a run's decisions from both places they come from: Slack
// clicks (SignalDecision; a refusal is an ephemeral message) and the runs
// API (UpdateDecide; a refusal is the update's error, so the caller gets a
// definite answer). Both go through the same rules and the same wait loop.
type approvals struct {
	signals workflow.ReceiveChannel
	api     workflow.Channel
	// mayNotDecide applies the run's approver rules; "" means allowed.
	mayNotDecide func(contract.Decision) string
	// result says what an accepted decision makes of the request.
	result  func(contract.Decision) contract.DecisionResult
	waiting bool
	nextID  int
	// takenID is the API decision the wait loop took (0 = none).
	takenID int
	// decidedBy is who decided, for the answer to a late API decision.
	decidedBy *contract.User
	// decided is the decision taken (nil: none, the wait expired or was
	// cancelled), for the answer to a late click.
	decided *contract.Decision
	// refuse answers a click that does not count (set by addTo).
	refuse func(workflow.Context, contract.Decision, string)
	// answerLate is on when late clicks are answered (lateDecisionsVersion).
	answerLate bool
	// answering counts late answers in flight, which the end waits for.
	answering int
	// requestTS is the request message's ts: clicks count only there.
	requestTS string
}

// lateDecisionsVersion marks runs that answer every click arriving after
// the wait closed ("already approved by @bob") instead of leaving it
// unhandled; runs begun before it replay without those answers.
const lateDecisionsVersion = "answer-late-decisions"

// apiDecision is an UpdateDecide waiting for the wait loop.
type apiDecision struct {
	id int
	d  contract.Decision
}

// handleQueries registers the status query, which answers *status, and
// the decide update; call it before the first blocking call so an early
// query or update finds its handler.
func handleQueries[S any](ctx workflow.Context, status *S, mayNotDecide func(contract.Decision) string, result func(contract.Decision) contract.DecisionResult) (*approvals, error) {
	if err := workflow.SetQueryHandler(ctx, contract.QueryStatus, func() (S, error) { return *status, nil }); err != nil {
		return nil, err
	}
	return newApprovals(ctx, mayNotDecide, result)
}

// newApprovals registers the decide update; call it before the first
// blocking call so an early update is not refused for lack of a handler.
func newApprovals(ctx workflow.Context, mayNotDecide func(contract.Decision) string, result func(contract.Decision) contract.DecisionResult) (*approvals, error) {
	a := &approvals{
		signals:      workflow.GetSignalChannel(ctx, contract.SignalDecision),
		api:          workflow.NewBufferedChannel(ctx, 16),
		mayNotDecide: mayNotDecide,
		result:       result,
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateDecide, a.decide, workflow.UpdateHandlerOptions{Validator: a.validate})
	return a, err
}

// validate refuses, before anything is written to history, a decision the
// wait loop would not take.
func (a *approvals) validate(_ workflow.Context, d contract.Decision) error {
	return ValidateDecision(d, a.waiting, a.decidedBy, a.mayNotDecide)
}

// ValidateDecision is the decide update's validator of every run: the
// error (a contract Decision*ErrorType) for a decision the run will not
// take. waiting: the run waits for a decision; decidedBy: who decided it,
// if anyone; mayNotDecide: the run's approver rules (DeployMayNotDecide,
// QualityGateMayNotDecide). Exported so that the gateway's tests, whose
// stand-in workflows need no Argo CD or Slack, refuse exactly as runs do.
func ValidateDecision(d contract.Decision, waiting bool, decidedBy *contract.User, mayNotDecide func(contract.Decision) string) error {
	if d.User.ID == "" {
		return temporal.NewApplicationError("the decision names no user: pass the Slack user id it is made on behalf of, e.g. U0BOB", contract.DecisionInvalidErrorType)
	}
	if !waiting {
		return notWaiting(decidedBy)
	}
	if why := mayNotDecide(d); why != "" {
		return temporal.NewApplicationError(why, contract.DecisionNotAllowedErrorType)
	}
	return nil
}

func (a *approvals) notWaiting() error { return notWaiting(a.decidedBy) }

func notWaiting(decidedBy *contract.User) error {
	msg := "this run is not waiting for a decision"
	if decidedBy != nil {
		msg += ": it was already decided by " + slackui.PlainWho(*decidedBy)
	}
	return temporal.NewApplicationError(msg, contract.DecisionNotWaitingErrorType)
}

// decide hands an accepted update to the wait loop and answers once the
// loop has taken it, or says it came too late (another decision won).
func (a *approvals) decide(ctx workflow.Context, d contract.Decision) (contract.DecisionResult, error) {
	a.nextID++
	id := a.nextID
	if !a.api.SendAsync(apiDecision{id: id, d: d}) {
		return contract.DecisionResult{}, temporal.NewApplicationError("too many decisions arrived at once; send it again", contract.DecisionNotWaitingErrorType)
	}
	if err := workflow.Await(ctx, func() bool { return a.takenID == id || !a.waiting }); err != nil {
		return contract.DecisionResult{}, err
	}
	if a.takenID != id {
		return contract.DecisionResult{}, a.notWaiting()
	}
	return a.result(d), nil
}

// open starts accepting decisions, made on the request message requestTS.
func (a *approvals) open(requestTS string) { a.waiting, a.requestTS = true, requestTS }

// notThisRequest is why a click on another message does not count: a
// button decides the run of the request it is on, whatever its value says.
const notThisRequest = "That button is not on this run's request message, so your click was not counted: click the buttons of the request itself."

// close stops accepting decisions; d is the one taken, if any. From then
// on every click that arrives is answered that the run no longer waits,
// until the run ends (finishHandlers answers the last ones).
func (a *approvals) close(ctx workflow.Context, d *contract.Decision) {
	a.waiting = false
	if d != nil {
		u, dd := d.User, *d
		a.decidedBy, a.decided = &u, &dd
	}
	if workflow.GetVersion(ctx, lateDecisionsVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	a.answerLate = true
	// Disconnected: a cancelled run still answers who clicked.
	lctx, _ := workflow.NewDisconnectedContext(ctx)
	workflow.Go(lctx, func(gctx workflow.Context) {
		for {
			var d contract.Decision
			a.signals.Receive(gctx, &d)
			a.late(gctx, d)
		}
	})
}

// late answers a click that came after the wait closed.
func (a *approvals) late(ctx workflow.Context, d contract.Decision) {
	if a.refuse == nil {
		return
	}
	a.answering++
	defer func() { a.answering-- }()
	var outcome contract.Outcome
	if a.decided != nil {
		outcome = a.result(*a.decided).Outcome
	}
	a.refuse(ctx, d, slackui.LateDecision(outcome, a.decidedBy))
}

// addTo lets sel deliver the next decision, from either source, to got.
// A decision the rules refuse is reported through refuse (Slack only: an
// API decision was validated already) and got is not called.
func (a *approvals) addTo(ctx workflow.Context, sel workflow.Selector, got func(contract.Decision), refuse func(workflow.Context, contract.Decision, string)) {
	a.refuse = refuse
	sel.AddReceive(a.signals, func(c workflow.ReceiveChannel, _ bool) {
		var d contract.Decision
		c.Receive(ctx, &d)
		if d.MessageTS != "" && a.requestTS != "" && d.MessageTS != a.requestTS {
			refuse(ctx, d, notThisRequest)
			return
		}
		if why := a.mayNotDecide(d); why != "" {
			refuse(ctx, d, why)
			return
		}
		got(d)
	})
	sel.AddReceive(a.api, func(c workflow.ReceiveChannel, _ bool) {
		var ad apiDecision
		c.Receive(ctx, &ad)
		if !a.waiting || a.mayNotDecide(ad.d) != "" {
			return // its handler answers "not waiting"
		}
		a.takenID = ad.id
		got(ad.d)
	})
}

// finishHandlers lets in-flight update handlers answer before the run
// ends, and answers every click still queued, so none is left unhandled.
func (a *approvals) finishHandlers(ctx workflow.Context) {
	a.waiting = false
	if a.answerLate {
		for {
			var d contract.Decision
			if !a.signals.ReceiveAsync(&d) {
				break
			}
			a.late(ctx, d)
		}
		_ = workflow.Await(ctx, func() bool { return a.answering == 0 })
	}
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}
