package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
)

func off() *bool { b := false; return &b }

// Each Argo CD version's way of turning auto-sync off is said in the thread.
func TestAutoSyncOffSaysHowPerServerVersion(t *testing.T) {
	for name, tc := range map[string]struct {
		res  activities.DisableAutoSyncResult
		want []string
	}{
		"3.1 keeps the policy": {
			res:  activities.DisableAutoSyncResult{Removed: &contract.AutoSyncPolicy{Prune: true}, Method: contract.AutoSyncByEnabled, ArgoCDVersion: "v3.1.16+sim"},
			want: []string{"`enabled: false`", "v3.1.16+sim", "keeps in the spec", "autosync payments on"},
		},
		"2.14 removes automated": {
			res:  activities.DisableAutoSyncResult{Removed: &contract.AutoSyncPolicy{Prune: true}, Method: contract.AutoSyncByAutomated, ArgoCDVersion: "v2.14.21+sim"},
			want: []string{"removed spec.syncPolicy.automated", "v2.14.21+sim", "before 3.1", "restore exactly this policy"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.prepare = activities.PrepareDeployResult{Project: "payments", AutoSync: &contract.AutoSyncPolicy{Prune: true}}
			h.disabled = tc.res
			h.click(time.Minute, bob, true)
			res := h.run(autosyncInput(contract.ActionAutoSyncOff))
			if res.Outcome != contract.OutcomeSucceeded || h.disables != 1 {
				t.Fatalf("result = %+v, disables %d", res, h.disables)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Message, w) {
					t.Errorf("message lacks %q: %s", w, res.Message)
				}
			}
		})
	}
}

// A policy Argo CD 3.1 keeps with enabled: false is off: `autosync off`
// changes nothing, and `status`-like reads do not call it on.
func TestAutoSyncOffWhenKeptDisabled(t *testing.T) {
	h := newHarness(t)
	h.prepare = activities.PrepareDeployResult{Project: "payments", AutoSync: &contract.AutoSyncPolicy{Prune: true, Enabled: off()}}
	h.click(time.Minute, bob, true)
	res := h.run(autosyncInput(contract.ActionAutoSyncOff))
	if res.Outcome != contract.OutcomeSucceeded || h.disables != 0 || !strings.Contains(res.Message, "already off") ||
		!strings.Contains(res.Message, "`enabled: false`") {
		t.Fatalf("result = %+v, disables %d", res, h.disables)
	}
}

// On 3.1 a kept policy is switched back on with enabled: true; deploybot's
// record of removed policies is not consulted.
func TestAutoSyncOnReenablesTheKeptPolicy(t *testing.T) {
	h := newHarness(t)
	kept := contract.AutoSyncPolicy{Prune: true, SelfHeal: true, Enabled: off()}
	h.prepare = activities.PrepareDeployResult{Project: "payments", AutoSync: &kept}
	var argo *activities.ArgoCD
	var hist *activities.Temporal
	h.env.RegisterActivity(hist)
	looked := 0
	h.env.OnActivity(hist.LastRemovedAutoSync, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.LastRemovedAutoSyncInput) (activities.LastRemovedAutoSyncResult, error) {
			looked++
			return activities.LastRemovedAutoSyncResult{}, nil
		}).Maybe()
	var enabled []activities.EnableAutoSyncInput
	h.env.OnActivity(argo.EnableAutoSync, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.EnableAutoSyncInput) (activities.EnableAutoSyncResult, error) {
			enabled = append(enabled, in)
			return activities.EnableAutoSyncResult{Policy: &contract.AutoSyncPolicy{Prune: true, SelfHeal: true},
				Method: contract.AutoSyncByEnabled, ArgoCDVersion: "v3.1.16+sim"}, nil
		})
	h.click(time.Minute, bob, true)
	res := h.run(autosyncInput(contract.ActionAutoSyncOn))
	if res.Outcome != contract.OutcomeSucceeded || looked != 0 || len(enabled) != 1 {
		t.Fatalf("result = %+v, lookups %d, enables %+v", res, looked, enabled)
	}
	for _, w := range []string{"`enabled: true`", "v3.1.16+sim", "prune=true, selfHeal=true"} {
		if !strings.Contains(res.Message, w) {
			t.Errorf("message lacks %q: %s", w, res.Message)
		}
	}
}

// A retried EnableAutoSync that finds auto-sync on says so instead of
// claiming it switched it.
func TestAutoSyncOnAlreadyOnAtTheServer(t *testing.T) {
	h := newHarness(t)
	h.prepare = activities.PrepareDeployResult{Project: "payments"}
	var argo *activities.ArgoCD
	var hist *activities.Temporal
	h.env.RegisterActivity(hist)
	h.env.OnActivity(hist.LastRemovedAutoSync, mock.Anything, mock.Anything).Return(activities.LastRemovedAutoSyncResult{}, nil)
	h.env.OnActivity(argo.EnableAutoSync, mock.Anything, mock.Anything).Return(activities.EnableAutoSyncResult{AlreadyOn: true}, nil)
	h.click(time.Minute, bob, true)
	res := h.run(autosyncInput(contract.ActionAutoSyncOn))
	if res.Outcome != contract.OutcomeSucceeded || !strings.Contains(res.Message, "already on") {
		t.Fatalf("result = %+v", res)
	}
}

// A rollback refused under auto-sync on 3.1 turns it off with enabled:
// false, and the note in the thread says so.
func TestRollbackAutoSyncOn31(t *testing.T) {
	h := newHarness(t)
	h.states = healthyTimeline()
	h.startErrs = []error{autoSyncRefusal(), nil}
	h.disabled = activities.DisableAutoSyncResult{Removed: &contract.AutoSyncPolicy{Prune: true}, Method: contract.AutoSyncByEnabled, ArgoCDVersion: "v3.1.16+sim"}
	h.click(time.Minute, bob, true)
	in := input(contract.ActionRollback, 3)
	in.Policy.AutoDisableSyncOnRollback = true
	res := h.run(in)
	if res.Outcome != contract.OutcomeSucceeded || h.disables != 1 || len(h.starts) != 2 {
		t.Fatalf("result = %+v, disables %d, starts %d", res, h.disables, len(h.starts))
	}
	if !strings.Contains(h.texts(), "`enabled: false`") {
		t.Errorf("thread does not say how auto-sync was turned off:\n%s", h.texts())
	}
}
