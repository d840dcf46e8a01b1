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
type EnableAutoSyncResult struct{}

// EnableAutoSync sets the app's automated sync policy with a merge patch
// (retry and syncOptions are kept). Setting the same policy twice is a no-op,
// so retries are safe.
func (a *ArgoCD) EnableAutoSync(ctx context.Context, in EnableAutoSyncInput) (EnableAutoSyncResult, error) {
	err := a.Client.EnableAutoSync(ctx, in.App, v1alpha1.SyncPolicyAutomated{
		Prune: in.Policy.Prune, SelfHeal: in.Policy.SelfHeal, AllowEmpty: in.Policy.AllowEmpty,
	})
	if err != nil {
		return EnableAutoSyncResult{}, asActivityError(err)
	}
	return EnableAutoSyncResult{}, nil
}
