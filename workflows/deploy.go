package workflows

import (
	"cmp"
	"errors"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/command"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// defaultPollInterval is the time between two looks at an app being deployed.
const defaultPollInterval = 5 * time.Second

// InvalidInputErrorType is the error type of a run refused for bad input.
const InvalidInputErrorType = "InvalidInput"

// deployRun is a DeployWorkflow run's state. The status query returns its
// status field; everything else is derived from the input.
type deployRun struct {
	in         contract.DeployInput
	status     contract.DeployStatus
	request    slackui.DeployRequest // the approval message as last rendered
	view       slackui.DeployStatus  // the status message as it should read now
	shown      slackui.DeployStatus  // the status message as Slack has it
	runURL     string
	key        string // "<workflowID>/<runID>", prefix of message dedupe keys
	approvedAt time.Time
	approval   *approval
	msg        messenger
	// baseline is the start time of the last Argo CD operation before ours,
	// so the follow loop can tell our operation from an older one.
	baseline time.Time
	// edits keeps the status message current without holding up the run
	// (runs begun before asyncStatusVersion edit it in line).
	edits statusEdits
	// requestUpdated is the pending edit of the approval request, waited
	// for at the end rather than before following Argo CD.
	requestUpdated workflow.Future
}

var _ = define(contract.WorkflowDeploy, DeployWorkflow)

// DeployWorkflow carries one sync or rollback request from "someone asked"
// to "the app is Healthy again" (or a clear reason why not):
//
//  1. read where the app is and where the action takes it;
//  2. post the approval request in the channel and wait for a decision, the
//     approval timeout, or cancellation — approver rules are applied here;
//  3. start the Argo CD operation (for a rollback refused because auto-sync
//     is on, turn auto-sync off first if the policy allows it) — or, for
//     autosync on/off, change the automated sync policy and stop there;
//  4. follow the operation until it ends and the app is Healthy, editing one
//     status message in the thread, bounded by the health timeout.
func DeployWorkflow(ctx workflow.Context, in contract.DeployInput) (contract.DeployResult, error) {
	if err := in.Validate(); err != nil {
		return contract.DeployResult{}, invalidInput(err)
	}
	r := newDeployRun(ctx, in)
	var err error
	// The rule depends on the app's project, read below; until then no
	// decision is taken, so any candidate serves the handlers.
	if r.approval, err = newApproval(ctx, &r.status, r.msg, deployRules(in, ""), deployDecisionResult); err != nil {
		return contract.DeployResult{}, err
	}
	r.upsert(ctx,
		contract.SearchAttrDeployApp.ValueSet(in.Request.App),
		contract.SearchAttrDeployAction.ValueSet(string(in.Request.Action)),
		contract.SearchAttrRequestedBy.ValueSet(in.Request.RequestedBy.ID),
	)

	prep, err := r.prepare(ctx)
	if err != nil {
		return r.refuse(ctx, err)
	}
	r.view.Project, r.view.FromRevision, r.view.Commit = prep.Project, prep.CurrentRevision, prep.ToCommit
	if why := r.followRule(ctx, prep.Project); why != "" {
		return r.refuseRequester(ctx, why)
	}
	if prep.SyncWindowBlock != "" {
		return r.refuseRequester(ctx, slackui.SyncWindowRefusal(r.in.Request.RequestedBy, r.requestText(), prep.SyncWindowBlock))
	}
	freeze, err := r.checkFreezes(ctx, prep.Project)
	if err != nil {
		return r.refuse(ctx, err)
	}
	if freeze != nil && r.in.Emergency == nil {
		return r.refuseRequester(ctx, slackui.FrozenRefusal(r.in.Request.RequestedBy, r.requestText(), r.in.Request.App, *freeze))
	}
	preview := r.previewSync(ctx, prep)
	if err := r.askForApproval(ctx, prep, preview); err != nil {
		return r.end(ctx, contract.OutcomeFailed, slackui.RequestNotPosted(errMessage(err)))
	}
	// The thread's extras go alongside the wait: a decision may come the
	// moment the request shows, and the wait must be open for it.
	workflow.Go(ctx, func(ctx workflow.Context) {
		if freeze != nil {
			workflow.GetLogger(ctx).Warn("audit: break-glass sync overrides a freeze", "audit", true, "freeze", freeze.Target, "frozenBy", freeze.By.ID, "reason", freeze.Reason)
			r.note(ctx, slackui.FreezeOverridden(*freeze), "freeze-overridden")
		}
		r.attachPreview(ctx, preview)
	})
	decided := r.approval.await(ctx)
	if decided.Decision == nil && !decided.NoApproval {
		return r.end(ctx, decided.Outcome, r.approval.view.Note)
	}
	r.status.Approvals = decided.Approvals
	for _, a := range decided.Approvals {
		r.view.ApprovedBy = append(r.view.ApprovedBy, a.User)
	}
	requestUpdated := decided.Updated
	if d := decided.Decision; d != nil {
		r.status.DecidedBy = &d.User
		if !d.Approve {
			r.awaitRequestEdit(ctx, requestUpdated)
			return r.end(ctx, contract.OutcomeRejected, slackui.RejectedBy(d.User))
		}
	}
	r.approvedAt = workflow.Now(ctx)
	if isAutoSyncAction(r.in.Request.Action) {
		statusPosted := r.postStatus(ctx)
		outcome, msg := r.changeAutoSync(ctx, prep)
		r.awaitStatusPost(ctx, statusPosted)
		r.awaitRequestEdit(ctx, requestUpdated)
		return r.end(ctx, outcome, msg)
	}
	// Argo CD first: the Slack edits run alongside the call, so approving
	// does not wait on Slack before the operation starts.
	statusPosted := r.postStatus(ctx)
	startErr := r.callStart(ctx)
	if r.edits.async {
		r.requestUpdated = requestUpdated // Slack never holds up Argo CD
	} else {
		r.awaitStatusPost(ctx, statusPosted)
		r.awaitRequestEdit(ctx, requestUpdated)
	}

	if outcome, msg := r.startOperation(ctx, prep, startErr); outcome != "" {
		return r.end(ctx, outcome, msg)
	}
	outcome, msg := r.follow(ctx)
	return r.end(ctx, outcome, msg)
}

// freezeCheckVersion marks runs that look for freezes before asking;
// runs begun before it replay without.
const freezeCheckVersion = "freeze-check"

// checkFreezes is the freeze in force on the app, its project or all
// (nil: none). Unreadable freezes refuse the request: a freeze must never
// be waved through because Temporal could not be asked.
func (r *deployRun) checkFreezes(ctx workflow.Context, project string) (*contract.Freeze, error) {
	if workflow.GetVersion(ctx, freezeCheckVersion, workflow.DefaultVersion, 1) != 1 {
		return nil, nil
	}
	var fs []contract.Freeze
	actx := workflow.WithActivityOptions(ctx, summarized(temporalLookupOptions, slackui.FreezeCheckSummary(r.in.Request.App)))
	if err := workflow.ExecuteActivity(actx, temporalActivities.ActiveFreezes, activities.ActiveFreezesInput{
		Targets: contract.FreezeTargets(r.in.Request.App, project),
	}).Get(ctx, &fs); err != nil {
		return nil, errors.New(slackui.FreezesUnreadable(errMessage(err)))
	}
	if len(fs) == 0 {
		return nil, nil
	}
	return &fs[0], nil
}

// requestText is the request as the command that asks for it, for messages.
func (r *deployRun) requestText() string {
	req := r.in.Request
	c := command.Command{Name: command.Sync, App: req.App}
	switch req.Action {
	case contract.ActionRollback:
		c.Name, c.HistoryID = command.Rollback, req.HistoryID
	case contract.ActionAutoSyncOn, contract.ActionAutoSyncOff:
		c.Name, c.Arg = command.AutoSync, strings.TrimPrefix(string(req.Action), "autosync_")
	}
	return c.String()
}

// syncPreviewVersion marks runs that ask Argo CD what a sync would change
// before asking for approval; runs begun before it replay without.
const syncPreviewVersion = "sync-preview"

// rollbackPreviewVersion marks rollback runs that preview the rollback the
// same way (older ones recorded no marker: only syncs were previewed).
const rollbackPreviewVersion = "rollback-preview"

// previewSync asks Argo CD what the sync or rollback would change, for the
// approvers; nil for auto-sync changes and older runs. A failed preview is
// said in the request, never a reason to refuse it. A rollback's takes the
// history entry prep read, so the activity need not read the app again.
func (r *deployRun) previewSync(ctx workflow.Context, prep activities.PrepareDeployResult) *contract.Preview {
	req := r.in.Request
	in := activities.SyncPreviewInput{App: req.App}
	switch {
	case req.Action == contract.ActionSync && workflow.GetVersion(ctx, syncPreviewVersion, workflow.DefaultVersion, 1) == 1:
	case req.Action == contract.ActionRollback && workflow.GetVersion(ctx, rollbackPreviewVersion, workflow.DefaultVersion, 1) == 1:
		in.Rollback, in.HistoryID, in.Target = true, req.HistoryID, prep.RollbackTarget
	default:
		return nil
	}
	var p contract.Preview
	actx := workflow.WithActivityOptions(ctx, summarized(readOnlyActivityOptions, slackui.PreviewActivitySummary(req.App)))
	if err := workflow.ExecuteActivity(actx, argoActivities.SyncPreview, in).Get(ctx, &p); err != nil {
		p = contract.Preview{Error: errMessage(err)}
		if in.Rollback {
			p.Rollback = &contract.PreviewedRollback{HistoryID: req.HistoryID}
		}
	}
	return &p
}

// attachPreview shares the whole preview as a file in the request's
// thread; best effort (the request already has the summary).
func (r *deployRun) attachPreview(ctx workflow.Context, p *contract.Preview) {
	if p == nil || p.Error != "" || len(p.Resources) == 0 {
		return
	}
	uctx := workflow.WithActivityOptions(ctx, uploadActivityOptions)
	app := r.in.Request.App
	err := workflow.ExecuteActivity(uctx, slackActivities.UploadFile,
		previewUpload(ctx, app, *p, r.in.Request.Channel, r.thread(), slackui.PreviewHeading(app, *p))).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("could not attach the sync preview to the request's thread", "error", err)
	}
}

