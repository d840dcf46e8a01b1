package activities_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackapi"
)

const groupsMethod = "usergroups.users.list"

// fakeClock is the time the group cache sees; tests move it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type groupsEnv struct {
	t     *testing.T
	sl    *slackapi.Server
	env   *testsuite.TestActivityEnvironment
	s     *activities.Slack
	clock *fakeClock
}

// startGroups serves the Slack stand-in with @platform (bob, dan),
// @payments-leads (carol), an empty group and a disabled one, and the
// GroupMembers activity over it with a fake clock.
func startGroups(t *testing.T, scopes []string) *groupsEnv {
	t.Helper()
	sl := slackapi.StartTest(t, slackapi.Options{
		Token: "xoxb-test",
		Users: []slackapi.User{{ID: "U0BOB", Name: "bob"}, {ID: "U0CAROL", Name: "carol"}, {ID: "U0DAN", Name: "dan"}},
		UserGroups: []slackapi.UserGroup{
			{ID: "S0PLATFORM", Handle: "platform", Users: []string{"U0BOB", "U0DAN"}},
			{ID: "S0PAYLEADS", Handle: "payments-leads", Users: []string{"U0CAROL"}},
			{ID: "S0EMPTY", Handle: "nobody"},
			{ID: "S0OLD", Handle: "old-team", Users: []string{"U0BOB"}, Disabled: true},
		},
		Scopes: scopes,
	})
	s := &activities.Slack{Client: activities.NewSlackClient("xoxb-test", sl.URL()+"/api/")}
	clock := &fakeClock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	activities.SetGroupClock(s, clock.now)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(s)
	return &groupsEnv{t: t, sl: sl, env: env, s: s, clock: clock}
}

func (g *groupsEnv) read(in activities.GroupMembersInput) (activities.GroupMembersResult, error) {
	g.t.Helper()
	val, err := g.env.ExecuteActivity(g.s.GroupMembers, in)
	if err != nil {
		return activities.GroupMembersResult{}, err
	}
	var res activities.GroupMembersResult
	if err := val.Get(&res); err != nil {
		g.t.Fatal(err)
	}
	return res, nil
}

func (g *groupsEnv) mustRead(groups ...string) activities.GroupMembersResult {
	g.t.Helper()
	res, err := g.read(activities.GroupMembersInput{Groups: groups})
	if err != nil {
		g.t.Fatalf("GroupMembers(%v): %v", groups, err)
	}
	return res
}

func equalMembers(a, b contract.GroupMembers) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

func TestSlackGroupMembersReadsSlack(t *testing.T) {
	g := startGroups(t, nil)
	res := g.mustRead("S0PLATFORM", "S0PAYLEADS", "S0PLATFORM", "S0EMPTY")
	want := contract.GroupMembers{"S0PLATFORM": {"U0BOB", "U0DAN"}, "S0PAYLEADS": {"U0CAROL"}, "S0EMPTY": {}}
	if !equalMembers(res.Members, want) {
		t.Errorf("members = %v, want %v", res.Members, want)
	}
	if m, ok := res.Members["S0EMPTY"]; !ok || m == nil {
		t.Errorf("a group without members must be there, empty: %#v", m)
	}
	if !res.ReadAt.Equal(g.clock.now()) {
		t.Errorf("ReadAt = %s, want %s", res.ReadAt, g.clock.now())
	}
	if n := g.sl.Calls(groupsMethod); n != 3 {
		t.Errorf("%d calls of %s, want 3 (one per group)", n, groupsMethod)
	}
	if res := g.mustRead(); len(res.Members) != 0 || !res.ReadAt.IsZero() {
		t.Errorf("no groups: %+v", res)
	}
	_, err := g.read(activities.GroupMembersInput{Groups: []string{"S0PLATFORM", ""}})
	if appErr := slackAppError(t, err); appErr.Type() != activities.SlackBadMessageErrorType {
		t.Errorf("an empty group id: %v", err)
	}
}

func TestSlackGroupMembersCachesAndRefreshes(t *testing.T) {
	g := startGroups(t, nil)
	first := g.mustRead("S0PLATFORM")
	readAt := first.ReadAt

	// An admin moves bob out of @platform; within a minute the cache answers.
	g.sl.SetUserGroup(slackapi.UserGroup{ID: "S0PLATFORM", Handle: "platform", Users: []string{"U0DAN"}})
	g.clock.advance(59 * time.Second)
	res := g.mustRead("S0PLATFORM")
	if !slices.Equal(res.Members["S0PLATFORM"], []string{"U0BOB", "U0DAN"}) || !res.ReadAt.Equal(readAt) {
		t.Errorf("within MaxAge: %+v, want the cached members read at %s", res, readAt)
	}
	if n := g.sl.Calls(groupsMethod); n != 1 {
		t.Fatalf("%d calls after a cache hit, want 1", n)
	}

	// Past the default MaxAge of a minute, Slack is asked again.
	g.clock.advance(time.Second)
	res = g.mustRead("S0PLATFORM", "S0PAYLEADS")
	if !slices.Equal(res.Members["S0PLATFORM"], []string{"U0DAN"}) || !res.ReadAt.Equal(g.clock.now()) {
		t.Errorf("after MaxAge: %+v", res)
	}
	if n := g.sl.Calls(groupsMethod); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}

	// A shorter MaxAge re-reads sooner; ReadAt is the oldest answer used.
	g.clock.advance(10 * time.Second)
	res, err := g.read(activities.GroupMembersInput{Groups: []string{"S0PLATFORM"}, MaxAge: 5 * time.Second})
	if err != nil || g.sl.Calls(groupsMethod) != 4 || !res.ReadAt.Equal(g.clock.now()) {
		t.Errorf("MaxAge 5s after 10s: %+v %v, %d calls", res, err, g.sl.Calls(groupsMethod))
	}
	res = g.mustRead("S0PLATFORM", "S0PAYLEADS")
	if g.sl.Calls(groupsMethod) != 4 || !res.ReadAt.Equal(g.clock.now().Add(-10*time.Second)) {
		t.Errorf("both cached: ReadAt %s, %d calls", res.ReadAt, g.sl.Calls(groupsMethod))
	}
}

