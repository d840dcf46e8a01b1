package metrics_test

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/deploybot/deploybot/internal/metrics"
	"github.com/deploybot/deploybot/internal/version"
)

func gather(t *testing.T, reg interface {
	Gather() ([]*dto.MetricFamily, error)
}) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func TestRegistry(t *testing.T) {
	reg := metrics.NewRegistry("worker")
	got := gather(t, reg)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes", "deploybot_build_info"} {
		if got[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	bi := got["deploybot_build_info"]
	if bi == nil {
		t.FailNow()
	}
	labels := map[string]string{}
	for _, l := range bi.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	info := version.Get()
	if labels["component"] != "worker" || labels["version"] != info.Version || labels["commit"] != info.Commit || labels["goversion"] != info.GoVersion {
		t.Errorf("build info labels = %v, want component=worker and %+v", labels, info)
	}
	if v := bi.GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("deploybot_build_info = %v, want 1", v)
	}
}

// TestTemporal: what the SDK records through the handler is on the registry
// under Prometheus names (counters _total, timers _seconds histograms).
func TestTemporal(t *testing.T) {
	reg := metrics.NewRegistry("worker")
	h, stop, err := metrics.Temporal(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop(context.Background()) }()
	tagged := h.WithTags(map[string]string{"task_queue": "deploybot"})
	tagged.Counter("temporal_request").Inc(3)
	tagged.Timer("temporal_activity_execution_latency").Record(250 * time.Millisecond)
	tagged.Gauge("temporal_num_pollers").Update(2)

	got := gather(t, reg)
	c := got["temporal_request_total"]
	if c == nil || c.GetType() != dto.MetricType_COUNTER || c.GetMetric()[0].GetCounter().GetValue() != 3 {
		t.Fatalf("temporal_request_total = %v, want a counter at 3", c)
	}
	var queue string
	for _, l := range c.GetMetric()[0].GetLabel() {
		if l.GetName() == "task_queue" {
			queue = l.GetValue()
		}
	}
	if queue != "deploybot" {
		t.Errorf("task_queue label = %q", queue)
	}
	hist := got["temporal_activity_execution_latency_seconds"]
	if hist == nil || hist.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("temporal_activity_execution_latency_seconds = %v, want a histogram", hist)
	}
	hs := hist.GetMetric()[0].GetHistogram()
	if hs.GetSampleCount() != 1 || hs.GetSampleSum() != 0.25 {
		t.Errorf("histogram count/sum = %d/%v, want 1/0.25", hs.GetSampleCount(), hs.GetSampleSum())
	}
	var le05 uint64
	for _, b := range hs.GetBucket() {
		if b.GetUpperBound() == 0.5 {
			le05 = b.GetCumulativeCount()
		}
	}
	if le05 != 1 {
		t.Errorf("bucket le=0.5 = %d, want 1 (buckets in seconds)", le05)
	}
	if g := got["temporal_num_pollers"]; g == nil || g.GetMetric()[0].GetGauge().GetValue() != 2 {
		t.Errorf("temporal_num_pollers = %v, want 2", g)
	}
}