// safeFileName keeps an app name (team-a/guestbook@prod) usable as a file name.
func safeFileName(app string) string { return strings.NewReplacer("/", "_", "@", "_").Replace(app) }

// followRule takes the policy's rule for the app's project and says why it
// does not let the requester ask ("" = it does). Runs without rules in
// their input follow the environment's, whose requesters the gateway checked.
func (r *deployRun) followRule(ctx workflow.Context, project string) string {
	if len(r.in.Rules) == 0 {
		return ""
	}
	rules := deployRules(r.in, project)
	r.approval.follow(rules)
	r.status.Rule = rules.rule.Name
	return r.approval.mayRequest(ctx, r.requestText(), r.in.Request.App)
}

func newDeployRun(ctx workflow.Context, in contract.DeployInput) *deployRun {
	info := workflow.GetInfo(ctx)
	if in.Policy.PollInterval <= 0 {
		in.Policy.PollInterval = defaultPollInterval
	}
	ns := in.Policy.Namespace
	if ns == "" {
		ns = info.Namespace
	}
	r := &deployRun{
		in:     in,
		runURL: contract.RunURL(in.Policy.TemporalUIURL, ns, info.WorkflowExecution.ID, info.WorkflowExecution.RunID),
		key:    info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID,
		status: contract.DeployStatus{
			Step:        contract.StepPreparing,
			App:         in.Request.App,
			Action:      in.Request.Action,
			RequestedBy: in.Request.RequestedBy,
			Channel:     in.Request.Channel,
			StartedAt:   workflow.Now(ctx),
		},
	}
	if in.Emergency != nil {
		r.status.Emergency = in.Emergency.Reason
	}
	r.msg = messenger{channel: in.Request.Channel, key: r.key}
	r.view = slackui.DeployStatus{App: in.Request.App, Action: in.Request.Action, RunURL: r.runURL, RequestedBy: in.Request.RequestedBy}
	return r
}

