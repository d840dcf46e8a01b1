package activities

import (
	"time"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// PrepareDeployInput is the input of ArgoCD.PrepareDeploy.
type PrepareDeployInput struct {
	App       string
	Action    contract.Action
	HistoryID int64
	// ParamNames limits Params to these Helm parameters (e.g.
	// ROLLBACK_TABLE_FIELDS); empty means all of them, which for a real chart
	// can be hundreds of flattened values.
	ParamNames []string
}

// PrepareDeployResult is what the approval request shows: where the app is
// and where the action would take it.
type PrepareDeployResult struct {
	Project         string
	CurrentRevision string
	// TargetRevision is the target revision of a sync (spec) or the history
	// entry's revision of a rollback.
	TargetRevision   string
	TargetDeployedAt time.Time
	// Params are the rollback target's Helm parameters, sorted by name.
	Params []slackui.Param
	// ParamsNote says why Params is empty when a lookup failed ("" otherwise);
	// a failed lookup never fails the request.
	ParamsNote string
	AutoSync   *contract.AutoSyncPolicy
	SyncStatus string
	Health     string
	// FromCommit and ToCommit are the commits behind CurrentRevision and
	// TargetRevision, when Argo CD knows them.
	FromCommit *contract.Commit `json:",omitempty"`
	ToCommit   *contract.Commit `json:",omitempty"`
	// SyncWindowBlock names the Argo CD sync windows that stop a sync or
	// rollback now ("" when none does).
	SyncWindowBlock string `json:",omitempty"`
	// RollbackTarget is a rollback's history entry, for its preview
	// (SyncPreviewInput.Target); nil for other actions.
	RollbackTarget *RollbackTarget `json:",omitempty"`
}

// RollbackTarget is a status.history entry as a rollback preview needs it,
// read with the app by PrepareDeploy.
type RollbackTarget struct {
	HistoryID int64
	// Revision is the entry's revision; a multi-source entry has one per
	// source in Revisions instead.
	Revision  string
	Revisions []string `json:",omitempty"`
	// SourceDiffers says the entry deployed a source other than the app's
	// current one, besides its revision.
	SourceDiffers bool
	// Namespace is the app's destination namespace, where manifests
	// without one go.
	Namespace string
}

// AppStateInput is the input of ArgoCD.GetAppState.
type AppStateInput struct {
	App string
}

// AppStateResult is a snapshot of an app's operation, sync and health.
type AppStateResult struct {
	// OperationPending is true while app.operation is set: from the
	// Sync/Rollback call until the controller ends the operation, i.e. while
	// it waits to be picked up AND while it runs (Phase Running). Until it is
	// picked up, status.operationState is nil, so OperationStartedAt and Phase
	// are zero, not those of the previous operation.
	OperationPending bool
	// OperationStartedAt identifies the last operation (zero if none ran).
	OperationStartedAt time.Time
	// OperationFinishedAt is when the last operation ended (zero if running or none).
	OperationFinishedAt time.Time
	// ReconciledAt is when Argo CD last assessed the app; health read before
	// the operation finished may be stale.
	ReconciledAt time.Time
	// Phase is status.operationState.phase ("" if none).
	Phase            string
	OperationMessage string
	SyncStatus       string
	Revision         string
	Health           string
	HealthMessage    string
	// Unhealthy lists resources that are not Healthy (filled when Health is not Healthy).
	// It holds at most 20: managed resources first, then ReplicaSets/Pods.
	Unhealthy []contract.Resource
	// UnhealthyOmitted is how many more were not listed.
	UnhealthyOmitted int
	AutoSync         *contract.AutoSyncPolicy
}

// StartOperationInput is the input of ArgoCD.StartOperation.
type StartOperationInput struct {
	App       string
	Action    contract.Action
	HistoryID int64
	// BaselineStartedAt is OperationStartedAt seen just before: on a retried
	// attempt, an operation newer than it means the first attempt reached
	// Argo CD, so the call is not made again.
	BaselineStartedAt time.Time
	// RequestedBy, ApprovedBy and Run (the run's Temporal UI link, or its
	// workflow and run id) go into the Sync's infos, so Argo CD's own
	// operation view shows them, not just deploybot's account.
	RequestedBy contract.User
	ApprovedBy  *contract.User
	// Approvals, when the rule needed several, are every approver (the
	// infos then list them all); NoApprovalRule names a rule that needs none.
	Approvals      []contract.Approval
	NoApprovalRule string
	Run            string
}

// StartOperationResult is the result of ArgoCD.StartOperation.
type StartOperationResult struct {
	// AlreadyStarted is true when a retried attempt found the operation
	// already started by an earlier attempt.
	AlreadyStarted bool
}

// DisableAutoSyncInput is the input of ArgoCD.DisableAutoSync.
type DisableAutoSyncInput struct {
	App string
}

// DisableAutoSyncResult is the result of ArgoCD.DisableAutoSync.
type DisableAutoSyncResult struct {
	// Removed is the automated policy that was turned off; nil if it was already off.
	Removed *contract.AutoSyncPolicy
	// Method is how: "enabled" (Argo CD 3.1+, enabled: false, the policy
	// stays in the spec) or "automated" (removed); "" in runs recorded
	// before Argo CD 3.1 support, which always removed it.
	Method contract.AutoSyncMethod
	// ArgoCDVersion is what the server reported, e.g. "v3.1.16+1a2b3c4".
	ArgoCDVersion string
}

// PostMessageInput is the input of Slack.PostMessage.
type PostMessageInput struct {
	Channel string
	// ThreadTS posts the message as a reply in that thread ("" = top level).
	ThreadTS string
	Message  slackui.Message
	// Broadcast also shows a thread reply in the channel ("Also send to
	// channel"), so approvers see a request made inside a thread.
	Broadcast bool
	// Key identifies this message within the run (e.g. "<workflowID>/<runID>/request").
	// It is stored in the message metadata; a retried attempt that finds a
	// message with the same key returns it instead of posting a duplicate.
	Key string
}

// PostMessageResult is the result of Slack.PostMessage.
type PostMessageResult struct {
	// TS is the message timestamp (its id in the channel).
	TS      string
	Channel string
}

// UpdateMessageInput is the input of Slack.UpdateMessage.
type UpdateMessageInput struct {
	Channel string
	TS      string
	Message slackui.Message
}

// UpdateMessageResult is the result of Slack.UpdateMessage.
type UpdateMessageResult struct{}

// PostEphemeralInput is the input of Slack.PostEphemeral.
type PostEphemeralInput struct {
	Channel  string
	User     string
	ThreadTS string
	Text     string
}

// PostEphemeralResult is the result of Slack.PostEphemeral.
type PostEphemeralResult struct{}
