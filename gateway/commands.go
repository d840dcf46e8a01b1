package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/deploybot/deploybot/internal/command"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/policy"
	"github.com/deploybot/deploybot/internal/slackui"
)

// request is one command from Slack, whatever carried it: a mention (an
// app_mention event) or the /deploy slash command, over HTTP or Socket Mode.
type request struct {
	// via is "mention" or "slash", for logs.
	via string
	// id is the Slack request's own id: the event_id of a mention, the
	// trigger_id of a slash command. Workflow ids and memos derive from it,
	// which is what makes retries and replays start nothing new.
	id string
	// retry is X-Slack-Retry-Num (0 for a first delivery).
	retry int
	user  contract.User
	// channel and threadTS say where the asking message is; replies go in
	// its thread (threadTS is the message's own ts when it is not in one).
	channel, threadTS string
	// responseURL is a slash command's response_url.
	responseURL string
	text        string
}

// replyKey identifies the gateway's reply to a mention in its metadata, so a
// retried event can see it was answered.
func (r request) replyKey() string { return "gateway/" + r.id }

// handleCommand parses, authorizes and starts what r asks for, within the
// Temporal deadline, and queues the reply the gateway owes, if any. It
// returns the outcome for the metrics.
func (s *Server) handleCommand(ctx context.Context, r request) string {
	log := s.log.With("via", r.via, "request", r.id, "user", r.user.ID, "channel", r.channel)
	if r.retry > 0 {
		log = log.With("retry", r.retry)
	}
	cmd, err := command.Parse(r.text)
	if err != nil {
		log.Info("command not understood", "error", err)
		// The explanation quotes what was typed: escaped, so a typed
		// <!channel> is shown, not sent as a ping.
		s.replyTo(r, slackui.NotUnderstood(err.Error(), s.help()))
		return outcomeParseError
	}
	if cmd.App != "" {
		app, ok := s.canonicalApp(cmd.App)
		if !ok {
			log.Info("command names an unknown Argo CD instance", "app", cmd.App, "instances", strings.Join(s.instances.Names(), ","))
			s.replyTo(r, s.unknownInstance(cmd.App))
			return outcomeParseError
		}
		cmd.App = app
	}
	if cmd.Name == command.Help { // anyone may ask for help
		return s.answer(ctx, r, cmd)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.TemporalTimeout)
	defer cancel()
	if why := s.mayAsk(ctx, r.user, cmd); why != "" {
		// The audit line: who asked for what, when, and that it was refused.
		log.Warn("audit: request refused", "audit", true, "command", cmd.String(),
			"at", time.Now().UTC().Format(time.RFC3339), "reason", "not a requester of the approval policy")
		s.replyTo(r, why)
		return outcomeUnauthorized
	}
	switch cmd.Spec().Kind {
	case command.Change:
		return s.startDeploy(ctx, log, r, cmd)
	case command.Read:
		return s.startCommand(ctx, log, r, cmd)
	}
	return s.answer(ctx, r, cmd)
}

// answer replies to a command the gateway answers itself (command.Answered).
func (s *Server) answer(ctx context.Context, r request, cmd command.Command) string {
	switch cmd.Name {
	case command.History:
		return s.history(ctx, r, cmd)
	case command.Freeze:
		return s.freeze(ctx, r, cmd)
	case command.Unfreeze:
		return s.unfreeze(ctx, r, cmd)
	case command.Freezes:
		return s.freezes(ctx, r, cmd)
	case command.Help:
		s.replyTo(r, s.help())
		return outcomeHelp
	case command.Policy:
		s.replyTo(r, s.policyAnswer(cmd.App, contract.Action(cmd.Arg)))
		return outcomePolicy
	}
	// Only a command added to the table without its answer gets here; the
	// gateway's table test fails first.
	s.log.Error("no answer for an answered command", "command", cmd.String())
	s.replyTo(r, slackui.NoAnswer(cmd.String()))
	return outcomeError
}

