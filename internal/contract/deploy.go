package contract

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Names of the deploy workflow, its signal and its query.
const (
	// WorkflowDeploy is the one mutating workflow: approval, then an Argo CD
	// sync or rollback, then following the app until it is Healthy. One type
	// for every action keeps the approval and follow-up logic in one place and
	// lets one workflow id per app (DeployWorkflowID) refuse a second run of
	// any action on the same app.
	WorkflowDeploy = "DeployWorkflow"
	// SignalDecision carries an approver's click (a Decision) to the run.
	SignalDecision = "decision"
	// QueryStatus returns the run's DeployStatus.
	QueryStatus = "status"
)

// Action is what a deploy run does to the app.
type Action string

// The actions of DeployWorkflow.
const (
	ActionSync     Action = "sync"
	ActionRollback Action = "rollback"
	// ActionAutoSyncOn restores the automated sync policy deploybot removed.
	ActionAutoSyncOn Action = "autosync_on"
	// ActionAutoSyncOff removes the app's automated sync policy.
	ActionAutoSyncOff Action = "autosync_off"
)

// Outcome is how a run ended; it is also the DeployOutcome search attribute.
type Outcome string

// The outcomes of a deploy run.
const (
	OutcomeSucceeded Outcome = "succeeded" // operation succeeded and the app is Healthy
	OutcomeRejected  Outcome = "rejected"  // an approver said no
	OutcomeExpired   Outcome = "expired"   // nobody decided within the approval timeout
	OutcomeCancelled Outcome = "cancelled" // the run was cancelled in Temporal
	OutcomeFailed    Outcome = "failed"    // Argo CD refused or the operation failed
	OutcomeDegraded  Outcome = "degraded"  // the operation ran but the app ended Degraded
	OutcomeTimedOut  Outcome = "timed_out" // not Healthy within the health timeout
)

// User is a Slack user as deploybot records it.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Via says how a decision reached deploybot when it was not a click,
	// e.g. "token ci" for the runs API.
	Via string `json:"via,omitempty"`
}

// SlackUserIDPattern is a Slack member id: U… for users, W… on Enterprise
// Grid. Slack sends nothing else as a user, so anything else is refused
// before it is echoed or recorded.
const SlackUserIDPattern = `[UW][A-Z0-9]{2,31}`

var slackUserID = regexp.MustCompile(`^` + SlackUserIDPattern + `$`)

// IsSlackUserID reports whether s is a Slack member id.
func IsSlackUserID(s string) bool { return slackUserID.MatchString(s) }

// maxName bounds a display name taken from a request.
const maxName = 80

