package argocdsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	jsonpatch "github.com/evanphx/json-patch"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	repoapiclient "github.com/argoproj/argo-cd/v2/reposerver/apiclient"
	"github.com/argoproj/argo-cd/v2/util/rbac"
)

// Errors with the exact codes and messages of argocd-server v2.14.
var (
	errPermissionDenied   = status.Error(codes.PermissionDenied, "permission denied")
	errAnotherOperation   = status.Error(codes.FailedPrecondition, "another operation is already in progress")
	errRollbackAutoSync   = status.Error(codes.FailedPrecondition, "rollback cannot be initiated when auto-sync is enabled")
	errNoOperationRunning = status.Error(codes.InvalidArgument, "Unable to terminate operation. No operation is in progress")
)

func appNotFound(name string) error {
	return status.Error(codes.NotFound, apierrors.NewNotFound(schema.GroupResource{Group: "argoproj.io", Resource: "applications"}, name).Error())
}

// appService implements application.ApplicationServiceServer. Methods that
// are not modelled answer Unimplemented through the embedded struct.
type appService struct {
	applicationpkg.UnimplementedApplicationServiceServer
	s *Server
}

var _ applicationpkg.ApplicationServiceServer = (*appService)(nil)

// splitName accepts "name" and "namespace/name" like argo.ParseFromQualifiedName.
// argocd-server parses qualified names in GetAppDetails only; application
// methods use the name as sent (the argocd CLI splits it before sending).
func splitName(name, appNs string) (string, string) {
	if i := strings.Index(name, "/"); i >= 0 {
		return name[i+1:], name[:i]
	}
	return name, appNs
}

// appLookup is how argocd-server reads the app a request names: through its
// API client (getApplicationEnforceRBACClient) or its informer cache
// (getApplicationEnforceRBACInformer). They fail differently.
type appLookup int

const (
	viaClient appLookup = iota
	viaInformer
)

// getAppLocked mirrors getAppEnforceRBAC: the caller needs `applications,
// <action>` on the app (see rbac.go). The name is used as sent, in
// namespace appNs ("" = argocd). A failed lookup is PermissionDenied (Argo
// CD hides existence) unless it is a NotFound and the request names a
// project: then NotFound, as for an app in another project. A denial is a
// plain "permission denied" too, or NotFound when the request names a
// project (so that it does not tell the app exists); with a project named,
// the action must first be allowed on <project>/<name> as sent, before the
// app is looked up. A client Get is a NotFound only for a valid name in an
// enabled namespace: client-go refuses "" and names with "/" or "%" before asking
// the API server, and argocd-server refuses namespaces it does not serve.
// The informer cache simply misses (see informerSees). An app whose project
// does not list its namespace in sourceNamespaces is refused as if the
// project did not exist, as by getAppProject.
func (s *Server) getAppLocked(ctx context.Context, via appLookup, action, project, appNs, name string) (*simApp, error) {
	if appNs == "" {
		appNs = argocdNamespace
	}
	if project != "" && !s.enforce(ctx, rbac.ResourceApplications, action, rbacName(project, appNs, name)) {
		return nil, errPermissionDenied
	}
	sa, ok := s.apps[appKey(appNs, name)]
	ok = ok && !strings.Contains(name, "/") // a key, never a name
	clientErr := via == viaClient && (!s.namespaceEnabled(appNs) || name == "" || strings.ContainsAny(name, "/%") || name == "." || name == "..")
	if !ok || clientErr || (via == viaInformer && !s.informerSees(appNs)) {
		if project != "" && !clientErr {
			return nil, appNotFound(name)
		}
		return nil, errPermissionDenied
	}
	proj := sa.app.Spec.GetProject()
	if !s.enforce(ctx, rbac.ResourceApplications, action, rbacName(proj, sa.app.Namespace, sa.app.Name)) {
		if project != "" {
			return nil, appNotFound(name)
		}
		return nil, errPermissionDenied
	}
	if project != "" && proj != project {
		return nil, appNotFound(name)
	}
	if p, ok := s.projects[proj]; !ok || !namespacePermitted(p, sa.app) {
		return nil, status.Errorf(codes.InvalidArgument, "app is not allowed in project %q, or the project does not exist", proj)
	}
	return sa, nil
}

// lockedApp runs fn on the app under s.mu, after the lookup, RBAC check
// (action) and errors of getAppLocked. On a lookup error it returns T's
// zero value.
func lockedApp[T any](ctx context.Context, s *Server, via appLookup, action, project, appNs, name string, fn func(sa *simApp) (T, error)) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa, err := s.getAppLocked(ctx, via, action, project, appNs, name)
	if err != nil {
		var zero T
		return zero, err
	}
	return fn(sa)
}

