package argocdsim_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	repositorypkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/repository"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc/codes"

	"github.com/deploybot/deploybot/internal/argocdsim"
)

const team = "team-a"

// TestTeamAppHiddenUntilEnabled: team-a/guestbook exists in the seed but,
// like an Application in a namespace argocd-server does not serve, it is
// not listed, watched or found until AppNamespaces enables team-a.
func TestTeamAppHiddenUntilEnabled(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	ctx := ctxT(t)
	list, err := ac.List(ctx, &applicationpkg.ApplicationQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list.Items {
		if a.Namespace != "argocd" {
			t.Errorf("List shows %s/%s of a namespace that is not enabled", a.Namespace, a.Name)
		}
	}
	_, err = ac.Get(ctx, &applicationpkg.ApplicationQuery{Name: str("guestbook"), AppNamespace: str(team)})
	wantCode(t, err, codes.PermissionDenied, "permission denied")
	_, err = ac.Get(ctx, &applicationpkg.ApplicationQuery{Name: str("guestbook"), AppNamespace: str(team), Projects: []string{team}})
	wantCode(t, err, codes.PermissionDenied, "permission denied")
	_, err = ac.ResourceTree(ctx, &applicationpkg.ResourcesQuery{ApplicationName: str("guestbook"), AppNamespace: str(team), Project: str(team)})
	wantCode(t, err, codes.NotFound, `applications.argoproj.io "guestbook" not found`)
	if app := get(t, ac, "guestbook"); app.Namespace != "argocd" || len(app.Status.History) < 12 {
		t.Fatalf("guestbook is %s/%s with %d history entries, want the argocd one", app.Namespace, app.Name, len(app.Status.History))
	}
}

// TestAppsInAnyNamespace: with team-a enabled (a glob, as
// --application-namespaces takes), guestbook and team-a/guestbook are two
// apps: every method reaches the one its appNamespace names, and counters
// and operations are kept per app under "team-a/guestbook" and the bare
// "guestbook".
func TestAppsInAnyNamespace(t *testing.T) {
	addr, s, ac := start(t, argocdsim.Options{OperationDuration: 300 * time.Millisecond, AppNamespaces: []string{"team-*"}})
	ctx := ctxT(t)
	ns := str(team)
	teamApp := func() *v1alpha1.Application {
		t.Helper()
		app, err := ac.Get(ctx, &applicationpkg.ApplicationQuery{Name: str("guestbook"), AppNamespace: ns})
		if err != nil {
			t.Fatalf("Get team-a/guestbook: %v", err)
		}
		return app
	}
	ours, theirs := teamApp(), get(t, ac, "guestbook")
	if ours.Namespace != team || ours.Spec.Project != team || len(ours.Status.History) != 3 || ours.UID == theirs.UID ||
		theirs.Namespace != "argocd" || len(theirs.Status.History) < 12 {
		t.Fatalf("team-a/guestbook: %s/%s project %s, %d entries; guestbook: %s, %d entries",
			ours.Namespace, ours.Name, ours.Spec.Project, len(ours.Status.History), theirs.Namespace, len(theirs.Status.History))
	}

	list, err := ac.List(ctx, &applicationpkg.ApplicationQuery{Name: str("guestbook")})
	if err != nil || len(list.Items) != 2 || list.Items[0].Namespace != "argocd" || list.Items[1].Namespace != team {
		t.Fatalf("List name=guestbook: %v, %d items", err, len(list.Items))
	}
	list, err = ac.List(ctx, &applicationpkg.ApplicationQuery{AppNamespace: ns})
	if err != nil || len(list.Items) != 1 || list.Items[0].Namespace != team {
		t.Fatalf("List appNamespace=team-a: %v, %d items", err, len(list.Items))
	}

	// Every method that names an app reaches team-a's.
	if _, err := ac.GetApplicationSyncWindows(ctx, &applicationpkg.ApplicationSyncWindowsQuery{Name: str("guestbook"), AppNamespace: ns}); err != nil {
		t.Fatalf("GetApplicationSyncWindows: %v", err)
	}
	tree, err := ac.ResourceTree(ctx, &applicationpkg.ResourcesQuery{ApplicationName: str("guestbook"), AppNamespace: ns})
	if err != nil || tree.Nodes[0].Namespace != team {
		t.Fatalf("ResourceTree: %v", err)
	}
	managed, err := ac.ManagedResources(ctx, &applicationpkg.ResourcesQuery{ApplicationName: str("guestbook"), AppNamespace: ns})
	if err != nil || len(managed.Items) == 0 || managed.Items[0].Namespace != team {
		t.Fatalf("ManagedResources: %v", err)
	}
	if _, err := ac.RevisionMetadata(ctx, &applicationpkg.RevisionMetadataQuery{Name: str("guestbook"), AppNamespace: ns, Revision: str(ours.Status.History[0].Revision)}); err != nil {
		t.Fatalf("RevisionMetadata of team-a/guestbook's own commit: %v", err)
	}
	if _, err := ac.RevisionMetadata(ctx, &applicationpkg.RevisionMetadataQuery{Name: str("guestbook"), AppNamespace: ns, Revision: str(theirs.Status.History[0].Revision)}); err == nil {
		t.Fatal("RevisionMetadata found argocd/guestbook's commit in team-a/guestbook's repository")
	}
	stream, err := ac.PodLogs(ctx, &applicationpkg.ApplicationPodLogsQuery{Name: str("guestbook"), AppNamespace: ns, TailLines: i64(1)})
	if err != nil {
		t.Fatal(err)
	}
	if logs := collectLogs(t, stream); len(logs) != 2 || !strings.Contains(logs[0].GetPodName(), "guestbook-") {
		t.Fatalf("PodLogs of team-a/guestbook's one pod: %d entries", len(logs))
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := ac.Watch(wctx, &applicationpkg.ApplicationQuery{Name: str("guestbook"), AppNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := watch.Recv(); err != nil || ev.Application.Namespace != team {
		t.Fatalf("Watch team-a/guestbook: %v %v", ev, err)
	}

	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("guestbook"), AppNamespace: ns}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if _, err := ac.TerminateOperation(ctx, &applicationpkg.OperationTerminateRequest{Name: str("guestbook"), AppNamespace: ns}); err != nil {
		eventually(t, "the sync to run", func() bool {
			_, err = ac.TerminateOperation(ctx, &applicationpkg.OperationTerminateRequest{Name: str("guestbook"), AppNamespace: ns})
			return err == nil
		})
	}
	eventually(t, "team-a/guestbook settled", func() bool { return settled(teamApp()) })
	if _, err := ac.Rollback(ctx, &applicationpkg.ApplicationRollbackRequest{Name: str("guestbook"), AppNamespace: ns, Id: i64(0)}); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	eventually(t, "team-a/guestbook settled", func() bool { return settled(teamApp()) })
	if _, err := ac.Patch(ctx, &applicationpkg.ApplicationPatchRequest{Name: str("guestbook"), AppNamespace: ns, PatchType: str("merge"),
		Patch: str(`{"metadata":{"labels":{"patched":"yes"}}}`)}); err != nil {
		t.Fatalf("Patch: %v", err)
	}
	app := teamApp()
	app.Labels["updated"] = "yes"
	if _, err := ac.Update(ctx, &applicationpkg.ApplicationUpdateRequest{Application: app}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	spec := teamApp().Spec
	spec.Source.TargetRevision = ours.Status.History[1].Revision
	if _, err := ac.UpdateSpec(ctx, &applicationpkg.ApplicationUpdateSpecRequest{Name: str("guestbook"), AppNamespace: ns, Spec: &spec}); err != nil {
		t.Fatalf("UpdateSpec: %v", err)
	}
	if app := teamApp(); app.Labels["patched"] != "yes" || app.Labels["updated"] != "yes" || app.Spec.Source.TargetRevision != spec.Source.TargetRevision {
		t.Fatalf("team-a/guestbook after Patch, Update, UpdateSpec: labels %v, target %s", app.Labels, app.Spec.Source.TargetRevision)
	}
	if gb := get(t, ac, "guestbook"); gb.Labels["patched"] != "" || gb.Spec.Source.TargetRevision != "HEAD" || gb.Status.OperationState.Phase != "Succeeded" {
		t.Fatalf("argocd/guestbook changed with team-a's: labels %v, target %s", gb.Labels, gb.Spec.Source.TargetRevision)
	}
	src := ours.Status.History[0].Source.DeepCopy()
	src.TargetRevision = ours.Status.History[0].Revision
	details, err := repoClient(t, newClient(t, addr)).GetAppDetails(ctx, &repositorypkg.RepoAppDetailsQuery{AppName: "team-a/guestbook", AppProject: team, Source: src})
	if err != nil || details.Helm == nil {
		t.Fatalf("GetAppDetails of team-a/guestbook: %v", err)
	}

	// Counters: bare for argocd's apps, namespace/name for the others.
	for _, m := range []string{"Sync", "TerminateOperation", "Rollback", "Patch", "Update", "UpdateSpec", "ResourceTree", "ManagedResources", "PodLogs", "Watch", "GetApplicationSyncWindows", "GetAppDetails"} {
		if s.Calls(m, "team-a/guestbook") == 0 || s.Calls(m, "guestbook") != 0 {
			t.Errorf("%s calls: team-a/guestbook %d, guestbook %d; want them counted for team-a/guestbook only", m, s.Calls(m, "team-a/guestbook"), s.Calls(m, "guestbook"))
		}
	}
	if s.Operations("team-a/guestbook") != 2 || s.Operations("guestbook") != 0 {
		t.Errorf("operations: team-a/guestbook %d, guestbook %d; want 2 and 0", s.Operations("team-a/guestbook"), s.Operations("guestbook"))
	}
	// A name with a "/" (sent unsplit) is no app's, and counted apart.
	_, err = ac.Get(ctx, &applicationpkg.ApplicationQuery{Name: str("team-a/guestbook")})
	wantCode(t, err, codes.PermissionDenied, "permission denied")
	if s.Calls("Get", "argocd/team-a/guestbook") != 1 {
		t.Errorf("Get of the name team-a/guestbook: %v", s.Stats().Calls["Get"])
	}
	if err := s.SetOutcome("team-a/guestbook", argocdsim.Outcome{Health: "Degraded"}); err != nil {
		t.Fatal(err)
	}
	if f := s.CurrentFaults(); len(f.Outcomes) != 2 || f.Outcomes["team-a/guestbook"].Health != "Degraded" {
		t.Errorf("outcomes %v, want checkout's and team-a/guestbook's", f.Outcomes)
	}

	// REST: appNamespace as a query parameter.
	code, body := restCall(t, "GET", "http://"+addr+"/api/v1/applications/guestbook?appNamespace=team-a", "", false)
	var rest v1alpha1.Application
	if err := json.Unmarshal(body, &rest); code != 200 || err != nil || rest.Namespace != team {
		t.Fatalf("REST Get with appNamespace: %d %v %.200s", code, err, body)
	}
}

// TestSourceNamespaces: an app's project must allow its namespace, as
// AppProject.IsAppNamespacePermitted: team-a/guestbook cannot move to
// project default, whose sourceNamespaces are empty.
func TestSourceNamespaces(t *testing.T) {
	_, _, ac := start(t, argocdsim.Options{OperationDuration: 300 * time.Millisecond, AppNamespaces: []string{team}})
	_, err := ac.Patch(ctxT(t), &applicationpkg.ApplicationPatchRequest{Name: str("guestbook"), AppNamespace: str(team), PatchType: str("merge"),
		Patch: str(`{"spec":{"project":"default"}}`)})
	wantCode(t, err, codes.InvalidArgument, "")
	if !strings.Contains(err.Error(), `app is not allowed in project "default", or the project does not exist`) {
		t.Fatalf("moving to project default: %v", err)
	}
}

// TestInformerSeesEveryNamespace: once any namespace is enabled,
// argocd-server's informer holds apps of all of them, so informer-backed
// methods (ResourceTree) find team-a/guestbook even where team-a is not
// enabled, while client-backed ones (Get) refuse it.
func TestInformerSeesEveryNamespace(t *testing.T) {
	_, _, ac := start(t, argocdsim.Options{OperationDuration: 300 * time.Millisecond, AppNamespaces: []string{"team-b"}})
	ctx := ctxT(t)
	_, err := ac.Get(ctx, &applicationpkg.ApplicationQuery{Name: str("guestbook"), AppNamespace: str(team)})
	wantCode(t, err, codes.PermissionDenied, "permission denied")
	if _, err := ac.ResourceTree(ctx, &applicationpkg.ResourcesQuery{ApplicationName: str("guestbook"), AppNamespace: str(team)}); err != nil {
		t.Fatalf("ResourceTree through the informer: %v", err)
	}
}
