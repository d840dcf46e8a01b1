package contract

import (
	"fmt"
	"strings"
	"time"
)

// Freezes: `freeze TARGET FOR 2h|UNTIL 2026-12-24 REASON` starts a
// FreezeWorkflow under FreezeWorkflowID(TARGET) that lasts until its timer
// fires or `unfreeze TARGET` signals it; every change of a frozen app is
// refused while it runs (a break-glass sync may override, audited).
const (
	WorkflowFreeze = "FreezeWorkflow"
	// SignalUnfreeze lifts a freeze early; its payload is the User.
	SignalUnfreeze = "unfreeze"
	// FreezeAll is the target that freezes every app.
	FreezeAll = "all"
	// FreezeProjectPrefix makes a target of an Argo CD project: project:payments.
	FreezeProjectPrefix = "project:"
	// MaxFreeze bounds how long a freeze may last.
	MaxFreeze = 90 * 24 * time.Hour
)

// MemoFreeze is the memo key under which a freeze run keeps its Freeze, so
// a change can be checked against it without asking a worker.
const MemoFreeze = "freeze"

// FreezeInput is the input of FreezeWorkflow.
type FreezeInput struct {
	// Target is an app (as deploybot keys it), project:NAME, or all.
	Target string    `json:"target"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
	By     User      `json:"by"`
	// Channel is told when the freeze ends on its own.
	Channel string `json:"channel,omitempty"`
}

// Validate says what is wrong with in, or nil.
func (in FreezeInput) Validate() error {
	if err := ValidateFreezeTarget(in.Target); err != nil {
		return err
	}
	switch {
	case in.Until.IsZero():
		return fmt.Errorf("a freeze needs an end: FOR 2h or UNTIL 2026-12-24")
	case strings.TrimSpace(in.Reason) == "":
		return fmt.Errorf("a freeze needs a reason, e.g. freeze %s for 2h quarter-end close", in.Target)
	case in.By.ID == "":
		return fmt.Errorf("the freeze has no author: the gateway must pass the Slack user id")
	}
	return nil
}

// Freeze is a freeze in force: what FreezeWorkflow's status query answers.
type Freeze struct {
	Target string    `json:"target"`
	Reason string    `json:"reason"`
	By     User      `json:"by"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
	// WorkflowID and RunID are the freeze's run, for links.
	WorkflowID string `json:"workflowId,omitempty"`
	RunID      string `json:"runId,omitempty"`
}

// FreezeResult is the result of FreezeWorkflow.
type FreezeResult struct {
	Freeze Freeze `json:"freeze"`
	// LiftedBy is who unfroze it early; nil when it ran its course.
	LiftedBy *User `json:"liftedBy,omitempty"`
}

// ValidateFreezeTarget says what is wrong with a freeze target, or nil.
func ValidateFreezeTarget(t string) error {
	switch {
	case t == FreezeAll:
		return nil
	case strings.HasPrefix(t, FreezeProjectPrefix):
		return ValidateProjectName(strings.TrimPrefix(t, FreezeProjectPrefix))
	}
	return ValidateAppName(t)
}

// FreezeWorkflowID is the id of target's freeze: one at a time per target.
func FreezeWorkflowID(target string) string {
	switch {
	case target == FreezeAll:
		return "freeze-all"
	case strings.HasPrefix(target, FreezeProjectPrefix):
		return "freeze-project-" + strings.TrimPrefix(target, FreezeProjectPrefix)
	}
	return "freeze-app-" + strings.TrimPrefix(DeployWorkflowID(target), deployIDPrefix)
}

// FreezeTargets are the targets whose freeze stops a change of app in
// project, most specific first.
func FreezeTargets(app, project string) []string {
	t := []string{app}
	if project != "" {
		t = append(t, FreezeProjectPrefix+project)
	}
	return append(t, FreezeAll)
}
