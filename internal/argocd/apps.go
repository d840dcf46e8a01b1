package argocd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	repositorypkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/repository"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/deploybot/deploybot/internal/argowire"
)

// SyncOptions are the knobs of a sync deploybot exposes.
type SyncOptions struct {
	// Revision to sync to; "" means the app's target revision.
	Revision string
	// Prune deletes resources that are no longer in the source.
	Prune bool
	// DryRun previews the sync without applying it.
	DryRun bool
	// Infos are shown with the operation in Argo CD (UI, `argocd app get`),
	// e.g. who asked for it and who approved it.
	Infos []*v1alpha1.Info
}

// PodLog is the tail of one pod's log.
type PodLog struct {
	// Pod is the pod name ("" for lines Argo CD could not attribute, e.g. a log stream error).
	Pod string
	// Lines are the log lines, oldest first, without timestamps.
	Lines []string
}

// patchTypeMerge is a JSON merge patch (RFC 7386): keys not in the patch are
// kept, so retry and syncOptions survive while automated changes.
const patchTypeMerge = "merge"

// disableAutoSyncPatch removes spec.syncPolicy.automated and nothing else.
const disableAutoSyncPatch = `{"spec":{"syncPolicy":{"automated":null}}}`

// Apps are named as the argocd CLI names them: "guestbook" in Argo CD's own
// namespace, "team-a/guestbook" in another; requests carry the two parts
// as name and appNamespace, which argocd-server does not split itself.
func appName(app string) string {
	if _, n, ok := strings.Cut(app, "/"); ok {
		return n
	}
	return app
}