func TestSlackGroupMembersServesStaleWhenSlackFails(t *testing.T) {
	g := startGroups(t, nil)
	readAt := g.mustRead("S0PLATFORM").ReadAt
	g.sl.SetUserGroup(slackapi.UserGroup{ID: "S0PLATFORM", Handle: "platform", Users: []string{"U0DAN"}})

	for _, fault := range []string{"service_unavailable", "ratelimited", "invalid_auth"} {
		g.clock.advance(10 * time.Minute)
		g.sl.FailNext(groupsMethod, 1, fault)
		res, err := g.read(activities.GroupMembersInput{Groups: []string{"S0PLATFORM"}})
		if err != nil {
			t.Fatalf("%s with a cached answer: %v", fault, err)
		}
		if !slices.Equal(res.Members["S0PLATFORM"], []string{"U0BOB", "U0DAN"}) || !res.ReadAt.Equal(readAt) {
			t.Errorf("%s: %+v, want the members read at %s", fault, res, readAt)
		}
	}
	if n := g.sl.Calls(groupsMethod); n != 4 {
		t.Errorf("%d calls, want 4: each read past MaxAge asks Slack", n)
	}

	// Past an hour the old answer is too old to stand in: the error comes
	// through, retryable as for the other Slack activities.
	g.clock.advance(30*time.Minute + time.Second)
	g.sl.FailNext(groupsMethod, 1, "service_unavailable")
	_, err := g.read(activities.GroupMembersInput{Groups: []string{"S0PLATFORM"}})
	if appErr := slackAppError(t, err); appErr.Type() != activities.SlackUnavailableErrorType || appErr.NonRetryable() {
		t.Errorf("stale over an hour: %v", err)
	}
	// And once Slack answers again, the new members are read.
	if res := g.mustRead("S0PLATFORM"); !slices.Equal(res.Members["S0PLATFORM"], []string{"U0DAN"}) {
		t.Errorf("after recovery: %+v", res)
	}

	// Without a cached answer, the failure is the activity's.
	g.sl.FailNext(groupsMethod, 1, "ratelimited")
	_, err = g.read(activities.GroupMembersInput{Groups: []string{"S0PAYLEADS"}})
	if appErr := slackAppError(t, err); appErr.Type() != activities.SlackRateLimitedErrorType {
		t.Errorf("nothing cached, rate limited: %v", err)
	}
}

func TestSlackGroupMembersMissingScopeSaysWhatToAdd(t *testing.T) {
	g := startGroups(t, []string{"chat:write", "commands"})
	_, err := g.read(activities.GroupMembersInput{Groups: []string{"S0PLATFORM"}})
	appErr := slackAppError(t, err)
	if appErr.Type() != activities.SlackErrorType || !appErr.NonRetryable() {
		t.Errorf("type=%s nonRetryable=%v, want a non-retryable %s", appErr.Type(), appErr.NonRetryable(), activities.SlackErrorType)
	}
	for _, want := range []string{"missing_scope", "usergroups:read", "deploy/slack", "reinstall"} {
		if !strings.Contains(appErr.Error(), want) {
			t.Errorf("message %q lacks %q", appErr.Error(), want)
		}
	}
	var code string
	if err := appErr.Details(&code); err != nil || code != "missing_scope" {
		t.Errorf("details = %q (%v), want missing_scope", code, err)
	}
}

func TestSlackGroupMembersDisabledOrUnknownGroup(t *testing.T) {
	g := startGroups(t, nil)
	for _, id := range []string{"S0OLD", "S0NOPE"} {
		_, err := g.read(activities.GroupMembersInput{Groups: []string{"S0PLATFORM", id}})
		appErr := slackAppError(t, err)
		if appErr.Type() != activities.SlackErrorType || !appErr.NonRetryable() ||
			!strings.Contains(appErr.Error(), id) || !strings.Contains(appErr.Error(), "disabled") {
			t.Errorf("%s: %v", id, err)
		}
	}
	// A group disabled after it was read is not served from the cache: its
	// members no longer count.
	g.clock.advance(2 * time.Minute)
	g.sl.SetUserGroup(slackapi.UserGroup{ID: "S0PLATFORM", Handle: "platform", Users: []string{"U0BOB"}, Disabled: true})
	if _, err := g.read(activities.GroupMembersInput{Groups: []string{"S0PLATFORM"}}); err == nil {
		t.Fatal("a group disabled since it was read: no error")
	}
	g.sl.FailNext(groupsMethod, 1, "service_unavailable")
	_, err := g.read(activities.GroupMembersInput{Groups: []string{"S0PLATFORM"}})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.SlackUnavailableErrorType {
		t.Errorf("after no_such_subteam the cache must not stand in: %v", err)
	}
}