func projectsOf(q *applicationpkg.ApplicationQuery) []string {
	if q.Project != nil {
		return q.Project
	}
	return q.Projects
}

// List returns the apps matching name, projects, selector and repo, sorted by name.
func (a *appService) List(ctx context.Context, q *applicationpkg.ApplicationQuery) (*v1alpha1.ApplicationList, error) {
	selector, err := labels.Parse(q.GetSelector())
	if err != nil {
		return nil, fmt.Errorf("error parsing the selector: %w", err)
	}
	projects := map[string]bool{}
	for _, p := range projectsOf(q) {
		projects[p] = true
	}
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	list := &v1alpha1.ApplicationList{ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(s.rv, 10)}, Items: []v1alpha1.Application{}}
	var listed []*simApp
	defer func() { s.attachListLocked(list, listed) }()
	for _, sa := range s.appsByName() {
		app := sa.app
		if !s.namespaceEnabled(app.Namespace) {
			continue
		}
		if q.Name != nil && *q.Name != "" && *q.Name != app.Name {
			continue
		}
		if len(projects) > 0 && !projects[app.Spec.GetProject()] {
			continue
		}
		if q.GetRepo() != "" && (app.Spec.Source == nil || app.Spec.Source.RepoURL != q.GetRepo()) {
			continue
		}
		if ns := q.GetAppNamespace(); ns != "" && ns != app.Namespace {
			continue
		}
		if !selector.Matches(labels.Set(app.Labels)) {
			continue
		}
		if !s.enforce(ctx, rbac.ResourceApplications, rbac.ActionGet, rbacName(app.Spec.GetProject(), app.Namespace, app.Name)) {
			continue
		}
		list.Items = append(list.Items, *s.viewLocked(sa, false))
		listed = append(listed, sa)
	}
	return list, nil
}

// Get returns one app; with refresh set it also "reconciles" it first.
func (a *appService) Get(ctx context.Context, q *applicationpkg.ApplicationQuery) (*v1alpha1.Application, error) {
	project := ""
	switch projects := projectsOf(q); len(projects) {
	case 0:
	case 1:
		project = projects[0]
	default:
		return nil, status.Errorf(codes.InvalidArgument, "multiple projects specified - the get endpoint accepts either zero or one project")
	}
	s := a.s
	return lockedApp(ctx, s, viaClient, rbac.ActionGet, project, q.GetAppNamespace(), q.GetName(), func(sa *simApp) (*v1alpha1.Application, error) {
		if q.Refresh != nil {
			sa.reconciled = time.Now().UTC().Truncate(time.Second)
			s.touchLocked(sa)
		}
		return s.viewLocked(sa, true), nil
	})
}

// Watch streams ADDED events for the current apps (always when a name is
// given), then every change, like argocd-server's Watch. The name is
// compared as sent.
func (a *appService) Watch(q *applicationpkg.ApplicationQuery, ws applicationpkg.ApplicationService_WatchServer) error {
	s := a.s
	appName, appNs := q.GetName(), firstNonEmpty(q.GetAppNamespace(), argocdNamespace)
	projects := map[string]bool{}
	for _, p := range projectsOf(q) {
		projects[p] = true
	}
	selector, err := labels.Parse(q.GetSelector())
	if err != nil {
		return fmt.Errorf("error parsing labels with selectors: %w", err)
	}
	minVersion := 0
	if q.GetResourceVersion() != "" {
		if minVersion, err = strconv.Atoi(q.GetResourceVersion()); err != nil {
			minVersion = 0
		}
	}
	permitted := func(app *v1alpha1.Application) bool {
		if len(projects) > 0 && !projects[app.Spec.GetProject()] {
			return false
		}
		if v, err := strconv.Atoi(app.ResourceVersion); err == nil && v < minVersion {
			return false
		}
		// As isApplicationPermitted: the namespace counts only with a name.
		return (appName == "" || (app.Name == appName && app.Namespace == appNs)) && selector.Matches(labels.Set(app.Labels)) &&
			s.namespaceEnabled(app.Namespace) &&
			s.enforce(ws.Context(), rbac.ResourceApplications, rbac.ActionGet, rbacName(app.Spec.GetProject(), app.Namespace, app.Name))
	}

	// Subscribe before the snapshot so no change is missed in between.
	sub := s.subscribe()
	defer s.unsubscribe(sub)
	var initial []*v1alpha1.ApplicationWatchEvent
	if q.GetResourceVersion() == "" || q.GetName() != "" {
		s.mu.Lock()
		for _, sa := range s.appsByQualifiedName() {
			initial = append(initial, s.eventLocked(watch.Added, sa))
		}
		s.mu.Unlock()
	}
	for _, ev := range initial {
		if permitted(&ev.Application) {
			if err := ws.Send(ev); err != nil {
				return err
			}
		}
	}
	for {
		select {
		case ev := <-sub.ch:
			if permitted(&ev.Application) {
				if err := ws.Send(ev); err != nil {
					return err
				}
			}
		case <-ws.Context().Done():
			return nil
		case <-s.closing:
			return nil
		}
	}
}

