package slackui_test

import (
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/slackui"
)

// TestGatewayReplies: the gateway's own replies read as they did when the
// gateway wrote them, and nothing typed reaches Slack unescaped.
func TestGatewayReplies(t *testing.T) {
	until := time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ name, got, want string }{
		{"no answer", slackui.NoAnswer("policy guestbook"),
			":x: I have no answer for `policy guestbook`. Tell your deploybot admins."},
		{"start refused", slackui.StartRefused("sync guestbook", "namespace <default> is not registered"),
			":x: I could not start `sync guestbook`: Temporal refused it (namespace &lt;default&gt; is not registered). Tell your deploybot admins."},
		{"history refused", slackui.HistoryRefused("guestbook", "bad query"),
			":x: I could not read the history of `guestbook`: Temporal refused the list (bad query). Tell your deploybot admins."},
		{"in progress, all known", slackui.AlreadyInProgress("rollback guestbook 3", "guestbook",
			slackui.ActiveRun{Action: "sync", RequestedBy: "U0ALICE", WorkflowID: "deploy-guestbook", URL: "http://ui/run"}),
			":hourglass_flowing_sand: A `sync` of *guestbook* requested by <@U0ALICE> is already in progress (<http://ui/run|deploy-guestbook>), so `rollback guestbook 3` was not started: one change per app at a time. Wait for it to finish, or reject it, then ask again."},
		{"in progress, unknown", slackui.AlreadyInProgress("sync guestbook", "guestbook", slackui.ActiveRun{WorkflowID: "deploy-guestbook"}),
			":hourglass_flowing_sand: A deploybot run of *guestbook* is already in progress (workflow `deploy-guestbook`), so `sync guestbook` was not started: one change per app at a time. Wait for it to finish, or reject it, then ask again."},
		{"busy", slackui.TemporalBusy("sync guestbook", 2*time.Second),
			":hourglass: Temporal, deploybot's workflow engine, did not answer within 2s (it is overloaded or hard to reach), so `sync guestbook` was not started. Nothing happened; please try again in a moment."},
		{"unreachable", slackui.TemporalUnreachable("freeze all for 1h <!channel>"),
			":warning: I could not reach Temporal, deploybot's workflow engine, so `freeze all for 1h &lt;!channel&gt;` was not started. Nothing happened; please try again in a minute, and tell your deploybot admins if it keeps failing."},
		{"freeze range", slackui.FreezeOutOfRange("freeze all until 2026-03-01T18:00Z x", until, 14*24*time.Hour),
			":thinking_face: A freeze must end in the future and within 336h; `freeze all until 2026-03-01T18:00Z x` ends 2026-03-01T18:00:00Z."},
		{"unfreeze failed", slackui.UnfreezeFailed("project:payments", "boom"),
			":x: I could not lift the freeze of `project:payments`: boom. Tell your deploybot admins."},
		{"freezes refused", slackui.FreezesRefused("boom"),
			":x: I could not list the freezes: Temporal refused the list (boom). Tell your deploybot admins."},
		{"one instance", slackui.UnknownInstance("guestbook@prod", "prod", []string{""}, "guestbook", ""),
			":thinking_face: \"guestbook@prod\" names the Argo CD instance \"prod\", but this deploybot has one Argo CD (ARGOCD_URL); drop @prod, or name instances in ARGOCD_INSTANCES_FILE"},
		{"named instances", slackui.UnknownInstance("guestbook@qa", "qa", []string{"prod", "staging"}, "guestbook", "prod"),
			":thinking_face: \"guestbook@qa\" names the Argo CD instance \"qa\", which deploybot does not know: use one of prod, staging, e.g. guestbook@prod (none means prod)"},
		{"gone", slackui.ClickChangedNothing(slackui.RunGone()),
			":information_source: This request is no longer waiting (this request no longer exists in Temporal), so your click changed nothing."},
		{"ended", slackui.ClickChangedNothing(slackui.RunEnded("rejected")),
			":information_source: This request is no longer waiting (it ended: rejected), so your click changed nothing."},
		{"ended, unknown how", slackui.ClickChangedNothing(slackui.RunEnded("")),
			":information_source: This request is no longer waiting (it ended), so your click changed nothing."},
		{"newer", slackui.ClickChangedNothing(slackui.NewerRun("guestbook", "http://ui/run")),
			":information_source: This request is no longer waiting (a newer request for guestbook is in progress (<http://ui/run|the current run>)), so your click changed nothing."},
		{"newer, no UI", slackui.ClickChangedNothing(slackui.NewerRun("guestbook", "")),
			":information_source: This request is no longer waiting (a newer request for guestbook is in progress), so your click changed nothing."},
		{"click refused", slackui.ClickRefused("a <b>"),
			":x: Your click was not recorded: Temporal refused it (a &lt;b&gt;). Please try again."},
		{"click busy", slackui.ClickTemporalBusy(2 * time.Second),
			":hourglass: Temporal, deploybot's workflow engine, did not answer within 2s (it is overloaded or hard to reach), so your click was not recorded. Please click again in a moment."},
		{"click unreachable", slackui.ClickTemporalUnreachable(),
			":warning: I could not reach Temporal, deploybot's workflow engine, so your click was not recorded. Please click again in a minute."},
		{"not understood", slackui.NotUnderstood("unknown command <!here>", "HELP"), ":thinking_face: unknown command &lt;!here&gt;\n\nHELP"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, tc.got, tc.want)
		}
	}
}
