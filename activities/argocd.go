// Package activities holds deploybot's side effects as Temporal activities:
// calls to Argo CD, Slack and SMTP. Each group is a struct holding its client,
// so tests inject fakes and the worker injects real ones. Errors that retrying
// cannot fix (unknown app, permission denied, ...) are returned as
// non-retryable ApplicationErrors whose type is the argocd.Kind, so workflows
// can branch on them.
package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/gitops-engine/pkg/health"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/preview"
	"github.com/deploybot/deploybot/internal/slackui"
)

// ArgoCDClient is what the Argo CD activities need from internal/argocd;
// *argocd.Client implements it.
type ArgoCDClient interface {
	ListApps(ctx context.Context) ([]argocd.App, error)
	GetApp(ctx context.Context, name string) (*argocd.App, error)
	Sync(ctx context.Context, name string, opts argocd.SyncOptions) (*v1alpha1.Application, error)
	Rollback(ctx context.Context, name string, historyID int64) (*v1alpha1.Application, error)
	DisableAutoSync(ctx context.Context, name string) (argocd.AutoSyncChange, error)
	EnableAutoSync(ctx context.Context, name string, policy v1alpha1.SyncPolicyAutomated) (argocd.AutoSyncChange, error)
	ResourceTree(ctx context.Context, name string) (*v1alpha1.ApplicationTree, error)
	HelmParameters(ctx context.Context, app *argocd.App, historyID int64) (map[string]string, error)
}

var (
	_ ArgoCDClient  = (*argocd.Client)(nil)
	_ ArgoCDClient  = (*argocd.Instances)(nil)
	_ PodLogsClient = (*argocd.Instances)(nil)
)

// ArgoCD groups the activities that talk to Argo CD.
type ArgoCD struct {
	Client ArgoCDClient
	// LookupConcurrency bounds RevisionHistory's parallel Helm parameter
	// lookups (ARGOCD_LOOKUP_CONCURRENCY); <= 0 means DefaultLookupConcurrency.
	LookupConcurrency int
	// HelmParams remembers the Helm parameters of immutable revisions
	// (ARGOCD_HELM_CACHE_SIZE); nil looks every one up.
	HelmParams *HelmParamsCache
	// Namespace is the one Argo CD runs in (ARGOCD_NAMESPACE; "" = argocd):
	// apps there are listed by bare name, others as namespace/name.
	Namespace string
}

// ListAppsInput is the input of ArgoCD.ListApps.
type ListAppsInput struct {
	Projects []string
}

// ListAppsResult is the result of ArgoCD.ListApps.
type ListAppsResult struct {
	Apps []contract.AppSummary
}

// ListApps reads every application (optionally only some projects) and
// summarises it for the `list_apps` table, sorted by name.
func (a *ArgoCD) ListApps(ctx context.Context, in ListAppsInput) (ListAppsResult, error) {
	apps, err := a.Client.ListApps(ctx)
	if err != nil {
		return ListAppsResult{}, asActivityError(err)
	}
	keep := map[string]bool{}
	for _, p := range in.Projects {
		keep[p] = true
	}
	out := ListAppsResult{Apps: make([]contract.AppSummary, 0, len(apps))}
	for _, app := range apps {
		if len(keep) > 0 && !keep[app.Spec.Project] {
			continue
		}
		out.Apps = append(out.Apps, summarize(app, a.Namespace))
	}
	sort.Slice(out.Apps, func(i, j int) bool { return out.Apps[i].Name < out.Apps[j].Name })
	return out, nil
}

func summarize(app argocd.App, argocdNamespace string) contract.AppSummary {
	return contract.AppSummary{
		Name:           appRef(app, argocdNamespace),
		Project:        app.Spec.Project,
		SyncStatus:     string(app.Status.Sync.Status),
		Health:         string(app.Status.Health.Status),
		Images:         append([]string(nil), app.Status.Summary.Images...),
		Revision:       app.Status.Sync.Revision,
		AutoSync:       app.AutoSyncOn(),
		TargetRevision: specTargetRevision(app.Application),
	}
}

// appRef is the app's name as commands write it.
func appRef(app argocd.App, argocdNamespace string) string {
	if app.Ref != "" {
		return app.Ref
	}
	return contract.QualifiedApp(app.Namespace, app.Name, argocdNamespace)
}

