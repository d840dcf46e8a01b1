// Package worker wires deploybot's workflows and activities to a Temporal
// task queue and runs them until asked to stop.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/workflows"
)

// Deps are the clients the activities use.
type Deps struct {
	ArgoCD activities.ArgoCDClient
	Slack  activities.SlackAPI
	// Temporal lets `status` look up an app's deploybot run; New sets it to
	// Options.Temporal when nil.
	Temporal client.Client
	// Email sends the quality-gate decision emails; nil (no SMTP_HOST)
	// makes every send fail with a message naming SMTP_HOST.
	Email activities.EmailSender
	// ArgoCDLookupConcurrency (ARGOCD_LOOKUP_CONCURRENCY) and HelmParams
	// (ARGOCD_HELM_CACHE_SIZE) shape rollback_revisions' chart renders;
	// zero values mean the default bound and no cache.
	ArgoCDLookupConcurrency int
	HelmParams              *activities.HelmParamsCache
	// ArgoCDNamespace is ARGOCD_NAMESPACE, the namespace Argo CD runs in.
	ArgoCDNamespace string
	// BotName is BOT_NAME, how the bot names itself ("/invite @shipit").
	BotName string
}

// NewEmailSender builds the SMTP sender from SMTP_*; nil when SMTP_HOST is
// not set (emails are off).
func NewEmailSender(cfg *config.Config) (activities.EmailSender, error) {
	if cfg.SMTPHost == "" {
		return nil, nil
	}
	s, err := activities.NewSMTPSender(activities.SMTPSettings{
		Host: cfg.SMTPHost, Port: cfg.SMTPPort,
		Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
		From: cfg.SMTPFrom, TLS: cfg.SMTPTLS,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NewFromConfig creates the worker a deploybot process runs: Slack, SMTP and
// the tuning from cfg, Argo CD through argo, Temporal through tc. It warns
// on log when emails are off or go unencrypted to another host.
func NewFromConfig(cfg *config.Config, tc client.Client, argo activities.ArgoCDClient, log *slog.Logger) (sdkworker.Worker, error) {
	email, err := NewEmailSender(cfg)
	if err != nil {
		return nil, err
	}
	switch {
	case email == nil:
		log.Warn("SMTP_HOST is not set: quality-gate decisions will not be emailed")
	case cfg.PlaintextSMTPToRemoteHost():
		log.Warn("SMTP_TLS=none: emails go to "+cfg.SMTPHost+" UNENCRYPTED across the network; use this for a mail catcher only, and SMTP_TLS=starttls or tls for real mail", "smtpHost", cfg.SMTPHost)
	}
	return New(Options{
		Temporal: tc, TaskQueue: cfg.TemporalTaskQueue, Logger: log,
		StopTimeout: cfg.WorkerStopTimeout, WorkflowCacheSize: cfg.WorkerWorkflowCacheSize,
		Deps: Deps{
			ArgoCD: argo,
			Slack:  activities.NewSlackClient(cfg.SlackToken, cfg.SlackAPIURL),
			Email:  email,

			ArgoCDLookupConcurrency: cfg.ArgoCDLookupConcurrency,
			HelmParams:              activities.NewHelmParamsCache(cfg.ArgoCDHelmCacheSize),
			ArgoCDNamespace:         cfg.ArgoCDNamespace,
			BotName:                 cfg.BotName,
		},
	})
}

// Options configures a worker.
type Options struct {
	Temporal  client.Client
	TaskQueue string
	Deps      Deps
	Logger    *slog.Logger
	// StopTimeout is WORKER_STOP_TIMEOUT: on Stop, running activities get
	// this long to finish (keep it below the pod's grace period); 0 = the
	// SDK's default.
	StopTimeout time.Duration
	// WorkflowCacheSize is WORKER_WORKFLOW_CACHE_SIZE: how many runs stay in
	// memory between events (the SDK's sticky cache); 0 = the SDK's default.
	WorkflowCacheSize int
}

// New creates a worker with every deploybot workflow and activity registered.
func New(opts Options) (sdkworker.Worker, error) {
	if opts.Temporal == nil {
		return nil, errors.New("worker: a Temporal client is required")
	}
	if opts.TaskQueue == "" {
		return nil, errors.New("TEMPORAL_TASK_QUEUE is empty: set it to the task queue the gateway starts workflows on, e.g. deploybot")
	}
	if opts.Deps.ArgoCD == nil {
		return nil, errors.New("worker: an Argo CD client is required (ARGOCD_URL, ARGOCD_TOKEN)")
	}
	if opts.Deps.Slack == nil {
		return nil, errors.New("worker: a Slack client is required (SLACK_TOKEN)")
	}
	if opts.Deps.Temporal == nil {
		opts.Deps.Temporal = opts.Temporal
	}
	if opts.WorkflowCacheSize > 0 {
		// Process-wide in the SDK: set before the worker starts polling.
		sdkworker.SetStickyWorkflowCacheSize(opts.WorkflowCacheSize)
	}
	w := sdkworker.New(opts.Temporal, opts.TaskQueue, sdkworker.Options{WorkerStopTimeout: opts.StopTimeout})
	Register(w, opts.Deps)
	return w, nil
}

// Register adds every workflow and activity to r.
func Register(r sdkworker.Registry, deps Deps) {
	RegisterWorkflows(r)
	r.RegisterActivity(&activities.ArgoCD{Client: deps.ArgoCD, LookupConcurrency: deps.ArgoCDLookupConcurrency, HelmParams: deps.HelmParams, Namespace: deps.ArgoCDNamespace})
	r.RegisterActivity(&activities.Slack{Client: deps.Slack, BotName: deps.BotName})
	r.RegisterActivity(&activities.Temporal{Client: deps.Temporal})
	r.RegisterActivity(&activities.Email{Sender: deps.Email})
}

// WorkflowRegistry is where workflows are registered: a worker or a replayer.
type WorkflowRegistry interface {
	RegisterWorkflowWithOptions(w interface{}, options workflow.RegisterOptions)
}

// RegisterWorkflows registers every workflow under its contract name, so
// replay tests register exactly what production runs.
func RegisterWorkflows(r WorkflowRegistry) {
	for _, d := range workflows.Definitions() {
		r.RegisterWorkflowWithOptions(d.Func, workflow.RegisterOptions{Name: d.Name})
	}
}

// Run starts w and blocks until ctx ends, then stops it gracefully (running
// activities get the worker's stop timeout to finish). health, if not nil,
// reports the worker as running in between.
func Run(ctx context.Context, w sdkworker.Worker, log *slog.Logger, health *Health) error {
	if err := w.Start(); err != nil {
		return fmt.Errorf("start Temporal worker: %w", err)
	}
	if health != nil {
		health.SetStarted(true)
	}
	if log != nil {
		log.Info("worker started")
	}
	<-ctx.Done()
	if health != nil {
		health.SetStarted(false)
	}
	w.Stop()
	if log != nil {
		log.Info("worker stopped")
	}
	return nil
}
