package gateway

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/command"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/policy"
	"github.com/deploybot/deploybot/internal/slackui"
)

// GroupReader says who is in Slack user groups (usergroups.users.list),
// for approval rules whose requesters are groups.
type GroupReader interface {
	GroupMembers(ctx context.Context, ids []string) (contract.GroupMembers, error)
}

// groupCacheAge is how long the gateway trusts a group's members: the run
// reads them again for what it decides, so this only spares Slack.
const groupCacheAge = time.Minute

// SlackGroups reads user groups through Slack's Web API, caching each for
// groupCacheAge.
type SlackGroups struct {
	api   *slack.Client
	mu    sync.Mutex
	cache map[string]cachedGroup
}

type cachedGroup struct {
	members []string
	at      time.Time
}

// NewSlackGroups reads groups with the bot token (scope usergroups:read).
func NewSlackGroups(token, apiURL string) *SlackGroups {
	opts := []slack.Option{slack.OptionHTTPClient(&http.Client{Timeout: 10 * time.Second})}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return &SlackGroups{api: slack.New(token, opts...), cache: map[string]cachedGroup{}}
}

// GroupMembers implements GroupReader.
func (g *SlackGroups) GroupMembers(ctx context.Context, ids []string) (contract.GroupMembers, error) {
	out := contract.GroupMembers{}
	for _, id := range ids {
		g.mu.Lock()
		c, ok := g.cache[id]
		g.mu.Unlock()
		if ok && time.Since(c.at) < groupCacheAge {
			out[id] = c.members
			continue
		}
		members, err := g.api.GetUserGroupMembersContext(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("slack usergroups.users.list %s: %w", id, err)
		}
		g.mu.Lock()
		g.cache[id] = cachedGroup{members: members, at: time.Now()}
		g.mu.Unlock()
		out[id] = members
	}
	return out, nil
}

// deployActions are the changes a rule may be for, as `policy` lists them.
var deployActions = []contract.Action{contract.ActionSync, contract.ActionRollback, contract.ActionAutoSyncOff, contract.ActionAutoSyncOn}

// mayAsk says why user may not give cmd ("" = they may): a change needs a
// requester of a rule it may get (the run checks again once the app's
// project is known); a read-only command about an app, a requester of some
// change of it; list_apps, a requester of a deploy rule some change may
// get (a rule after one that takes every request never applies, so its
// requesters may not read); freeze and unfreeze, what mayFreeze says.
func (s *Server) mayAsk(ctx context.Context, user contract.User, cmd command.Command) string {
	if cmd.Name == command.Freeze || cmd.Name == command.Unfreeze {
		return s.mayFreeze(ctx, user, cmd)
	}
	var rules []contract.ApprovalRule
	switch bg, ok := s.approvals.BreakGlass(); {
	case cmd.Emergency != "" && !ok:
		return slackui.BreakGlassNotConfigured(user, cmd.App)
	case cmd.Emergency != "":
		rules = []contract.ApprovalRule{bg.Rule}
	case cmd.Mutating():
		rules = s.approvals.ForDeployAnyProject(policy.DeployRequest{App: cmd.App, Action: cmd.Action()}).Rules()
	case cmd.App != "":
		for _, a := range deployActions {
			rules = append(rules, s.approvals.ForDeployAnyProject(policy.DeployRequest{App: cmd.App, Action: a}).Rules()...)
		}
	default:
		rules = s.approvals.DeployRules()
	}
	allowed, _, unread, err := s.requesterOf(ctx, user, rules, false)
	switch {
	case allowed:
		return ""
	case err != nil:
		// Not knowing lets a change go on: the run reads the groups
		// itself, once the app's project is known and before anything
		// happens, and fails closed there. A read-only command is not
		// checked again, so it fails closed here; so does a break-glass
		// sync, whose loud audit line the gateway writes before the run
		// starts: it is started only for someone known to be allowed.
		if cmd.Mutating() && cmd.Emergency == "" {
			return ""
		}
		return slackui.RequesterGroupsUnreadable(user, unread, cmd.String(), err.Error())
	case !cmd.Mutating():
		return slackui.NotAllowedToRead(user, cmd.String())
	}
	return slackui.NotARequesterOfRule(user, rules[0], cmd.String(), cmd.App)
}