// appNamespace is the namespace part of app, nil (the server's own
// namespace) if there is none.
func appNamespace(app string) *string {
	if ns, _, ok := strings.Cut(app, "/"); ok {
		return &ns
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func (c *Client) appClient(ctx context.Context, op, app string) (applicationpkg.ApplicationServiceClient, func(), error) {
	if op != opList && app == "" {
		return nil, nil, &Error{Kind: KindInvalidArgument, Op: op, Code: codes.InvalidArgument, Message: "application name is empty"}
	}
	return open(ctx, c, op, app, c.api.NewApplicationClient)
}

func (c *Client) wrap(ctx context.Context, op, app string, err error) error {
	return classify(ctx, op, app, err, c.grpcWeb)
}

// App is an Application as the server sent it, with what the v2 type drops.
type App struct {
	*v1alpha1.Application
	// AutoSyncEnabled is spec.syncPolicy.automated.enabled (Argo CD 3.1+):
	// nil when absent (on, as older servers have no such field), false when
	// auto-sync is off with its settings kept.
	AutoSyncEnabled *bool
	// Asked is the name the server was asked for ("guestbook",
	// "team-a/guestbook"); Instance is the Argo CD instance it was read from
	// ("" with one Argo CD); Ref is its name as commands write it, e.g.
	// "team-a/guestbook@prod" ("" when read without Instances).
	Asked, Instance, Ref string
}

// AutoSyncOn reports whether auto-sync is on as the server means it
// (Argo CD 3.1's IsAutomatedSyncEnabled): automated set and not enabled: false.
func (a App) AutoSyncOn() bool {
	if a.Application == nil || a.Spec.SyncPolicy == nil || a.Spec.SyncPolicy.Automated == nil {
		return false
	}
	return a.AutoSyncEnabled == nil || *a.AutoSyncEnabled
}

// ListApps returns every application the token may see.
func (c *Client) ListApps(ctx context.Context) ([]App, error) {
	appIf, done, err := c.appClient(ctx, opList, "")
	if err != nil {
		return nil, err
	}
	defer done()
	var raw []byte
	list, err := appIf.List(ctx, &applicationpkg.ApplicationQuery{}, append(callOpts, grpc.ForceCodecV2(argowire.Capture(&raw)))...)
	if err != nil {
		return nil, c.wrap(ctx, opList, "", err)
	}
	out := make([]App, len(list.Items))
	for i := range list.Items {
		out[i].Application = &list.Items[i]
	}
	// Items with automated appear in wire order, the order of list.Items.
	withAutomated := make([]int, 0, len(out))
	for i := range out {
		if sp := out[i].Spec.SyncPolicy; sp != nil && sp.Automated != nil {
			withAutomated = append(withAutomated, i)
		}
	}
	found, err := argowire.Find(raw, argowire.ListAutomated)
	if err != nil || len(found) != len(withAutomated) {
		return nil, &Error{Kind: KindInvalidArgument, Op: opList, Message: fmt.Sprintf(
			"the application list could not be read for spec.syncPolicy.automated.enabled (%d policies on the wire, %d decoded, %v)",
			len(found), len(withAutomated), err)}
	}
	for k, i := range withAutomated {
		out[i].AutoSyncEnabled = found[k].Enabled
	}
	return out, nil
}

// GetApp returns one application.
func (c *Client) GetApp(ctx context.Context, name string) (*App, error) {
	appIf, done, err := c.appClient(ctx, opGet, name)
	if err != nil {
		return nil, err
	}
	defer done()
	return c.getApp(ctx, appIf, opGet, name)
}

// getApp is Get with enabled read off the wire.
func (c *Client) getApp(ctx context.Context, appIf applicationpkg.ApplicationServiceClient, op, name string) (*App, error) {
	var raw []byte
	app, err := appIf.Get(ctx, &applicationpkg.ApplicationQuery{Name: ptr(appName(name)), AppNamespace: appNamespace(name)}, append(callOpts, grpc.ForceCodecV2(argowire.Capture(&raw)))...)
	if err != nil {
		return nil, c.wrap(ctx, op, name, err)
	}
	found, err := argowire.Find(raw, argowire.ApplicationAutomated)
	if err != nil {
		return nil, &Error{Kind: KindInvalidArgument, Op: op, App: name, Message: "the application could not be read for spec.syncPolicy.automated.enabled: " + err.Error()}
	}
	out := &App{Application: app, Asked: name}
	if len(found) == 1 {
		out.AutoSyncEnabled = found[0].Enabled
	}
	return out, nil
}

// Sync starts a sync and returns the application as Argo CD answered. A
// successful return only means the operation started: watch
// status.operationState for its end.
func (c *Client) Sync(ctx context.Context, name string, opts SyncOptions) (*v1alpha1.Application, error) {
	appIf, done, err := c.appClient(ctx, opSync, name)
	if err != nil {
		return nil, err
	}
	defer done()
	req := &applicationpkg.ApplicationSyncRequest{Name: ptr(appName(name)), AppNamespace: appNamespace(name), Prune: &opts.Prune, DryRun: &opts.DryRun, Infos: opts.Infos}
	if opts.Revision != "" {
		req.Revision = &opts.Revision
	}
	app, err := appIf.Sync(ctx, req, callOpts...)
	return app, c.wrap(ctx, opSync, name, err)
}

// Rollback starts a rollback to the status.history entry historyID. Argo CD
// refuses it (ErrAutoSyncEnabled) while auto-sync is on.
func (c *Client) Rollback(ctx context.Context, name string, historyID int64) (*v1alpha1.Application, error) {
	appIf, done, err := c.appClient(ctx, opRollback, name)
	if err != nil {
		return nil, err
	}
	defer done()
	app, err := appIf.Rollback(ctx, &applicationpkg.ApplicationRollbackRequest{Name: ptr(appName(name)), AppNamespace: appNamespace(name), Id: &historyID}, callOpts...)
	return app, c.wrap(ctx, opRollback, name, err)
}

// AutoSyncChange is what DisableAutoSync or EnableAutoSync did.
type AutoSyncChange struct {
	// Policy is the automated policy turned off or on; nil if nothing
	// changed because auto-sync already was as asked.
	Policy *v1alpha1.SyncPolicyAutomated
	// ByEnabled is true when it was done with automated.enabled (Argo CD
	// 3.1+: the policy stays in the spec), false when automated itself was
	// removed or written.
	ByEnabled bool
	// Server is the version the method was chosen from.
	Server ServerVersion
}

// disableAutoSyncEnabledPatch turns auto-sync off on Argo CD 3.1+, keeping
// the policy's settings.
const disableAutoSyncEnabledPatch = `{"spec":{"syncPolicy":{"automated":{"enabled":false}}}}`

// enableAutoSyncEnabledPatch turns a kept policy back on (3.1+).
const enableAutoSyncEnabledPatch = `{"spec":{"syncPolicy":{"automated":{"enabled":true}}}}`

// DisableAutoSync turns auto-sync off with a merge patch (never a full
// Update, which would drop labels, annotations and finalizers; retry and
// syncOptions are kept). On Argo CD 3.1+ it sets automated.enabled: false,
// keeping the policy in the spec; before 3.1 it removes automated. It returns
// the policy it turned off, or a nil Policy if auto-sync was already off.
func (c *Client) DisableAutoSync(ctx context.Context, name string) (AutoSyncChange, error) {
	return c.changeAutoSync(ctx, opDisableAutoSync, name, false, func(app *App, v ServerVersion) (AutoSyncChange, string, error) {
		ch := AutoSyncChange{Policy: app.Spec.SyncPolicy.Automated.DeepCopy()}
		if v.HasAutoSyncEnabled() {
			ch.ByEnabled = true
			return ch, disableAutoSyncEnabledPatch, nil
		}
		return ch, disableAutoSyncPatch, nil
	})
}

// EnableAutoSync turns auto-sync on with a merge patch. On Argo CD 3.1+, an
// app whose policy was kept with enabled: false gets enabled: true and its
// own settings; otherwise automated is set to policy (e.g. what an older
// DisableAutoSync removed), all three flags written so a false overrides a
// true already set. A nil Policy in the result means it was already on.
func (c *Client) EnableAutoSync(ctx context.Context, name string, policy v1alpha1.SyncPolicyAutomated) (AutoSyncChange, error) {
	return c.changeAutoSync(ctx, opEnableAutoSync, name, true, func(app *App, v ServerVersion) (AutoSyncChange, string, error) {
		if kept := app.Spec.SyncPolicy; kept != nil && kept.Automated != nil && v.HasAutoSyncEnabled() {
			return AutoSyncChange{Policy: kept.Automated.DeepCopy(), ByEnabled: true}, enableAutoSyncEnabledPatch, nil
		}
		b, err := json.Marshal(map[string]any{"spec": map[string]any{"syncPolicy": map[string]any{"automated": map[string]bool{
			"prune": policy.Prune, "selfHeal": policy.SelfHeal, "allowEmpty": policy.AllowEmpty,
		}}}})
		return AutoSyncChange{Policy: policy.DeepCopy()}, string(b), err
	})
}

// changeAutoSync reads the app and, unless auto-sync already is as wanted
// (on), applies the patch plan picks for the server's version.
func (c *Client) changeAutoSync(ctx context.Context, op, name string, on bool, plan func(*App, ServerVersion) (AutoSyncChange, string, error)) (AutoSyncChange, error) {
	appIf, done, err := c.appClient(ctx, op, name)
	if err != nil {
		return AutoSyncChange{}, err
	}
	defer done()
	app, err := c.getApp(ctx, appIf, op, name)
	if err != nil {
		return AutoSyncChange{}, err
	}
	if app.AutoSyncOn() == on {
		return AutoSyncChange{}, nil
	}
	v, err := c.ServerVersion(ctx)
	if err != nil {
		return AutoSyncChange{}, err
	}
	ch, patch, err := plan(app, v)
	if err != nil {
		return AutoSyncChange{}, err
	}
	ch.Server = v
	if err := c.patchAutoSync(ctx, appIf, op, name, patch, on); err != nil {
		return AutoSyncChange{}, err
	}
	return ch, nil
}

// patchAutoSync applies a merge patch and checks the app Argo CD answers
// with: a server that ignored the patch (e.g. one older than it says, which
// drops `enabled`) must not be reported as changed.
func (c *Client) patchAutoSync(ctx context.Context, appIf applicationpkg.ApplicationServiceClient, op, name, patch string, wantOn bool) error {
	patchType := patchTypeMerge
	var raw []byte
	app, err := appIf.Patch(ctx, &applicationpkg.ApplicationPatchRequest{Name: ptr(appName(name)), AppNamespace: appNamespace(name), Patch: &patch, PatchType: &patchType},
		append(callOpts, grpc.ForceCodecV2(argowire.Capture(&raw)))...)
	if err != nil {
		return c.wrap(ctx, op, name, err)
	}
	got := App{Application: app}
	if found, err := argowire.Find(raw, argowire.ApplicationAutomated); err == nil && len(found) == 1 {
		got.AutoSyncEnabled = found[0].Enabled
	}
	if got.AutoSyncOn() != wantOn {
		state := map[bool]string{true: "on", false: "off"}
		return &Error{Kind: KindOther, Op: op, App: name, Code: codes.FailedPrecondition, Message: fmt.Sprintf(
			"Argo CD accepted the patch %s but answered with auto-sync still %s: the server may not be the version it reports; check `argocd version` and the app's spec.syncPolicy",
			patch, state[!wantOn])}
	}
	return nil
}

// ResourceTree returns the live resources of the application (pods included).
func (c *Client) ResourceTree(ctx context.Context, name string) (*v1alpha1.ApplicationTree, error) {
	appIf, done, err := c.appClient(ctx, opResourceTree, name)
	if err != nil {
		return nil, err
	}
	defer done()
	tree, err := appIf.ResourceTree(ctx, &applicationpkg.ResourcesQuery{ApplicationName: ptr(appName(name)), AppNamespace: appNamespace(name)}, callOpts...)
	return tree, c.wrap(ctx, opResourceTree, name, err)
}

// ManagedResources is each resource of the app with its target, live and
// predicted live state: what a sync would change (Argo CD masks Secrets).
func (c *Client) ManagedResources(ctx context.Context, name string) ([]*v1alpha1.ResourceDiff, error) {
	appIf, done, err := c.appClient(ctx, opManaged, name)
	if err != nil {
		return nil, err
	}
	defer done()
	res, err := appIf.ManagedResources(ctx, &applicationpkg.ResourcesQuery{ApplicationName: ptr(appName(name)), AppNamespace: appNamespace(name)}, callOpts...)
	if err != nil {
		return nil, c.wrap(ctx, opManaged, name, err)
	}
	return res.Items, nil
}

// Manifests renders the app's source at revision as argocd-server does
// (GetManifests; Secret data masked by the server): the resources a sync
// or rollback to that revision would apply. A multi-source app gives one
// revision per source in revisions instead.
func (c *Client) Manifests(ctx context.Context, name, revision string, revisions []string) ([]string, error) {
	appIf, done, err := c.appClient(ctx, opManifests, name)
	if err != nil {
		return nil, err
	}
	defer done()
	q := &applicationpkg.ApplicationManifestQuery{Name: ptr(appName(name)), AppNamespace: appNamespace(name)}
	if len(revisions) > 0 {
		for i := range revisions {
			q.SourcePositions = append(q.SourcePositions, int64(i+1))
		}
		q.Revisions = revisions
	} else {
		q.Revision = ptr(revision)
	}
	res, err := appIf.GetManifests(ctx, q, callOpts...)
	if err != nil {
		return nil, c.wrap(ctx, opManifests, name, err)
	}
	return res.Manifests, nil
}

// SyncWindow is an Argo CD sync window that applies to an app.
type SyncWindow struct {
	Kind, Schedule, Duration string
	ManualSync               bool
}

// SyncWindows says whether Argo CD's sync windows let the app be synced by
// hand now, and which windows are active (the project's deny and allow
// windows, as argocd-server evaluates them).
func (c *Client) SyncWindows(ctx context.Context, name string) (canSync bool, active []SyncWindow, err error) {
	appIf, done, err := c.appClient(ctx, opSyncWindows, name)
	if err != nil {
		return false, nil, err
	}
	defer done()
	res, err := appIf.GetApplicationSyncWindows(ctx, &applicationpkg.ApplicationSyncWindowsQuery{Name: ptr(appName(name)), AppNamespace: appNamespace(name)}, callOpts...)
	if err != nil {
		return false, nil, c.wrap(ctx, opSyncWindows, name, err)
	}
	for _, w := range res.ActiveWindows {
		active = append(active, SyncWindow{Kind: w.GetKind(), Schedule: w.GetSchedule(), Duration: w.GetDuration(), ManualSync: w.GetManualSync()})
	}
	return res.GetCanSync(), active, nil
}

// RevisionMetadata is the commit behind revision of the app's source
// (author, date, message), as Argo CD's repo server reads it.
func (c *Client) RevisionMetadata(ctx context.Context, name, revision string) (*v1alpha1.RevisionMetadata, error) {
	appIf, done, err := c.appClient(ctx, opRevisionMeta, name)
	if err != nil {
		return nil, err
	}
	defer done()
	md, err := appIf.RevisionMetadata(ctx, &applicationpkg.RevisionMetadataQuery{Name: ptr(appName(name)), Revision: ptr(revision), AppNamespace: appNamespace(name)}, callOpts...)
	return md, c.wrap(ctx, opRevisionMeta, name, err)
}

// PodLogs returns the last tailLines lines of every pod of the application,
// grouped by pod in the order pods first appear. It makes one PodLogs call
// without a pod name, which Argo CD fans out over the app's pods applying
// tailLines per pod; tailLines <= 0 means all lines.
func (c *Client) PodLogs(ctx context.Context, name string, tailLines int64) ([]PodLog, error) {
	ctx, cancel := context.WithCancel(ctx) // ends the stream when we stop at `last`
	defer cancel()
	appIf, done, err := c.appClient(ctx, opPodLogs, name)
	if err != nil {
		return nil, err
	}
	defer done()
	follow := false
	q := &applicationpkg.ApplicationPodLogsQuery{Name: ptr(appName(name)), AppNamespace: appNamespace(name), Follow: &follow}
	if tailLines > 0 {
		q.TailLines = &tailLines
	}
	stream, err := appIf.PodLogs(ctx, q, callOpts...)
	if err != nil {
		return nil, c.wrap(ctx, opPodLogs, name, err)
	}
	var out []PodLog
	index := map[string]int{}
	for {
		e, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break // Argo CD ends without `last` when the app has no pods
		}
		if err != nil {
			return nil, c.wrap(ctx, opPodLogs, name, err)
		}
		if e.GetLast() {
			break // the terminator carries no line
		}
		pod := e.GetPodName()
		i, ok := index[pod]
		if !ok {
			i = len(out)
			index[pod] = i
			out = append(out, PodLog{Pod: pod})
		}
		out[i].Lines = append(out[i].Lines, e.GetContent())
		// Bound memory even if a server ignores tailLines.
		if tailLines > 0 && int64(len(out[i].Lines)) > tailLines {
			out[i].Lines = out[i].Lines[1:]
		}
	}
	return out, nil
}

// HelmParameters returns the Helm parameters (flattened values, e.g.
// "image.tag") the application had at the status.history entry historyID.
// It asks RepositoryService.GetAppDetails for that entry's source at its
// revision, then overlays the entry's own helm.parameters, which Argo CD
// applies at render time but GetAppDetails does not include. A non-Helm source
// yields an empty map. ErrUnknownHistoryID if historyID is not in the history.
func (c *Client) HelmParameters(ctx context.Context, got *App, historyID int64) (map[string]string, error) {
	if got == nil || got.Application == nil {
		return nil, &Error{Kind: KindInvalidArgument, Op: opHelmParameters, Code: codes.InvalidArgument, Message: "application is nil"}
	}
	app := got.Application
	// GetAppDetails takes the app as "namespace/name" (argocd-server splits
	// it): the name GetApp was asked for, which is bare in Argo CD's own namespace.
	name := got.Asked
	if name == "" {
		name = app.QualifiedName()
	}
	h := HistoryEntry(app, historyID)
	if h == nil {
		return nil, UnknownHistoryID(opHelmParameters, name, historyID)
	}
	q := &repositorypkg.RepoAppDetailsQuery{AppName: name, AppProject: app.Spec.Project}
	if len(h.Sources) > 0 {
		// Multi-source: Argo CD checks the source against history[versionId]
		// .sources[sourceIndex] with targetRevision = revisions[sourceIndex].
		idx := helmSourceIndex(h.Sources)
		src := h.Sources[idx].DeepCopy()
		if idx < len(h.Revisions) {
			src.TargetRevision = h.Revisions[idx]
		}
		q.Source, q.SourceIndex, q.VersionId = src, int32(idx), int32(h.ID)
	} else {
		src := h.Source.DeepCopy()
		if h.Revision != "" {
			src.TargetRevision = h.Revision
		}
		q.Source = src
	}
	repoIf, done, err := open(ctx, c, opHelmParameters, name, c.api.NewRepoClient)
	if err != nil {
		return nil, err
	}
	defer done()
	resp, err := repoIf.GetAppDetails(ctx, q, callOpts...)
	if err != nil {
		return nil, c.wrap(ctx, opHelmParameters, name, err)
	}
	params := map[string]string{}
	if resp.Helm == nil {
		return params, nil
	}
	for _, p := range resp.Helm.Parameters {
		if p != nil {
			params[p.Name] = p.Value
		}
	}
	if q.Source.Helm != nil {
		for _, p := range q.Source.Helm.Parameters {
			params[p.Name] = p.Value
		}
	}
	return params, nil
}

// helmSourceIndex picks the Helm source of a multi-source history entry (the
// others are typically $values refs); 0 if none looks like Helm.
func helmSourceIndex(srcs v1alpha1.ApplicationSources) int {
	for i := range srcs {
		if srcs[i].IsHelm() || srcs[i].Helm != nil {
			return i
		}
	}
	return 0
}

// HistoryEntry is app's status.history entry id (nil: none).
func HistoryEntry(app *v1alpha1.Application, id int64) *v1alpha1.RevisionHistory {
	for i := range app.Status.History {
		if app.Status.History[i].ID == id {
			return &app.Status.History[i]
		}
	}
	return nil
}

// UnknownHistoryID is the error, and message, Argo CD's Rollback gives for
// a history id app does not have; op is the call that found it missing.
func UnknownHistoryID(op, app string, id int64) *Error {
	return &Error{Kind: KindUnknownHistoryID, Op: op, App: app, Code: codes.InvalidArgument,
		Message: fmt.Sprintf("application %s does not have deployment with id %d", app, id)}
}
