package activities

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackerr"
)

// GroupMembersInput is the input of Slack.GroupMembers.
type GroupMembersInput struct {
	// Groups are Slack user group ids (S…), as contract.UserGroup.ID.
	Groups []string
	// MaxAge is how old a cached answer may be and still be used without
	// asking Slack; 0 means DefaultGroupMaxAge.
	MaxAge time.Duration
}

// GroupMembersResult is what Slack.GroupMembers read.
type GroupMembersResult struct {
	// Members has every group of the input: its members' user ids, in
	// Slack's order (empty for a group without members).
	Members contract.GroupMembers
	// ReadAt is when Slack gave the oldest of the answers used (a cached
	// one's read time); zero when the input names no group.
	ReadAt time.Time
}

const (
	// DefaultGroupMaxAge is GroupMembersInput.MaxAge when it is 0.
	DefaultGroupMaxAge = time.Minute
	// GroupStaleLimit is how old a cached answer may be to stand in for one
	// Slack cannot give now (unreachable, rate limited, token refused).
	GroupStaleLimit = time.Hour
)

// groupCache holds user groups' members as last read, per Slack struct (so
// per worker process). The zero value is ready to use.
type groupCache struct {
	mu      sync.Mutex
	entries map[string]groupEntry // by group id
	now     func() time.Time      // nil: time.Now (tests set it)
}

type groupEntry struct {
	members []string
	readAt  time.Time
}

func (c *groupCache) clock() time.Time {
	c.mu.Lock()
	now := c.now
	c.mu.Unlock()
	if now == nil {
		return time.Now()
	}
	return now()
}

func (c *groupCache) get(id string) (groupEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	return e, ok
}

func (c *groupCache) put(id string, e groupEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]groupEntry{}
	}
	c.entries[id] = e
}

func (c *groupCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}

// GroupMembers reads the members of Slack user groups
// (usergroups.users.list, bot scope usergroups:read), for approval rules
// that name groups. A group read less than in.MaxAge ago is answered from
// the cache without asking Slack; the others are read again.
//
// When Slack cannot answer for a group (unreachable, rate limited, token
// or scope refused) and the cache has it from less than GroupStaleLimit
// ago, those members are used and a warning is logged; otherwise the
// error is returned as the other Slack activities return theirs (a
// SlackError says what to fix). A group Slack says does not exist —
// deleted, disabled, or a wrong id: no_such_subteam — is dropped from the
// cache and fails the read, naming the group: its old members no longer
// count. A group Slack answers with no members (empty, or disabled where
// Slack answers so) is returned empty, with a warning: nobody approves
// through it.
func (s *Slack) GroupMembers(ctx context.Context, in GroupMembersInput) (GroupMembersResult, error) {
	maxAge := in.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultGroupMaxAge
	}
	ids := slices.Clone(in.Groups)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > 0 && ids[0] == "" {
		return GroupMembersResult{}, slackBadMessage("GroupMembers needs Slack user group ids (S…); one is empty")
	}
	log := activity.GetLogger(ctx)
	res := GroupMembersResult{Members: contract.GroupMembers{}}
	use := func(id string, e groupEntry) {
		res.Members[id] = slices.Clone(e.members)
		if res.ReadAt.IsZero() || e.readAt.Before(res.ReadAt) {
			res.ReadAt = e.readAt
		}
	}
	for _, id := range ids {
		cached, ok := s.groups.get(id)
		if ok && s.groups.clock().Sub(cached.readAt) < maxAge {
			use(id, cached)
			continue
		}
		members, err := s.Client.GetUserGroupMembersContext(ctx, id)
		if err == nil {
			if len(members) == 0 {
				log.Warn("Slack user group has no members: nobody can approve through it (the group is empty or disabled)", "group", id)
			}
			e := groupEntry{members: append([]string{}, members...), readAt: s.groups.clock()}
			s.groups.put(id, e)
			use(id, e)
			continue
		}
		aerr := s.wrapError(ctx, slackCall{method: "usergroups.users.list", group: id}, err)
		if ctx.Err() != nil {
			return GroupMembersResult{}, aerr
		}
		if slackerr.Classify(err).Code == "no_such_subteam" {
			s.groups.drop(id)
			return GroupMembersResult{}, aerr
		}
		if age := s.groups.clock().Sub(cached.readAt); ok && age < GroupStaleLimit {
			log.Warn("Cannot read a Slack user group's members; using those read earlier",
				"group", id, "readAt", cached.readAt, "age", age.Round(time.Second), "error", aerr)
			use(id, cached)
			continue
		}
		return GroupMembersResult{}, aerr
	}
	return res, nil
}