// Sync starts a sync operation; it returns once the operation is recorded.
// Like argocd-server it finds the app with `applications, get`, then
// checks `applications, sync` (and `override` for local manifests).
func (a *appService) Sync(ctx context.Context, req *applicationpkg.ApplicationSyncRequest) (*v1alpha1.Application, error) {
	return lockedApp(ctx, a.s, viaClient, rbac.ActionGet, req.GetProject(), req.GetAppNamespace(), req.GetName(), func(sa *simApp) (*v1alpha1.Application, error) {
		return a.s.syncLocked(ctx, sa, req)
	})
}

// syncLocked is Sync once the app is found, under s.mu.
func (s *Server) syncLocked(ctx context.Context, sa *simApp, req *applicationpkg.ApplicationSyncRequest) (*v1alpha1.Application, error) {
	var err error
	app := sa.app
	object := rbacName(app.Spec.GetProject(), app.Namespace, app.Name)
	if err := s.enforceErr(ctx, rbac.ResourceApplications, rbac.ActionSync, object); err != nil {
		return nil, err
	}
	if req.Manifests != nil {
		if err := s.enforceErr(ctx, rbac.ResourceApplications, rbac.ActionOverride, object); err != nil {
			return nil, err
		}
	}
	automated := s.autoSyncOnLocked(sa)
	if req.Manifests != nil && automated && !req.GetDryRun() {
		return nil, status.Error(codes.FailedPrecondition, "cannot use local sync when Automatic Sync Policy is enabled unless for dry run")
	}
	if req.Manifests != nil {
		return nil, status.Error(codes.Unimplemented, "local sync (--local) is not simulated by the argocd simulator")
	}
	if app.Spec.HasMultipleSources() {
		return nil, status.Error(codes.Unimplemented, "multi-source apps are not simulated by the argocd simulator")
	}
	src := app.Spec.GetSource()
	if automated && !req.GetDryRun() && req.GetRevision() != "" && req.GetRevision() != firstNonEmpty(src.TargetRevision, "HEAD") {
		return nil, status.Errorf(codes.FailedPrecondition, "Cannot sync to %s: auto-sync currently set to %s", req.GetRevision(), src.TargetRevision)
	}
	var target *commit
	if req.GetRevision() != "" {
		target, err = sa.repo.resolve(req.GetRevision())
	} else {
		target, err = sa.targetCommit()
	}
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	if app.Operation != nil {
		return nil, errAnotherOperation
	}

	var retry *v1alpha1.RetryStrategy
	var syncOptions v1alpha1.SyncOptions
	if app.Spec.SyncPolicy != nil {
		syncOptions = app.Spec.SyncPolicy.SyncOptions
		retry = app.Spec.SyncPolicy.Retry
	}
	if req.RetryStrategy != nil {
		retry = req.RetryStrategy
	}
	if req.SyncOptions != nil {
		syncOptions = req.SyncOptions.Items
	}
	resources := []v1alpha1.SyncOperationResource{}
	for _, r := range req.GetResources() {
		if r != nil {
			resources = append(resources, *r)
		}
	}
	op := v1alpha1.Operation{
		Sync: &v1alpha1.SyncOperation{
			Revision:     target.sha,
			Prune:        req.GetPrune(),
			DryRun:       req.GetDryRun(),
			SyncOptions:  syncOptions,
			SyncStrategy: req.Strategy,
			Resources:    resources,
		},
		InitiatedBy: v1alpha1.OperationInitiator{Username: username(ctx)},
		Info:        req.Infos,
	}
	if retry != nil {
		op.Retry = *retry
	}
	s.startOperationLocked(sa, op, target, src, len(resources) > 0)
	return s.viewLocked(sa, false), nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// Rollback redeploys the revision of a history entry (refused under
// auto-sync). It needs `applications, sync`, as in Argo CD.
func (a *appService) Rollback(ctx context.Context, req *applicationpkg.ApplicationRollbackRequest) (*v1alpha1.Application, error) {
	return lockedApp(ctx, a.s, viaClient, rbac.ActionSync, req.GetProject(), req.GetAppNamespace(), req.GetName(), func(sa *simApp) (*v1alpha1.Application, error) {
		return a.s.rollbackLocked(ctx, sa, req)
	})
}

// rollbackLocked is Rollback once the app is found, under s.mu.
func (s *Server) rollbackLocked(ctx context.Context, sa *simApp, req *applicationpkg.ApplicationRollbackRequest) (*v1alpha1.Application, error) {
	app := sa.app
	if s.autoSyncOnLocked(sa) {
		return nil, errRollbackAutoSync
	}
	var info *v1alpha1.RevisionHistory
	for i := range app.Status.History {
		if app.Status.History[i].ID == req.GetId() {
			info = app.Status.History[i].DeepCopy()
			break
		}
	}
	if info == nil {
		return nil, status.Errorf(codes.InvalidArgument, "application %s does not have deployment with id %v", app.QualifiedName(), req.GetId())
	}
	if info.Source.IsZero() && info.Sources.IsZero() {
		return nil, status.Errorf(codes.FailedPrecondition, "cannot rollback to revision deployed with Argo CD v0.11 or lower. sync to revision instead.")
	}
	target, err := sa.repo.resolve(info.Revision)
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	if app.Operation != nil {
		return nil, errAnotherOperation
	}
	var syncOptions v1alpha1.SyncOptions
	if app.Spec.SyncPolicy != nil {
		syncOptions = app.Spec.SyncPolicy.SyncOptions
	}
	op := v1alpha1.Operation{
		Sync: &v1alpha1.SyncOperation{
			Revision:     info.Revision,
			DryRun:       req.GetDryRun(),
			Prune:        req.GetPrune(),
			SyncOptions:  syncOptions,
			SyncStrategy: &v1alpha1.SyncStrategy{Apply: &v1alpha1.SyncStrategyApply{}},
			Source:       info.Source.DeepCopy(),
		},
		InitiatedBy: v1alpha1.OperationInitiator{Username: username(ctx)},
	}
	s.startOperationLocked(sa, op, target, info.Source, false)
	return s.viewLocked(sa, false), nil
}

// TerminateOperation stops the running operation (it ends Failed).
func (a *appService) TerminateOperation(ctx context.Context, req *applicationpkg.OperationTerminateRequest) (*applicationpkg.OperationTerminateResponse, error) {
	s := a.s
	return lockedApp(ctx, s, viaClient, rbac.ActionSync, req.GetProject(), req.GetAppNamespace(), req.GetName(), func(sa *simApp) (*applicationpkg.OperationTerminateResponse, error) {
		if sa.app.Operation == nil || sa.app.Status.OperationState == nil {
			return nil, errNoOperationRunning
		}
		s.terminateLocked(sa)
		return &applicationpkg.OperationTerminateResponse{}, nil
	})
}

// Patch applies a JSON patch ("json" or "") or a JSON merge patch ("merge")
// to the whole Application and stores its spec, labels, annotations and
// finalizers. Like argocd-server it finds the app with `applications, get`,
// then checks `applications, update`.
func (a *appService) Patch(ctx context.Context, q *applicationpkg.ApplicationPatchRequest) (*v1alpha1.Application, error) {
	return lockedApp(ctx, a.s, viaClient, rbac.ActionGet, q.GetProject(), q.GetAppNamespace(), q.GetName(), func(sa *simApp) (*v1alpha1.Application, error) {
		return a.s.patchLocked(ctx, sa, q)
	})
}

// patchLocked is Patch once the app is found, under s.mu.
func (s *Server) patchLocked(ctx context.Context, sa *simApp, q *applicationpkg.ApplicationPatchRequest) (*v1alpha1.Application, error) {
	if err := s.enforceErr(ctx, rbac.ResourceApplications, rbac.ActionUpdate, rbacName(sa.app.Spec.GetProject(), sa.app.Namespace, sa.app.Name)); err != nil {
		return nil, err
	}
	jsonApp, err := json.Marshal(sa.app)
	if err != nil {
		return nil, fmt.Errorf("error marshaling application: %w", err)
	}
	if s.keepsEnabled() && hasAutomated(&sa.app.Spec) {
		// The patch sees the app as a 3.1 server's types marshal it.
		if jsonApp, err = setJSONEnabled(jsonApp, jsonAppAutomated, []*bool{sa.enabled}); err != nil {
			return nil, fmt.Errorf("error marshaling application: %w", err)
		}
	}
	var patched []byte
	switch q.GetPatchType() {
	case "json", "":
		patch, err := jsonpatch.DecodePatch([]byte(q.GetPatch()))
		if err != nil {
			return nil, fmt.Errorf("error decoding json patch: %w", err)
		}
		if patched, err = patch.Apply(jsonApp); err != nil {
			return nil, fmt.Errorf("error applying patch: %w", err)
		}
	case "merge":
		if patched, err = jsonpatch.MergePatch(jsonApp, []byte(q.GetPatch())); err != nil {
			return nil, fmt.Errorf("error calculating merge patch: %w", err)
		}
	default:
		return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("Patch type '%s' is not supported", q.GetPatchType()))
	}
	newApp := &v1alpha1.Application{}
	if err := json.Unmarshal(patched, newApp); err != nil {
		return nil, fmt.Errorf("error unmarshaling patched app: %w", err)
	}
	var enabled *bool
	if s.keepsEnabled() {
		if _, enabled, err = enabledOfAppJSON(patched); err != nil {
			return nil, fmt.Errorf("error unmarshaling patched app: %w", err)
		}
	}
	if err := s.updateAppLocked(ctx, sa, newApp, false, enabled); err != nil {
		return nil, fmt.Errorf("error updating application: %w", err)
	}
	return s.viewLocked(sa, false), nil
}

