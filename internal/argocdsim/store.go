package argocdsim

import (
	"fmt"
	"strconv"
	"time"

	"github.com/argoproj/gitops-engine/pkg/health"
	synccommon "github.com/argoproj/gitops-engine/pkg/sync/common"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
)

// simApp is one application plus the hidden state the controller would own.
type simApp struct {
	app        *v1alpha1.Application
	repo       *repoModel
	seed       appSeed
	live       *commit   // revision running in the cluster
	liveSince  time.Time // creation time of the live pods
	health     health.HealthStatusCode
	reconciled time.Time
	outcome    Outcome
	opSeq      int64      // bumped per operation; stale timers compare it
	pending    *pendingOp // operation in flight (until health settles)
	// enabled is spec.syncPolicy.automated.enabled (3.1+), which the v2
	// types drop; nil while unset or without an automated policy.
	enabled *bool
	// requested counts the operations someone asked for (sync or rollback,
	// not dry runs or auto-sync): what a duplicate would show up in.
	requested int
}

// pendingOp is an operation between the API call and health settling.
type pendingOp struct {
	seq        int64
	target     *commit
	source     v1alpha1.ApplicationSource
	dryRun     bool
	partial    bool
	prevHealth health.HealthStatusCode
	outcome    Outcome
}

type subscriber struct {
	ch chan *v1alpha1.ApplicationWatchEvent
}

// watchBufferSize matches argocd-server's watchAPIBufferSize.
const watchBufferSize = 1000

// now returns the current time at second precision, as the Kubernetes API
// stores it; sub-second stamps would make JSON and gRPC clients disagree.
func now() metav1.Time { return metav1.NewTime(time.Now().UTC().Truncate(time.Second)) }

// loadSeed replaces all state with the seed data. Callers hold s.mu.
func (s *Server) loadSeed() {
	s.apps = map[string]*simApp{}
	for i, sd := range seeds(s.opts.ExtraApps) {
		sa := newSimApp(sd, i)
		s.apps[keyOf(sa.app)] = sa
	}
	s.projects = seedProjects()
	for _, name := range sortedKeys(s.apps) {
		s.touchLocked(s.apps[name])
	}
}

// Reset restores the seed state, stops running operations and clears faults
// and counters. Open watches receive the restored apps.
func (s *Server) Reset() {
	s.faults.reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.stopTimersLocked()
	s.loadSeed()
}

// SetOutcome makes every later operation of app end as o (until Reset).
// app is the app's key: its name, or "namespace/name" outside argocd.
func (s *Server) SetOutcome(app string, o Outcome) error {
	switch o.Phase {
	case "", synccommon.OperationSucceeded, synccommon.OperationFailed, synccommon.OperationError:
	default:
		return fmt.Errorf("outcome phase must be Succeeded, Failed or Error, not %q", o.Phase)
	}
	switch o.Health {
	case "", health.HealthStatusHealthy, health.HealthStatusDegraded, health.HealthStatusProgressing,
		health.HealthStatusSuspended, health.HealthStatusMissing, health.HealthStatusUnknown:
	default:
		return fmt.Errorf("outcome health %q is not an Argo CD health status", o.Health)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sa, ok := s.apps[app]
	if !ok {
		return fmt.Errorf("unknown app %q", app)
	}
	sa.outcome = o
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

// Operations returns how many syncs and rollbacks (dry runs and auto-sync
// excluded) Argo CD started for app (its key, as SetOutcome's) since the
// seed was loaded: unlike Calls, refused and failed calls do not count.
func (s *Server) Operations(app string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sa, ok := s.apps[app]; ok {
		return sa.requested
	}
	return 0
}

// touchLocked recomputes derived status, bumps the resource version and
// notifies watchers, like a controller write to the Application CR.
func (s *Server) touchLocked(sa *simApp) {
	sa.recompute(s.persistsResourceHealth())
	s.rv++
	sa.app.ResourceVersion = strconv.FormatInt(s.rv, 10)
	if len(s.subs) == 0 {
		return
	}
	ev := s.eventLocked(watch.Modified, sa)
	for sub := range s.subs {
		select {
		case sub.ch <- ev:
		default:
			s.log.Warn("watch subscriber is too slow; dropping event", "app", sa.app.Name)
		}
	}
}

// viewLocked is the copy of sa's Application that an answer carries. With
// infer (Get and Watch) per-resource health is filled in from the resource
// tree when it lives there (3.0+), as argocd-server's
// inferResourcesStatusHealth does; other methods answer the app as stored.
func (s *Server) viewLocked(sa *simApp, infer bool) *v1alpha1.Application {
	app := sa.app.DeepCopy()
	if infer {
		sa.inferResourcesHealth(app)
	}
	s.attachLocked(sa, app)
	return app
}

// eventLocked is a watch event of type typ carrying sa as it is now.
func (s *Server) eventLocked(typ watch.EventType, sa *simApp) *v1alpha1.ApplicationWatchEvent {
	ev := &v1alpha1.ApplicationWatchEvent{Type: typ, Application: *s.viewLocked(sa, true)}
	s.attachEventLocked(sa, ev)
	return ev
}

func (s *Server) subscribe() *subscriber {
	sub := &subscriber{ch: make(chan *v1alpha1.ApplicationWatchEvent, watchBufferSize)}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	return sub
}

func (s *Server) unsubscribe(sub *subscriber) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
}

// afterLocked runs fn with s.mu held after d, unless the server shut down or
// was reset meanwhile. Callers hold s.mu.
func (s *Server) afterLocked(d time.Duration, fn func()) {
	if s.closed {
		return
	}
	gen := s.gen
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.timers, t)
		if s.closed || s.gen != gen {
			return
		}
		fn()
	})
	s.timers[t] = struct{}{}
}