// specTargetRevision is what a sync deploys: the spec source's
// targetRevision, with Argo CD's meaning of "" (HEAD).
func specTargetRevision(app *v1alpha1.Application) string {
	if src := app.Spec.GetSource(); src.RepoURL != "" && src.TargetRevision != "" {
		return src.TargetRevision
	}
	return "HEAD"
}

// syncRevision is status.sync.revision, or the per-source revisions of a
// multi-source app.
func syncRevision(app *v1alpha1.Application) string {
	if r := app.Status.Sync.Revision; r != "" {
		return r
	}
	return strings.Join(app.Status.Sync.Revisions, ",")
}

// autoSyncPolicy is spec.syncPolicy.automated as the server means it: nil
// when absent; Enabled false when Argo CD 3.1+ keeps it switched off.
func autoSyncPolicy(app *argocd.App) *contract.AutoSyncPolicy {
	if app.Spec.SyncPolicy == nil {
		return nil
	}
	p := toPolicy(app.Spec.SyncPolicy.Automated)
	if p != nil && app.AutoSyncEnabled != nil {
		on := *app.AutoSyncEnabled
		p.Enabled = &on
	}
	return p
}

func toPolicy(p *v1alpha1.SyncPolicyAutomated) *contract.AutoSyncPolicy {
	if p == nil {
		return nil
	}
	return &contract.AutoSyncPolicy{Prune: p.Prune, SelfHeal: p.SelfHeal, AllowEmpty: p.AllowEmpty}
}

// PrepareDeploy reads what the approval request shows: the app's current
// state and where the sync or rollback would take it. For a rollback it
// checks the history id (an unknown one fails non-retryably with type
// ArgoCDUnknownHistoryID, as Argo CD itself would) and looks up the target's
// Helm parameters; a failed lookup only sets ParamsNote, because the request
// is still worth deciding without them.
func (a *ArgoCD) PrepareDeploy(ctx context.Context, in PrepareDeployInput) (PrepareDeployResult, error) {
	// The commit and sync window reads check the project GetApp just read.
	ctx = argocd.WithAppProjects(ctx)
	got, err := a.Client.GetApp(ctx, in.App)
	if err != nil {
		return PrepareDeployResult{}, asActivityError(err)
	}
	app := got.Application
	res := PrepareDeployResult{
		Project:         app.Spec.Project,
		CurrentRevision: syncRevision(app),
		SyncStatus:      string(app.Status.Sync.Status),
		Health:          string(app.Status.Health.Status),
		AutoSync:        autoSyncPolicy(got),
	}
	switch in.Action {
	case contract.ActionSync:
		res.TargetRevision = specTargetRevision(app)
		res.FromCommit, res.ToCommit = a.commit(ctx, in.App, res.CurrentRevision), a.commit(ctx, in.App, res.TargetRevision)
		res.SyncWindowBlock = a.syncWindowBlock(ctx, in.App)
		return res, nil
	case contract.ActionAutoSyncOn, contract.ActionAutoSyncOff:
		// Changes the sync policy only; the revision stays where it is.
		return res, nil
	case contract.ActionRollback:
	default:
		return PrepareDeployResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("prepare deploy %s: unknown action %q: use sync, rollback, autosync_on or autosync_off", in.App, in.Action),
			string(argocd.KindInvalidArgument), nil)
	}

	h := argocd.HistoryEntry(app, in.HistoryID)
	if h == nil {
		// The same error (and message) Argo CD's Rollback would give, before
		// anyone is asked to approve a rollback that cannot happen.
		return PrepareDeployResult{}, asActivityError(argocd.UnknownHistoryID("rollback", in.App, in.HistoryID))
	}
	res.TargetRevision = historyRevision(h)
	res.TargetDeployedAt = h.DeployedAt.Time
	res.RollbackTarget = rollbackTarget(app, h)
	res.FromCommit, res.ToCommit = a.commit(ctx, in.App, res.CurrentRevision), a.commit(ctx, in.App, res.TargetRevision)
	res.SyncWindowBlock = a.syncWindowBlock(ctx, in.App)

	params, err := a.Client.HelmParameters(ctx, got, in.HistoryID)
	switch {
	case err != nil && ctx.Err() != nil:
		// Cancelled or timed out: the activity is over, not just the lookup.
		return PrepareDeployResult{}, asActivityError(err)
	case err != nil:
		activity.GetLogger(ctx).Warn("Helm parameters of the rollback target unavailable", "app", in.App, "historyID", in.HistoryID, "error", err)
		res.ParamsNote = slackui.ParamsUnavailable(err.Error())
	default:
		res.Params = selectParams(params, in.ParamNames)
	}
	return res, nil
}