// UpdateSpec replaces the spec (argocd app set uses it).
func (a *appService) UpdateSpec(ctx context.Context, q *applicationpkg.ApplicationUpdateSpecRequest) (*v1alpha1.ApplicationSpec, error) {
	if q.GetSpec() == nil {
		return nil, errors.New("error updating application spec: spec is nil in request")
	}
	s := a.s
	return lockedApp(ctx, s, viaClient, rbac.ActionUpdate, q.GetProject(), q.GetAppNamespace(), q.GetName(), func(sa *simApp) (*v1alpha1.ApplicationSpec, error) {
		newApp := sa.app.DeepCopy()
		newApp.Spec = *q.GetSpec().DeepCopy()
		if err := s.updateAppLocked(ctx, sa, newApp, false, requestEnabled(s, q)); err != nil {
			return nil, fmt.Errorf("error validating and updating app: %w", err)
		}
		spec := sa.app.Spec.DeepCopy()
		s.attachSpecLocked(sa, spec)
		return spec, nil
	})
}

// Update replaces spec, labels, annotations and finalizers with the given
// ones (a PUT drops whatever the caller left out, as in Argo CD). The app is
// the one the body names: over REST the {application.metadata.name} path
// value never reaches the request (argo-cd's generated gateway assigns it to
// a copy), so a body without metadata.name is "permission denied", as there.
// As argocd-server it first checks `applications, update` on the app the
// body describes (its spec.project), then finds the app with that action.
func (a *appService) Update(ctx context.Context, q *applicationpkg.ApplicationUpdateRequest) (*v1alpha1.Application, error) {
	if q.GetApplication() == nil {
		return nil, errors.New("error updating application: application is nil in request")
	}
	s := a.s
	body := q.GetApplication()
	if err := s.enforceErr(ctx, rbac.ResourceApplications, rbac.ActionUpdate, rbacName(body.Spec.GetProject(), body.Namespace, body.Name)); err != nil {
		return nil, err
	}
	return lockedApp(ctx, s, viaClient, rbac.ActionUpdate, q.GetProject(), body.Namespace, body.Name, func(sa *simApp) (*v1alpha1.Application, error) {
		if err := s.updateAppLocked(ctx, sa, q.GetApplication(), false, requestEnabled(s, q)); err != nil {
			return nil, fmt.Errorf("error updating application: %w", err)
		}
		return s.viewLocked(sa, false), nil
	})
}

