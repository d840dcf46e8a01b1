package activities

import (
	"context"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"

	"github.com/deploybot/deploybot/internal/contract"
)

// EnableAutoSyncInput is the input of ArgoCD.EnableAutoSync.
type EnableAutoSyncInput struct {
	App    string
	Policy contract.AutoSyncPolicy
}

// EnableAutoSyncResult is the result of ArgoCD.EnableAutoSync.
type EnableAutoSyncResult struct {
	// Policy is the policy now on: the one kept in the spec (Method
	// "enabled") or the input's (Method "automated").
	Policy *contract.AutoSyncPolicy
	// AlreadyOn is true when auto-sync was on already and nothing changed
	// (e.g. a retried attempt after the first one's answer was lost).
	AlreadyOn bool
	// Method is how it was turned on; "" if nothing changed.
	Method contract.AutoSyncMethod
	// ArgoCDVersion is what the server reported.
	ArgoCDVersion string
}

// EnableAutoSync turns auto-sync on with a merge patch (retry and
// syncOptions are kept): on Argo CD 3.1+ a policy kept with enabled: false
// gets enabled: true; otherwise automated is set to in.Policy. Turning on
// what is already on changes nothing, so retries are safe.
func (a *ArgoCD) EnableAutoSync(ctx context.Context, in EnableAutoSyncInput) (EnableAutoSyncResult, error) {
	ch, err := a.Client.EnableAutoSync(ctx, in.App, v1alpha1.SyncPolicyAutomated{
		Prune: in.Policy.Prune, SelfHeal: in.Policy.SelfHeal, AllowEmpty: in.Policy.AllowEmpty,
	})
	if err != nil {
		return EnableAutoSyncResult{}, asActivityError(err)
	}
	return EnableAutoSyncResult{Policy: toPolicy(ch.Policy), AlreadyOn: ch.Policy == nil, Method: autoSyncMethod(ch), ArgoCDVersion: versionOf(ch)}, nil
}