// startDeploy starts DeployWorkflow for a sync, rollback or autosync.
func (s *Server) startDeploy(ctx context.Context, log *slog.Logger, r request, cmd command.Command) string {
	id := contract.DeployWorkflowID(cmd.App)
	// A retry or replay of a request whose run has already ended would
	// otherwise start it again: the id is free once the run closes.
	if handled, err := s.requestHandled(ctx, id, r.id); handled != nil {
		log.Info("request already handled; staying silent", "workflowId", id, "runId", handled.RunID)
		return outcomeDuplicate
	} else if err != nil {
		if temporalUnavailable(err) {
			return s.temporalDown(log, r, cmd, err)
		}
		log.Warn("could not look for an earlier run; starting anyway", "workflowId", id, "error", err)
	}
	in := contract.DeployInput{
		Request: cmd.DeployRequest(contract.DeployRequest{
			RequestedBy: r.user, Channel: r.channel, ThreadTS: r.threadTS, ResponseURL: r.responseURL,
		}),
		Policy: s.policy(),
		Rules:  s.approvals.ForDeployAnyProject(policy.DeployRequest{App: cmd.App, Action: cmd.Action()}),
	}
	if cmd.Emergency != "" {
		bg, _ := s.approvals.BreakGlass() // mayAsk refused it without one
		in.Rules = contract.ProjectRules{{Rule: bg.Rule}}
		in.Emergency = &contract.Emergency{Reason: cmd.Emergency, EmailTo: bg.EmailTo}
		log.Warn("audit: break-glass sync requested", "audit", true, "command", cmd.String(),
			"at", time.Now().UTC().Format(time.RFC3339), "reason", cmd.Emergency, "emailTo", strings.Join(bg.EmailTo, ","))
	}
	run, err := s.starter.StartDeploy(ctx, in, r.id)
	var dup *AlreadyStartedError
	switch {
	case err == nil:
		s.metrics.started.WithLabelValues(contract.WorkflowDeploy).Inc()
		s.audit(log, cmd, "started", run)
		return outcomeStarted
	case errors.As(err, &dup):
		info, derr := s.starter.DescribeRun(ctx, dup.WorkflowID, dup.RunID)
		if derr == nil && info.RequestID == r.id && r.id != "" {
			log.Info("request already handled; staying silent", "workflowId", dup.WorkflowID, "runId", dup.RunID)
			return outcomeDuplicate
		}
		if derr != nil {
			info = RunInfo{Run: dup.Run}
		}
		s.audit(log, cmd, "refused: a run is already in flight for the app", dup.Run)
		s.replyTo(r, s.alreadyRunning(cmd, info))
		return outcomeAlreadyRunning
	case temporalUnavailable(err):
		return s.temporalDown(log, r, cmd, err)
	default:
		log.Error("could not start the deploy workflow", "command", cmd.String(), "error", err)
		s.replyTo(r, slackui.StartRefused(cmd.String(), err.Error()))
		return outcomeError
	}
}

// replayWindow is how far back a request's runs are looked for: a signed
// request is accepted up to MaxClockSkew after Slack signed it, and Slack's
// own retries come within minutes, so twice that covers every delivery.
const replayWindow = 2 * MaxClockSkew

// requestHandled finds a run of workflowID that requestID already started:
// the latest run (always seen at once), or any run started within the
// replay window (visibility), since a newer run of the app may have come
// after it. nil when there is none, or when requestID is empty.
func (s *Server) requestHandled(ctx context.Context, workflowID, requestID string) (*RunInfo, error) {
	if requestID == "" {
		return nil, nil
	}
	latest, err := s.starter.DescribeRun(ctx, workflowID, "")
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil // no run ever: nothing to look through
	case err != nil:
		return nil, err
	case latest.RequestID == requestID:
		return &latest, nil
	}
	since := time.Now().Add(-replayWindow).UTC().Format(time.RFC3339)
	// workflowID is deploy-<app> of a validated app name: nothing to escape.
	runs, err := s.starter.ListRuns(ctx, and(fmt.Sprintf("WorkflowId = '%s'", workflowID), fmt.Sprintf("StartTime > '%s'", since)), 50)
	if err != nil {
		return nil, err
	}
	for i := range runs {
		if runs[i].RequestID == requestID {
			return &runs[i], nil
		}
	}
	return nil, nil
}

