package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
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

// newApprovals registers the decide update.
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

// approval is one run's approval, from posting the request to answering the
// last click, for every kind of run: DeployWorkflow (sync, rollback,
// auto-sync) and QualityGateWorkflow (risk acceptance) only say what to ask,
// how it reads and what their outcomes are. It owns the decide update and
// the decision signal (approvals), the expiry and reminder timers,
// cancellation, interruptions (a newer analysis), and the request message.
type approval struct {
	*approvals
	msg  messenger
	req  approvalRequest
	view approvalView
	// ts is the request message's ts ("" until it is posted).
	ts string
}

// approvalRequest is what a run asks approval for and how it reads.
type approvalRequest struct {
	// thread is where the request goes ("" = the channel); broadcast also
	// shows it in the channel.
	thread    string
	broadcast bool
	// requester may withdraw the request by rejecting it (zero: none).
	requester contract.User
	timeout   time.Duration
	// reminders are when, after the request, the approvers are reminded.
	reminders []time.Duration
	// approvedState is what an approval makes of the request.
	approvedState slackui.RequestState
	// render builds the request message showing v.
	render func(v approvalView) slackui.Message
	// remind is the reminder's text.
	remind func(v approvalView) string
	// closed is the note on a request that expired or was cancelled.
	closed func(contract.Outcome) string
	// interrupts end the wait from elsewhere (e.g. a newer analysis).
	interrupts []approvalInterrupt
}

// approvalInterrupt is another way a wait can end: take receives from ch
// and returns nil to keep waiting.
type approvalInterrupt struct {
	ch   workflow.ReceiveChannel
	take func(workflow.Context, workflow.ReceiveChannel) *approvalEnd
}

// approvalView is the request's approval state as its message shows it.
type approvalView struct {
	State     slackui.RequestState
	DecidedBy *contract.User
	DecidedAt time.Time
	Note      string
	ExpiresAt time.Time
}

// approvalEnd is how an approval ended.
type approvalEnd struct {
	// Outcome: the decision's (result), expired, cancelled, or an
	// interrupt's.
	Outcome contract.Outcome
	// Decision is the decision taken, if one was.
	Decision *contract.Decision
	// Interrupt is the value an interrupt received. The run shows what it
	// means on the request (show): it may close a request that way outside
	// a wait too.
	Interrupt any
	// Updated ends with the edit of the request showing the decision; the
	// run waits for it when Argo CD no longer needs it to hurry.
	Updated workflow.Future
}

// newApproval registers the status query (answering *status) and the
// decide update; call it before the first blocking call so an early query
// or update finds its handler.
func newApproval[S any](ctx workflow.Context, status *S, msg messenger, mayNotDecide func(contract.Decision) string, result func(contract.Decision) contract.DecisionResult) (*approval, error) {
	if err := workflow.SetQueryHandler(ctx, contract.QueryStatus, func() (S, error) { return *status, nil }); err != nil {
		return nil, err
	}
	intake, err := newApprovals(ctx, mayNotDecide, result)
	if err != nil {
		return nil, err
	}
	return &approval{approvals: intake, msg: msg}, nil
}

// ask posts the request, pending, in the channel.
func (a *approval) ask(ctx workflow.Context, req approvalRequest) error {
	a.req = req
	a.view = approvalView{State: slackui.RequestPending, ExpiresAt: workflow.Now(ctx).Add(req.timeout)}
	actx := workflow.WithActivityOptions(ctx, slackActivityOptions)
	var posted activities.PostMessageResult
	err := workflow.ExecuteActivity(actx, slackActivities.PostMessage, activities.PostMessageInput{
		Channel: a.msg.channel, ThreadTS: req.thread, Message: req.render(a.view),
		Broadcast: req.broadcast, Key: a.msg.key + "/request",
	}).Get(ctx, &posted)
	if err != nil {
		return err
	}
	a.ts = posted.TS
	return nil
}

// thread is where the request's replies go.
func (a *approval) thread() string {
	if a.req.thread != "" {
		return a.req.thread
	}
	return a.ts
}