// at moves the run to step, as the status query and the Temporal UI's
// current details show it.
func (r *deployRun) at(ctx workflow.Context, step contract.Step) {
	r.status.Step = step
	workflow.SetCurrentDetails(ctx, slackui.DeployStepDetails(r.status))
}

// atShown moves the run to step and says so in the status message (steps
// before approval are not shown there: the request message tells them).
func (r *deployRun) atShown(ctx workflow.Context, step contract.Step) {
	r.at(ctx, step)
	r.view.Step = step
}

// prepare reads the app and, for a rollback, the target history entry.
func (r *deployRun) prepare(ctx workflow.Context) (activities.PrepareDeployResult, error) {
	var prep activities.PrepareDeployResult
	actx := workflow.WithActivityOptions(ctx, summarized(readOnlyActivityOptions, slackui.ReadAppSummary(r.in.Request)))
	err := workflow.ExecuteActivity(actx, argoActivities.PrepareDeploy, activities.PrepareDeployInput{
		App: r.in.Request.App, Action: r.in.Request.Action, HistoryID: r.in.Request.HistoryID,
		ParamNames: r.in.Policy.ParamNames,
	}).Get(ctx, &prep)
	if err == nil {
		r.status.FromRevision, r.status.ToRevision = prep.CurrentRevision, prep.TargetRevision
	}
	return prep, err
}

