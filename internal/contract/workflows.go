package contract

import "time"

// Read-only command workflows. Each reads Argo CD through activities (so the
// read is audited in Temporal and the gateway needs no Argo CD credentials)
// and posts its answer where ReplyTo says.
const (
	// WorkflowListApps answers `list_apps`.
	WorkflowListApps = "ListAppsWorkflow"
	// WorkflowAppStatus answers `status APP`.
	WorkflowAppStatus = "AppStatusWorkflow"
	// WorkflowRollbackRevisions answers `rollback_revisions APP`.
	WorkflowRollbackRevisions = "RollbackRevisionsWorkflow"
	// WorkflowLogs answers `logs APP`.
	WorkflowLogs = "LogsWorkflow"
	// WorkflowDiff answers `diff APP`.
	WorkflowDiff = "DiffWorkflow"
)

// ReplyTo says where a command's answer goes.
type ReplyTo struct {
	Channel string `json:"channel,omitempty"`
	// ThreadTS is the thread of the message that asked.
	ThreadTS string `json:"threadTs,omitempty"`
	// ResponseURL is Slack's response_url of a slash command, if any.
	ResponseURL string `json:"responseUrl,omitempty"`
}

// CommandInput is the input of every read-only command workflow.
type CommandInput struct {
	// App is the application (empty for list_apps).
	App         string  `json:"app,omitempty"`
	RequestedBy User    `json:"requestedBy"`
	Reply       ReplyTo `json:"reply"`
	// Projects limits list_apps to these Argo CD projects; empty means all.
	Projects []string `json:"projects,omitempty"`
	// TailLines is ARGOCD_LOG_TAIL_LINES for `logs`.
	TailLines int64 `json:"tailLines,omitempty"`
	// HistoryID is the history entry `diff` previews a rollback to (0: a sync).
	HistoryID int64 `json:"historyId,omitempty"`
	// RollbackFields is ROLLBACK_TABLE_FIELDS for `rollback_revisions`.
	RollbackFields []string `json:"rollbackFields,omitempty"`
	// TemporalUIURL and Namespace build links to runs.
	TemporalUIURL string `json:"temporalUiUrl,omitempty"`
	Namespace     string `json:"namespace,omitempty"`
	// BotName is BOT_NAME, how the bot names itself in replies ("" = deploybot).
	BotName string `json:"botName,omitempty"`
	// Command is the command as asked ("status payments"), for the Temporal UI.
	Command string `json:"command,omitempty"`
}

// CommandWorkflowID derives a read-only command's workflow id from the Slack
// request that carried it (event_id, or trigger_id for slash commands), so a
// retried delivery of the same request starts nothing new.
func CommandWorkflowID(command, requestID string) string { return "cmd-" + command + "-" + requestID }

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

// RevisionRow is one row of the `rollback_revisions` table.
type RevisionRow struct {
	ID         int64     `json:"id"`
	DeployedAt time.Time `json:"deployedAt"`
	Revision   string    `json:"revision"`
	// Params are the ROLLBACK_TABLE_FIELDS values, in that order; "n/a" when
	// the lookup failed for this row.
	Params []string `json:"params,omitempty"`
}