// CleanName makes a display name from a request safe to show in Slack and
// email: control and format characters (CR/LF could forge an email line)
// are dropped, spaces collapsed, and it is cut to 80 characters.
func CleanName(s string) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			r = ' '
		}
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if n == maxName {
			break
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// Mention renders the user as a Slack mention, or the name if there is no id.
func (u User) Mention() string {
	if u.ID == "" {
		return u.Name
	}
	return "<@" + u.ID + ">"
}

// buttonRunSep separates the workflow id from the run id in a button value;
// no workflow id deploybot makes contains it.
const buttonRunSep = "#"

// ButtonValue is the value of a decision button: exactly the run it
// decides, "<workflowID>#<runID>".
func ButtonValue(workflowID, runID string) string {
	if runID == "" {
		return workflowID
	}
	return workflowID + buttonRunSep + runID
}

// ParseButtonValue splits a button value; runID is "" for the older form
// (the workflow id only) of messages posted before buttons named the run.
func ParseButtonValue(v string) (workflowID, runID string) {
	workflowID, runID, _ = strings.Cut(v, buttonRunSep)
	return workflowID, runID
}

// DeployRequest is what someone asked for, as the gateway parsed it.
type DeployRequest struct {
	App    string `json:"app"`
	Action Action `json:"action"`
	// HistoryID is the Argo CD history id to roll back to (rollback only).
	HistoryID   int64  `json:"historyId,omitempty"`
	RequestedBy User   `json:"requestedBy"`
	Channel     string `json:"channel"`
	// ThreadTS is the thread of the message that asked, if any.
	ThreadTS string `json:"threadTs,omitempty"`
	// ResponseURL is Slack's response_url of a slash command, if any.
	ResponseURL string `json:"responseUrl,omitempty"`
}

// DeployPolicy are the rules a run applies. They travel in the input, so a
// run keeps the rules it started with (durable and replay-safe) even if the
// configuration changes while it waits.
type DeployPolicy struct {
	// Approvers may approve or reject; empty means nobody can.
	Approvers []string `json:"approvers"`
	// AllowSelfApproval lets the requester decide their own request.
	AllowSelfApproval bool `json:"allowSelfApproval,omitempty"`
	// ApprovalTimeout is how long the request waits for a decision.
	ApprovalTimeout time.Duration `json:"approvalTimeout"`
	// HealthTimeout bounds the wait for the operation to end Healthy.
	HealthTimeout time.Duration `json:"healthTimeout"`
	// AutoDisableSyncOnRollback turns auto-sync off when Argo CD refuses a
	// rollback because of it, then retries.
	AutoDisableSyncOnRollback bool `json:"autoDisableSyncOnRollback,omitempty"`
	// PollInterval is the time between two looks at the app; 0 = 5s.
	PollInterval time.Duration `json:"pollInterval,omitempty"`
	// ParamNames are the Helm parameters a rollback's request shows
	// (ROLLBACK_TABLE_FIELDS, as rollback_revisions); empty shows them all.
	ParamNames []string `json:"paramNames,omitempty"`
	// TemporalUIURL and Namespace build links to the run.
	TemporalUIURL string `json:"temporalUiUrl,omitempty"`
	Namespace     string `json:"namespace,omitempty"`
}

// DeployInput is the input of DeployWorkflow.
type DeployInput struct {
	Request DeployRequest `json:"request"`
	Policy  DeployPolicy  `json:"policy"`
	// Rules are the approval rules that match the request but for the app's
	// AppProject, which only Argo CD knows: the run follows the first that
	// applies to the project it reads (ProjectRules.For). The last applies
	// to any project. Nil (runs begun before approval policies) is
	// DefaultDeployRule of Policy, with requesters checked by the gateway.
	Rules ProjectRules `json:"rules,omitempty"`
	// Emergency, when set, is a break-glass sync (sync APP --emergency
	// REASON): Rules is the policy's break-glass rule, and the run is
	// announced as such and emailed to EmailTo when it ends.
	Emergency *Emergency `json:"emergency,omitempty"`
}

// Emergency is why a break-glass sync was asked for, and who is told.
type Emergency struct {
	Reason  string   `json:"reason"`
	EmailTo []string `json:"emailTo"`
}

// Decision is an approver's click, sent as SignalDecision.
type Decision struct {
	Approve bool `json:"approve"`
	User    User `json:"user"`
	// Source says where it came from ("slack", "api").
	Source string `json:"source,omitempty"`
	// MessageTS is the ts of the message whose button was clicked; a run
	// counts a click only on its own request message. "" for the API.
	MessageTS string `json:"messageTs,omitempty"`
}

// Step is where a deploy run is.
type Step string

// The steps of a deploy run, in order.
const (
	StepPreparing         Step = "preparing"
	StepAwaitingApproval  Step = "awaiting_approval"
	StepDisablingAutoSync Step = "disabling_auto_sync"
	StepStarting          Step = "starting_operation"
	StepFollowing         Step = "following_operation"
	StepDone              Step = "done"
)

// AutoSyncPolicy is an Argo CD automated sync policy, as deploybot records
// it when it removes one so `autosync APP on` can restore it exactly.
type AutoSyncPolicy struct {
	Prune      bool `json:"prune"`
	SelfHeal   bool `json:"selfHeal"`
	AllowEmpty bool `json:"allowEmpty"`
	// Enabled is Argo CD 3.1's automated.enabled: nil when absent (on),
	// false when auto-sync is off with these settings kept in the spec.
	Enabled *bool `json:"enabled,omitempty"`
}

// On reports whether a policy read from an app has auto-sync on: present
// and not enabled: false. Runs recorded before Enabled existed read as
// before (present means on).
func (p *AutoSyncPolicy) On() bool { return p != nil && (p.Enabled == nil || *p.Enabled) }

// AutoSyncMethod is how deploybot turned auto-sync off or on; it depends on
// the Argo CD server's version.
type AutoSyncMethod string

const (
	// AutoSyncByEnabled set spec.syncPolicy.automated.enabled (Argo CD 3.1+),
	// keeping prune/selfHeal/allowEmpty in the spec.
	AutoSyncByEnabled AutoSyncMethod = "enabled"
	// AutoSyncByAutomated removed spec.syncPolicy.automated (off) or wrote
	// it back (on), as on servers before 3.1.
	AutoSyncByAutomated AutoSyncMethod = "automated"
)

// Resource is a Kubernetes resource of the app that is not Healthy.
type Resource struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Health  string `json:"health"`
	Message string `json:"message,omitempty"`
}