// updateAppLocked mirrors validateAndNormalizeApp + updateApp. enabled is
// the new spec's automated.enabled (3.1; always nil before): it is kept
// only while the spec has an automated policy. Moving the app to another
// project needs `applications, create` there and `update` in the old one.
func (s *Server) updateAppLocked(ctx context.Context, sa *simApp, newApp *v1alpha1.Application, merge bool, enabled *bool) error {
	if newApp.Name == "" {
		return errors.New("resource name may not be empty")
	}
	if newApp.Name != sa.app.Name {
		return status.Errorf(codes.InvalidArgument, "application name cannot be changed (%s -> %s)", sa.app.Name, newApp.Name)
	}
	if oldProj, newProj := sa.app.Spec.GetProject(), newApp.Spec.GetProject(); oldProj != newProj {
		if err := s.enforceErr(ctx, rbac.ResourceApplications, rbac.ActionCreate, rbacName(newProj, sa.app.Namespace, sa.app.Name)); err != nil {
			return err
		}
		if err := s.enforceErr(ctx, rbac.ResourceApplications, rbac.ActionUpdate, rbacName(oldProj, sa.app.Namespace, sa.app.Name)); err != nil {
			return err
		}
	}
	spec := newApp.Spec.DeepCopy()
	if spec.Project == "" {
		spec.Project = "default"
	}
	if spec.SyncPolicy.IsZero() {
		spec.SyncPolicy = nil
	}
	if spec.Source != nil && spec.Source.Helm != nil && spec.Source.Helm.IsZero() {
		spec.Source.Helm = nil
	}
	proj, ok := s.projects[spec.Project]
	if !ok {
		return status.Errorf(codes.InvalidArgument, "application spec for %s is invalid: InvalidSpecError: Application referencing project %s which does not exist", sa.app.Name, spec.Project)
	}
	if !namespacePermitted(proj, sa.app) { // the namespace stays; the project may change
		return status.Errorf(codes.InvalidArgument, "app is not allowed in project %q, or the project does not exist", spec.Project)
	}
	if spec.Destination.Server == "" && spec.Destination.Name == "" {
		return status.Errorf(codes.InvalidArgument, "application destination spec for %s is invalid: application destination can't have both name and server defined", sa.app.Name)
	}
	if spec.HasMultipleSources() || spec.Source == nil {
		return status.Errorf(codes.InvalidArgument, "application spec for %s is invalid: multi-source apps are not simulated", sa.app.Name)
	}
	if !hasAutomated(spec) {
		enabled = nil
	}
	if !reflect.DeepEqual(*spec, sa.app.Spec) || !reflect.DeepEqual(enabled, sa.enabled) {
		sa.app.Generation++
	}
	sa.app.Spec = *spec
	sa.enabled = enabled
	if merge {
		for k, v := range newApp.Labels {
			sa.app.Labels[k] = v
		}
		for k, v := range newApp.Annotations {
			sa.app.Annotations[k] = v
		}
	} else {
		sa.app.Labels = copyMap(newApp.Labels)
		sa.app.Annotations = copyMap(newApp.Annotations)
	}
	sa.app.Finalizers = append([]string(nil), newApp.Finalizers...)
	s.touchLocked(sa)
	s.maybeAutoSyncLocked(sa)
	return nil
}