// refuse ends a run that Argo CD refused before anyone was asked (unknown
// app, unknown history id, no permission): the requester is told why.
func (r *deployRun) refuse(ctx workflow.Context, err error) (contract.DeployResult, error) {
	req := r.in.Request
	msg := slackui.RefusedBeforeAsking(req.RequestedBy, req.Action, req.App, errMessage(err))
	if _, postErr := r.post(ctx, r.in.Request.ThreadTS, slackui.Message{Text: msg}, "refused"); postErr != nil {
		workflow.GetLogger(ctx).Error("could not tell the requester why the request was refused", "error", postErr)
	}
	return r.end(ctx, contract.OutcomeFailed, errMessage(err))
}

// refuseRequester ends a run whose approval rule does not let the
// requester ask, telling them why where they asked.
func (r *deployRun) refuseRequester(ctx workflow.Context, why string) (contract.DeployResult, error) {
	if _, err := r.post(ctx, r.in.Request.ThreadTS, slackui.Message{Text: why}, "refused"); err != nil {
		workflow.GetLogger(ctx).Error("could not tell the requester why the request was refused", "error", err)
	}
	return r.end(ctx, contract.OutcomeFailed, why)
}

// askForApproval posts the request with Approve / Reject buttons in the
// channel (in the asking message's thread if there is one, also shown in
// the channel, where approvers look); every later message goes in the
// request's thread.
func (r *deployRun) askForApproval(ctx workflow.Context, prep activities.PrepareDeployResult, preview *contract.Preview) error {
	info := workflow.GetInfo(ctx)
	r.request = slackui.DeployRequest{
		WorkflowID:       info.WorkflowExecution.ID,
		RunID:            info.WorkflowExecution.RunID,
		RunURL:           r.runURL,
		App:              r.in.Request.App,
		Project:          prep.Project,
		Action:           r.in.Request.Action,
		FromRevision:     prep.CurrentRevision,
		ToRevision:       prep.TargetRevision,
		FromCommit:       prep.FromCommit,
		ToCommit:         prep.ToCommit,
		Preview:          preview,
		HistoryID:        r.in.Request.HistoryID,
		TargetDeployedAt: prep.TargetDeployedAt,
		Params:           prep.Params,
		ParamsNote:       prep.ParamsNote,
		AutoSyncOn:       prep.AutoSync.On(),
		RequestedBy:      r.in.Request.RequestedBy,
	}
	if e := r.in.Emergency; e != nil {
		r.request.Emergency, r.request.EmergencyEmailTo = e.Reason, e.EmailTo
	}
	err := r.approval.ask(ctx, approvalRequest{
		thread: r.in.Request.ThreadTS, broadcast: r.in.Request.ThreadTS != "", approvedState: slackui.RequestApproved,
		render: func(v approvalView) slackui.Message {
			req := r.request
			req.State, req.DecidedBy, req.Note, req.ExpiresAt, req.Approvals = v.State, v.DecidedBy, v.Note, v.ExpiresAt, v.Progress
			return slackui.Message{DeployRequest: &req}
		},
		closed: func(o contract.Outcome) string {
			if o == contract.OutcomeExpired {
				return slackui.DeployExpired(r.approval.rules.rule.Timeout)
			}
			return slackui.CancelledBeforeDecision()
		},
	})
	r.status.ExpiresAt = r.approval.view.ExpiresAt
	if err != nil {
		return err
	}
	r.status.RequestTS = r.approval.ts
	r.status.Step = contract.StepAwaitingApproval
	return nil
}

