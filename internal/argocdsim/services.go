package argocdsim

import (
	"context"
	"runtime"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	projectpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/project"
	repositorypkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/repository"
	settingspkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/settings"
	versionpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/version"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	repoapiclient "github.com/argoproj/argo-cd/v2/reposerver/apiclient"
	"github.com/argoproj/argo-cd/v2/util/rbac"
)

// repoService implements repository.RepositoryServiceServer (GetAppDetails,
// ListRepositories and its deprecated alias List; the rest answers
// Unimplemented).
type repoService struct {
	repositorypkg.UnimplementedRepositoryServiceServer
	s *Server
}

var _ repositorypkg.RepositoryServiceServer = (*repoService)(nil)

func (s *Server) repoByURLLocked(url string) *repoModel {
	for _, sa := range s.apps {
		if strings.EqualFold(strings.TrimSuffix(sa.repo.url, ".git"), strings.TrimSuffix(url, ".git")) {
			return sa.repo
		}
	}
	return nil
}

// GetAppDetails renders the Helm parameters (or plain directory) of a source
// at its targetRevision, with argocd-server's checks: `repositories, get` on
// the repository (its URL: the simulator's are global, not project-scoped),
// `applications, get` on <appProject>/<appName> as sent (and, for an app
// that does not exist, `applications, create`), and for an existing app the
// project must match and the source must be the app's current source or one
// from its history with targetRevision set to the history revision.
func (r *repoService) GetAppDetails(ctx context.Context, q *repositorypkg.RepoAppDetailsQuery) (*repoapiclient.RepoAppDetailsResponse, error) {
	if q.Source == nil {
		return nil, status.Errorf(codes.InvalidArgument, "missing payload in request")
	}
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	repo := s.repoByURLLocked(q.Source.RepoURL)
	if repo == nil {
		return nil, errPermissionDenied
	}
	if err := s.enforceErr(ctx, rbac.ResourceRepositories, rbac.ActionGet, repo.url); err != nil {
		return nil, err
	}
	// As argo.ParseFromQualifiedName, then the informer (see informerSees).
	appName, appNs := splitName(q.AppName, argocdNamespace)
	sa, found := s.apps[appKey(appNs, appName)]
	found = found && s.informerSees(appNs)
	appObject := q.AppProject + "/" + q.AppName // createRBACObject: the name as sent
	if q.AppProject == "" {
		appObject = q.AppName
	}
	if err := s.enforceErr(ctx, rbac.ResourceApplications, rbac.ActionGet, appObject); err != nil {
		return nil, err
	}
	if !found {
		// An app still being created: the caller must be allowed to create it.
		if err := s.enforceErr(ctx, rbac.ResourceApplications, rbac.ActionCreate, appObject); err != nil {
			return nil, err
		}
	} else {
		if q.AppProject != sa.app.Spec.Project {
			return nil, errPermissionDenied
		}
		if !isSourceInHistory(sa.app, *q.Source) {
			return nil, errPermissionDenied
		}
	}
	if _, ok := s.projects[q.AppProject]; !ok && q.AppProject != "" {
		return nil, status.Error(codes.NotFound, apierrors.NewNotFound(schema.GroupResource{Group: "argoproj.io", Resource: "appprojects"}, q.AppProject).Error())
	}
	if strings.Trim(q.Source.Path, "/") != repo.path {
		return nil, status.Errorf(codes.Unknown, "%s: app path does not exist", q.Source.Path)
	}
	c, err := repo.resolve(q.Source.TargetRevision)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	if !repo.helm {
		return &repoapiclient.RepoAppDetailsResponse{Type: string(v1alpha1.ApplicationSourceTypeDirectory), Directory: &repoapiclient.DirectoryAppSpec{}}, nil
	}
	resp := &repoapiclient.RepoAppDetailsResponse{
		Type: string(v1alpha1.ApplicationSourceTypeHelm),
		Helm: &repoapiclient.HelmAppSpec{ValueFiles: append([]string(nil), repo.valueFiles...), Values: valuesYAML(c.params)},
	}
	for _, p := range c.params {
		resp.Helm.Parameters = append(resp.Helm.Parameters, &v1alpha1.HelmParameter{Name: p.name, Value: p.value})
	}
	return resp, nil
}

// isSourceInHistory mirrors the repository server's check of the same name.
func isSourceInHistory(app *v1alpha1.Application, source v1alpha1.ApplicationSource) bool {
	cur := app.Spec.GetSource()
	if source.Equals(&cur) {
		return true
	}
	for _, h := range app.Status.History {
		h.Source.TargetRevision = h.Revision
		if source.Equals(&h.Source) {
			return true
		}
	}
	return false
}