func (s *Server) stopTimersLocked() {
	for t := range s.timers {
		t.Stop()
	}
	s.timers = map[*time.Timer]struct{}{}
}

// Operation timeline, as fractions of OperationDuration: the controller
// picks the operation up, finishes it at 60%, and health settles at 100%.
func (s *Server) pickupDelay() time.Duration { return min(s.dur/10, 100*time.Millisecond) }
func (s *Server) finishDelay() time.Duration { return s.dur*6/10 - s.pickupDelay() }
func (s *Server) settleDelay() time.Duration { return s.dur - s.dur*6/10 }

// startOperationLocked records op on the app (status.operationState is
// cleared, like argo.SetAppOperation) and schedules the controller's work.
func (s *Server) startOperationLocked(sa *simApp, op v1alpha1.Operation, target *commit, src v1alpha1.ApplicationSource, partial bool) {
	sa.opSeq++
	if !op.InitiatedBy.Automated && !op.DryRun() {
		sa.requested++
	}
	p := &pendingOp{
		seq: sa.opSeq, target: target, source: src, dryRun: op.DryRun(), partial: partial,
		prevHealth: sa.health, outcome: sa.outcome,
	}
	sa.pending = p
	sa.app.Operation = &op
	sa.app.Status.OperationState = nil
	s.touchLocked(sa)
	s.afterLocked(s.pickupDelay(), func() {
		if sa.opSeq == p.seq {
			s.beginOperationLocked(sa, p)
		}
	})
}

func (s *Server) beginOperationLocked(sa *simApp, p *pendingOp) {
	sa.app.Status.OperationState = &v1alpha1.OperationState{
		Operation: *sa.app.Operation.DeepCopy(),
		Phase:     synccommon.OperationRunning,
		Message:   "one or more tasks are running",
		StartedAt: now(),
	}
	if !p.dryRun {
		sa.health = health.HealthStatusProgressing
	}
	s.touchLocked(sa)
	s.afterLocked(s.finishDelay(), func() {
		if sa.opSeq == p.seq {
			s.finishOperationLocked(sa, p)
		}
	})
}

func (s *Server) finishOperationLocked(sa *simApp, p *pendingOp) {
	st := sa.app.Status.OperationState
	if st == nil { // cannot happen: begin always runs first
		return
	}
	t := now()
	st.FinishedAt = &t
	st.Phase = p.outcome.Phase
	if st.Phase == "" {
		st.Phase = synccommon.OperationSucceeded
	}
	code := synccommon.ResultCodeSynced
	switch st.Phase {
	case synccommon.OperationSucceeded:
		st.Message = "successfully synced (all tasks run)"
	case synccommon.OperationFailed:
		st.Message = "one or more synchronization tasks completed unsuccessfully"
		code = synccommon.ResultCodeSyncFailed
	default:
		st.Message = "failed to sync: the simulated controller reported an error"
		code = synccommon.ResultCodeSyncFailed
	}
	if p.outcome.Message != "" {
		st.Message = p.outcome.Message
	}
	st.SyncResult = &v1alpha1.SyncOperationResult{
		Resources: sa.syncResults(p.target, code),
		Revision:  p.target.sha,
		Source:    p.source,
	}
	if st.Phase.Successful() && !p.dryRun {
		sa.live = p.target
		sa.liveSince = t.Time
		if !p.partial {
			sa.appendHistory(p, st)
		}
	}
	sa.app.Operation = nil
	sa.reconciled = t.Time
	s.touchLocked(sa)
	s.afterLocked(s.settleDelay(), func() {
		if sa.opSeq == p.seq {
			s.settleLocked(sa, p)
		}
	})
}

