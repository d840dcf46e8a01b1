package devenv

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/playground"
)

// TestStandInServesDevUserGroups: the playground's Slack stand-in knows
// @platform (bob) and @payments-leads (carol), and carol is one of the
// people the page offers.
func TestStandInServesDevUserGroups(t *testing.T) {
	sl, _ := standIns(DevSlackToken, playground.Options{}, slog.New(slog.DiscardHandler))
	hs := httptest.NewServer(sl.Handler())
	t.Cleanup(hs.Close)
	api := slack.New(DevSlackToken, slack.OptionAPIURL(hs.URL+"/api/"))
	ctx := context.Background()
	for id, want := range map[string][]string{"S0PLATFORM": {"U0BOB"}, "S0PAYLEADS": {"U0CAROL"}} {
		got, err := api.GetUserGroupMembersContext(ctx, id)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("members of %s = %v, %v; want %v", id, got, err, want)
		}
	}
	groups, err := api.GetUserGroupsContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	handles := map[string]string{}
	for _, g := range groups {
		handles[g.ID] = g.Handle
	}
	if handles["S0PLATFORM"] != "platform" || handles["S0PAYLEADS"] != "payments-leads" || len(handles) != 2 {
		t.Errorf("usergroups.list handles = %v", handles)
	}
	u, err := api.GetUserInfoContext(ctx, "U0CAROL")
	if err != nil || u.Name != "carol" || u.RealName != "Carol (payments lead)" {
		t.Errorf("carol = %+v, %v", u, err)
	}
}
