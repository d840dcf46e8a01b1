// Package activities holds deploybot's side effects as Temporal activities:
// calls to Argo CD, Slack and SMTP. Each group is a struct holding its client,
// so tests inject fakes and the worker injects real ones. Errors that retrying
// cannot fix (unknown app, permission denied, ...) are returned as
// non-retryable ApplicationErrors whose type is the argocd.Kind, so workflows
// can branch on them.
package activities

import (
	"context"
	"errors"
	"sort"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
)

// ArgoCDClient is what the Argo CD activities need from internal/argocd.
type ArgoCDClient interface {
	ListApps(ctx context.Context) ([]v1alpha1.Application, error)
}

// ArgoCD groups the activities that talk to Argo CD.
type ArgoCD struct {
	Client ArgoCDClient
}

// ListAppsInput is the input of ArgoCD.ListApps.
type ListAppsInput struct {
	Projects []string
}

// ListAppsResult is the result of ArgoCD.ListApps.
type ListAppsResult struct {
	Apps []contract.AppSummary
}

// ListApps reads every application (optionally only some projects) and
// summarises it for the `list_apps` table, sorted by name.
func (a *ArgoCD) ListApps(ctx context.Context, in ListAppsInput) (ListAppsResult, error) {
	apps, err := a.Client.ListApps(ctx)
	if err != nil {
		return ListAppsResult{}, asActivityError(err)
	}
	keep := map[string]bool{}
	for _, p := range in.Projects {
		keep[p] = true
	}
	out := ListAppsResult{Apps: make([]contract.AppSummary, 0, len(apps))}
	for i := range apps {
		app := &apps[i]
		if len(keep) > 0 && !keep[app.Spec.Project] {
			continue
		}
		out.Apps = append(out.Apps, summarize(app))
	}
	sort.Slice(out.Apps, func(i, j int) bool { return out.Apps[i].Name < out.Apps[j].Name })
	return out, nil
}

func summarize(app *v1alpha1.Application) contract.AppSummary {
	s := contract.AppSummary{
		Name:       app.Name,
		Project:    app.Spec.Project,
		SyncStatus: string(app.Status.Sync.Status),
		Health:     string(app.Status.Health.Status),
		Images:     append([]string(nil), app.Status.Summary.Images...),
		Revision:   app.Status.Sync.Revision,
		AutoSync:   app.Spec.SyncPolicy != nil && app.Spec.SyncPolicy.Automated != nil,
	}
	if src := app.Spec.GetSource(); src.RepoURL != "" {
		s.TargetRevision = src.TargetRevision
	}
	if s.TargetRevision == "" {
		s.TargetRevision = "HEAD" // Argo CD's meaning of an empty targetRevision
	}
	return s
}

// asActivityError wraps an Argo CD error so Temporal retries only what can
// succeed later and the workflow sees the error kind as the error type.
func asActivityError(err error) error {
	var ae *argocd.Error
	if !errors.As(err, &ae) {
		return err
	}
	if ae.Retryable() {
		return temporal.NewApplicationErrorWithCause(ae.Error(), string(ae.Kind), err)
	}
	return temporal.NewNonRetryableApplicationError(ae.Error(), string(ae.Kind), err)
}