// appendHistory mirrors persistRevisionHistory in the application controller.
func (sa *simApp) appendHistory(p *pendingOp, st *v1alpha1.OperationState) {
	var nextID int64
	if len(sa.app.Status.History) > 0 {
		nextID = sa.app.Status.History.LastRevisionHistory().ID + 1
	}
	started := st.StartedAt
	sa.app.Status.History = append(sa.app.Status.History, v1alpha1.RevisionHistory{
		Revision:        p.target.sha,
		DeployedAt:      *st.FinishedAt,
		DeployStartedAt: &started,
		ID:              nextID,
		Source:          p.source,
		InitiatedBy:     st.Operation.InitiatedBy,
	})
	sa.app.Status.History = sa.app.Status.History.Trunc(sa.app.Spec.GetRevisionHistoryLimit())
}

func (s *Server) settleLocked(sa *simApp, p *pendingOp) {
	if !p.dryRun {
		switch {
		case p.outcome.Health != "":
			sa.health = p.outcome.Health
		case sa.app.Status.OperationState != nil && sa.app.Status.OperationState.Phase.Successful():
			sa.health = health.HealthStatusHealthy
		default:
			sa.health = p.prevHealth
		}
	}
	sa.pending = nil
	sa.reconciled = time.Now().UTC().Truncate(time.Second)
	s.touchLocked(sa)
	s.maybeAutoSyncLocked(sa)
}

// terminateLocked mirrors TerminateOperation: phase Terminating, then the
// controller fails the operation.
func (s *Server) terminateLocked(sa *simApp) {
	old := sa.pending
	sa.opSeq++
	p := &pendingOp{seq: sa.opSeq, prevHealth: sa.health, outcome: Outcome{Phase: synccommon.OperationFailed, Message: "Operation terminated"}}
	if old != nil {
		p.target, p.source, p.dryRun, p.partial, p.prevHealth = old.target, old.source, old.dryRun, old.partial, old.prevHealth
	}
	if p.target == nil {
		p.target = sa.live
	}
	sa.pending = p
	sa.app.Status.OperationState.Phase = synccommon.OperationTerminating
	s.touchLocked(sa)
	s.afterLocked(s.pickupDelay(), func() {
		if sa.opSeq != p.seq {
			return
		}
		s.finishOperationLocked(sa, p)
	})
}

// maybeAutoSyncLocked starts an automated sync when auto-sync is on (from
// 3.1: and not enabled: false) and the app is OutOfSync, skipping a revision whose automated sync already failed.
func (s *Server) maybeAutoSyncLocked(sa *simApp) {
	if !s.autoSyncOnLocked(sa) || sa.app.Operation != nil || sa.pending != nil {
		return
	}
	target, err := sa.targetCommit()
	if err != nil || target == sa.live {
		return
	}
	if st := sa.app.Status.OperationState; st != nil && st.SyncResult != nil && st.SyncResult.Revision == target.sha && !st.Phase.Successful() {
		return
	}
	seq := sa.opSeq
	s.afterLocked(s.pickupDelay(), func() {
		sp := sa.app.Spec.SyncPolicy
		if sa.opSeq != seq || sa.app.Operation != nil || !s.autoSyncOnLocked(sa) {
			return
		}
		target, err := sa.targetCommit()
		if err != nil || target == sa.live {
			return
		}
		op := v1alpha1.Operation{
			Sync: &v1alpha1.SyncOperation{
				Revision:    target.sha,
				Prune:       sp.Automated.Prune,
				SyncOptions: sp.SyncOptions,
			},
			InitiatedBy: v1alpha1.OperationInitiator{Automated: true},
		}
		if sp.Retry != nil {
			op.Retry = *sp.Retry
		}
		s.startOperationLocked(sa, op, target, *sa.app.Spec.Source.DeepCopy(), false)
	})
}