// DeployStatus is the run's state, returned by QueryStatus.
type DeployStatus struct {
	Step        Step   `json:"step"`
	App         string `json:"app"`
	Action      Action `json:"action"`
	RequestedBy User   `json:"requestedBy"`
	DecidedBy   *User  `json:"decidedBy,omitempty"`
	// Rule names the approval rule the run follows ("" before it is known
	// and for runs begun before approval policies); Approvals are every
	// approval counted, the deciding one last.
	Rule      string     `json:"rule,omitempty"`
	Approvals []Approval `json:"approvals,omitempty"`
	// Emergency is the reason of a break-glass sync ("" for others).
	Emergency string  `json:"emergency,omitempty"`
	Outcome   Outcome `json:"outcome,omitempty"`
	Message   string  `json:"message,omitempty"`
	Channel   string  `json:"channel,omitempty"`
	// RequestTS is the approval message; every later message is in its thread.
	RequestTS string `json:"requestTs,omitempty"`
	// StatusTS is the status message in the thread that is edited as the run goes.
	StatusTS     string    `json:"statusTs,omitempty"`
	FromRevision string    `json:"fromRevision,omitempty"`
	ToRevision   string    `json:"toRevision,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt,omitempty"`
	// Phase, SyncStatus and Health are the last seen Argo CD state.
	Phase      string     `json:"phase,omitempty"`
	SyncStatus string     `json:"syncStatus,omitempty"`
	Health     string     `json:"health,omitempty"`
	Unhealthy  []Resource `json:"unhealthy,omitempty"`
	// RemovedAutoSync is the automated policy this run turned off, if any.
	RemovedAutoSync *AutoSyncPolicy `json:"removedAutoSync,omitempty"`
	StartedAt       time.Time       `json:"startedAt"`
	FinishedAt      time.Time       `json:"finishedAt,omitempty"`
}

// Commit is who made a revision and why, as Argo CD's RevisionMetadata
// tells it.
type Commit struct {
	Author  string    `json:"author,omitempty"`
	Message string    `json:"message,omitempty"`
	Date    time.Time `json:"date,omitzero"`
}

// Preview is what a sync or rollback would change, as Argo CD's managed
// resources (and, for a rollback, the manifests of its revision) tell it
// (internal/preview builds it).
type Preview struct {
	Resources []ResourceChange `json:"resources,omitempty"`
	// OmittedResources are changed resources left out to bound the preview.
	OmittedResources int `json:"omittedResources,omitempty"`
	// Error says why there is no preview (the request goes on without).
	Error string `json:"error,omitempty"`
	// Rollback is set when the preview is of a rollback: the history entry
	// and revision whose manifests were compared with the live state.
	Rollback *PreviewedRollback `json:"rollback,omitempty"`
}

