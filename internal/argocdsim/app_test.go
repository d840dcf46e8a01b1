package argocdsim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	projectpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/project"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/gitops-engine/pkg/health"
	synccommon "github.com/argoproj/gitops-engine/pkg/sync/common"
	"google.golang.org/grpc/codes"

	"github.com/deploybot/deploybot/internal/argocdsim"
)

func TestSeedData(t *testing.T) {
	addr, _, ac := start(t, fastOpts)
	list, err := ac.List(ctxT(t), &applicationpkg.ApplicationQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range list.Items {
		names = append(names, a.Name)
	}
	if got := strings.Join(names, ","); got != "checkout,frontend,guestbook,ledger,payments,search" {
		t.Fatalf("apps = %s", got)
	}

	want := map[string]struct {
		project   string
		minHist   int
		sync      v1alpha1.SyncStatusCode
		automated bool
		source    v1alpha1.ApplicationSourceType
	}{
		"guestbook": {"default", 12, v1alpha1.SyncStatusCodeSynced, false, v1alpha1.ApplicationSourceTypeHelm},
		"payments":  {"payments", 5, v1alpha1.SyncStatusCodeSynced, true, v1alpha1.ApplicationSourceTypeHelm},
		"checkout":  {"payments", 1, v1alpha1.SyncStatusCodeSynced, false, v1alpha1.ApplicationSourceTypeHelm},
		"frontend":  {"default", 1, v1alpha1.SyncStatusCodeOutOfSync, false, v1alpha1.ApplicationSourceTypeHelm},
		"ledger":    {"payments", 25, v1alpha1.SyncStatusCodeSynced, false, v1alpha1.ApplicationSourceTypeHelm},
		"search":    {"default", 1, v1alpha1.SyncStatusCodeSynced, false, v1alpha1.ApplicationSourceTypeDirectory},
	}
	for _, a := range list.Items {
		w := want[a.Name]
		if a.Spec.Project != w.project || a.Status.Sync.Status != w.sync || a.Status.SourceType != w.source {
			t.Errorf("%s: project=%s sync=%s source=%s", a.Name, a.Spec.Project, a.Status.Sync.Status, a.Status.SourceType)
		}
		if len(a.Status.History) < w.minHist {
			t.Errorf("%s: %d history entries, want >= %d", a.Name, len(a.Status.History), w.minHist)
		}
		if got := a.Spec.SyncPolicy != nil && a.Spec.SyncPolicy.Automated != nil; got != w.automated {
			t.Errorf("%s: automated=%v", a.Name, got)
		}
		if a.Status.Health.Status != health.HealthStatusHealthy {
			t.Errorf("%s: health %s", a.Name, a.Status.Health.Status)
		}
		if len(a.Status.Summary.Images) == 0 {
			t.Errorf("%s: no images in summary", a.Name)
		}
	}
	pay := get(t, ac, "payments")
	sp := pay.Spec.SyncPolicy
	if !sp.Automated.Prune || !sp.Automated.SelfHeal || sp.Retry == nil || len(sp.SyncOptions) == 0 {
		t.Fatalf("payments sync policy = %+v", sp)
	}
	// ledger keeps only its revisionHistoryLimit newest deployments, so ids do not start at 0.
	ledger := get(t, ac, "ledger")
	if ledger.Status.History[0].ID == 0 {
		t.Errorf("ledger history should be truncated, first id %d", ledger.Status.History[0].ID)
	}

	// Deterministic: a second simulator has identical revisions and timestamps.
	_, _, ac2 := start(t, fastOpts)
	g1, g2 := get(t, ac, "guestbook"), get(t, ac2, "guestbook")
	for i := range g1.Status.History {
		h1, h2 := g1.Status.History[i], g2.Status.History[i]
		if h1.Revision != h2.Revision || !h1.DeployedAt.Equal(&h2.DeployedAt) {
			t.Fatalf("history %d differs between starts", i)
		}
	}

	closer, pc, err := newClient(t, addr).NewProjectClient()
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if _, err := pc.Get(ctxT(t), &projectpkg.ProjectQuery{Name: "payments"}); err != nil {
		t.Fatal(err)
	}
	_, err = pc.Get(ctxT(t), &projectpkg.ProjectQuery{Name: "nope"})
	wantCode(t, err, codes.NotFound, `appprojects.argoproj.io "nope" not found`)
}

func TestUnknownApp(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	// Like argocd-server: without a project the app's existence is hidden.
	_, err := ac.Get(ctxT(t), &applicationpkg.ApplicationQuery{Name: str("nope")})
	wantCode(t, err, codes.PermissionDenied, "permission denied")
	_, err = ac.Get(ctxT(t), &applicationpkg.ApplicationQuery{Name: str("nope"), Projects: []string{"default"}})
	wantCode(t, err, codes.NotFound, `applications.argoproj.io "nope" not found`)
	// An app in another project than the one asked for is NotFound too.
	_, err = ac.Sync(ctxT(t), &applicationpkg.ApplicationSyncRequest{Name: str("guestbook"), Project: str("payments")})
	wantCode(t, err, codes.NotFound, `applications.argoproj.io "guestbook" not found`)
}

func TestSyncTimeline(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	ctx := ctxT(t)
	before := get(t, ac, "frontend")
	if before.Status.Sync.Status != v1alpha1.SyncStatusCodeOutOfSync {
		t.Fatalf("frontend starts %s", before.Status.Sync.Status)
	}
	lastID := before.Status.History.LastRevisionHistory().ID

	watch, err := ac.Watch(ctx, &applicationpkg.ApplicationQuery{Name: str("frontend")})
	if err != nil {
		t.Fatal(err)
	}
	first, err := watch.Recv()
	if err != nil || first.Type != "ADDED" {
		t.Fatalf("first watch event %v %v", first, err)
	}

	started, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("frontend")})
	if err != nil {
		t.Fatal(err)
	}
	// A successful Sync call only means the operation was recorded.
	if started.Operation == nil || started.Operation.Sync == nil || started.Status.OperationState != nil {
		t.Fatalf("Sync returned operation=%v operationState=%v", started.Operation, started.Status.OperationState)
	}

	var phases []synccommon.OperationPhase
	var healths []health.HealthStatusCode
	var final *v1alpha1.Application
	for final == nil {
		ev, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		a := ev.Application
		if st := a.Status.OperationState; st != nil && (len(phases) == 0 || phases[len(phases)-1] != st.Phase) {
			phases = append(phases, st.Phase)
		}
		if len(healths) == 0 || healths[len(healths)-1] != a.Status.Health.Status {
			healths = append(healths, a.Status.Health.Status)
		}
		if settled(&a) {
			final = &a
		}
	}
	if fmt.Sprint(phases) != "[Running Succeeded]" {
		t.Errorf("phases %v", phases)
	}
	if fmt.Sprint(healths) != "[Healthy Progressing Healthy]" {
		t.Errorf("healths %v", healths)
	}
	if final.Status.Sync.Status != v1alpha1.SyncStatusCodeSynced {
		t.Errorf("final sync status %s", final.Status.Sync.Status)
	}
	h := final.Status.History.LastRevisionHistory()
	if h.ID != lastID+1 || h.Revision != final.Status.Sync.Revision || h.DeployStartedAt == nil || h.DeployedAt.IsZero() || h.Source.RepoURL == "" {
		t.Errorf("new history entry %+v", h)
	}
	if h.Revision == before.Status.Sync.Revision {
		t.Errorf("sync should deploy HEAD, got the old revision %s", h.Revision)
	}
	if st := final.Status.OperationState; st.SyncResult == nil || st.SyncResult.Revision != h.Revision || st.Message != "successfully synced (all tasks run)" {
		t.Errorf("operation state %+v", st)
	}
}