// ManagedResourcesClient reads what a sync would change.
type ManagedResourcesClient interface {
	ManagedResources(ctx context.Context, name string) ([]*v1alpha1.ResourceDiff, error)
}

// ManifestsClient renders an app's source at a revision (a rollback's).
type ManifestsClient interface {
	Manifests(ctx context.Context, name, revision string, revisions []string) ([]string, error)
}

var (
	_ ManagedResourcesClient = (*argocd.Client)(nil)
	_ ManagedResourcesClient = (*argocd.Instances)(nil)
	_ ManifestsClient        = (*argocd.Client)(nil)
	_ ManifestsClient        = (*argocd.Instances)(nil)
)

// SyncPreviewInput is the input of ArgoCD.SyncPreview.
type SyncPreviewInput struct {
	App string
	// Rollback previews the rollback to history entry HistoryID instead of
	// a sync to the app's target.
	Rollback  bool
	HistoryID int64
	// Target is entry HistoryID as PrepareDeploy read it, so a request's
	// preview does not read the app again; nil (`diff APP ID`, inputs of
	// runs started before it existed) reads the app.
	Target *RollbackTarget `json:",omitempty"`
}

// SyncPreview is what syncing the app (or rolling it back) would change:
// the resources Argo CD would create, update or prune and their changed
// fields, bounded, Secret values never shown. A sync's comes from Argo CD's
// managed resources (target, live and predicted state); a rollback's
// compares the manifests Argo CD renders at the entry's revision with the
// live state, as Argo CD computes managed resources against the current
// target only.
func (a *ArgoCD) SyncPreview(ctx context.Context, in SyncPreviewInput) (contract.Preview, error) {
	// One project check (a read of the app) serves all of its calls.
	ctx = argocd.WithAppProjects(ctx)
	mc, ok := a.Client.(ManagedResourcesClient)
	if !ok {
		return contract.Preview{}, temporal.NewNonRetryableApplicationError("this Argo CD client cannot read managed resources", string(argocd.KindInvalidArgument), nil)
	}
	if in.Rollback {
		return a.rollbackPreview(ctx, mc, in)
	}
	items, err := mc.ManagedResources(ctx, in.App)
	if err != nil {
		return contract.Preview{}, asActivityError(err)
	}
	return preview.Of(items), nil
}

func (a *ArgoCD) rollbackPreview(ctx context.Context, mc ManagedResourcesClient, in SyncPreviewInput) (contract.Preview, error) {
	rc, ok := a.Client.(ManifestsClient)
	if !ok {
		return contract.Preview{}, temporal.NewNonRetryableApplicationError("this Argo CD client cannot render manifests", string(argocd.KindInvalidArgument), nil)
	}
	t := in.Target
	if t == nil || t.HistoryID != in.HistoryID {
		got, err := a.Client.GetApp(ctx, in.App)
		if err != nil {
			return contract.Preview{}, asActivityError(err)
		}
		h := argocd.HistoryEntry(got.Application, in.HistoryID)
		if h == nil {
			return contract.Preview{}, asActivityError(argocd.UnknownHistoryID("rollback preview", in.App, in.HistoryID))
		}
		t = rollbackTarget(got.Application, h)
	}
	manifests, err := rc.Manifests(ctx, in.App, t.Revision, t.Revisions)
	if err != nil {
		return contract.Preview{}, asActivityError(err)
	}
	live, err := mc.ManagedResources(ctx, in.App)
	if err != nil {
		return contract.Preview{}, asActivityError(err)
	}
	p := preview.Against(manifests, live, t.Namespace)
	p.Rollback = &contract.PreviewedRollback{HistoryID: t.HistoryID, Revision: joinRevisions(t.Revision, t.Revisions), SourceDiffers: t.SourceDiffers}
	return p, nil
}

// rollbackTarget is what a rollback preview needs of app and its history
// entry h.
func rollbackTarget(app *v1alpha1.Application, h *v1alpha1.RevisionHistory) *RollbackTarget {
	return &RollbackTarget{
		HistoryID: h.ID, Revision: h.Revision, Revisions: append([]string(nil), h.Revisions...),
		SourceDiffers: sourceDiffers(app, h), Namespace: app.Spec.Destination.Namespace,
	}
}