// PreviewedRollback is the target of a previewed rollback.
type PreviewedRollback struct {
	HistoryID int64  `json:"historyId"`
	Revision  string `json:"revision"`
	// SourceDiffers is true when the history entry's source differs from
	// the app's current one in more than its revision (Helm values, path,
	// repository): Argo CD renders the current source at the revision, so
	// the rollback, which deploys the entry's own source, may differ.
	SourceDiffers bool `json:"sourceDiffers,omitempty"`
}

// The changes a sync makes to a resource.
const (
	ChangeCreate = "create"
	ChangeUpdate = "update"
	ChangePrune  = "prune"
)

// ResourceChange is one resource a sync creates, updates or prunes.
type ResourceChange struct {
	Group     string        `json:"group,omitempty"`
	Kind      string        `json:"kind"`
	Namespace string        `json:"namespace,omitempty"`
	Name      string        `json:"name"`
	Change    string        `json:"change"`
	Fields    []FieldChange `json:"fields,omitempty"`
	// OmittedFields are changed fields left out to bound the preview.
	OmittedFields int `json:"omittedFields,omitempty"`
}

// FieldChange is one field's value before and after ("" when absent).
type FieldChange struct {
	Path string `json:"path"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// DeployResult is the result of DeployWorkflow.
type DeployResult struct {
	Outcome Outcome `json:"outcome"`
	App     string  `json:"app"`
	Action  Action  `json:"action"`
	// RequestedBy is who asked (zero in runs begun before it was kept).
	RequestedBy User  `json:"requestedBy,omitzero"`
	DecidedBy   *User `json:"decidedBy,omitempty"`
	// Rule and Approvals are as in DeployStatus.
	Rule      string     `json:"rule,omitempty"`
	Approvals []Approval `json:"approvals,omitempty"`
	Emergency string     `json:"emergency,omitempty"`
	// EmergencyEmailError says why the break-glass email was not sent.
	EmergencyEmailError string `json:"emergencyEmailError,omitempty"`
	// FromRevision is what ran before; Revision what the run deployed (or,
	// if Argo CD never said, what it was to deploy).
	FromRevision string     `json:"fromRevision,omitempty"`
	Revision     string     `json:"revision,omitempty"`
	Message      string     `json:"message,omitempty"`
	Health       string     `json:"health,omitempty"`
	Unhealthy    []Resource `json:"unhealthy,omitempty"`
	// RemovedAutoSync is the automated policy this run turned off, if any.
	RemovedAutoSync *AutoSyncPolicy `json:"removedAutoSync,omitempty"`
	// Duration is from approval to the end of the operation.
	Duration time.Duration `json:"duration,omitempty"`
}

// appNameRE is Kubernetes' DNS-1123 subdomain rule, which Argo CD app names follow.
var appNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// namespaceRE is Kubernetes' DNS-1123 label rule for namespaces.
var namespaceRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// DefaultArgoCDNamespace is the namespace Argo CD itself runs in unless
// ARGOCD_NAMESPACE says otherwise; apps there are named without it.
const DefaultArgoCDNamespace = "argocd"

// SplitInstance splits "guestbook@prod" (an app on the Argo CD instance
// named prod) into the app and the instance; "" when none is named, which
// means the default instance. '@' never occurs in Argo CD's own names, so
// this never collides with namespace/app.
func SplitInstance(app string) (rest, instance string) {
	if i := strings.LastIndexByte(app, '@'); i >= 0 {
		return app[:i], app[i+1:]
	}
	return app, ""
}

// WithInstance is app on instance; the default instance ("") adds nothing.
func WithInstance(app, instance string) string {
	if instance == "" {
		return app
	}
	return app + "@" + instance
}

// ValidateInstanceName says what is wrong with an Argo CD instance name, or nil.
func ValidateInstanceName(name string) error {
	if !isLabel(name) {
		return fmt.Errorf("%q is not a valid Argo CD instance name: use lowercase letters, digits and '-', at most 63, e.g. prod", name)
	}
	return nil
}

// ValidateNamespace says what is wrong with a Kubernetes namespace name (an
// app's, or Argo CD's own), or nil.
func ValidateNamespace(ns string) error {
	if !isLabel(ns) {
		return fmt.Errorf("%q is not a Kubernetes namespace: use lowercase letters, digits and '-', at most 63", ns)
	}
	return nil
}

// ValidateProjectName says what is wrong with an Argo CD AppProject name,
// or nil. Projects are Kubernetes objects named like apps.
func ValidateProjectName(p string) error {
	if len(p) > 253 || !appNameRE.MatchString(p) {
		return fmt.Errorf("%q is not a valid Argo CD project name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, e.g. payments", p)
	}
	return nil
}

// isLabel is Kubernetes' DNS-1123 label rule (namespaces, instance names).
func isLabel(s string) bool { return len(s) <= 63 && namespaceRE.MatchString(s) }

// SplitApp splits an app as deploybot and the argocd CLI write it:
// "guestbook" (in Argo CD's own namespace) or "team-a/guestbook" (an app in
// another namespace, Argo CD's "apps in any namespace").
func SplitApp(app string) (namespace, name string) {
	if ns, n, ok := strings.Cut(app, "/"); ok {
		return ns, n
	}
	return "", app
}

// QualifiedApp is the app's name as deploybot shows and keys it: the bare
// name in Argo CD's own namespace (argocdNamespace, "" meaning argocd), else
// "namespace/name". Writing "argocd/guestbook" and "guestbook" must not make
// two apps of one.
func QualifiedApp(namespace, name, argocdNamespace string) string {
	if argocdNamespace == "" {
		argocdNamespace = DefaultArgoCDNamespace
	}
	if namespace == "" || namespace == argocdNamespace {
		return name
	}
	return namespace + "/" + name
}

// ValidateAppName says what is wrong with an Argo CD application name,
// optionally qualified by its namespace ("team-a/guestbook") and instance
// ("team-a/guestbook@prod"), or nil.
func ValidateAppName(app string) error {
	if strings.Contains(app, "@") {
		rest, instance := SplitInstance(app)
		if strings.Contains(rest, "@") {
			return fmt.Errorf("%q is not a valid Argo CD app name: name at most one instance after '@', e.g. guestbook@prod", app)
		}
		if err := ValidateInstanceName(instance); err != nil {
			return err
		}
		app = rest
	}
	ns, name := SplitApp(app)
	if strings.Contains(app, "/") {
		switch {
		case ns == "":
			return fmt.Errorf("%q is not a valid Argo CD app name: the namespace before '/' is empty; write namespace/app, e.g. team-a/guestbook, or just the app, e.g. guestbook", app)
		case ValidateNamespace(ns) != nil:
			return fmt.Errorf("%q is not a valid Argo CD app name: %v; write namespace/app, e.g. team-a/guestbook", app, ValidateNamespace(ns))
		case strings.Contains(name, "/"):
			return fmt.Errorf("%q is not a valid Argo CD app name: it has more than one '/'; write namespace/app, e.g. team-a/guestbook", app)
		}
	}
	switch {
	case name == "":
		return fmt.Errorf("no app name given: name an Argo CD application, e.g. guestbook (or team-a/guestbook for one in namespace team-a)")
	case len(name) > 253:
		return fmt.Errorf("app name is %d characters long: Argo CD app names have at most 253", len(name))
	case !appNameRE.MatchString(name):
		return fmt.Errorf("%q is not a valid Argo CD app name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, e.g. guestbook", name)
	}
	return nil
}

// deployIDPrefix starts every deploy run id.
const deployIDPrefix = "deploy-"

// DeployWorkflowID is the id of the one mutating run an app may have at a
// time; starting a second one with the same id is refused by Temporal. An
// app in another namespace is "deploy-team-a_guestbook": '_' cannot occur in
// a namespace or an app name (so ids are unique per namespace and app), and
// unlike '/' it is safe in the Temporal UI's URLs. Argo CD's own instance
// label uses the same form.
func DeployWorkflowID(app string) string {
	app, instance := SplitInstance(app)
	id := deployIDPrefix + strings.Replace(app, "/", "_", 1)
	if instance != "" {
		// '~' is URL-safe and occurs in no name; '@' breaks Temporal UI links.
		id += "~" + instance
	}
	return id
}

// AppFromDeployWorkflowID is DeployWorkflowID's inverse; ok is false for
// ids that are not deploy runs.
func AppFromDeployWorkflowID(id string) (app string, ok bool) {
	rest, ok := strings.CutPrefix(id, deployIDPrefix)
	if !ok {
		return "", false
	}
	rest, instance, _ := strings.Cut(rest, "~")
	return WithInstance(strings.Replace(rest, "_", "/", 1), instance), true
}

// Validate says what is wrong with a deploy input, or nil.
func (in DeployInput) Validate() error {
	r := in.Request
	if err := ValidateAppName(r.App); err != nil {
		return err
	}
	switch r.Action {
	case ActionSync:
		if r.HistoryID != 0 {
			return fmt.Errorf("a sync takes no history id (got %d): use rollback %s %d to go back to it", r.HistoryID, r.App, r.HistoryID)
		}
	case ActionRollback:
		if r.HistoryID <= 0 {
			return fmt.Errorf("rollback needs the history id to go back to, e.g. rollback %s 3 (see rollback_revisions %s)", r.App, r.App)
		}
	case ActionAutoSyncOn, ActionAutoSyncOff:
		if r.HistoryID != 0 {
			return fmt.Errorf("autosync takes no history id (got %d): use autosync %s on|off", r.HistoryID, r.App)
		}
	default:
		return fmt.Errorf("unknown action %q: use sync, rollback, autosync_on or autosync_off", r.Action)
	}
	if r.RequestedBy.ID == "" {
		return fmt.Errorf("the request has no requester: the gateway must pass the Slack user id")
	}
	if r.Channel == "" {
		return fmt.Errorf("the request has no channel: the gateway must pass the Slack channel to post the approval in")
	}
	if in.Policy.ApprovalTimeout <= 0 {
		return fmt.Errorf("approval timeout must be positive (APPROVAL_TIMEOUT), e.g. 30m")
	}
	if in.Policy.HealthTimeout <= 0 {
		return fmt.Errorf("health timeout must be positive (HEALTH_TIMEOUT), e.g. 10m")
	}
	if e := in.Emergency; e != nil {
		switch {
		case r.Action != ActionSync:
			return fmt.Errorf("only a sync may be a break-glass request (got %s): write sync %s --emergency REASON", r.Action, r.App)
		case strings.TrimSpace(e.Reason) == "":
			return fmt.Errorf("a break-glass sync needs a reason, for the audit: sync %s --emergency INC-4411 checkout is down", r.App)
		case len(e.EmailTo) == 0:
			return fmt.Errorf("a break-glass sync is emailed: the gateway must pass breakGlass.emailTo of APPROVAL_POLICY_FILE, e.g. [incidents@example.com]")
		case len(in.Rules) == 0:
			return fmt.Errorf("a break-glass sync needs the policy's break-glass rule in Rules")
		}
	}
	return in.Rules.Validate()
}

// RunURL links to a run's page in the Temporal UI ("" without a UI URL).
func RunURL(uiURL, namespace, workflowID, runID string) string {
	if uiURL == "" {
		return ""
	}
	if namespace == "" {
		namespace = "default"
	}
	u := strings.TrimRight(uiURL, "/") + "/namespaces/" + url.PathEscape(namespace) + "/workflows/" + url.PathEscape(workflowID)
	if runID != "" {
		u += "/" + url.PathEscape(runID)
	}
	return u + "/history"
}