// ResourceTree returns Deployment -> ReplicaSet -> Pods and the Service.
func (a *appService) ResourceTree(ctx context.Context, q *applicationpkg.ResourcesQuery) (*v1alpha1.ApplicationTree, error) {
	s := a.s
	return lockedApp(ctx, s, viaInformer, rbac.ActionGet, q.GetProject(), q.GetAppNamespace(), q.GetApplicationName(), func(sa *simApp) (*v1alpha1.ApplicationTree, error) {
		return sa.tree(), nil
	})
}

// ManagedResources returns live and target manifests of managed resources.
func (a *appService) ManagedResources(ctx context.Context, q *applicationpkg.ResourcesQuery) (*applicationpkg.ManagedResourcesResponse, error) {
	return lockedApp(ctx, a.s, viaInformer, rbac.ActionGet, q.GetProject(), q.GetAppNamespace(), q.GetApplicationName(), func(sa *simApp) (*applicationpkg.ManagedResourcesResponse, error) {
		return a.s.managedResourcesLocked(sa, q)
	})
}

// managedResourcesLocked is ManagedResources once the app is found, under s.mu.
func (s *Server) managedResourcesLocked(sa *simApp, q *applicationpkg.ResourcesQuery) (*applicationpkg.ManagedResourcesResponse, error) {
	target, err := sa.targetCommit()
	if err != nil {
		target = sa.live
	}
	liveDep, liveSvc := sa.manifests(sa.live)
	targetDep, targetSvc := sa.manifests(target)
	res := &applicationpkg.ManagedResourcesResponse{}
	for _, n := range sa.managedNodes() {
		live, tgt := liveSvc, targetSvc
		if n.Kind == "Deployment" {
			live, tgt = liveDep, targetDep
		}
		if (q.GetName() != "" && q.GetName() != n.Name) || (q.GetKind() != "" && q.GetKind() != n.Kind) ||
			(q.GetGroup() != "" && q.GetGroup() != n.Group) || (q.GetNamespace() != "" && q.GetNamespace() != n.Namespace) {
			continue
		}
		res.Items = append(res.Items, &v1alpha1.ResourceDiff{
			Group: n.Group, Kind: n.Kind, Namespace: n.Namespace, Name: n.Name,
			TargetState: tgt, LiveState: live, NormalizedLiveState: live, PredictedLiveState: tgt,
			ResourceVersion: n.ResourceVersion, Modified: live != tgt,
		})
	}
	return res, nil
}

