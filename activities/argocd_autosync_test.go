package activities_test

import (
	"context"
	"testing"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
)

// keptOffFake serves apps whose automated policy Argo CD 3.1 keeps with
// enabled: false.
type keptOffFake struct{ fakeArgo }

func (f *keptOffFake) GetApp(_ context.Context, name string) (*argocd.App, error) {
	a := app(name, "payments", true)
	no := false
	return &argocd.App{Application: &a, AutoSyncEnabled: &no}, nil
}

func (f *keptOffFake) ListApps(ctx context.Context) ([]argocd.App, error) {
	off, _ := f.GetApp(ctx, "payments")
	on := app("checkout", "payments", true)
	return []argocd.App{*off, {Application: &on}}, nil
}

// Every read reports a kept policy as off, with its settings, so `status`,
// `list_apps` and the approval card agree with Argo CD 3.1.
func TestKeptOffPolicyReadsAsOff(t *testing.T) {
	act := &activities.ArgoCD{Client: &keptOffFake{}}
	env := activityEnv(act)
	st := mustRun[activities.AppStatusResult](t, env, act.AppStatus, activities.AppStatusInput{App: "payments"})
	if st.AutoSync == nil || st.AutoSync.On() || st.AutoSync.Enabled == nil || *st.AutoSync.Enabled {
		t.Fatalf("status auto-sync = %+v, want the policy with enabled false", st.AutoSync)
	}
	prep := mustRun[activities.PrepareDeployResult](t, env, act.PrepareDeploy, activities.PrepareDeployInput{App: "payments", Action: contract.ActionAutoSyncOn})
	if prep.AutoSync.On() {
		t.Fatalf("prepare auto-sync = %+v, want off", prep.AutoSync)
	}
	list := mustRun[activities.ListAppsResult](t, env, act.ListApps, activities.ListAppsInput{})
	got := map[string]bool{}
	for _, a := range list.Apps {
		got[a.Name] = a.AutoSync
	}
	if got["payments"] || !got["checkout"] {
		t.Fatalf("list auto-sync = %v, want payments off and checkout on", got)
	}
}