func TestAnotherOperationInProgress(t *testing.T) {
	_, _, ac := start(t, argocdsim.Options{OperationDuration: 3 * time.Second})
	ctx := ctxT(t)
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("guestbook")}); err != nil {
		t.Fatal(err)
	}
	_, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("guestbook")})
	wantCode(t, err, codes.FailedPrecondition, "another operation is already in progress")
	_, err = ac.Rollback(ctx, &applicationpkg.ApplicationRollbackRequest{Name: str("guestbook"), Id: i64(3)})
	wantCode(t, err, codes.FailedPrecondition, "another operation is already in progress")
	// Other apps are independent.
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("search")}); err != nil {
		t.Fatal(err)
	}
}

func TestRollbackRules(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	ctx := ctxT(t)
	_, err := ac.Rollback(ctx, &applicationpkg.ApplicationRollbackRequest{Name: str("payments"), Id: i64(2)})
	wantCode(t, err, codes.FailedPrecondition, "rollback cannot be initiated when auto-sync is enabled")
	_, err = ac.Rollback(ctx, &applicationpkg.ApplicationRollbackRequest{Name: str("guestbook"), Id: i64(99)})
	// Argo CD names the app by its qualified name (namespace/name).
	wantCode(t, err, codes.InvalidArgument, "application argocd/guestbook does not have deployment with id 99")

	before := get(t, ac, "guestbook")
	target := before.Status.History[3]
	if _, err := ac.Rollback(ctx, &applicationpkg.ApplicationRollbackRequest{Name: str("guestbook"), Id: i64(target.ID)}); err != nil {
		t.Fatal(err)
	}
	var after *v1alpha1.Application
	eventually(t, "rollback to settle", func() bool { after = get(t, ac, "guestbook"); return settled(after) })
	h := after.Status.History.LastRevisionHistory()
	if h.ID != before.Status.History.LastRevisionHistory().ID+1 || h.Revision != target.Revision {
		t.Fatalf("rollback history entry %+v, want revision %s", h, target.Revision)
	}
	if after.Status.Sync.Revision != target.Revision || after.Status.Health.Status != health.HealthStatusHealthy {
		t.Fatalf("after rollback: revision %s health %s", after.Status.Sync.Revision, after.Status.Health.Status)
	}
	// The spec still targets HEAD, so a rolled-back app is OutOfSync (as in Argo CD).
	if after.Status.Sync.Status != v1alpha1.SyncStatusCodeOutOfSync {
		t.Fatalf("after rollback sync status %s", after.Status.Sync.Status)
	}
	if op := after.Status.OperationState.Operation.Sync; op.Source == nil || op.Revision != target.Revision {
		t.Fatalf("rollback operation %+v", op)
	}
}

