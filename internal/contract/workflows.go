package contract

// Workflow type names, registered by the worker and started by the gateway.
const (
	// WorkflowListApps answers `list_apps`: a short, audited, read-only run.
	WorkflowListApps = "ListAppsWorkflow"
)

// ListAppsInput is the input of ListAppsWorkflow.
type ListAppsInput struct {
	// RequestedBy is the Slack user id of whoever asked (kept for the audit trail).
	RequestedBy string `json:"requestedBy,omitempty"`
	// Projects limits the list to these Argo CD projects; empty means all.
	Projects []string `json:"projects,omitempty"`
}

// ListAppsResult is the result of ListAppsWorkflow.
type ListAppsResult struct {
	Apps []AppSummary `json:"apps"`
}

// AppSummary is one row of the `list_apps` table.
type AppSummary struct {
	Name           string   `json:"name"`
	Project        string   `json:"project"`
	SyncStatus     string   `json:"syncStatus"`
	Health         string   `json:"health"`
	Images         []string `json:"images,omitempty"`
	TargetRevision string   `json:"targetRevision"`
	Revision       string   `json:"revision,omitempty"`
	AutoSync       bool     `json:"autoSync"`
}