// GetManifests renders the app's source at the asked revision (the spec's
// target when none): the Deployment and Service that commit produces.
func (a *appService) GetManifests(ctx context.Context, q *applicationpkg.ApplicationManifestQuery) (*repoapiclient.ManifestResponse, error) {
	if q.GetName() == "" {
		return nil, status.Error(codes.Unknown, "invalid request: application name is missing")
	}
	return lockedApp(ctx, a.s, viaInformer, rbac.ActionGet, q.GetProject(), q.GetAppNamespace(), q.GetName(), func(sa *simApp) (*repoapiclient.ManifestResponse, error) {
		if sa.app.Spec.HasMultipleSources() {
			return nil, status.Error(codes.Unimplemented, "multi-source apps are not simulated by the argocd simulator")
		}
		c, err := sa.targetCommit()
		if q.GetRevision() != "" {
			c, err = sa.repo.resolve(q.GetRevision())
		}
		if err != nil {
			return nil, status.Error(codes.Unknown, "error generating manifests: "+err.Error())
		}
		dep, svc := sa.manifests(c)
		return &repoapiclient.ManifestResponse{
			Manifests: []string{svc, dep}, Namespace: sa.ns(), Server: sa.app.Spec.Destination.Server,
			Revision: c.sha, SourceType: string(sa.app.Status.SourceType),
		}, nil
	})
}

// RevisionMetadata returns author, date and message of a commit.
func (a *appService) RevisionMetadata(ctx context.Context, q *applicationpkg.RevisionMetadataQuery) (*v1alpha1.RevisionMetadata, error) {
	s := a.s
	return lockedApp(ctx, s, viaInformer, rbac.ActionGet, q.GetProject(), q.GetAppNamespace(), q.GetName(), func(sa *simApp) (*v1alpha1.RevisionMetadata, error) {
		c, err := sa.repo.resolve(q.GetRevision())
		if err != nil {
			return nil, status.Error(codes.Unknown, err.Error())
		}
		return &v1alpha1.RevisionMetadata{Author: c.author, Date: metav1.NewTime(c.date), Message: c.message}, nil
	})
}

// GetApplicationSyncWindows reports that no sync windows apply.
func (a *appService) GetApplicationSyncWindows(ctx context.Context, q *applicationpkg.ApplicationSyncWindowsQuery) (*applicationpkg.ApplicationSyncWindowsResponse, error) {
	return lockedApp(ctx, a.s, viaClient, rbac.ActionGet, q.GetProject(), q.GetAppNamespace(), q.GetName(), func(*simApp) (*applicationpkg.ApplicationSyncWindowsResponse, error) {
		return &applicationpkg.ApplicationSyncWindowsResponse{CanSync: ptr.To(true)}, nil
	})
}

// maxPodLogsToRender is Argo CD's default server.maxPodLogsToRender.
const maxPodLogsToRender = 10

// PodLogs streams pod logs like argocd-server: per-pod tail, merged by
// timestamp, then a final entry with last=true unless following. It finds
// the app with `applications, get`; from 3.0 (in 2.14 with
// LogsRBACEnforce) it then checks `logs, get` on it too.
func (a *appService) PodLogs(q *applicationpkg.ApplicationPodLogsQuery, ws applicationpkg.ApplicationService_PodLogsServer) error {
	s := a.s
	if q.PodName != nil {
		q.Kind = ptr.To("Pod")
		q.ResourceName = q.PodName
	}
	var untilTime *time.Time
	if q.GetUntilTime() != "" {
		t, err := time.Parse(time.RFC3339Nano, q.GetUntilTime())
		if err != nil {
			return fmt.Errorf("invalid untilTime parameter value: %w", err)
		}
		untilTime = &t
	}
	literal, inverse := "", false
	if q.GetFilter() != "" {
		literal = q.GetFilter()
		if literal[0] == '!' {
			literal, inverse = literal[1:], true
		}
	}

	var pods []pod
	var lines []logLine
	ctx := ws.Context()
	sa, err := lockedApp(ctx, s, viaInformer, rbac.ActionGet, q.GetProject(), q.GetAppNamespace(), q.GetName(), func(sa *simApp) (*simApp, error) {
		if s.checksPodLogsRBAC() {
			if err := s.enforceErr(ctx, rbac.ResourceLogs, rbac.ActionGet, rbacName(sa.app.Spec.GetProject(), sa.app.Namespace, sa.app.Name)); err != nil {
				return nil, err
			}
		}
		pods, lines = sa.queryLogs(q)
		return sa, nil
	})
	if err != nil {
		return err
	}

	if len(pods) == 0 {
		return nil
	}
	if len(pods) > maxPodLogsToRender {
		return status.Error(codes.InvalidArgument, "max pods to view logs are reached. Please provide more granular query")
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].ts.Before(lines[j].ts) })

	send := func(l logLine, last bool) error {
		ts := metav1.NewTime(l.ts)
		return ws.Send(&applicationpkg.LogEntry{
			Content:      ptr.To(l.content),
			PodName:      ptr.To(l.pod),
			TimeStampStr: ptr.To(l.ts.Format(time.RFC3339Nano)),
			TimeStamp:    &ts,
			Last:         ptr.To(last),
		})
	}
	keep := func(l logLine) bool {
		if q.Filter == nil {
			return true
		}
		return strings.Contains(l.content, literal) != inverse
	}
	for _, l := range lines {
		if !keep(l) {
			continue
		}
		if untilTime != nil && l.ts.After(*untilTime) {
			return send(l, true)
		}
		if err := send(l, false); err != nil {
			return err
		}
	}
	if q.GetFollow() {
		return a.followLogs(ws, sa, pods, keep, send)
	}
	return send(logLine{ts: time.Now()}, true)
}