// valuesYAML renders flattened parameters as the chart's values.yaml.
func valuesYAML(params []param) string {
	root := map[string]any{}
	for _, p := range params {
		parts := strings.Split(p.name, ".")
		m := root
		for _, k := range parts[:len(parts)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = p.value
	}
	b, err := yaml.Marshal(root)
	if err != nil {
		return ""
	}
	return string(b)
}

// ListRepositories lists the repositories of all apps the caller may
// `repositories, get`.
func (r *repoService) ListRepositories(ctx context.Context, _ *repositorypkg.RepoQuery) (*v1alpha1.RepositoryList, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	list := &v1alpha1.RepositoryList{}
	for _, name := range sortedKeys(s.apps) { // name is the app's key
		repo := s.apps[name].repo
		if !s.enforce(ctx, rbac.ResourceRepositories, rbac.ActionGet, repo.url) {
			continue
		}
		list.Items = append(list.Items, &v1alpha1.Repository{
			Repo: repo.url, Type: "git", Name: name,
			ConnectionState: v1alpha1.ConnectionState{Status: v1alpha1.ConnectionStatusSuccessful, Message: ""},
		})
	}
	return list, nil
}

// List is the deprecated alias of ListRepositories, answered the same way as
// by argocd-server. GET /api/v1/repositories reaches it, not ListRepositories:
// both have that route and grpc-gateway's mux takes the first registered.
func (r *repoService) List(ctx context.Context, q *repositorypkg.RepoQuery) (*v1alpha1.RepositoryList, error) {
	return r.ListRepositories(ctx, q)
}

// projectService implements project.ProjectServiceServer (Get, List).
type projectService struct {
	projectpkg.UnimplementedProjectServiceServer
	s *Server
}

var _ projectpkg.ProjectServiceServer = (*projectService)(nil)

// Get returns a project (argocd app get reads it for sync windows). It
// needs `projects, get`, checked before the project is looked up.
func (p *projectService) Get(ctx context.Context, q *projectpkg.ProjectQuery) (*v1alpha1.AppProject, error) {
	s := p.s
	if err := s.enforceErr(ctx, rbac.ResourceProjects, rbac.ActionGet, q.GetName()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	proj, ok := s.projects[q.GetName()]
	if !ok {
		return nil, status.Error(codes.NotFound, apierrors.NewNotFound(schema.GroupResource{Group: "argoproj.io", Resource: "appprojects"}, q.GetName()).Error())
	}
	return proj.DeepCopy(), nil
}

// List returns the projects the caller may `projects, get`, sorted by name.
func (p *projectService) List(ctx context.Context, _ *projectpkg.ProjectQuery) (*v1alpha1.AppProjectList, error) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	list := &v1alpha1.AppProjectList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}}
	for _, name := range sortedKeys(s.projects) {
		if !s.enforce(ctx, rbac.ResourceProjects, rbac.ActionGet, name) {
			continue
		}
		list.Items = append(list.Items, *s.projects[name].DeepCopy())
	}
	return list, nil
}

// settingsService implements settings.SettingsServiceServer (Get).
type settingsService struct {
	settingspkg.UnimplementedSettingsServiceServer
	s *Server
}

var _ settingspkg.SettingsServiceServer = (*settingsService)(nil)

// Get returns the public settings the CLI reads (no auth, like Argo CD).
func (st *settingsService) Get(_ context.Context, _ *settingspkg.SettingsQuery) (*settingspkg.Settings, error) {
	return &settingspkg.Settings{
		AppLabelKey:         "app.kubernetes.io/instance",
		ControllerNamespace: argocdNamespace,
		UserLoginsDisabled:  true,
		TrackingMethod:      "annotation",
		KustomizeOptions:    &v1alpha1.KustomizeOptions{},
		UiBannerContent:     "Argo CD simulator (deploybot)",
	}, nil
}

// versionService implements version.VersionServiceServer.
type versionService struct {
	versionpkg.UnimplementedVersionServiceServer
	s *Server
}

// Version reports the simulated release. Like argocd-server it needs no
// token, and answers only the version to a caller without a valid one.
func (vs versionService) Version(ctx context.Context, _ *emptypb.Empty) (*versionpkg.VersionMessage, error) {
	s := vs.s
	if _, ok := claimsOf(ctx); !ok {
		return &versionpkg.VersionMessage{Version: s.version.Raw}, nil
	}
	r := s.release
	return &versionpkg.VersionMessage{
		Version:          s.version.Raw,
		BuildDate:        seedBase.Format(time.RFC3339),
		GitTag:           gitTag(s.version),
		GitTreeState:     "clean",
		GoVersion:        runtime.Version(),
		Compiler:         runtime.Compiler,
		Platform:         platform(),
		KustomizeVersion: r.kustomize,
		HelmVersion:      r.helm,
		KubectlVersion:   r.kubectl,
		JsonnetVersion:   r.jsonnet,
	}, nil
}
