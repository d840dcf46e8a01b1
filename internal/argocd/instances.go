package argocd

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc/codes"

	"github.com/deploybot/deploybot/internal/contract"
)

// Instance is one Argo CD server deploybot acts on.
type Instance struct {
	// Name is how commands name it (guestbook@prod); "" for a deploybot
	// with one Argo CD.
	Name   string
	Client *Client
	// Namespace is the one Argo CD runs in there ("" = argocd): its apps are
	// named without it.
	Namespace string
	// Projects, if not empty, are the only AppProjects whose apps deploybot
	// may read or change on this instance.
	Projects []string
}

// Instances routes each call to the Argo CD an app lives on, by the
// "@instance" suffix of the app's name (none: the default instance), and
// keeps each instance to its allowed projects. It has the methods of Client,
// so the activities work the same with one Argo CD or several.
type Instances struct {
	byName map[string]*Instance
	names  []string // sorted, for messages
	def    string
}

// NewInstances routes to list; def names the default instance (the one an
// app without "@name" is on).
func NewInstances(def string, list ...Instance) (*Instances, error) {
	in := &Instances{byName: map[string]*Instance{}, def: def}
	for i := range list {
		inst := &list[i]
		if inst.Client == nil {
			return nil, fmt.Errorf("argocd: instance %q has no client", inst.Name)
		}
		if _, dup := in.byName[inst.Name]; dup {
			return nil, fmt.Errorf("argocd: instance %q is named twice", inst.Name)
		}
		in.byName[inst.Name] = inst
		in.names = append(in.names, inst.Name)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("argocd: no instances")
	}
	// def need not be in list: a worker serving only some instances refuses
	// apps of the default one (they go to another worker's task queue).
	sort.Strings(in.names)
	return in, nil
}

// Close closes every instance's client.
func (in *Instances) Close() error {
	for _, inst := range in.byName {
		_ = inst.Client.Close()
	}
	return nil
}

// route finds app's instance and the name its server knows it by.
func (in *Instances) route(op, app string) (*Instance, string, error) {
	rest, name := contract.SplitInstance(app)
	if name == "" {
		name = in.def
	}
	inst, ok := in.byName[name]
	if !ok && name == in.def {
		return nil, "", &Error{Kind: KindInvalidArgument, Op: op, App: app, Code: codes.InvalidArgument, Message: fmt.Sprintf(
			"this worker does not serve the default Argo CD instance %q (WORKER_ARGOCD_INSTANCES=%s): its runs belong on the default instance's task queue",
			in.def, strings.Join(in.names, ","))}
	}
	if !ok {
		return nil, "", &Error{Kind: KindInvalidArgument, Op: op, App: app, Code: codes.InvalidArgument, Message: fmt.Sprintf(
			"there is no Argo CD instance named %q here (instances: %s); name one after '@', e.g. %s@%s, or none for the default",
			name, strings.Join(in.shown(), ", "), rest, in.names[len(in.names)-1])}
	}
	return inst, rest, nil
}

func (in *Instances) shown() []string {
	out := make([]string, len(in.names))
	for i, n := range in.names {
		out[i] = n
		if n == "" {
			out[i] = "(default)"
		}
	}
	return out
}

// allowed refuses apps of projects the instance does not allow, as Argo
// CD's RBAC would (permission denied), saying which projects are allowed.
func (inst *Instance) allowed(op, app, project string) error {
	if len(inst.Projects) == 0 || slices.Contains(inst.Projects, project) {
		return nil
	}
	return &Error{Kind: KindPermissionDenied, Op: op, App: app, Code: codes.PermissionDenied, Message: fmt.Sprintf(
		"project %q is not among the projects deploybot may use on Argo CD instance %q (%s)",
		project, inst.Name, strings.Join(inst.Projects, ", "))}
}

// check reads the app when the instance limits projects, so nothing is
// done to an app of another project. With a context from WithAppProjects
// it reads the app only if no call with that context has read it yet.
func (in *Instances) check(ctx context.Context, op, app string) (*Instance, string, error) {
	inst, name, err := in.route(op, app)
	if err != nil || len(inst.Projects) == 0 {
		return inst, name, err
	}
	seen := projectsSeen(ctx)
	project, ok := seen.get(inst.Name, name)
	if !ok {
		got, err := inst.Client.GetApp(ctx, name)
		if err != nil {
			return nil, "", err
		}
		project = got.Spec.Project
		seen.put(inst.Name, name, project)
	}
	return inst, name, inst.allowed(op, app, project)
}

// appProjects are the projects of the apps read with one context.
type appProjects struct {
	mu sync.Mutex
	m  map[[2]string]string // {instance, name} -> project
}

type appProjectsKey struct{}

// WithAppProjects returns a context whose Instances calls remember the
// project of each app they read (GetApp, or a call's own project check),
// so the calls after it check the project without reading the app again.
// Use it for one activity call only: an app moved to another project is
// still refused, but only by calls with a context made after the move.
func WithAppProjects(ctx context.Context) context.Context {
	if projectsSeen(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, appProjectsKey{}, &appProjects{m: map[[2]string]string{}})
}

// projectsSeen is ctx's appProjects; nil (remembering nothing) without
// WithAppProjects.
func projectsSeen(ctx context.Context) *appProjects {
	p, _ := ctx.Value(appProjectsKey{}).(*appProjects)
	return p
}