// thread is where every message after the request goes.
func (r *deployRun) thread() string { return r.approval.thread() }

// deployDecisionResult answers an accepted UpdateDecide on a deploy run.
func deployDecisionResult(d contract.Decision) contract.DecisionResult {
	outcome := contract.OutcomeRejected
	if d.Approve {
		outcome = contract.OutcomeApproved
	}
	return contract.DecisionResult{Outcome: outcome, Message: slackui.DeployDecisionAnswer(d.Approve)}
}

// deployRules are the approval rule of a deploy run (the matched rule of
// APPROVAL_POLICY_FILE, else the environment's) and its refusals' words.
func deployRules(in contract.DeployInput, project string) approvalRules {
	req := in.Request
	rs := approvalRules{requester: req.RequestedBy}
	if rule, ok := in.Rules.For(project); ok && !isEnvRule(rule) {
		rs.rule, rs.fromPolicy = rule, true
		rs.notApprover = slackui.NotAnApproverOfRule(rs.rule, slackui.ActionOf(req.Action, req.App))
		rs.selfApproval = slackui.SelfApprovalRefused(req.Action, req.App, &rs.rule)
		return rs
	}
	rs.rule = contract.DefaultDeployRule(in.Policy, nil)
	if rule, ok := in.Rules.For(project); ok {
		rs.rule, rs.fromPolicy = rule, true
	}
	rs.notApprover = slackui.NotAnApprover(req.Action, req.App)
	rs.selfApproval = slackui.SelfApprovalRefused(req.Action, req.App, nil)
	return rs
}

// DeployMayNotDecide applies a deploy run's approver rules to a first
// decision d: why it does not count, or "" if it does (or may, once the
// rule's Slack user groups are read), for an app of project.
func DeployMayNotDecide(in contract.DeployInput, project string, d contract.Decision) string {
	return deployRules(in, project).why(d, nil, nil, nil)
}

// startOperation starts the sync or rollback. For a rollback refused because
// auto-sync is on it disables auto-sync (if the policy allows) and retries.
// It returns an outcome only when the run must end.
func (r *deployRun) startOperation(ctx workflow.Context, prep activities.PrepareDeployResult, err error) (contract.Outcome, string) {
	if err != nil && r.in.Request.Action == contract.ActionRollback && errType(err) == string(argocd.KindAutoSyncEnabled) {
		app := r.in.Request.App
		if !r.in.Policy.AutoDisableSyncOnRollback {
			return contract.OutcomeFailed, slackui.AutoSyncBlocksRollback(app)
		}
		off, derr := r.disableAutoSync(ctx, prep)
		if derr != nil {
			return contract.OutcomeFailed, slackui.AutoSyncChangeFailed(false, errMessage(derr))
		}
		r.status.RemovedAutoSync = off.Removed
		r.note(ctx, slackui.AutoSyncOffForRollback(app, autoSyncOff(off)), "autosync-off")
		r.at(ctx, contract.StepStarting)
		err = r.callStart(ctx)
	}
	if err != nil {
		if errType(err) == string(argocd.KindOperationInProgress) {
			return contract.OutcomeFailed, slackui.OperationInProgress(r.in.Request.App)
		}
		return contract.OutcomeFailed, slackui.OperationNotStarted(r.in.Request.Action, errMessage(err))
	}
	return "", ""
}

