// Package metrics builds the Prometheus registry each deploybot process
// serves on /metrics: Go runtime and process collectors, deploybot_build_info,
// and the Temporal SDK's own metrics (requests, polls, task latencies,
// activity and workflow outcomes) exported through OpenTelemetry.
package metrics

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"

	"github.com/deploybot/deploybot/internal/version"
)

// NewRegistry returns a registry with the Go runtime and process collectors
// and deploybot_build_info{component,version,commit,goversion} = 1, so every
// process can be told apart on a dashboard after a rollout.
func NewRegistry(component string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	info := version.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "deploybot_build_info",
		Help: "Always 1; the labels say which build of deploybot this process runs.",
		ConstLabels: prometheus.Labels{
			"component": component, "version": info.Version, "commit": info.Commit, "goversion": info.GoVersion,
		},
	})
	build.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
	)
	return reg
}

// latencyBuckets are in seconds: Temporal's timers range from a
// millisecond-scale RPC to minute-long activity attempts.
var latencyBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// Temporal returns a metrics handler for the Temporal SDK client whose
// series land in reg (temporal_request_total,
// temporal_workflow_task_schedule_to_start_latency_seconds, ...), and a
// function that flushes and stops it.
func Temporal(reg prometheus.Registerer, log *slog.Logger) (client.MetricsHandler, func(context.Context) error, error) {
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: Temporal SDK exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exporter),
		sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: latencyBuckets}},
		)),
	)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                provider.Meter("temporal-sdk-go"),
		UseMonotonicCounters: true,
		// A metric that cannot be recorded must never take a worker down
		// (the default panics).
		OnError: func(err error) { log.Warn("Temporal SDK metric not recorded", "err", err) },
	})
	return h, provider.Shutdown, nil
}
