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
	// answers are the wait loop's answers to API decisions, by id.
	answers map[int]decideAnswer
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

// decideAnswer is the wait loop's answer to an UpdateDecide.
type decideAnswer struct {
	res contract.DecisionResult
	err error
}

// newApprovals registers the decide update.
func newApprovals(ctx workflow.Context, mayNotDecide func(contract.Decision) string, result func(contract.Decision) contract.DecisionResult) (*approvals, error) {
	a := &approvals{
		signals:      workflow.GetSignalChannel(ctx, contract.SignalDecision),
		api:          workflow.NewBufferedChannel(ctx, 16),
		mayNotDecide: mayNotDecide,
		result:       result,
		answers:      map[int]decideAnswer{},
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
		return temporal.NewApplicationError(slackui.DecisionNamesNoUser(), contract.DecisionInvalidErrorType)
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
	return temporal.NewApplicationError(slackui.NotWaitingForDecision(decidedBy), contract.DecisionNotWaitingErrorType)
}

// decide hands an accepted update to the wait loop and answers what the
// loop made of it, or says it came too late (another decision won).
func (a *approvals) decide(ctx workflow.Context, d contract.Decision) (contract.DecisionResult, error) {
	a.nextID++
	id := a.nextID
	if !a.api.SendAsync(apiDecision{id: id, d: d}) {
		return contract.DecisionResult{}, temporal.NewApplicationError(slackui.TooManyDecisions(), contract.DecisionNotWaitingErrorType)
	}
	if err := workflow.Await(ctx, func() bool { _, ok := a.answers[id]; return ok || !a.waiting }); err != nil {
		return contract.DecisionResult{}, err
	}
	if ans, ok := a.answers[id]; ok {
		delete(a.answers, id)
		return ans.res, ans.err
	}
	return contract.DecisionResult{}, a.notWaiting()
}

// open starts accepting decisions, made on the request message requestTS.
func (a *approvals) open(requestTS string) { a.waiting, a.requestTS = true, requestTS }

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

// addTo lets sel deliver the next decision, from either source, to take,
// which applies the rules and returns the answer, or why the decision does
// not count. A click that does not count is answered through refuse; the
// caller of an API decision gets the answer or the refusal.
func (a *approvals) addTo(ctx workflow.Context, sel workflow.Selector, take func(workflow.Context, contract.Decision) (contract.DecisionResult, string), refuse func(workflow.Context, contract.Decision, string)) {
	a.refuse = refuse
	sel.AddReceive(a.signals, func(c workflow.ReceiveChannel, _ bool) {
		var d contract.Decision
		c.Receive(ctx, &d)
		if d.MessageTS != "" && a.requestTS != "" && d.MessageTS != a.requestTS {
			refuse(ctx, d, slackui.NotThisRequest())
			return
		}
		if _, why := take(ctx, d); why != "" {
			refuse(ctx, d, why)
		}
	})
	sel.AddReceive(a.api, func(c workflow.ReceiveChannel, _ bool) {
		var ad apiDecision
		c.Receive(ctx, &ad)
		res, why := take(ctx, ad.d)
		if why != "" {
			a.answers[ad.id] = decideAnswer{err: temporal.NewApplicationError(why, contract.DecisionNotAllowedErrorType)}
			return
		}
		a.answers[ad.id] = decideAnswer{res: res}
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
// the decision signal (approvals), the rule (N of M approvals from people
// and Slack user groups), the expiry and reminder timers, cancellation,
// interruptions (a newer analysis), and the request message.
type approval struct {
	*approvals
	msg   messenger
	rules approvalRules
	req   approvalRequest
	view  approvalView
	// ts is the request message's ts ("" until it is posted).
	ts string
	// approved are the approvals counted so far, in order.
	approved []contract.Approval
	// members are the rule's groups' members as last read from Slack.
	members contract.GroupMembers
	// ended is set by whatever ends the wait.
	ended *approvalEnd
}

// approvalRules are the rule a run's approval follows and how its
// refusals read.
type approvalRules struct {
	rule contract.ApprovalRule
	// requester may withdraw the request by rejecting it (zero: none).
	requester contract.User
	// notApprover and selfApproval are the refusals' words.
	notApprover, selfApproval string
	// fromPolicy: the gateway chose the rule (APPROVAL_POLICY_FILE or the
	// environment's). Such runs record every approver (SearchAttrApprovers);
	// runs begun before approval policies replay without it.
	fromPolicy bool
}

// isEnvRule says whether rule is the environment's (APPROVERS,
// SAST_APPROVERS, …) rather than one of APPROVAL_POLICY_FILE: refusals
// then name the variables, as before there were policies.
func isEnvRule(rule contract.ApprovalRule) bool {
	return rule.Name == contract.DefaultRuleName && rule.Line == 0
}

// approvalRequest is what a run asks approval for and how it reads.
type approvalRequest struct {
	// thread is where the request goes ("" = the channel); broadcast also
	// shows it in the channel.
	thread    string
	broadcast bool
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
	// Progress is how far a rule of several approvals is met (nil: one).
	Progress *slackui.ApprovalProgress
}

// approvalEnd is how an approval ended.
type approvalEnd struct {
	// Outcome: the deciding decision's (result), expired, cancelled, or an
	// interrupt's.
	Outcome contract.Outcome
	// Decision is the deciding decision: the one that met the rule, or the
	// rejection.
	Decision *contract.Decision
	// Approvals are every approval counted, the deciding one included.
	Approvals []contract.Approval
	// Interrupt is the value an interrupt received. The run shows what it
	// means on the request (show): it may close a request that way outside
	// a wait too.
	Interrupt any
	// Updated ends with the edit of the request showing the decision; the
	// run waits for it when Argo CD no longer needs it to hurry.
	Updated workflow.Future
	// NoApproval: the rule needs none; the request was posted as the record
	// and nobody was asked (Outcome is approved, Decision nil).
	NoApproval bool
}

// newApproval registers the status query (answering *status) and the
// decide update; call it before the first blocking call so an early query
// or update finds its handler.
func newApproval[S any](ctx workflow.Context, status *S, msg messenger, rules approvalRules, result func(contract.Decision) contract.DecisionResult) (*approval, error) {
	if err := workflow.SetQueryHandler(ctx, contract.QueryStatus, func() (S, error) { return *status, nil }); err != nil {
		return nil, err
	}
	a := &approval{msg: msg, rules: rules}
	intake, err := newApprovals(ctx, a.precheck, result)
	if err != nil {
		return nil, err
	}
	a.approvals = intake
	return a, nil
}

// follow makes rules the ones the approval follows, once the run knows
// them (a deploy run's depend on the app's project), before ask.
func (a *approval) follow(rules approvalRules) {
	a.rules, a.members = rules, nil
}

// mayRequest says why the rule does not let its requester ask ("" = it
// does), reading the requester groups' members from Slack if need be.
func (a *approval) mayRequest(ctx workflow.Context, what, app string) string {
	rule, user := a.rules.rule, a.rules.requester.ID
	if rule.Requesters.Includes(user, a.members) {
		return ""
	}
	if len(rule.Requesters.Groups) > 0 {
		if err := a.readMembers(ctx); err != nil {
			return slackui.RequesterGroupsUnreadable(a.rules.requester, rule, what, errMessage(err))
		}
		if rule.Requesters.Includes(user, a.members) {
			return ""
		}
	}
	return slackui.NotARequesterOfRule(a.rules.requester, rule, what, app)
}

// ask posts the request, pending, in the channel; under a rule that needs
// no approval it posts it as the record that nobody was asked.
func (a *approval) ask(ctx workflow.Context, req approvalRequest) error {
	a.req = req
	a.view = approvalView{State: slackui.RequestPending, ExpiresAt: workflow.Now(ctx).Add(a.rules.rule.Timeout), Progress: a.progress()}
	if a.rules.rule.NoApproval {
		a.view = approvalView{State: slackui.RequestNoApproval, Note: slackui.NoApprovalNote(a.rules.rule)}
	}
	actx := workflow.WithActivityOptions(ctx, summarized(slackActivityOptions, slackui.RequestSummary(a.msg.channel)))
	var posted activities.PostMessageResult
	err := workflow.ExecuteActivity(actx, slackActivities.PostMessage, activities.PostMessageInput{
		Channel: a.msg.channel, ThreadTS: req.thread, Message: req.render(a.view),
		Broadcast: req.broadcast, Key: a.msg.key + "/request",
	}).Get(ctx, &posted)
	if err != nil {
		return err
	}
	a.ts = posted.TS
	if a.view.State == slackui.RequestPending {
		workflow.SetCurrentDetails(ctx, slackui.WaitingDetails(a.view.Progress, a.view.ExpiresAt))
	}
	return nil
}

// thread is where the request's replies go.
func (a *approval) thread() string {
	if a.req.thread != "" {
		return a.req.thread
	}
	return a.ts
}

// await waits for the rule to be met or a rejection, an interrupt, expiry
// or cancellation, and shows a decision (its edit runs on: see
// approvalEnd.Updated), expiry or cancellation on the request.
func (a *approval) await(ctx workflow.Context) approvalEnd {
	if a.rules.rule.NoApproval {
		return approvalEnd{Outcome: contract.OutcomeApproved, NoApproval: true}
	}
	end := a.wait(ctx)
	end.Approvals = a.approved
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
	expiry := workflow.NewTimer(timerCtx, a.rules.rule.Timeout)
	reminders := make([]workflow.Future, len(a.rules.rule.Reminders))
	for i, after := range a.rules.rule.Reminders {
		reminders[i] = workflow.NewTimer(timerCtx, after)
	}
	a.open(a.ts)
	for {
		a.ended = nil
		sel := workflow.NewSelector(ctx)
		a.addTo(ctx, sel, a.take, func(ctx workflow.Context, d contract.Decision, why string) {
			a.msg.ephemeral(ctx, d.User.ID, a.thread(), why)
		})
		for _, in := range a.req.interrupts {
			sel.AddReceive(in.ch, func(c workflow.ReceiveChannel, _ bool) { a.ended = in.take(ctx, c) })
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
				a.ended = &approvalEnd{Outcome: contract.OutcomeExpired}
			}
		})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		switch end := a.ended; {
		case end != nil && end.Decision != nil:
			a.close(ctx, end.Decision)
			return *end
		case ctx.Err() != nil:
			a.close(ctx, nil)
			return approvalEnd{Outcome: contract.OutcomeCancelled}
		case end != nil:
			a.close(ctx, nil)
			return *end
		}
	}
}

// take applies the rule to a decision that reached the wait: it ends the
// wait (a rejection, or the approval that meets the rule), counts a
// partial approval and shows it on the request, or says why it does not
// count.
func (a *approval) take(ctx workflow.Context, d contract.Decision) (contract.DecisionResult, string) {
	if why := a.why(ctx, d); why != "" {
		return contract.DecisionResult{}, why
	}
	if d.Approve {
		a.approved = append(a.approved, contract.Approval{User: d.User, At: workflow.Now(ctx)})
		if _, met := a.rules.rule.Tally(a.approverIDs(), a.members); !met {
			a.view.Progress = a.progress()
			workflow.SetCurrentDetails(ctx, slackui.WaitingDetails(a.view.Progress, a.view.ExpiresAt))
			a.updateRequest(ctx)
			return contract.DecisionResult{Outcome: contract.OutcomeCounted, Message: slackui.ApprovalCounted(a.view.Progress)}, ""
		}
	}
	a.ended = &approvalEnd{Outcome: a.result(d).Outcome, Decision: &d}
	return a.result(d), ""
}

// precheck is the decide update's rule check, before anything is written
// to history: what the wait would refuse, except that a user the groups as
// last read do not include is let through for the wait to read them again.
func (a *approval) precheck(d contract.Decision) string {
	return a.rules.why(d, a.approverIDs(), a.members, nil)
}

// why applies the rule to d, reading the groups' members from Slack when
// d's user is not among those known.
func (a *approval) why(ctx workflow.Context, d contract.Decision) string {
	if a.members == nil && len(a.rules.rule.GroupIDs()) > 0 {
		// Someone named by id may also count toward a group's part. A
		// failure here is retried below for whom it matters.
		_ = a.readMembers(ctx)
	}
	return a.rules.why(d, a.approverIDs(), a.members, func() (contract.GroupMembers, error) {
		err := a.readMembers(ctx)
		return a.members, err
	})
}

// why is the reason d does not count ("" = it does), given who approved
// and the groups' members; reread (nil: do not) refreshes members for a
// user they do not include.
func (rs approvalRules) why(d contract.Decision, approved []string, members contract.GroupMembers, reread func() (contract.GroupMembers, error)) string {
	user := d.User.ID
	self := rs.requester.ID != "" && user == rs.requester.ID
	if self && !d.Approve {
		return "" // requesters may always withdraw their own request
	}
	if !rs.rule.MayApprove(user, members) {
		if len(rs.rule.GroupIDs()) == 0 {
			return rs.notApprover
		}
		if reread == nil {
			return "" // the wait reads the groups again
		}
		var err error
		if members, err = reread(); err != nil {
			return slackui.GroupsUnreadable(errMessage(err))
		}
		if !rs.rule.MayApprove(user, members) {
			return rs.notApprover
		}
	}
	if self && !rs.rule.AllowSelfApproval {
		return rs.selfApproval
	}
	if d.Approve && contains(approved, user) {
		return slackui.AlreadyApproved(nil)
	}
	if d.Approve && !rs.rule.Counts(user, approved, members) {
		return slackui.ApprovalNotNeeded(nil)
	}
	return ""
}

// readMembers reads the rule's groups' members from Slack (the activity
// keeps a cache, so a burst of clicks costs one read).
func (a *approval) readMembers(ctx workflow.Context) error {
	actx := workflow.WithActivityOptions(ctx, summarized(slackActivityOptions, slackui.MembersSummary(a.rules.rule)))
	var res activities.GroupMembersResult
	if err := workflow.ExecuteActivity(actx, slackActivities.GroupMembers, activities.GroupMembersInput{
		Groups: a.rules.rule.GroupIDs(), MaxAge: time.Minute,
	}).Get(ctx, &res); err != nil {
		return err
	}
	a.members = res.Members
	return nil
}

func (a *approval) approverIDs() []string {
	ids := make([]string, len(a.approved))
	for i, ap := range a.approved {
		ids[i] = ap.User.ID
	}
	return ids
}

// progress is the request's view of the rule with who met it so far.
func (a *approval) progress() *slackui.ApprovalProgress {
	assigned, _ := a.rules.rule.Tally(a.approverIDs(), a.members)
	users := make([][]contract.User, len(assigned))
	for i, ids := range assigned {
		for _, id := range ids {
			for _, ap := range a.approved {
				if ap.User.ID == id {
					users[i] = append(users[i], ap.User)
					break
				}
			}
		}
	}
	return slackui.NewApprovalProgress(a.rules.rule, users)
}

// record records who decided (search attribute ApprovedBy) and starts
// editing the request to show it.
func (a *approval) record(ctx workflow.Context, d contract.Decision) workflow.Future {
	user := d.User
	attrs := []temporal.SearchAttributeUpdate{contract.SearchAttrApprovedBy.ValueSet(user.ID)}
	if a.rules.fromPolicy && d.Approve {
		attrs = append(attrs, contract.SearchAttrApprovers.ValueSet(a.approverIDs()))
	}
	upsert(ctx, attrs...)
	a.view.DecidedBy, a.view.DecidedAt = &user, workflow.Now(ctx)
	a.view.State = a.req.approvedState
	a.view.Progress = a.progress()
	if !d.Approve {
		a.view.State = slackui.RequestRejected
		if r := a.rules.requester; r.ID != "" && user.ID == r.ID {
			a.view.Note = slackui.WithdrawnByRequester()
		}
	}
	return a.msg.updateAsync(ctx, a.ts, a.req.render(a.view))
}

// show closes the request as state with note, if it was posted.
func (a *approval) show(ctx workflow.Context, state slackui.RequestState, note string) {
	a.view.State, a.view.Note = state, note
	a.updateRequest(ctx)
}

// updateRequest edits the request to show a.view; best effort.
func (a *approval) updateRequest(ctx workflow.Context) {
	if a.ts == "" {
		return
	}
	if err := a.msg.updateAsync(ctx, a.ts, a.req.render(a.view)).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("could not update the request message", "error", err)
	}
}