// callStart takes a fresh baseline and starts the operation, riding out an
// Argo CD outage (see outlast).
func (r *deployRun) callStart(ctx workflow.Context) error {
	var st activities.AppStateResult
	err := r.outlast(ctx, summarized(readOnlyActivityOptions, slackui.LookSummary(r.in.Request.App)), func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, argoActivities.GetAppState, activities.AppStateInput{App: r.in.Request.App}).Get(ctx, &st)
	})
	if err != nil {
		return err
	}
	r.baseline = st.OperationStartedAt
	var res activities.StartOperationResult
	// StartOperation is safe to retry: it checks whether an earlier attempt
	// already reached Argo CD, so the outage costs no second operation.
	return r.outlast(ctx, summarized(startOperationOptions, slackui.StartSummary(r.in.Request.Action, r.in.Request.App)), func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, argoActivities.StartOperation, activities.StartOperationInput{
			App: r.in.Request.App, Action: r.in.Request.Action, HistoryID: r.in.Request.HistoryID, BaselineStartedAt: r.baseline,
			RequestedBy: r.in.Request.RequestedBy, ApprovedBy: r.status.DecidedBy, Approvals: r.status.Approvals,
			NoApprovalRule: r.noApprovalRule(), Run: r.runRef(ctx),
		}).Get(ctx, &res)
	})
}

// noApprovalRule names the rule that let the run go without approval.
func (r *deployRun) noApprovalRule() string {
	if rule := r.approval.rules.rule; rule.NoApproval {
		return rule.Name
	}
	return ""
}

// runRef names the run for Argo CD: its Temporal UI link, or without a UI
// its workflow and run id.
func (r *deployRun) runRef(ctx workflow.Context) string {
	if r.runURL != "" {
		return r.runURL
	}
	info := workflow.GetInfo(ctx)
	return info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID
}

// argoOutageVersion marks runs that ride out an Argo CD outage after the
// approval instead of failing once the first round of retries is spent (an
// approved sync was thrown away by 20 s of downtime). Runs begun before it
// replay failing as they did.
const argoOutageVersion = "ride-out-argocd-outage"

// outlast runs call with opts; if Argo CD stays unreachable through that
// first round, it says so in the status message and keeps trying for as
// long as the health timeout leaves.
func (r *deployRun) outlast(ctx workflow.Context, opts workflow.ActivityOptions, call func(workflow.Context) error) error {
	err := call(workflow.WithActivityOptions(ctx, opts))
	if err == nil || errType(err) != string(argocd.KindUnavailable) || r.approvedAt.IsZero() {
		return err
	}
	if workflow.GetVersion(ctx, argoOutageVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return err
	}
	deadline := r.approvedAt.Add(r.in.Policy.HealthTimeout)
	remaining := deadline.Sub(workflow.Now(ctx))
	if remaining <= 0 {
		return err
	}
	r.view.Message = slackui.WaitingForArgoCD(errMessage(err), deadline)
	r.updateStatus(ctx)
	long := opts
	long.ScheduleToCloseTimeout = remaining
	retry := *opts.RetryPolicy
	retry.MaximumAttempts = 0 // until the deadline
	retry.MaximumInterval = 30 * time.Second
	long.RetryPolicy = &retry
	err = call(workflow.WithActivityOptions(ctx, long))
	r.view.Message = ""
	r.updateStatus(ctx)
	return err
}

