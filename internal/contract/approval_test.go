package contract_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
)

// twoGroups: one of @platform and one of @payments-leads; bob is in both.
func twoGroups(same bool) contract.ApprovalRule {
	return contract.ApprovalRule{Name: "payments", AllowSameApprover: same, Requires: []contract.Requirement{
		{Count: 1, From: contract.Principals{Groups: []contract.UserGroup{{ID: "S0PLATFORM", Handle: "platform"}}}},
		{Count: 1, From: contract.Principals{Groups: []contract.UserGroup{{ID: "S0LEADS", Handle: "payments-leads"}}}},
	}}
}

var members = contract.GroupMembers{"S0PLATFORM": {"U0BOB", "U0DAN"}, "S0LEADS": {"U0BOB", "U0CAROL"}}

func TestTallyNofMWithGroups(t *testing.T) {
	r := twoGroups(false)
	for _, tc := range []struct {
		approvers []string
		met       bool
	}{
		{nil, false},
		{[]string{"U0BOB"}, false},                    // one person is one approval
		{[]string{"U0BOB", "U0CAROL"}, true},          // bob moves to @platform
		{[]string{"U0BOB", "U0DAN"}, true},            // bob moves to @payments-leads
		{[]string{"U0DAN", "U0EVE"}, false},           // eve is in neither
		{[]string{"U0CAROL", "U0BOB", "U0DAN"}, true}, // order does not matter
		{[]string{"U0DAN", "U0DAN"}, false},           // a duplicate is one
	} {
		assigned, met := r.Tally(tc.approvers, members)
		if met != tc.met {
			t.Errorf("Tally(%v) met = %v (%v), want %v", tc.approvers, met, assigned, tc.met)
		}
	}
	if _, met := twoGroups(true).Tally([]string{"U0BOB"}, members); !met {
		t.Error("with allowSameApprover bob, in both groups, meets both requirements")
	}
	if r.Counts("U0DAN", []string{"U0CAROL", "U0BOB"}, members) {
		t.Error("dan's approval counts although both requirements are met")
	}
	if !r.Counts("U0DAN", []string{"U0BOB"}, members) || r.Counts("U0BOB", []string{"U0BOB"}, members) {
		t.Error("Counts: dan adds to bob's approval; bob twice does not")
	}
	if !r.MayApprove("U0CAROL", members) || r.MayApprove("U0EVE", members) {
		t.Error("MayApprove")
	}
	if got := r.GroupIDs(); !slices.Equal(got, []string{"S0LEADS", "S0PLATFORM"}) {
		t.Errorf("GroupIDs = %v", got)
	}
	if r.Needed() != 2 {
		t.Errorf("Needed = %d", r.Needed())
	}
}

func TestApprovalRuleValidate(t *testing.T) {
	bad := contract.ApprovalRule{Name: "x", Timeout: time.Hour, Reminders: []time.Duration{2 * time.Hour}, Requires: []contract.Requirement{
		{Count: 0, From: contract.Principals{Users: []string{"U0BOB"}}},
		{Count: 2, From: contract.Principals{Users: []string{"U0BOB"}}},
		{Count: 1},
	}}
	err := bad.Validate()
	for _, want := range []string{"count of at least 1", "names only 1 people", "names no approvers", "must fall inside its timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to say %q", err, want)
		}
	}
	if err := twoGroups(false).Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}