func (p *appProjects) get(instance, name string) (string, bool) {
	if p == nil {
		return "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	project, ok := p.m[[2]string{instance, name}]
	return project, ok
}

func (p *appProjects) put(instance, name, project string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[[2]string{instance, name}] = project
}

// ListApps lists the apps of every instance (allowed projects only), each
// with Ref as commands name it.
func (in *Instances) ListApps(ctx context.Context) ([]App, error) {
	var out []App
	for _, n := range in.names {
		inst := in.byName[n]
		apps, err := inst.Client.ListApps(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range apps {
			if inst.allowed(opList, a.Name, a.Spec.Project) != nil {
				continue
			}
			in.ref(inst, &a)
			out = append(out, a)
		}
	}
	return out, nil
}

func (in *Instances) ref(inst *Instance, a *App) {
	instance := inst.Name
	if instance == in.def {
		instance = ""
	}
	a.Instance = inst.Name
	a.Ref = contract.WithInstance(contract.QualifiedApp(a.Namespace, a.Name, inst.Namespace), instance)
}

// GetApp reads the app on its instance.
func (in *Instances) GetApp(ctx context.Context, app string) (*App, error) {
	inst, name, err := in.route(opGet, app)
	if err != nil {
		return nil, err
	}
	got, err := inst.Client.GetApp(ctx, name)
	if err != nil {
		return nil, err
	}
	projectsSeen(ctx).put(inst.Name, name, got.Spec.Project)
	if err := inst.allowed(opGet, app, got.Spec.Project); err != nil {
		return nil, err
	}
	in.ref(inst, got)
	return got, nil
}

// Sync starts a sync on the app's instance.
func (in *Instances) Sync(ctx context.Context, app string, opts SyncOptions) (*v1alpha1.Application, error) {
	inst, name, err := in.check(ctx, opSync, app)
	if err != nil {
		return nil, err
	}
	return inst.Client.Sync(ctx, name, opts)
}

// Rollback starts a rollback on the app's instance.
func (in *Instances) Rollback(ctx context.Context, app string, historyID int64) (*v1alpha1.Application, error) {
	inst, name, err := in.check(ctx, opRollback, app)
	if err != nil {
		return nil, err
	}
	return inst.Client.Rollback(ctx, name, historyID)
}

// DisableAutoSync turns auto-sync off on the app's instance.
func (in *Instances) DisableAutoSync(ctx context.Context, app string) (AutoSyncChange, error) {
	inst, name, err := in.check(ctx, opDisableAutoSync, app)
	if err != nil {
		return AutoSyncChange{}, err
	}
	return inst.Client.DisableAutoSync(ctx, name)
}

// EnableAutoSync turns auto-sync on on the app's instance.
func (in *Instances) EnableAutoSync(ctx context.Context, app string, policy v1alpha1.SyncPolicyAutomated) (AutoSyncChange, error) {
	inst, name, err := in.check(ctx, opEnableAutoSync, app)
	if err != nil {
		return AutoSyncChange{}, err
	}
	return inst.Client.EnableAutoSync(ctx, name, policy)
}

// ResourceTree reads the app's resources on its instance.
func (in *Instances) ResourceTree(ctx context.Context, app string) (*v1alpha1.ApplicationTree, error) {
	inst, name, err := in.check(ctx, opResourceTree, app)
	if err != nil {
		return nil, err
	}
	return inst.Client.ResourceTree(ctx, name)
}

// ManagedResources reads the app's managed resources on its instance.
func (in *Instances) ManagedResources(ctx context.Context, app string) ([]*v1alpha1.ResourceDiff, error) {
	inst, name, err := in.check(ctx, opManaged, app)
	if err != nil {
		return nil, err
	}
	return inst.Client.ManagedResources(ctx, name)
}

// Manifests renders the app's source at a revision on its instance.
func (in *Instances) Manifests(ctx context.Context, app, revision string, revisions []string) ([]string, error) {
	inst, name, err := in.check(ctx, opManifests, app)
	if err != nil {
		return nil, err
	}
	return inst.Client.Manifests(ctx, name, revision, revisions)
}

// SyncWindows reads the app's sync windows on its instance.
func (in *Instances) SyncWindows(ctx context.Context, app string) (bool, []SyncWindow, error) {
	inst, name, err := in.check(ctx, opSyncWindows, app)
	if err != nil {
		return false, nil, err
	}
	return inst.Client.SyncWindows(ctx, name)
}

// RevisionMetadata reads a commit of the app's source on its instance.
func (in *Instances) RevisionMetadata(ctx context.Context, app, revision string) (*v1alpha1.RevisionMetadata, error) {
	inst, name, err := in.check(ctx, opRevisionMeta, app)
	if err != nil {
		return nil, err
	}
	return inst.Client.RevisionMetadata(ctx, name, revision)
}

// PodLogs reads the app's pod logs on its instance.
func (in *Instances) PodLogs(ctx context.Context, app string, tailLines int64) ([]PodLog, error) {
	inst, name, err := in.check(ctx, opPodLogs, app)
	if err != nil {
		return nil, err
	}
	return inst.Client.PodLogs(ctx, name, tailLines)
}

// HelmParameters asks the instance the app was read from (App.Instance).
func (in *Instances) HelmParameters(ctx context.Context, app *App, historyID int64) (map[string]string, error) {
	inst, ok := in.byName[app.Instance]
	if !ok {
		return nil, &Error{Kind: KindInvalidArgument, Op: opHelmParameters, App: app.Ref, Code: codes.InvalidArgument,
			Message: fmt.Sprintf("the application was read from instance %q, which this worker does not serve", app.Instance)}
	}
	return inst.Client.HelmParameters(ctx, app, historyID)
}