// disableAutoSync turns auto-sync off (how depends on the Argo CD version,
// see activities.DisableAutoSyncResult) and says so in the thread. If Argo CD
// reports nothing turned off (a retried attempt), Removed is the policy seen
// before asking.
func (r *deployRun) disableAutoSync(ctx workflow.Context, prep activities.PrepareDeployResult) (activities.DisableAutoSyncResult, error) {
	r.atShown(ctx, contract.StepDisablingAutoSync)
	if r.in.Request.Action == contract.ActionRollback {
		r.view.Message = slackui.TurningAutoSyncOffForRollback()
	}
	r.updateStatus(ctx)
	actx := workflow.WithActivityOptions(ctx, summarized(startOperationOptions, slackui.AutoSyncSummary(false, r.in.Request.App)))
	var res activities.DisableAutoSyncResult
	if err := workflow.ExecuteActivity(actx, argoActivities.DisableAutoSync, activities.DisableAutoSyncInput{App: r.in.Request.App}).Get(ctx, &res); err != nil {
		return res, err
	}
	r.view.Message = ""
	if res.Removed == nil {
		res.Removed = prep.AutoSync
	}
	return res, nil
}

// follow watches our operation until it ends and the app is Healthy,
// Degraded, failed, or the health timeout passes. The status message is
// edited only when what it shows changes.
func (r *deployRun) follow(ctx workflow.Context) (contract.Outcome, string) {
	r.atShown(ctx, contract.StepFollowing)
	r.updateStatus(ctx)
	deadline := r.approvedAt.Add(r.in.Policy.HealthTimeout)
	for {
		remaining := deadline.Sub(workflow.Now(ctx))
		if remaining <= 0 {
			return contract.OutcomeTimedOut, r.timeoutMessage("")
		}
		var st activities.AppStateResult
		pctx := workflow.WithActivityOptions(ctx, summarized(pollOptions(remaining), slackui.LookSummary(r.in.Request.App)))
		err := workflow.ExecuteActivity(pctx, argoActivities.GetAppState, activities.AppStateInput{App: r.in.Request.App}).Get(ctx, &st)
		var timeoutErr *temporal.TimeoutError
		switch {
		case errors.As(err, &timeoutErr):
			return contract.OutcomeTimedOut, r.timeoutMessage(errMessage(err))
		case err != nil:
			return contract.OutcomeFailed, slackui.AppUnreadable(errMessage(err))
		}
		ours := !st.OperationPending && st.OperationStartedAt.After(r.baseline)
		r.observe(st, ours)
		r.updateStatus(ctx)
		if ours {
			switch st.Phase {
			case "Failed", "Error":
				return contract.OutcomeFailed, slackui.OperationEnded(st.Phase, st.OperationMessage)
			case "Succeeded":
				// Health assessed before the operation ended may be the old one.
				fresh := st.ReconciledAt.IsZero() || !st.ReconciledAt.Before(st.OperationFinishedAt)
				switch {
				case !fresh:
				case st.Health == "Healthy":
					return contract.OutcomeSucceeded, ""
				case st.Health == "Degraded":
					return contract.OutcomeDegraded, slackui.DegradedAfter(r.in.Request.Action, r.in.Request.App)
				}
			}
		}
		if err := workflow.Sleep(ctx, minDuration(r.in.Policy.PollInterval, remaining)); err != nil {
			return contract.OutcomeCancelled, slackui.CancelledWhileFollowing()
		}
	}
}

// observe copies the latest Argo CD state into the status and the view.
func (r *deployRun) observe(st activities.AppStateResult, ours bool) {
	r.status.SyncStatus, r.status.Health = st.SyncStatus, st.Health
	r.view.SyncStatus, r.view.Health = st.SyncStatus, st.Health
	r.view.Unhealthy, r.status.Unhealthy = st.Unhealthy, st.Unhealthy
	if ours {
		r.status.Phase, r.view.Phase = st.Phase, st.Phase
		r.view.Message = st.OperationMessage
		r.view.Revision = st.Revision
	} else {
		r.status.Phase, r.view.Phase = "", "Pending"
	}
}

