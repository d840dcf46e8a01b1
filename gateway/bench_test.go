package gateway_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/testenv"
)

// BenchmarkMentionAck measures what Slack waits for: from sending a signed
// mention to the gateway's acknowledgement, over real HTTP, with the
// workflow started on a real Temporal dev server before the ack. It reports
// the p50 and p99 of that latency.
//
//	go test ./gateway -run '^$' -bench BenchmarkMentionAck -benchtime 2000x
//
// "status" starts a read-only command workflow (one StartWorkflowExecution);
// "sync" starts a DeployWorkflow (a DescribeWorkflowExecution, to recognise a
// retry of a request whose run has ended, then the start).
func BenchmarkMentionAck(b *testing.B) {
	h := newHarness(b, temporalClient(b), func(_ *config.Config, o *gateway.Options) {
		o.Logger = slog.New(slog.DiscardHandler)
	})
	for _, cmd := range []string{"status", "sync"} {
		b.Run(cmd, func(b *testing.B) {
			bodies := make([][]byte, b.N)
			for i := range bodies {
				m := mention{
					eventID: uniq("EvBench"), user: alice,
					text: fmt.Sprintf("<@%s> %s %s", botID, cmd, uniq("bench")),
					ts:   fmt.Sprintf("%d.%06d", time.Now().Unix(), i%1000000),
				}
				bodies[i] = m.body()
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				hdr := signed(bodies[i])
				start := time.Now()
				ack := h.post("/slack/events", "application/json", bodies[i], hdr)
				lat = append(lat, time.Since(start))
				if ack.code != 200 {
					b.Fatalf("ack = %d %s", ack.code, ack.body)
				}
			}
			b.StopTimer()
			if got := h.counter("deploybot_gateway_requests_total", "outcome", "started"); got < float64(b.N) {
				b.Fatalf("only %v of %d mentions started a workflow", got, b.N)
			}
			testenv.ReportLatencies(b, lat)
		})
	}
}

// BenchmarkSonarQubeWebhookAck measures what SonarQube waits for (it gives
// up after 10s): from a signed failed-gate delivery to the gateway's
// answer, over real HTTP, with the QualityGateWorkflow started on a real
// Temporal dev server before the answer. It reports p50, p99 and max.
//
//	go test ./gateway -run '^$' -bench BenchmarkSonarQubeWebhookAck -benchtime 1000x
func BenchmarkSonarQubeWebhookAck(b *testing.B) {
	h := newHarness(b, temporalClient(b), withSAST, func(_ *config.Config, o *gateway.Options) {
		o.Logger = slog.New(slog.DiscardHandler)
	})
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = sonarPayload("bench-project", uniq("branch"), "9f2c1b7e5a3d4c6b8a0e1f2d3c4b5a6978675645", contract.GateError)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		resp, _ := h.sonarSigned(bodies[i])
		lat = append(lat, time.Since(start))
		if resp.code != 200 || !strings.Contains(resp.body, `"runId"`) {
			b.Fatalf("answer = %d %s", resp.code, resp.body)
		}
	}
	b.StopTimer()
	testenv.ReportLatencies(b, lat)
}