// await waits for a decision that counts, an interrupt, expiry or
// cancellation, and shows a decision (its edit runs on: see
// approvalEnd.Updated), expiry or cancellation on the request.
func (a *approval) await(ctx workflow.Context) approvalEnd {
	end := a.wait(ctx)
	switch {
	case end.Decision != nil:
		end.Updated = a.record(ctx, *end.Decision)
	case end.Outcome == contract.OutcomeExpired:
		a.show(ctx, slackui.RequestExpired, a.req.closed(end.Outcome))
	case end.Outcome == contract.OutcomeCancelled:
		// A cancelled ctx cannot run activities; the request must still show it.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		a.show(dctx, slackui.RequestCancelled, a.req.closed(end.Outcome))
	}
	return end
}

// wait is await's loop; its timers are cancelled when it returns.
func (a *approval) wait(ctx workflow.Context) approvalEnd {
	timerCtx, cancelTimers := workflow.WithCancel(ctx)
	defer cancelTimers()
	expiry := workflow.NewTimer(timerCtx, a.req.timeout)
	reminders := make([]workflow.Future, len(a.req.reminders))
	for i, after := range a.req.reminders {
		reminders[i] = workflow.NewTimer(timerCtx, after)
	}
	a.open(a.ts)
	for {
		var end approvalEnd
		sel := workflow.NewSelector(ctx)
		a.addTo(ctx, sel, func(d contract.Decision) {
			end = approvalEnd{Outcome: a.result(d).Outcome, Decision: &d}
		}, func(ctx workflow.Context, d contract.Decision, why string) {
			a.msg.ephemeral(ctx, d.User.ID, a.thread(), why)
		})
		for _, in := range a.req.interrupts {
			sel.AddReceive(in.ch, func(c workflow.ReceiveChannel, _ bool) {
				if e := in.take(ctx, c); e != nil {
					end = *e
				}
			})
		}
		for i, f := range reminders {
			if f == nil {
				continue
			}
			sel.AddFuture(f, func(f workflow.Future) {
				reminders[i] = nil
				if f.Get(ctx, nil) == nil {
					key := "reminder" // the first one's key, as runs before several reminders
					if i > 0 {
						key = fmt.Sprintf("reminder-%d", i+1)
					}
					a.msg.note(ctx, a.ts, a.req.remind(a.view), key)
				}
			})
		}
		sel.AddFuture(expiry, func(f workflow.Future) {
			if f.Get(ctx, nil) == nil {
				end = approvalEnd{Outcome: contract.OutcomeExpired}
			}
		})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		switch {
		case end.Decision != nil:
			a.close(ctx, end.Decision)
			return end
		case ctx.Err() != nil:
			a.close(ctx, nil)
			return approvalEnd{Outcome: contract.OutcomeCancelled}
		case end.Outcome != "":
			a.close(ctx, nil)
			return end
		}
	}
}

// record records who decided (search attribute ApprovedBy) and starts
// editing the request to show it.
func (a *approval) record(ctx workflow.Context, d contract.Decision) workflow.Future {
	user := d.User
	upsert(ctx, contract.SearchAttrApprovedBy.ValueSet(user.ID))
	a.view.DecidedBy, a.view.DecidedAt = &user, workflow.Now(ctx)
	a.view.State = a.req.approvedState
	if !d.Approve {
		a.view.State = slackui.RequestRejected
		if a.req.requester.ID != "" && user.ID == a.req.requester.ID {
			a.view.Note = "Withdrawn by the requester."
		}
	}
	return a.msg.updateAsync(ctx, a.ts, a.req.render(a.view))
}

// show closes the request as state with note, if it was posted.
func (a *approval) show(ctx workflow.Context, state slackui.RequestState, note string) {
	a.view.State, a.view.Note = state, note
	if a.ts == "" {
		return
	}
	if err := a.msg.updateAsync(ctx, a.ts, a.req.render(a.view)).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("could not update the request message", "error", err)
	}
}
