package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deploybot/deploybot/internal/command"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// freeze answers `freeze TARGET for|until … REASON`: it starts the
// target's FreezeWorkflow, which every change of a matching app checks.
func (s *Server) freeze(ctx context.Context, r request, cmd command.Command) string {
	now := time.Now().UTC()
	until := cmd.Until
	if cmd.For > 0 {
		until = now.Add(cmd.For).Truncate(time.Minute)
	}
	if !until.After(now) || until.Sub(now) > contract.MaxFreeze {
		s.replyTo(r, slackui.FreezeOutOfRange(cmd.String(), until, contract.MaxFreeze))
		return outcomeParseError
	}
	in := contract.FreezeInput{Target: cmd.FreezeTarget(), Until: until, Reason: cmd.Reason, By: r.user, Channel: r.channel}
	if err := in.Validate(); err != nil {
		s.replyTo(r, slackui.Invalid(err.Error()))
		return outcomeParseError
	}
	log := s.log.With("request", r.id, "user", r.user.ID)
	run, err := s.starter.StartFreeze(ctx, in, r.id)
	var dup *AlreadyStartedError
	switch {
	case err == nil:
		log.Warn("audit: freeze set", "audit", true, "target", in.Target, "until", until.Format(time.RFC3339), "reason", in.Reason, "workflowId", run.WorkflowID)
		s.replyTo(r, slackui.FreezeStarted(contract.Freeze{Target: in.Target, Reason: in.Reason, By: in.By, Until: until}))
		return outcomeStarted
	case errors.As(err, &dup):
		if info, derr := s.starter.DescribeRun(ctx, dup.WorkflowID, dup.RunID); derr == nil && info.Freeze != nil {
			if info.RequestID == r.id && r.id != "" {
				return outcomeDuplicate // a retry of this very request
			}
			s.replyTo(r, slackui.AlreadyFrozen(*info.Freeze))
			return outcomeAlreadyRunning
		}
		s.replyTo(r, slackui.AlreadyFrozen(contract.Freeze{Target: in.Target}))
		return outcomeAlreadyRunning
	case temporalUnavailable(err):
		return s.temporalDown(log, r, cmd, err)
	}
	log.Error("could not start the freeze", "command", cmd.String(), "error", err)
	s.replyTo(r, slackui.StartRefused(cmd.String(), err.Error()))
	return outcomeError
}

// unfreeze answers `unfreeze TARGET`: it signals the target's freeze to end.
func (s *Server) unfreeze(ctx context.Context, r request, cmd command.Command) string {
	target := cmd.FreezeTarget()
	info, err := s.starter.DescribeRun(ctx, contract.FreezeWorkflowID(target), "")
	if err == nil && info.Running {
		err = s.starter.SignalUnfreeze(ctx, target, r.user)
	}
	switch {
	case errors.Is(err, ErrNotFound), err == nil && !info.Running:
		s.replyTo(r, slackui.NotFrozen(target))
		return outcomeHelp
	case err != nil && temporalUnavailable(err):
		return s.temporalDown(s.log, r, cmd, err)
	case err != nil:
		s.replyTo(r, slackui.UnfreezeFailed(target, err.Error()))
		return outcomeError
	}
	f := contract.Freeze{Target: target}
	if info.Freeze != nil {
		f = *info.Freeze
	}
	s.log.Warn("audit: freeze lifted", "audit", true, "target", target, "user", r.user.ID, "workflowId", info.WorkflowID)
	s.replyTo(r, slackui.FreezeLifted(f, r.user))
	return outcomeStarted
}

// freezes answers `freezes`: the freezes in force, from visibility.
func (s *Server) freezes(ctx context.Context, r request, cmd command.Command) string {
	infos, err := s.starter.ListRuns(ctx, and(fmt.Sprintf("WorkflowType = '%s'", contract.WorkflowFreeze), "ExecutionStatus = 'Running'"), 100)
	if err != nil {
		if temporalUnavailable(err) {
			return s.temporalDown(s.log, r, cmd, err)
		}
		s.replyTo(r, slackui.FreezesRefused(err.Error()))
		return outcomeError
	}
	var fs []contract.Freeze
	for _, info := range infos {
		if info.Freeze != nil && info.Freeze.Until.After(time.Now()) {
			fs = append(fs, *info.Freeze)
		}
	}
	s.replyTo(r, slackui.FreezesText(fs))
	return outcomeHistory
}