// queryLogs returns the pods the query selects and their log lines (per-pod
// since/tail applied, not yet merged). The caller holds s.mu.
func (sa *simApp) queryLogs(q *applicationpkg.ApplicationPodLogsQuery) ([]pod, []logLine) {
	selected := selectPods(sa.tree().Nodes, q)
	var pods []pod
	for _, p := range sa.pods() {
		if selected[p.name] {
			pods = append(pods, p)
		}
	}
	var lines []logLine
	for _, p := range pods {
		if c := q.GetContainer(); c != "" && c != sa.app.Name {
			lines = append(lines, logLine{pod: "", ts: time.Now(), content: fmt.Sprintf("container %s is not valid for pod %s", c, p.name)})
			continue
		}
		pl := sa.podLogs(p)
		if since := q.GetSinceSeconds(); since > 0 {
			pl = slicesFilter(pl, func(l logLine) bool { return !l.ts.Before(time.Now().Add(-time.Duration(since) * time.Second)) })
		}
		if st := q.GetSinceTime(); st != nil {
			pl = slicesFilter(pl, func(l logLine) bool { return !l.ts.Before(st.Time) })
		}
		if n := q.GetTailLines(); n > 0 && int64(len(pl)) > n {
			pl = pl[int64(len(pl))-n:]
		}
		lines = append(lines, pl...)
	}
	return pods, lines
}

// followLogs emits a new line per pod every second until the client leaves.
func (a *appService) followLogs(ws applicationpkg.ApplicationService_PodLogsServer, sa *simApp, pods []pod, keep func(logLine) bool, send func(logLine, bool) error) error {
	s := a.s
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ws.Context().Done():
			return nil
		case <-s.closing:
			return nil
		case t := <-tick.C:
			s.mu.Lock()
			var batch []logLine
			for _, p := range pods {
				batch = append(batch, sa.followLine(p, i, t.UTC()))
			}
			s.mu.Unlock()
			for _, l := range batch {
				if keep(l) {
					if err := send(l, false); err != nil {
						return err
					}
				}
			}
		}
	}
}

func slicesFilter(in []logLine, keep func(logLine) bool) []logLine {
	out := in[:0:0]
	for _, l := range in {
		if keep(l) {
			out = append(out, l)
		}
	}
	return out
}

// selectPods mirrors getSelectedPods: pods matching the query themselves or
// through any parent (e.g. kind=Deployment selects all its pods).
func selectPods(nodes []v1alpha1.ResourceNode, q *applicationpkg.ApplicationPodLogsQuery) map[string]bool {
	memo := map[string]bool{}
	var matches func(n *v1alpha1.ResourceNode) bool
	matches = func(n *v1alpha1.ResourceNode) bool {
		if v, ok := memo[n.UID]; ok {
			return v
		}
		memo[n.UID] = false // guards against cycles
		if (q.GetResourceName() == "" || n.Name == q.GetResourceName()) &&
			(q.GetKind() == "" || n.Kind == q.GetKind()) &&
			(q.GetGroup() == "" || n.Group == q.GetGroup()) &&
			(q.GetNamespace() == "" || n.Namespace == q.GetNamespace()) {
			memo[n.UID] = true
			return true
		}
		for _, ref := range n.ParentRefs {
			for i := range nodes {
				p := &nodes[i]
				if p.Namespace == ref.Namespace && p.Name == ref.Name && p.Group == ref.Group && p.Kind == ref.Kind && matches(p) {
					memo[n.UID] = true
					return true
				}
			}
		}
		return false
	}
	out := map[string]bool{}
	for i := range nodes {
		n := &nodes[i]
		if n.Kind == "Pod" && n.Group == "" && n.UID != "" && matches(n) {
			out[n.Name] = true
		}
	}
	return out
}