// sourceDiffers says whether history entry h deployed a source other than
// the app's current one at another revision.
func sourceDiffers(app *v1alpha1.Application, h *v1alpha1.RevisionHistory) bool {
	if len(h.Sources) > 0 || app.Spec.HasMultipleSources() {
		if len(h.Sources) != len(app.Spec.Sources) {
			return true
		}
		for i := range h.Sources {
			if !sameBesidesRevision(h.Sources[i], app.Spec.Sources[i]) {
				return true
			}
		}
		return false
	}
	return app.Spec.Source == nil || !sameBesidesRevision(h.Source, *app.Spec.Source)
}

func sameBesidesRevision(a, b v1alpha1.ApplicationSource) bool {
	a.TargetRevision, b.TargetRevision = "", ""
	return a.Equals(&b)
}

// SyncWindowsClient reads Argo CD's sync windows of an app.
type SyncWindowsClient interface {
	SyncWindows(ctx context.Context, name string) (bool, []argocd.SyncWindow, error)
}

var (
	_ SyncWindowsClient = (*argocd.Client)(nil)
	_ SyncWindowsClient = (*argocd.Instances)(nil)
)

// syncWindowBlock says which of Argo CD's sync windows stop a sync or
// rollback of app now ("" when none does, or they cannot be read: Argo CD
// itself refuses the operation then, and the run reports that).
func (a *ArgoCD) syncWindowBlock(ctx context.Context, app string) string {
	wc, ok := a.Client.(SyncWindowsClient)
	if !ok {
		return ""
	}
	canSync, active, err := wc.SyncWindows(ctx, app)
	if err != nil {
		activity.GetLogger(ctx).Info("sync windows unavailable", "app", app, "error", err)
		return ""
	}
	if canSync {
		return ""
	}
	ws := make([]slackui.SyncWindow, len(active))
	for i, w := range active {
		ws[i] = slackui.SyncWindow{Kind: w.Kind, Schedule: w.Schedule, Duration: w.Duration}
	}
	return slackui.SyncWindowsBlocking(ws)
}

// RevisionMetadataClient reads the commit behind a revision; a client
// without it shows revisions only.
type RevisionMetadataClient interface {
	RevisionMetadata(ctx context.Context, name, revision string) (*v1alpha1.RevisionMetadata, error)
}

var (
	_ RevisionMetadataClient = (*argocd.Client)(nil)
	_ RevisionMetadataClient = (*argocd.Instances)(nil)
)

// commit is who made revision and why, as Argo CD knows it; nil when it
// does not (a Helm chart version, several sources, a failed read): the
// request then shows the revision alone.
func (a *ArgoCD) commit(ctx context.Context, app, revision string) *contract.Commit {
	mc, ok := a.Client.(RevisionMetadataClient)
	if !ok || revision == "" || strings.Contains(revision, ",") {
		return nil
	}
	md, err := mc.RevisionMetadata(ctx, app, revision)
	if err != nil || md == nil || md.Message == "" && md.Author == "" {
		if err != nil {
			activity.GetLogger(ctx).Info("commit of the revision unavailable", "app", app, "revision", revision, "error", err)
		}
		return nil
	}
	return &contract.Commit{Author: md.Author, Message: md.Message, Date: md.Date.Time}
}

// historyRevision is the revision a history entry deployed (its sources'
// revisions, comma-separated, for a multi-source app).
func historyRevision(h *v1alpha1.RevisionHistory) string {
	return joinRevisions(h.Revision, h.Revisions)
}

// joinRevisions is revision, or the per-source revisions comma-separated.
func joinRevisions(revision string, revisions []string) string {
	if revision != "" {
		return revision
	}
	return strings.Join(revisions, ",")
}