// mayFreeze says why user may not freeze or unfreeze cmd's target ("" =
// they may). A freeze holds back everyone's changes of its target, so it
// follows the approval policy: an app, whoever may ask for a sync of it
// (a requester of a rule its sync may get, as for `sync APP`: the gateway
// does not know the app's project); project:NAME, a requester of every
// rule a change of the project's apps may get; all, of every deploy rule.
// Nothing checks again later, so when Slack does not say who is in the
// groups that would decide, the request is refused.
func (s *Server) mayFreeze(ctx context.Context, user contract.User, cmd command.Command) string {
	var rules []contract.ApprovalRule
	every := true // of rules, every one must let user ask, else one
	switch {
	case cmd.App != "":
		rules, every = s.approvals.ForDeployAnyProject(policy.DeployRequest{App: cmd.App, Action: contract.ActionSync}).Rules(), false
	case cmd.Project != "":
		rules = s.approvals.ForProject(cmd.Project)
	default:
		rules = s.approvals.DeployRules()
	}
	allowed, missing, unread, err := s.requesterOf(ctx, user, rules, every)
	switch {
	case allowed:
		return ""
	case err != nil:
		return slackui.RequesterGroupsUnreadable(user, unread, cmd.String(), err.Error())
	}
	return slackui.NotAllowedToFreeze(user, cmd.String(), cmd.FreezeTarget(), missing)
}

// requesterOf says whether rules let user ask: every one of them with
// every, else any one. missing are the rules that do not, by user's id,
// then by the members of their Slack groups, which are read only when the
// ids do not decide. When Slack cannot say who is in them, err is why and
// unread the first missing rule with groups: whether not knowing refuses
// is the caller's to decide.
func (s *Server) requesterOf(ctx context.Context, user contract.User, rules []contract.ApprovalRule, every bool) (allowed bool, missing []contract.ApprovalRule, unread contract.ApprovalRule, err error) {
	var groups []string
	for _, r := range rules {
		if r.Requesters.Includes(user.ID, nil) {
			continue
		}
		missing = append(missing, r)
		for _, g := range r.Requesters.Groups {
			groups = append(groups, g.ID)
		}
	}
	allows := func() bool { return len(missing) == 0 || !every && len(missing) < len(rules) }
	if allows() || len(groups) == 0 {
		return allows(), missing, unread, nil
	}
	members, err := s.groups.GroupMembers(ctx, groups)
	if err != nil {
		s.log.Warn("could not read the requester groups of the approval policy", "user", user.ID, "error", err)
		for _, r := range missing {
			if len(r.Requesters.Groups) > 0 {
				return false, missing, r, err
			}
		}
	}
	missing = slices.DeleteFunc(missing, func(r contract.ApprovalRule) bool { return r.Requesters.Includes(user.ID, members) })
	return allows(), missing, unread, nil
}

// policyAnswer is the reply to `policy APP`: each change's rules, actions
// with the same rules together.
func (s *Server) policyAnswer(app string, action contract.Action) string {
	var groups []slackui.PolicyActions
	actions := deployActions
	if action != "" {
		actions = []contract.Action{action}
	}
	for _, a := range actions {
		rules := s.approvals.ForDeployAnyProject(policy.DeployRequest{App: app, Action: a})
		if n := len(groups); n > 0 && reflect.DeepEqual(groups[n-1].Rules, rules) {
			groups[n-1].Actions = append(groups[n-1].Actions, a)
			continue
		}
		groups = append(groups, slackui.PolicyActions{Actions: []contract.Action{a}, Rules: rules})
	}
	var breakGlass *contract.ProjectRule
	if bg, ok := s.approvals.BreakGlass(); ok && (action == "" || action == contract.ActionSync) {
		breakGlass = &contract.ProjectRule{Rule: bg.Rule}
	}
	return slackui.PolicyText(app, s.approvals.File(), groups, breakGlass)
}
