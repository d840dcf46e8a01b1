package worker_test

import (
	"testing"

	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/internal/command"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/worker"
)

type names map[string]bool

func (n names) RegisterWorkflowWithOptions(_ interface{}, o workflow.RegisterOptions) {
	n[o.Name] = true
}

// TestEveryCommandsWorkflowIsRegistered: the worker runs every workflow the
// command table starts (and the quality gate's), so no command the gateway
// accepts waits on a task queue that has nothing to run it.
func TestEveryCommandsWorkflowIsRegistered(t *testing.T) {
	got := names{}
	worker.RegisterWorkflows(got)
	for _, sp := range command.Table {
		if sp.Workflow != "" && !got[sp.Workflow] {
			t.Errorf("command %s starts %s, which RegisterWorkflows does not register", sp.Name, sp.Workflow)
		}
	}
	for _, w := range []string{contract.WorkflowQualityGate, contract.WorkflowFreeze} {
		if !got[w] {
			t.Errorf("%s is not registered", w)
		}
	}
}
