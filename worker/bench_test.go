package worker_test

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/testenv"
)

// syncClock wraps the Argo CD client and records when each app's Sync call
// left the worker.
type syncClock struct {
	*argocd.Client
	mu    sync.Mutex
	calls map[string]time.Time
}

func (c *syncClock) Sync(ctx context.Context, name string, opts argocd.SyncOptions) (*v1alpha1.Application, error) {
	c.mu.Lock()
	c.calls[name] = time.Now()
	c.mu.Unlock()
	return c.Client.Sync(ctx, name, opts)
}

func (c *syncClock) at(app string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.calls[app]
	return t, ok
}

type benchStack struct {
	*stack
	clock *syncClock
}

func startBenchStack(b *testing.B, apps int) *benchStack {
	b.Helper()
	clock := &syncClock{calls: map[string]time.Time{}}
	s := startStack(b, stackOptions{operation: 300 * time.Millisecond, extraApps: apps,
		wrap: func(c *argocd.Client) activities.ArgoCDClient { clock.Client = c; return clock }})
	return &benchStack{stack: s, clock: clock}
}

func (s *benchStack) start(b *testing.B, app string) client.WorkflowRun {
	b.Helper()
	run, err := s.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: contract.DeployWorkflowID(app), TaskQueue: s.taskQueue},
		contract.WorkflowDeploy, contract.DeployInput{
			Request: contract.DeployRequest{App: app, Action: contract.ActionSync, RequestedBy: contract.User{ID: "U0ALICE"}, Channel: deployChannel},
			Policy: contract.DeployPolicy{Approvers: []string{"U0BOB"}, ApprovalTimeout: time.Hour, HealthTimeout: 5 * time.Minute,
				PollInterval: 200 * time.Millisecond},
		})
	if err != nil {
		b.Fatal(err)
	}
	return run
}

func (s *benchStack) waitAwaiting(b *testing.B, id string) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		v, err := s.tc.QueryWorkflow(context.Background(), id, "", contract.QueryStatus)
		var st contract.DeployStatus
		if err == nil && v.Get(&st) == nil && st.Step == contract.StepAwaitingApproval {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("%s never reached awaiting_approval", id)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// BenchmarkApproveToSync measures the time from the approve signal leaving
// the client to the Argo CD Sync call leaving the worker, on a real Temporal
// dev server. Run: go test ./worker -run '^$' -bench ApproveToSync -benchtime 50x
func BenchmarkApproveToSync(b *testing.B) {
	s := startBenchStack(b, b.N)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		b.StopTimer()
		app := fmt.Sprintf("app-%03d", i)
		id := contract.DeployWorkflowID(app)
		run := s.start(b, app)
		s.waitAwaiting(b, id)
		b.StartTimer()
		sent := time.Now()
		if err := s.tc.SignalWorkflow(context.Background(), id, "", contract.SignalDecision,
			contract.Decision{Approve: true, User: contract.User{ID: "U0BOB"}}); err != nil {
			b.Fatal(err)
		}
		var synced time.Time
		for {
			if t, ok := s.clock.at(app); ok {
				synced = t
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		lat = append(lat, synced.Sub(sent))
		var res contract.DeployResult
		if err := run.Get(context.Background(), &res); err != nil || res.Outcome != contract.OutcomeSucceeded {
			b.Fatalf("run %s: %v %+v", id, err, res)
		}
		b.StartTimer()
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.95).Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkWaitingWorkflowMemory measures what a run waiting for approval
// costs the worker process: Go heap in use after GC, before and after b.N
// runs are parked on their approval wait (the worker keeps them in its
// sticky cache). The in-memory Slack server's copy of each request message
// is included, so this is an upper bound.
// Run: go test ./worker -run '^$' -bench WaitingWorkflowMemory -benchtime 500x
func BenchmarkWaitingWorkflowMemory(b *testing.B) {
	s := startBenchStack(b, b.N)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		s.start(b, fmt.Sprintf("app-%03d", i))
	}
	for i := 1; i <= b.N; i++ {
		s.waitAwaiting(b, contract.DeployWorkflowID(fmt.Sprintf("app-%03d", i)))
	}
	b.StopTimer()
	after := heap()
	perRun := (float64(after) - float64(before)) / float64(b.N)
	b.ReportMetric(perRun/1024, "KiB/waiting-run")
	b.ReportMetric(float64(after)/(1<<20), "heap-MiB")
}

// BenchmarkDecisionToEmail measures what a security approver's decision
// costs until the email is in the SMTP server: the decide update through
// Temporal, the workflow task, the email activity and an SMTP session with
// STARTTLS and AUTH. Each run is a fresh failed analysis on its own branch.
// It reports p50, p99 and max.
//
//	go test ./worker -run '^$' -bench BenchmarkDecisionToEmail -benchtime 50x
func BenchmarkDecisionToEmail(b *testing.B) {
	s, sink := startMailStack(b)
	base := analysis(b, "branch_error.json")
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		a := base
		a.Branch = fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
		a.Key = base.Key + "-" + a.Branch
		run := startGate(b, s, gateInput(a))
		waitGateStep(b, s.tc, run.GetID(), contract.SASTStepAwaitingDecision)
		before := len(sink.Messages())
		b.StartTimer()
		start := time.Now()
		if _, err := decideByUpdate(ctx, s.tc, run.GetID(), contract.Decision{Approve: true, User: contract.User{ID: "U0BOB", Name: "bob"}}); err != nil {
			b.Fatal(err)
		}
		for len(sink.Messages()) == before {
			if time.Since(start) > time.Minute {
				b.Fatal("no email within a minute of the decision")
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	testenv.ReportLatencies(b, lat)
}
