package argocd_test

import (
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/argocd"
)

// Calls go to the Argo CD the app's "@instance" names, and each instance
// keeps to its allowed projects.
func TestInstancesRouteAndKeepToTheirProjects(t *testing.T) {
	addrA, simA := startSim(t)
	addrB, simB := startSim(t)
	in, err := argocd.NewInstances("staging",
		argocd.Instance{Name: "staging", Client: newClient(t, "http://"+addrA, false)},
		argocd.Instance{Name: "prod", Client: newClient(t, "http://"+addrB, false), Projects: []string{"default"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)

	a, err := in.GetApp(ctx, "guestbook")
	if err != nil || a.Instance != "staging" || a.Ref != "guestbook" {
		t.Fatalf("default instance: %+v, %v", a, err)
	}
	b, err := in.GetApp(ctx, "guestbook@prod")
	if err != nil || b.Instance != "prod" || b.Ref != "guestbook@prod" {
		t.Fatalf("prod: %+v, %v", b, err)
	}
	if simA.Calls("Get", "guestbook") != 1 || simB.Calls("Get", "guestbook") != 1 {
		t.Fatalf("Get calls: staging %d, prod %d; want 1 each", simA.Calls("Get", "guestbook"), simB.Calls("Get", "guestbook"))
	}
	if _, err := in.HelmParameters(ctx, b, b.Status.History[0].ID); err != nil || simB.Calls("GetAppDetails", "guestbook") != 1 {
		t.Fatalf("Helm parameters not asked of prod: %v (prod calls %d)", err, simB.Calls("GetAppDetails", "guestbook"))
	}

	_, err = in.GetApp(ctx, "guestbook@qa")
	if err == nil || !strings.Contains(err.Error(), `no Argo CD instance named "qa"`) || !strings.Contains(err.Error(), "prod, staging") {
		t.Fatalf("unknown instance: %v", err)
	}

	// payments is in project payments, which prod does not allow.
	_, err = in.GetApp(ctx, "payments@prod")
	wantKind(t, err, argocd.ErrPermissionDenied)
	if !strings.Contains(err.Error(), `project "payments" is not among the projects deploybot may use on Argo CD instance "prod" (default)`) {
		t.Fatalf("refusal does not say why: %v", err)
	}
	if _, err := in.Sync(ctx, "payments@prod", argocd.SyncOptions{}); err == nil || simB.Calls("Sync", "payments") != 0 {
		t.Fatalf("sync of a project prod does not allow: %v, %d Sync calls", err, simB.Calls("Sync", "payments"))
	}
	if _, err := in.DisableAutoSync(ctx, "payments@prod"); err == nil || simB.Calls("Patch", "payments") != 0 {
		t.Fatalf("patch of a project prod does not allow: %v", err)
	}

	apps, err := in.ListApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]bool{}
	for _, a := range apps {
		refs[a.Ref] = true
	}
	if !refs["guestbook"] || !refs["payments"] || !refs["guestbook@prod"] || refs["payments@prod"] {
		t.Fatalf("list = %v: want staging's apps bare, prod's with @prod, and none of prod's payments project", refs)
	}
}

// With WithAppProjects an instance kept to some projects checks each app's
// project once per context, from the first read of the app, and still
// refuses every call for an app of another project.
func TestInstancesCheckTheProjectOncePerContext(t *testing.T) {
	addr, sim := startSim(t)
	in, err := argocd.NewInstances("prod", argocd.Instance{Name: "prod", Client: newClient(t, "http://"+addr, false), Projects: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	gets := func(app string) int { return sim.Calls("Get", app) }

	// Without it, every call reads the app to check its project, as before.
	if _, err := in.ManagedResources(ctxT(t), "guestbook"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := in.SyncWindows(ctxT(t), "guestbook"); err != nil {
		t.Fatal(err)
	}
	if gets("guestbook") != 2 {
		t.Fatalf("Get calls without WithAppProjects = %d, want 2 (one per call)", gets("guestbook"))
	}

	ctx := argocd.WithAppProjects(ctxT(t))
	got, err := in.GetApp(ctx, "guestbook")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.ManagedResources(ctx, "guestbook"); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Manifests(ctx, "guestbook", got.Status.History[0].Revision, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := in.SyncWindows(ctx, "guestbook"); err != nil {
		t.Fatal(err)
	}
	if gets("guestbook") != 3 {
		t.Fatalf("Get calls after GetApp and three calls with one context = %d, want 3 (2 before + 1)", gets("guestbook"))
	}

	// payments is in project payments, which prod does not allow: refused
	// whether its project was read by GetApp, by the check itself, or is
	// already remembered, and guestbook's remembered project does not let
	// it through.
	_, err = in.GetApp(ctx, "payments")
	wantKind(t, err, argocd.ErrPermissionDenied)
	_, err = in.ManagedResources(ctx, "payments")
	wantKind(t, err, argocd.ErrPermissionDenied)
	_, err = in.Manifests(ctx, "payments", "HEAD", nil)
	wantKind(t, err, argocd.ErrPermissionDenied)
	fresh := argocd.WithAppProjects(ctxT(t))
	_, err = in.Sync(fresh, "payments", argocd.SyncOptions{})
	wantKind(t, err, argocd.ErrPermissionDenied)
	_, err = in.Rollback(fresh, "payments", 1)
	wantKind(t, err, argocd.ErrPermissionDenied)
	if !strings.Contains(err.Error(), `project "payments" is not among the projects deploybot may use on Argo CD instance "prod" (default)`) {
		t.Fatalf("refusal does not say why: %v", err)
	}
	if n := sim.Calls("ManagedResources", "payments") + sim.Calls("GetManifests", "payments") + sim.Calls("Sync", "payments") + sim.Calls("Rollback", "payments"); n != 0 {
		t.Fatalf("%d calls reached Argo CD for an app of a project prod does not allow (%+v)", n, sim.Stats())
	}
	if gets("payments") != 2 {
		t.Fatalf("Get calls of payments = %d, want 2 (one per context)", gets("payments"))
	}
}