// timeoutMessage ends a run past HEALTH_TIMEOUT; lastErr is Argo CD's
// failure if it stopped answering.
func (r *deployRun) timeoutMessage(lastErr string) string {
	return slackui.NotHealthyInTime(r.in.Request.App, r.in.Policy.HealthTimeout, lastErr)
}

// end records the outcome, writes the final status message and returns the
// result. It runs on a disconnected context so a cancelled run still reports.
func (r *deployRun) end(ctx workflow.Context, outcome contract.Outcome, msg string) (contract.DeployResult, error) {
	if ctx.Err() != nil {
		ctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	now := workflow.Now(ctx)
	r.status.Step = contract.StepDone
	r.status.Outcome = outcome
	workflow.SetCurrentDetails(ctx, slackui.DeployStepDetails(r.status))
	r.status.Message = msg
	r.status.FinishedAt = now
	res := contract.DeployResult{
		Outcome:         outcome,
		App:             r.in.Request.App,
		Action:          r.in.Request.Action,
		RequestedBy:     r.in.Request.RequestedBy,
		DecidedBy:       r.status.DecidedBy,
		Rule:            r.status.Rule,
		Approvals:       r.status.Approvals,
		Emergency:       r.status.Emergency,
		FromRevision:    r.status.FromRevision,
		Revision:        cmp.Or(r.view.Revision, r.status.ToRevision),
		Message:         msg,
		Health:          r.status.Health,
		Unhealthy:       r.status.Unhealthy,
		RemovedAutoSync: r.status.RemovedAutoSync,
	}
	if !r.approvedAt.IsZero() {
		res.Duration = now.Sub(r.approvedAt)
		r.view.Step = contract.StepDone
		r.view.Outcome = outcome
		if msg != "" {
			r.view.Message = msg
		}
		r.view.Elapsed = res.Duration
		if r.edits.async {
			r.finalStatus(ctx)
		} else {
			r.updateStatus(ctx)
		}
	}
	if r.requestUpdated != nil {
		r.awaitRequestEdit(ctx, r.requestUpdated)
	}
	if r.in.Emergency != nil {
		r.emailEmergency(ctx, &res)
	}
	r.upsert(ctx, contract.SearchAttrDeployOutcome.ValueSet(string(outcome)))
	r.approval.finishHandlers(ctx)
	return res, nil
}

// postStatus starts posting the status message in the thread; it is edited
// from then on. awaitStatusPost collects its timestamp.
func (r *deployRun) postStatus(ctx workflow.Context) workflow.Future {
	r.edits.async = workflow.GetVersion(ctx, asyncStatusVersion, workflow.DefaultVersion, 1) == 1
	r.atShown(ctx, contract.StepStarting)
	v := r.view
	r.shown = v
	posted := r.msg.postAsync(ctx, slackActivityOptions, r.thread(), slackui.Message{DeployStatus: &v}, "status")
	if r.edits.async {
		r.startStatusEdits(ctx, posted)
	}
	return posted
}

func (r *deployRun) awaitStatusPost(ctx workflow.Context, f workflow.Future) {
	var res activities.PostMessageResult
	if err := f.Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Error("could not post the status message; progress will not be shown in Slack", "error", err)
		return
	}
	r.status.StatusTS = res.TS
}

func (r *deployRun) updateStatus(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, slackui.DeployStepDetails(r.status))
	if !r.approvedAt.IsZero() {
		r.view.Elapsed = workflow.Now(ctx).Sub(r.approvedAt).Round(time.Second)
	}
	if r.edits.async {
		v := r.view
		r.edits.pending = &v // the editor shows it when Slack lets it
		return
	}
	if r.status.StatusTS == "" {
		return
	}
	if sameStatus(r.view, r.shown) {
		return
	}
	v := r.view
	if err := r.update(ctx, r.status.StatusTS, slackui.Message{DeployStatus: &v}); err != nil {
		workflow.GetLogger(ctx).Error("could not update the status message", "error", err)
		return
	}
	r.shown = v
}
