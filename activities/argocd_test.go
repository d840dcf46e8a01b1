package activities_test

import (
	"context"
	"errors"
	"testing"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	health "github.com/argoproj/gitops-engine/pkg/health"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
)

type fakeArgo struct {
	apps []v1alpha1.Application
	err  error
}

func (f *fakeArgo) ListApps(context.Context) ([]argocd.App, error) {
	out := make([]argocd.App, len(f.apps))
	for i := range f.apps {
		out[i].Application = &f.apps[i]
	}
	return out, f.err
}

// The deploy methods are exercised against the simulator (argocd_deploy_test.go);
// here they only fail with f.err.
func (f *fakeArgo) GetApp(context.Context, string) (*argocd.App, error) { return nil, f.err }
func (f *fakeArgo) Sync(context.Context, string, argocd.SyncOptions) (*v1alpha1.Application, error) {
	return nil, f.err
}
func (f *fakeArgo) Rollback(context.Context, string, int64) (*v1alpha1.Application, error) {
	return nil, f.err
}
func (f *fakeArgo) DisableAutoSync(context.Context, string) (argocd.AutoSyncChange, error) {
	return argocd.AutoSyncChange{}, f.err
}
func (f *fakeArgo) ResourceTree(context.Context, string) (*v1alpha1.ApplicationTree, error) {
	return nil, f.err
}
func (f *fakeArgo) HelmParameters(context.Context, *argocd.App, int64) (map[string]string, error) {
	return nil, f.err
}

func app(name, project string, automated bool) v1alpha1.Application {
	a := v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.ApplicationSpec{
			Project: project,
			Source:  &v1alpha1.ApplicationSource{RepoURL: "https://git.example.com/x.git", TargetRevision: "main"},
		},
		Status: v1alpha1.ApplicationStatus{
			Sync:    v1alpha1.SyncStatus{Status: v1alpha1.SyncStatusCodeSynced, Revision: "abc123"},
			Health:  v1alpha1.HealthStatus{Status: health.HealthStatusHealthy},
			Summary: v1alpha1.ApplicationSummary{Images: []string{"nginx:1.25"}},
		},
	}
	if automated {
		a.Spec.SyncPolicy = &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{Prune: true}}
	}
	return a
}

func TestListAppsSummarizesSortsAndFilters(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &activities.ArgoCD{Client: &fakeArgo{apps: []v1alpha1.Application{
		app("search", "default", false), app("payments", "payments", true), app("guestbook", "default", false),
	}}}
	env.RegisterActivity(a)

	val, err := env.ExecuteActivity(a.ListApps, activities.ListAppsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.ListAppsResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	want := []contract.AppSummary{
		{Name: "guestbook", Project: "default", SyncStatus: "Synced", Health: "Healthy", Images: []string{"nginx:1.25"}, TargetRevision: "main", Revision: "abc123"},
		{Name: "payments", Project: "payments", SyncStatus: "Synced", Health: "Healthy", Images: []string{"nginx:1.25"}, TargetRevision: "main", Revision: "abc123", AutoSync: true},
		{Name: "search", Project: "default", SyncStatus: "Synced", Health: "Healthy", Images: []string{"nginx:1.25"}, TargetRevision: "main", Revision: "abc123"},
	}
	if len(res.Apps) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(res.Apps), len(want), res.Apps)
	}
	for i := range want {
		g, w := res.Apps[i], want[i]
		if g.Name != w.Name || g.Project != w.Project || g.SyncStatus != w.SyncStatus || g.Health != w.Health ||
			g.TargetRevision != w.TargetRevision || g.Revision != w.Revision || g.AutoSync != w.AutoSync || len(g.Images) != 1 {
			t.Errorf("row %d = %+v, want %+v", i, g, w)
		}
	}

	val, err = env.ExecuteActivity(a.ListApps, activities.ListAppsInput{Projects: []string{"payments"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if len(res.Apps) != 1 || res.Apps[0].Name != "payments" {
		t.Errorf("project filter: %+v", res.Apps)
	}
}

func TestListAppsPermissionDeniedIsNonRetryable(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &activities.ArgoCD{Client: &fakeArgo{err: &argocd.Error{Kind: argocd.KindPermissionDenied, Op: "list apps", Message: "permission denied"}}}
	env.RegisterActivity(a)
	_, err := env.ExecuteActivity(a.ListApps, activities.ListAppsInput{})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error %v is not an ApplicationError", err)
	}
	if appErr.Type() != string(argocd.KindPermissionDenied) || !appErr.NonRetryable() {
		t.Errorf("type=%s nonRetryable=%v, want %s and true", appErr.Type(), appErr.NonRetryable(), argocd.KindPermissionDenied)
	}
}

func (f *fakeArgo) EnableAutoSync(context.Context, string, v1alpha1.SyncPolicyAutomated) (argocd.AutoSyncChange, error) {
	return argocd.AutoSyncChange{}, f.err
}
