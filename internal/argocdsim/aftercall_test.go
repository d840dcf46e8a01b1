package argocdsim_test

import (
	"testing"
	"time"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"

	"github.com/deploybot/deploybot/internal/argocdsim"
)

// TestAfterCall: the hook runs once a call has taken effect and before its
// caller hears, so a test can stop the caller in between; failed calls do
// not reach it.
func TestAfterCall(t *testing.T) {
	type call struct{ method, app string }
	held, release := make(chan call, 1), make(chan struct{})
	// Long enough that the operation still runs at the second Sync.
	opts := argocdsim.Options{OperationDuration: 10 * time.Second}
	opts.AfterCall = func(method, app string) {
		if method == "Sync" {
			held <- call{method, app}
			<-release
		}
	}
	_, sim, ac := start(t, opts)
	ctx := ctxT(t)
	sent := make(chan error, 1)
	go func() {
		_, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("guestbook")})
		sent <- err
	}()
	if c := <-held; c != (call{"Sync", "guestbook"}) || sim.Calls("Sync", "guestbook") != 1 {
		t.Errorf("in the hook: %+v, %d Sync calls counted", c, sim.Calls("Sync", "guestbook"))
	}
	app, err := ac.Get(ctx, &applicationpkg.ApplicationQuery{Name: str("guestbook")})
	if err != nil || app.Operation == nil {
		t.Errorf("in the hook the sync has not started: %v", err)
	}
	select {
	case err := <-sent:
		t.Fatalf("the caller heard (%v) before the hook returned", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// A refused Sync (the first one still runs) does not reach the hook.
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("guestbook")}); err == nil {
		t.Fatal("a second Sync during the first was accepted")
	}
	select {
	case c := <-held:
		t.Errorf("the hook saw a refused call: %+v", c)
	default:
	}
}