// startCommand starts the read-only workflow that answers cmd.
func (s *Server) startCommand(ctx context.Context, log *slog.Logger, r request, cmd command.Command) string {
	wfType := cmd.Spec().Workflow
	id := contract.CommandWorkflowID(string(cmd.Name), safeID(r.id))
	in := cmd.ReadInput(contract.CommandInput{
		RequestedBy:   r.user,
		Reply:         contract.ReplyTo{Channel: r.channel, ThreadTS: r.threadTS, ResponseURL: r.responseURL},
		TemporalUIURL: s.cfg.TemporalUIURL,
		Namespace:     s.cfg.TemporalNamespace,
		BotName:       s.cfg.BotName,
	}, command.Settings{LogTailLines: int64(s.cfg.ArgoCDLogTailLines), RollbackFields: s.cfg.RollbackTableFields})
	run, err := s.starter.StartCommand(ctx, wfType, id, in, r.id)
	var dup *AlreadyStartedError
	switch {
	case err == nil:
		s.metrics.started.WithLabelValues(wfType).Inc()
		s.audit(log, cmd, "started", run)
		return outcomeStarted
	case errors.As(err, &dup):
		// The id is the Slack request's: this is a retry or a replay.
		log.Info("request already handled; staying silent", "workflowId", id)
		return outcomeDuplicate
	case temporalUnavailable(err):
		return s.temporalDown(log, r, cmd, err)
	default:
		log.Error("could not start the command workflow", "command", cmd.String(), "error", err)
		s.replyTo(r, slackui.StartRefused(cmd.String(), err.Error()))
		return outcomeError
	}
}

// defaultHistory is how many runs `history APP` shows without N.
const defaultHistory = 10

// history answers `history APP [N]` from Temporal visibility: the app's
// last deploy runs, as the runs API lists them.
func (s *Server) history(ctx context.Context, r request, cmd command.Command) string {
	n := cmd.Count
	if n == 0 {
		n = defaultHistory
	}
	// cmd.App is a validated app name: nothing to escape in the query.
	query := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s'", contract.WorkflowDeploy, contract.SearchAttrDeployApp.GetName(), cmd.App)
	runs, err := s.listRuns(ctx, query, n)
	if err != nil {
		if temporalUnavailable(err) {
			return s.temporalDown(s.log, r, cmd, err)
		}
		s.replyTo(r, slackui.HistoryRefused(cmd.App, err.Error()))
		return outcomeError
	}
	s.replyTo(r, slackui.HistoryText(cmd.App, runs, time.Now()))
	return outcomeHistory
}

// policy is the approval policy a new run carries in its input.
func (s *Server) policy() contract.DeployPolicy {
	return contract.DeployPolicy{
		Approvers:                 append([]string(nil), s.cfg.Approvers...),
		AllowSelfApproval:         s.cfg.AllowSelfApproval,
		ApprovalTimeout:           s.cfg.ApprovalTimeout,
		HealthTimeout:             s.cfg.HealthTimeout,
		AutoDisableSyncOnRollback: s.cfg.AutoDisableSyncOnRollback,
		ParamNames:                append([]string(nil), s.cfg.RollbackTableFields...),
		TemporalUIURL:             s.cfg.TemporalUIURL,
		Namespace:                 s.cfg.TemporalNamespace,
	}
}

func (s *Server) help() string { return command.HelpText(s.cfg.BotName, s.cfg.BotDescription) }

