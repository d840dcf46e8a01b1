package workflows

import (
	"testing"

	"github.com/deploybot/deploybot/internal/testenv"
)

// Workflows pass domain types; the words a user reads are written in slackui
// and emailview only. Log messages are for operators and stay here.
func TestWorkflowsWriteNoSentences(t *testing.T) {
	testenv.NoSentences(t, "workflows")
}