// selectParams sorts the parameters by name, keeping only names if any are given.
func selectParams(params map[string]string, names []string) []slackui.Param {
	out := make([]slackui.Param, 0, len(params))
	if len(names) == 0 {
		for k, v := range params {
			out = append(out, slackui.Param{Name: k, Value: v})
		}
	} else {
		for _, k := range names {
			if v, ok := params[k]; ok {
				out = append(out, slackui.Param{Name: k, Value: v})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// maxUnhealthy bounds AppStateResult.Unhealthy: the result is recorded in
// workflow history on every poll, and a broken app can have hundreds of pods.
const maxUnhealthy = 20

// GetAppState takes one look at the app's operation, sync and health. When
// the app is not Healthy it lists the resources that are not, from the
// resource tree (which includes ReplicaSets and Pods, where the useful
// messages are) merged with status.resources; a failed tree lookup falls
// back to status.resources and never fails the activity.
func (a *ArgoCD) GetAppState(ctx context.Context, in AppStateInput) (AppStateResult, error) {
	// The resource tree read checks the project GetApp just read.
	ctx = argocd.WithAppProjects(ctx)
	got, err := a.Client.GetApp(ctx, in.App)
	if err != nil {
		return AppStateResult{}, asActivityError(err)
	}
	app := got.Application
	res := AppStateResult{
		OperationPending: app.Operation != nil,
		SyncStatus:       string(app.Status.Sync.Status),
		Revision:         syncRevision(app),
		Health:           string(app.Status.Health.Status),
		HealthMessage:    app.Status.Health.Message,
		AutoSync:         autoSyncPolicy(got),
	}
	if st := app.Status.OperationState; st != nil {
		res.OperationStartedAt = st.StartedAt.Time
		if st.FinishedAt != nil {
			res.OperationFinishedAt = st.FinishedAt.Time
		}
		res.Phase = string(st.Phase)
		res.OperationMessage = st.Message
	}
	if app.Status.ReconciledAt != nil {
		res.ReconciledAt = app.Status.ReconciledAt.Time
	}
	if app.Status.Health.Status == health.HealthStatusHealthy {
		return res, nil
	}
	tree, err := a.Client.ResourceTree(ctx, in.App)
	if err != nil {
		if ctx.Err() != nil {
			return AppStateResult{}, asActivityError(err)
		}
		activity.GetLogger(ctx).Warn("resource tree unavailable; listing unhealthy resources from status.resources", "app", in.App, "error", err)
		tree = nil
	}
	res.Unhealthy, res.UnhealthyOmitted = unhealthyResources(app, tree, maxUnhealthy)
	return res, nil
}

// unhealthyResources lists the resources whose health is known and not
// Healthy: the managed ones (status.resources) first, then tree-only ones
// (ReplicaSets, Pods), each once, at most limit of them; omitted counts the rest.
func unhealthyResources(app *v1alpha1.Application, tree *v1alpha1.ApplicationTree, limit int) (out []contract.Resource, omitted int) {
	type key struct{ group, kind, ns, name string }
	index := map[key]int{}
	var all []contract.Resource
	add := func(k key, h *v1alpha1.HealthStatus) {
		if h == nil || h.Status == "" || h.Status == health.HealthStatusHealthy {
			return
		}
		if i, ok := index[k]; ok {
			// Argo CD may not persist health messages in status.resources;
			// the tree has them.
			if all[i].Message == "" {
				all[i].Message = h.Message
			}
			return
		}
		index[k] = len(all)
		all = append(all, contract.Resource{Kind: k.kind, Name: k.name, Health: string(h.Status), Message: h.Message})
	}
	for i := range app.Status.Resources {
		r := &app.Status.Resources[i]
		add(key{r.Group, r.Kind, r.Namespace, r.Name}, r.Health)
	}
	if tree != nil {
		for i := range tree.Nodes {
			n := &tree.Nodes[i]
			add(key{n.Group, n.Kind, n.Namespace, n.Name}, n.Health)
		}
	}
	if len(all) > limit {
		return all[:limit], len(all) - limit
	}
	return all, 0
}

// StartOperation starts the sync (to the app's target revision) or the
// rollback (to HistoryID). A successful return only means Argo CD accepted
// the operation; follow it with GetAppState.
//
// It is safe to retry: a retried attempt first looks at the app and, if an
// earlier attempt's call reached Argo CD (see operationStarted), returns
// AlreadyStarted instead of starting a second operation.
func (a *ArgoCD) StartOperation(ctx context.Context, in StartOperationInput) (StartOperationResult, error) {
	retry := activity.GetInfo(ctx).Attempt > 1
	// A retry's Sync or Rollback checks the project its GetApp just read.
	ctx = argocd.WithAppProjects(ctx)
	if retry {
		app, err := a.Client.GetApp(ctx, in.App)
		if err != nil {
			return StartOperationResult{}, asActivityError(err)
		}
		if operationStarted(app.Application, in.BaselineStartedAt) {
			activity.GetLogger(ctx).Info("operation already started by an earlier attempt; not starting it again", "app", in.App, "action", in.Action)
			return StartOperationResult{AlreadyStarted: true}, nil
		}
	}
	var err error
	switch in.Action {
	case contract.ActionSync:
		_, err = a.Client.Sync(ctx, in.App, argocd.SyncOptions{Infos: operationInfos(in)})
	case contract.ActionRollback:
		_, err = a.Client.Rollback(ctx, in.App, in.HistoryID)
	default:
		return StartOperationResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("start operation %s: unknown action %q: use sync, rollback, autosync_on or autosync_off", in.App, in.Action),
			string(argocd.KindInvalidArgument), nil)
	}
	if retry && errors.Is(err, argocd.ErrOperationInProgress) {
		// The app had no operation when this attempt looked, so the one
		// Argo CD now reports is almost surely the earlier attempt's request,
		// which was still in flight.
		activity.GetLogger(ctx).Warn("operation appeared after this retry looked; assuming the earlier attempt started it", "app", in.App, "action", in.Action)
		return StartOperationResult{AlreadyStarted: true}, nil
	}
	if err != nil {
		return StartOperationResult{}, asActivityError(err)
	}
	return StartOperationResult{}, nil
}

// operationInfos are the Sync's infos. Argo CD's Rollback request has no
// infos (v2.14 and v3.x alike), so a rollback shows only deploybot's account
// in Argo CD; its thread and run record who asked and who approved.
func operationInfos(in StartOperationInput) []*v1alpha1.Info {
	approvers := make([]contract.User, 0, len(in.Approvals))
	for _, a := range in.Approvals {
		approvers = append(approvers, a.User)
	}
	if len(approvers) <= 1 && in.ApprovedBy != nil {
		approvers = []contract.User{*in.ApprovedBy}
	}
	var infos []*v1alpha1.Info
	for _, f := range slackui.OperationInfo(in.RequestedBy, approvers, in.NoApprovalRule, in.Run) {
		infos = append(infos, &v1alpha1.Info{Name: f.Name, Value: f.Value})
	}
	return infos
}

// operationStarted reports whether an operation was requested after the
// baseline was taken: one is pending or running (app.operation is set from
// the Sync/Rollback call until the operation ends), or the last one started
// after baseline. Argo CD stores startedAt with second precision, so an
// operation that started and ended within the baseline's second is missed;
// real operations cannot, because they would overlap the baseline's.
func operationStarted(app *v1alpha1.Application, baseline time.Time) bool {
	if app.Operation != nil {
		return true
	}
	st := app.Status.OperationState
	return st != nil && st.StartedAt.After(baseline)
}

// DisableAutoSync turns auto-sync off with a merge patch that keeps retry
// and syncOptions, as the server's version allows (see DisableAutoSyncResult),
// and returns the policy it turned off (nil if auto-sync was already off),
// so the run can record it for `autosync APP on`.
func (a *ArgoCD) DisableAutoSync(ctx context.Context, in DisableAutoSyncInput) (DisableAutoSyncResult, error) {
	ch, err := a.Client.DisableAutoSync(ctx, in.App)
	if err != nil {
		return DisableAutoSyncResult{}, asActivityError(err)
	}
	if ch.Policy == nil && activity.GetInfo(ctx).Attempt > 1 {
		// Probably an earlier attempt turned it off and lost the answer.
		activity.GetLogger(ctx).Warn("auto-sync already off on a retried attempt: an earlier attempt may have turned it off; "+
			"the policy is unknown here (use the one PrepareDeploy saw)", "app", in.App)
	}
	return DisableAutoSyncResult{Removed: toPolicy(ch.Policy), Method: autoSyncMethod(ch), ArgoCDVersion: versionOf(ch)}, nil
}

func autoSyncMethod(ch argocd.AutoSyncChange) contract.AutoSyncMethod {
	switch {
	case ch.Policy == nil:
		return ""
	case ch.ByEnabled:
		return contract.AutoSyncByEnabled
	default:
		return contract.AutoSyncByAutomated
	}
}

func versionOf(ch argocd.AutoSyncChange) string {
	if ch.Policy == nil {
		return ""
	}
	return ch.Server.Raw
}

// asActivityError wraps an Argo CD error so Temporal retries only what can
// succeed later and the workflow sees the error kind as the error type. The
// message is argocd.Error's: what failed, Argo CD's reason, what to do.
func asActivityError(err error) error {
	var ae *argocd.Error
	if !errors.As(err, &ae) {
		return err
	}
	return temporal.NewApplicationErrorWithOptions(ae.Error(), string(ae.Kind), temporal.ApplicationErrorOptions{
		NonRetryable: !ae.Retryable(),
		// Only the underlying cause: ae's text is already the message.
		Cause: ae.Unwrap(),
	})
}
