package argocd_test

import (
	"testing"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"

	"github.com/deploybot/deploybot/internal/argocdsim"
)

// Auto-sync off, rollback, on again and the state read back, against the
// simulator speaking each release: 3.1 keeps the policy with enabled: false,
// older releases remove automated and get it written back.
func TestAutoSyncPerServerVersion(t *testing.T) {
	for _, version := range []string{"2.14", "3.0", "3.1"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			addr, _ := startSim(t, func(o *argocdsim.Options) { o.Version = version })
			c := newClient(t, "http://"+addr, false)
			ctx := ctxT(t)
			byEnabled := version == "3.1"

			orig, err := c.GetApp(ctx, "payments")
			if err != nil || !orig.AutoSyncOn() {
				t.Fatalf("payments should start with auto-sync on: %+v, %v", orig, err)
			}
			target := orig.Status.History[0].ID
			if _, err := c.Rollback(ctx, "payments", target); err == nil {
				t.Fatal("rollback under auto-sync was accepted")
			}

			off, err := c.DisableAutoSync(ctx, "payments")
			if err != nil || off.Policy == nil || off.ByEnabled != byEnabled || off.Server.Raw == "" {
				t.Fatalf("disable: %+v, %v; want ByEnabled %v", off, err, byEnabled)
			}
			after, err := c.GetApp(ctx, "payments")
			if err != nil || after.AutoSyncOn() {
				t.Fatalf("auto-sync still on after disable: %+v, %v", after.Spec.SyncPolicy, err)
			}
			kept := after.Spec.SyncPolicy.Automated
			if byEnabled {
				if kept == nil || *kept != *orig.Spec.SyncPolicy.Automated || after.AutoSyncEnabled == nil || *after.AutoSyncEnabled {
					t.Fatalf("3.1 should keep the policy with enabled false: %+v enabled %v", kept, after.AutoSyncEnabled)
				}
			} else if kept != nil {
				t.Fatalf("%s should remove automated: %+v", version, kept)
			}
			if again, err := c.DisableAutoSync(ctx, "payments"); err != nil || again.Policy != nil {
				t.Fatalf("second disable changed something: %+v, %v", again, err)
			}

			if _, err := c.Rollback(ctx, "payments", target); err != nil {
				t.Fatalf("rollback with auto-sync off: %v", err)
			}
			waitOperation(t, c, "payments")

			on, err := c.EnableAutoSync(ctx, "payments", v1alpha1.SyncPolicyAutomated{Prune: off.Policy.Prune, SelfHeal: off.Policy.SelfHeal})
			if err != nil || on.Policy == nil || on.ByEnabled != byEnabled {
				t.Fatalf("enable: %+v, %v", on, err)
			}
			back, err := c.GetApp(ctx, "payments")
			if err != nil || !back.AutoSyncOn() || *back.Spec.SyncPolicy.Automated != *orig.Spec.SyncPolicy.Automated {
				t.Fatalf("after enable: %+v enabled %v, %v", back.Spec.SyncPolicy, back.AutoSyncEnabled, err)
			}
			if _, err := c.Rollback(ctx, "payments", target); err == nil {
				t.Fatal("rollback accepted again after auto-sync was turned back on")
			}
			apps, err := c.ListApps(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range apps {
				if a.Name == "payments" && !a.AutoSyncOn() {
					t.Errorf("list says auto-sync off for payments: %+v", a.AutoSyncEnabled)
				}
			}
		})
	}
}
