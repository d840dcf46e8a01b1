package argocdsim_test

import (
	"context"
	"testing"
	"time"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	"k8s.io/utils/ptr"

	"github.com/deploybot/deploybot/internal/argocdsim"
)

// TestOperationsCountsStartedOperationsOnly: Operations is what a chaos run
// checks "exactly one Sync per approval" against, so refused calls, dry runs
// and calls while the server is down must not count, unlike Calls.
func TestOperationsCountsStartedOperationsOnly(t *testing.T) {
	_, sim, ac := start(t, argocdsim.Options{OperationDuration: 2 * time.Second})
	ctx := context.Background()
	name := ptr.To("guestbook")
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: name, DryRun: ptr.To(true)}); err != nil {
		t.Fatal(err)
	}
	if n := sim.Operations("guestbook"); n != 0 {
		t.Fatalf("after a dry run: %d operations, want 0", n)
	}
	// The dry run's own operation must end before a real one is accepted.
	waitNoOperation(t, ac, "guestbook")
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: name}); err == nil {
		t.Fatal("a second sync while the first runs was accepted")
	}
	sim.SetDown(true)
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: name}); err == nil {
		t.Fatal("a sync while down was accepted")
	}
	sim.SetDown(false)
	if n, calls := sim.Operations("guestbook"), sim.Calls("Sync", "guestbook"); n != 1 || calls != 4 {
		t.Errorf("%d operations from %d Sync calls, want 1 from 4", n, calls)
	}
	sim.Reset()
	if n := sim.Operations("guestbook"); n != 0 {
		t.Errorf("after Reset: %d operations, want 0", n)
	}
}

func waitNoOperation(t *testing.T, ac applicationpkg.ApplicationServiceClient, app string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		a, err := ac.Get(context.Background(), &applicationpkg.ApplicationQuery{Name: &app})
		if err != nil {
			t.Fatal(err)
		}
		if a.Operation == nil && (a.Status.OperationState == nil || a.Status.OperationState.Phase.Completed()) {
			return
		}
	}
	t.Fatalf("%s still has an operation", app)
}
