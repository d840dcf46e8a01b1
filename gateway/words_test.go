package gateway

import (
	"testing"

	"github.com/deploybot/deploybot/internal/testenv"
)

// gatewayTextCalls are the calls whose string arguments are operator or
// HTTP API text, never read in Slack: what a Slack user reads is written
// in internal/slackui.
var gatewayTextCalls = []string{
	"apiErr",          // a runs API error body
	"refuse",          // a runs API auth refusal body; a Slack request refusal's detail, logged
	"answerSonarQube", // the body of an answer to a SonarQube webhook
	"errBody",         // the JSON body of an HTTP error answer to Slack or an operator
	"runMessage",      // a runs API run's message
	"audit",           // the result on an audit log line
	"Header",          // an HTTP response header (WWW-Authenticate)
	"fmt.Errorf",      // errors: logged, or wrapped into API errors
	"errors.New",
	"prometheus.NewCounterVec", // metrics' Help
	"prometheus.NewCounter",
	"prometheus.NewHistogramVec",
	"prometheus.NewGauge",
}

// TestGatewayWritesNoSlackSentences: the gateway passes domain values to
// slackui, which writes every sentence its replies say.
func TestGatewayWritesNoSlackSentences(t *testing.T) {
	testenv.NoSentences(t, "gateway", gatewayTextCalls...)
}

// TestGatewayAllowListCatchesSlackReplies: none of the ways a handler could
// write a Slack reply (testdata/slackreply) gets past the allowlist.
func TestGatewayAllowListCatchesSlackReplies(t *testing.T) {
	if got := testenv.Sentences(t, "gateway/testdata/slackreply", gatewayTextCalls...); len(got) != 5 {
		t.Errorf("found %d sentences in testdata/slackreply, want its 5 Slack replies: %+v", len(got), got)
	}
}
