package activities_test

import (
	"context"
	"reflect"
	"testing"

	"go.temporal.io/sdk/converter"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
	"github.com/deploybot/deploybot/internal/contract"
)

// restrictedSim is the simulator behind an instance that allows project
// default only, as a worker with WORKER_ARGOCD_INSTANCES projects runs it.
func restrictedSim(t *testing.T) (*argocd.Instances, *argocdsim.Server) {
	t.Helper()
	addr, sim := simtest.Start(t, argocdsim.Options{OperationDuration: opDuration})
	c, err := argocd.New(argocd.Options{URL: "http://" + addr, Token: argocdsim.DefaultToken, VerifySSL: true})
	if err != nil {
		t.Fatal(err)
	}
	in, err := argocd.NewInstances("", argocd.Instance{Client: c, Projects: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	return in, sim
}

// rollbackRequestGets runs what a rollback request asks of Argo CD before
// the approval, PrepareDeploy then the preview with PrepareDeploy's entry
// (as workflows' previewSync does), and counts guestbook's GetApp calls.
func rollbackRequestGets(t *testing.T, client activities.ArgoCDClient, sim *argocdsim.Server) (prepared, previewed int) {
	t.Helper()
	a := &activities.ArgoCD{Client: client}
	env := activityEnv(a)
	got, err := client.GetApp(context.Background(), "guestbook")
	if err != nil {
		t.Fatal(err)
	}
	id := got.Status.History[0].ID
	before := sim.Calls("Get", "guestbook")
	prep := mustRun[activities.PrepareDeployResult](t, env, a.PrepareDeploy, activities.PrepareDeployInput{App: "guestbook", Action: contract.ActionRollback, HistoryID: id})
	prepared = sim.Calls("Get", "guestbook") - before
	if prep.RollbackTarget == nil || prep.RollbackTarget.HistoryID != id || prep.RollbackTarget.Revision != got.Status.History[0].Revision {
		t.Fatalf("RollbackTarget = %+v, want entry %d at %s", prep.RollbackTarget, id, got.Status.History[0].Revision)
	}
	p := mustRun[contract.Preview](t, env, a.SyncPreview, activities.SyncPreviewInput{App: "guestbook", Rollback: true, HistoryID: id, Target: prep.RollbackTarget})
	previewed = sim.Calls("Get", "guestbook") - before - prepared
	if p.Rollback == nil || p.Rollback.HistoryID != id || p.Rollback.Revision != prep.TargetRevision || len(p.Resources) == 0 {
		t.Fatalf("preview %+v (%d resources) of the rollback prepared as %+v", p.Rollback, len(p.Resources), prep)
	}
	t.Logf("GetApp calls for one rollback request: PrepareDeploy %d, preview %d", prepared, previewed)
	return prepared, previewed
}

// One rollback request reads the app once, in PrepareDeploy; on an
// instance kept to some projects the preview reads it once more, to check
// its project (it was 7 reads: 4 project checks in PrepareDeploy, and the
// preview's GetApp and 2 checks).
func TestRollbackRequestReadsTheAppOnce(t *testing.T) {
	t.Run("restricted instance", func(t *testing.T) {
		in, sim := restrictedSim(t)
		if prepared, previewed := rollbackRequestGets(t, in, sim); prepared != 1 || previewed != 1 {
			t.Errorf("GetApp calls: PrepareDeploy %d, preview %d; want 1 and 1", prepared, previewed)
		}
	})
	t.Run("one Argo CD", func(t *testing.T) {
		c, sim := startSim(t, opDuration)
		if prepared, previewed := rollbackRequestGets(t, c, sim); prepared != 1 || previewed != 0 {
			t.Errorf("GetApp calls: PrepareDeploy %d, preview %d; want 1 and 0", prepared, previewed)
		}
	})
}

// A rollback preview is the same whether the history entry comes in with
// the input (a request, after PrepareDeploy) or is read from the app
// (`diff APP ID`, and inputs scheduled before Target existed, decoded here
// from the old input's JSON); an entry that is not the one asked for is
// read again rather than trusted.
func TestRollbackPreviewWithAndWithoutTarget(t *testing.T) {
	c, sim := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)
	got, err := c.GetApp(context.Background(), "guestbook")
	if err != nil {
		t.Fatal(err)
	}
	oldest, newest := got.Status.History[0], got.Status.History[len(got.Status.History)-1]
	prep := mustRun[activities.PrepareDeployResult](t, env, a.PrepareDeploy, activities.PrepareDeployInput{App: "guestbook", Action: contract.ActionRollback, HistoryID: oldest.ID})
	gets := func() int { return sim.Calls("Get", "guestbook") }

	before := gets()
	withTarget := mustRun[contract.Preview](t, env, a.SyncPreview, activities.SyncPreviewInput{App: "guestbook", Rollback: true, HistoryID: oldest.ID, Target: prep.RollbackTarget})
	if n := gets() - before; n != 0 {
		t.Errorf("preview with the entry read the app %d times, want 0", n)
	}
	if len(withTarget.Resources) == 0 || withTarget.Rollback == nil || withTarget.Rollback.HistoryID != oldest.ID {
		t.Fatalf("preview with the entry = %+v", withTarget)
	}

	before = gets()
	// The payload an activity scheduled before Target existed carries.
	old, err := converter.GetDefaultDataConverter().ToPayload(struct {
		App       string
		Rollback  bool
		HistoryID int64
	}{"guestbook", true, oldest.ID})
	if err != nil {
		t.Fatal(err)
	}
	var oldIn activities.SyncPreviewInput
	if err := converter.GetDefaultDataConverter().FromPayload(old, &oldIn); err != nil || oldIn.Target != nil {
		t.Fatalf("old input decoded as %+v, %v", oldIn, err)
	}
	read := mustRun[contract.Preview](t, env, a.SyncPreview, oldIn)
	if n := gets() - before; n != 1 {
		t.Errorf("preview from the old input read the app %d times, want 1", n)
	}
	if !reflect.DeepEqual(withTarget, read) {
		t.Errorf("preview with the entry\n%+v\ndiffers from the one reading it\n%+v", withTarget, read)
	}

	// Entry newest asked for, entry oldest given: the preview is newest's.
	p := mustRun[contract.Preview](t, env, a.SyncPreview, activities.SyncPreviewInput{App: "guestbook", Rollback: true, HistoryID: newest.ID, Target: prep.RollbackTarget})
	if p.Rollback == nil || p.Rollback.HistoryID != newest.ID || len(p.Resources) != 0 {
		t.Errorf("preview of entry %d given entry %d = %+v, want entry %d's (no change)", newest.ID, oldest.ID, p, newest.ID)
	}
}