func (s *Server) audit(log *slog.Logger, cmd command.Command, result string, run Run) {
	log.Info("audit: request accepted", "audit", true, "command", cmd.String(), "result", result,
		"at", time.Now().UTC().Format(time.RFC3339), "workflowId", run.WorkflowID, "runId", run.RunID)
}

func (s *Server) alreadyRunning(cmd command.Command, info RunInfo) string {
	return slackui.AlreadyInProgress(cmd.String(), cmd.App, slackui.ActiveRun{
		Action: info.Action, RequestedBy: info.RequestedBy, WorkflowID: info.WorkflowID,
		URL: contract.RunURL(s.cfg.TemporalUIURL, s.cfg.TemporalNamespace, info.WorkflowID, info.RunID),
	})
}

// slackMaxRetries is how often Slack redelivers an event that was not
// acknowledged with a 2xx (X-Slack-Retry-Num 1 to 3).
const slackMaxRetries = 3

// temporalDown answers a request that could not reach Temporal: the user is
// told, never left with silence. When Temporal is only busy (no answer in
// time), a mention is handed back to Slack to redeliver while it still
// will: the event id makes that safe, and a later delivery may get through.
func (s *Server) temporalDown(log *slog.Logger, r request, cmd command.Command, err error) string {
	if temporalBusy(err) {
		if r.via == "mention" && r.retry < slackMaxRetries {
			log.Warn("Temporal did not answer in time; asking Slack to deliver the mention again", "command", cmd.String(), "retry", r.retry, "error", err)
			return outcomeRedeliver
		}
		log.Warn("Temporal did not answer in time; request not started", "command", cmd.String(), "error", err)
		s.replyTo(r, slackui.TemporalBusy(cmd.String(), s.opts.TemporalTimeout))
		return outcomeBusy
	}
	log.Error("Temporal is unreachable; request not started", "command", cmd.String(), "error", err)
	s.replyTo(r, slackui.TemporalUnreachable(cmd.String()))
	return outcomeUnavailable
}

// replyTo queues a reply to r where r asked: the response_url of a slash
// command, else the thread of the mention.
func (s *Server) replyTo(r request, text string) {
	rep := Reply{Channel: r.channel, ThreadTS: r.threadTS, ResponseURL: r.responseURL, Text: text}
	dedupe := false
	if r.responseURL == "" {
		rep.Key = r.replyKey()
		// Only a redelivered event can have been answered already; looking
		// costs a Slack call, so first deliveries skip it.
		dedupe = r.retry > 0
	}
	s.send(rep, dedupe)
}

var safeIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// safeID keeps a Slack request id usable in a workflow id: Slack's ids
// already are; anything else is hashed, which keeps it deterministic (a
// retry still maps to the same workflow id).
func safeID(id string) string {
	if safeIDRE.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "h" + hex.EncodeToString(sum[:12])
}

// canonicalApp is app as its run is keyed: the instance named only when it
// is not the default, the namespace only when it is not the instance's
// Argo CD namespace, so "argocd/guestbook@<default>" and "guestbook" are
// one app with one run id. It is false when app names an Argo CD instance
// this deploybot does not have.
func (s *Server) canonicalApp(app string) (string, bool) {
	rest, name := contract.SplitInstance(app)
	inst, ok := s.instances.Get(name)
	if !ok {
		return "", false
	}
	ns, n := contract.SplitApp(rest)
	canonical := contract.QualifiedApp(ns, n, inst.Namespace)
	if inst.Name != s.instances.Default {
		canonical = contract.WithInstance(canonical, inst.Name)
	}
	return canonical, true
}

// unknownInstance is the reply to a command whose app names an Argo CD
// instance that canonicalApp does not know.
func (s *Server) unknownInstance(app string) string {
	rest, name := contract.SplitInstance(app)
	return slackui.UnknownInstance(app, name, s.instances.Names(), rest, s.instances.Default)
}

// and and or join Temporal visibility query clauses.
func and(clauses ...string) string { return strings.Join(clauses, " AND ") }
func or(clauses ...string) string  { return strings.Join(clauses, " OR ") }