func TestMergePatchDisablesAutoSync(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	ctx := ctxT(t)
	before := get(t, ac, "payments")
	patched, err := ac.Patch(ctx, &applicationpkg.ApplicationPatchRequest{
		Name: str("payments"), PatchType: str("merge"),
		Patch: str(`{"spec":{"syncPolicy":{"automated":null}}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	sp := patched.Spec.SyncPolicy
	if sp == nil || sp.Automated != nil {
		t.Fatalf("automated not removed: %+v", sp)
	}
	if sp.Retry == nil || sp.Retry.Limit != before.Spec.SyncPolicy.Retry.Limit || fmt.Sprint(sp.SyncOptions) != fmt.Sprint(before.Spec.SyncPolicy.SyncOptions) {
		t.Fatalf("retry/syncOptions not kept: %+v", sp)
	}
	if fmt.Sprint(patched.Labels) != fmt.Sprint(before.Labels) || len(patched.Finalizers) != 1 {
		t.Fatalf("labels/finalizers changed: %v %v", patched.Labels, patched.Finalizers)
	}
	if _, err := ac.Rollback(ctx, &applicationpkg.ApplicationRollbackRequest{Name: str("payments"), Id: i64(before.Status.History[1].ID)}); err != nil {
		t.Fatalf("rollback after disabling auto-sync: %v", err)
	}

	// JSON patch and unsupported patch types behave like argocd-server.
	_, err = ac.Patch(ctx, &applicationpkg.ApplicationPatchRequest{
		Name: str("guestbook"), PatchType: str("json"),
		Patch: str(`[{"op":"add","path":"/metadata/labels/tier","value":"gold"}]`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if get(t, ac, "guestbook").Labels["tier"] != "gold" {
		t.Fatal("json patch not applied")
	}
	_, err = ac.Patch(ctx, &applicationpkg.ApplicationPatchRequest{Name: str("guestbook"), PatchType: str("strategic"), Patch: str(`{}`)})
	wantCode(t, err, codes.InvalidArgument, "Patch type 'strategic' is not supported")
}

func TestAutoSyncReEnabled(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	ctx := ctxT(t)
	if _, err := ac.Patch(ctx, &applicationpkg.ApplicationPatchRequest{Name: str("payments"), PatchType: str("merge"), Patch: str(`{"spec":{"syncPolicy":{"automated":null}}}`)}); err != nil {
		t.Fatal(err)
	}
	head := get(t, ac, "payments").Status.Sync.Revision
	if _, err := ac.Rollback(ctx, &applicationpkg.ApplicationRollbackRequest{Name: str("payments"), Id: i64(2)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rollback", func() bool {
		a := get(t, ac, "payments")
		return settled(a) && a.Status.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync
	})
	// Turning auto-sync back on makes the controller sync HEAD by itself.
	if _, err := ac.Patch(ctx, &applicationpkg.ApplicationPatchRequest{Name: str("payments"), PatchType: str("merge"), Patch: str(`{"spec":{"syncPolicy":{"automated":{"prune":true,"selfHeal":true}}}}`)}); err != nil {
		t.Fatal(err)
	}
	var a *v1alpha1.Application
	eventually(t, "auto-sync", func() bool {
		a = get(t, ac, "payments")
		return settled(a) && a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced
	})
	if a.Status.Sync.Revision != head || !a.Status.History.LastRevisionHistory().InitiatedBy.Automated {
		t.Fatalf("auto-sync result: revision %s, history %+v", a.Status.Sync.Revision, a.Status.History.LastRevisionHistory())
	}
}

func TestCheckoutEndsDegraded(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	ctx := ctxT(t)
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("checkout")}); err != nil {
		t.Fatal(err)
	}
	var a *v1alpha1.Application
	eventually(t, "checkout to settle", func() bool { a = get(t, ac, "checkout"); return settled(a) })
	// The sync itself succeeds; the Deployment never becomes available.
	if a.Status.OperationState.Phase != synccommon.OperationSucceeded || a.Status.Health.Status != health.HealthStatusDegraded {
		t.Fatalf("checkout phase %s health %s", a.Status.OperationState.Phase, a.Status.Health.Status)
	}
	tree, err := ac.ResourceTree(ctx, &applicationpkg.ResourcesQuery{ApplicationName: str("checkout")})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range tree.Nodes {
		if n.Kind == "Deployment" {
			found = true
			if n.Health.Status != health.HealthStatusDegraded || !strings.Contains(n.Health.Message, "exceeded its progress deadline") {
				t.Fatalf("deployment health %+v", n.Health)
			}
		}
	}
	if !found {
		t.Fatal("no Deployment in tree")
	}
	// Rollback ends Degraded too.
	if _, err := ac.Rollback(ctx, &applicationpkg.ApplicationRollbackRequest{Name: str("checkout"), Id: i64(1)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "checkout rollback", func() bool {
		a = get(t, ac, "checkout")
		return settled(a) && a.Status.History.LastRevisionHistory().ID == 7
	})
	if a.Status.Health.Status != health.HealthStatusDegraded {
		t.Fatalf("after rollback health %s", a.Status.Health.Status)
	}
}

func TestOutcomeFailed(t *testing.T) {
	_, s, ac := start(t, fastOpts)
	if err := s.SetOutcome("guestbook", argocdsim.Outcome{Phase: synccommon.OperationFailed}); err != nil {
		t.Fatal(err)
	}
	before := get(t, ac, "guestbook")
	if _, err := ac.Sync(ctxT(t), &applicationpkg.ApplicationSyncRequest{Name: str("guestbook")}); err != nil {
		t.Fatal(err)
	}
	var a *v1alpha1.Application
	eventually(t, "failed sync", func() bool { a = get(t, ac, "guestbook"); return settled(a) })
	if a.Status.OperationState.Phase != synccommon.OperationFailed || a.Status.Health.Status != health.HealthStatusHealthy {
		t.Fatalf("phase %s health %s", a.Status.OperationState.Phase, a.Status.Health.Status)
	}
	// Failed operations are not recorded in history.
	if len(a.Status.History) != len(before.Status.History) {
		t.Fatalf("history grew on failure")
	}
}

func TestTerminateOperation(t *testing.T) {
	_, _, ac := start(t, argocdsim.Options{OperationDuration: 5 * time.Second})
	ctx := ctxT(t)
	_, err := ac.TerminateOperation(ctx, &applicationpkg.OperationTerminateRequest{Name: str("guestbook")})
	wantCode(t, err, codes.InvalidArgument, "Unable to terminate operation. No operation is in progress")
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("guestbook")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Running", func() bool {
		st := get(t, ac, "guestbook").Status.OperationState
		return st != nil && st.Phase == synccommon.OperationRunning
	})
	if _, err := ac.TerminateOperation(ctx, &applicationpkg.OperationTerminateRequest{Name: str("guestbook")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "terminated", func() bool {
		a := get(t, ac, "guestbook")
		return a.Operation == nil && a.Status.OperationState.Phase == synccommon.OperationFailed
	})
}

func TestUpdateSpecAndList(t *testing.T) {
	_, _, ac := start(t, argocdsim.Options{OperationDuration: 300 * time.Millisecond, ExtraApps: 500})
	ctx := ctxT(t)
	all, err := ac.List(ctx, &applicationpkg.ApplicationQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 506 || all.Items[0].Name != "app-001" {
		t.Fatalf("got %d apps, first %s", len(all.Items), all.Items[0].Name)
	}
	pay, err := ac.List(ctx, &applicationpkg.ApplicationQuery{Projects: []string{"payments"}})
	if err != nil || len(pay.Items) != 3 {
		t.Fatalf("payments apps: %v %v", len(pay.Items), err)
	}
	sel, err := ac.List(ctx, &applicationpkg.ApplicationQuery{Selector: str("team=web,env=prod")})
	if err != nil || len(sel.Items) != 2 {
		t.Fatalf("selector: %d %v", len(sel.Items), err)
	}
	_, err = ac.List(ctx, &applicationpkg.ApplicationQuery{Selector: str("team in (")})
	if err == nil {
		t.Fatal("bad selector accepted")
	}

	app := get(t, ac, "guestbook")
	spec := app.Spec.DeepCopy()
	spec.Source.TargetRevision = app.Status.History[2].Revision
	if _, err := ac.UpdateSpec(ctx, &applicationpkg.ApplicationUpdateSpecRequest{Name: str("guestbook"), Spec: spec}); err != nil {
		t.Fatal(err)
	}
	a := get(t, ac, "guestbook")
	if a.Status.Sync.Status != v1alpha1.SyncStatusCodeOutOfSync || a.Generation != app.Generation+1 {
		t.Fatalf("after UpdateSpec: %s gen %d", a.Status.Sync.Status, a.Generation)
	}
	spec.Project = "nope"
	_, err = ac.UpdateSpec(ctx, &applicationpkg.ApplicationUpdateSpecRequest{Name: str("guestbook"), Spec: spec})
	wantCode(t, err, codes.InvalidArgument, "")
}

func TestResourceTreeAndManagedResources(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	ctx := ctxT(t)
	tree, err := ac.ResourceTree(ctx, &applicationpkg.ResourcesQuery{ApplicationName: str("frontend")})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	uids := map[string]string{}
	for _, n := range tree.Nodes {
		kinds[n.Kind]++
		uids[n.Kind] = n.UID
		if n.Health == nil || n.Health.Status != health.HealthStatusHealthy {
			t.Errorf("%s/%s health %+v", n.Kind, n.Name, n.Health)
		}
	}
	if kinds["Deployment"] != 1 || kinds["ReplicaSet"] != 1 || kinds["Pod"] != 3 || kinds["Service"] != 1 {
		t.Fatalf("tree kinds %v", kinds)
	}
	for _, n := range tree.Nodes {
		if n.Kind == "Pod" && (len(n.ParentRefs) != 1 || n.ParentRefs[0].Kind != "ReplicaSet") {
			t.Fatalf("pod parents %+v", n.ParentRefs)
		}
		if n.Kind == "ReplicaSet" && n.ParentRefs[0].UID != uids["Deployment"] {
			t.Fatalf("replicaset parent %+v", n.ParentRefs)
		}
	}
	mr, err := ac.ManagedResources(ctx, &applicationpkg.ResourcesQuery{ApplicationName: str("frontend")})
	if err != nil || len(mr.Items) != 2 {
		t.Fatalf("managed resources %v %v", mr, err)
	}
	for _, it := range mr.Items {
		if it.Kind == "Deployment" && !it.Modified {
			t.Fatal("OutOfSync frontend deployment should be modified")
		}
	}
}

func TestRevisionMetadata(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	app := get(t, ac, "guestbook")
	md, err := ac.RevisionMetadata(ctxT(t), &applicationpkg.RevisionMetadataQuery{Name: str("guestbook"), Revision: str(app.Status.History[0].Revision)})
	if err != nil || md.Author == "" || !strings.Contains(md.Message, "v1.0.0") {
		t.Fatalf("revision metadata %+v %v", md, err)
	}
}

func TestWatchAllApps(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	w, err := ac.Watch(ctx, &applicationpkg.ApplicationQuery{Projects: []string{"payments"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 3 {
		ev, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Application.Spec.Project != "payments" {
			t.Fatalf("watch leaked project %s", ev.Application.Spec.Project)
		}
		seen[ev.Application.Name] = true
	}
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("ledger")}); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "MODIFIED" && ev.Application.Name == "ledger" && ev.Application.Operation != nil {
			return
		}
	}
}
