package slackui

import (
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/contract"
)

func TestWho(t *testing.T) {
	for _, tc := range []struct {
		u           *contract.User
		slack, text string
	}{
		{nil, "", ""},
		{&contract.User{ID: "U0BOB", Name: "bob"}, "<@U0BOB>", "bob (U0BOB)"},
		{&contract.User{ID: "U0BOB", Via: "token ci"}, "<@U0BOB> via token ci", "U0BOB via token ci"},
		{&contract.User{Name: "<!channel>\r\nBcc: x"}, "&lt;!channel&gt; Bcc: x", "<!channel> Bcc: x"},
	} {
		if got := Who(tc.u); got != tc.slack {
			t.Errorf("Who(%+v) = %q, want %q", tc.u, got, tc.slack)
		}
		if tc.u != nil {
			if got := PlainWho(*tc.u); got != tc.text {
				t.Errorf("PlainWho(%+v) = %q, want %q", *tc.u, got, tc.text)
			}
		}
	}
	r := &DeployRequest{State: RequestApproved, DecidedBy: &contract.User{ID: "U0BOB", Via: "token ci"}}
	if got := requestOutcome(r); !strings.Contains(got, "<@U0BOB> via token ci") {
		t.Errorf("requestOutcome = %q, want the token named", got)
	}
}
