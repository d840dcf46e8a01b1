package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/command"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/testenv"
)

// Every command, as a mention and as /deploy, starts the workflow type the
// contract names, under the id derived from the Slack request (or the app),
// with the input the worker needs, and the gateway itself says nothing.
func TestEveryCommandStartsTheRightWorkflow(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	type want struct {
		wfType string
		action contract.Action // deploy runs
		histID int64
		// projects is list_apps' project
		projects []string
	}
	cases := []struct {
		cmd  string // with %s for the app
		want want
	}{
		{"list_apps", want{wfType: contract.WorkflowListApps}},
		{"list_apps payments", want{wfType: contract.WorkflowListApps, projects: []string{"payments"}}},
		{"status %s", want{wfType: contract.WorkflowAppStatus}},
		{"rollback_revisions %s", want{wfType: contract.WorkflowRollbackRevisions}},
		{"logs %s", want{wfType: contract.WorkflowLogs}},
		{"diff %s", want{wfType: contract.WorkflowDiff}},
		{"sync %s", want{wfType: contract.WorkflowDeploy, action: contract.ActionSync}},
		{"rollback %s 3", want{wfType: contract.WorkflowDeploy, action: contract.ActionRollback, histID: 3}},
		{"autosync %s on", want{wfType: contract.WorkflowDeploy, action: contract.ActionAutoSyncOn}},
		{"autosync %s off", want{wfType: contract.WorkflowDeploy, action: contract.ActionAutoSyncOff}},
	}
	// Every command of the table that starts a workflow is here.
	for _, sp := range command.Table {
		covered := false
		for _, tc := range cases {
			covered = covered || strings.Fields(tc.cmd)[0] == string(sp.Name) && tc.want.wfType == sp.Workflow
		}
		if sp.Kind != command.Answered && !covered {
			t.Errorf("%s starts %s but has no case here", sp.Name, sp.Workflow)
		}
	}
	for _, via := range []string{"mention", "slash"} {
		for _, tc := range cases {
			app := uniq("app")
			text := tc.cmd
			if strings.Contains(text, "%s") {
				text = fmt.Sprintf(tc.cmd, app)
			} else {
				app = ""
			}
			t.Run(via+"/"+strings.Fields(text)[0]+strings.TrimPrefix(text, strings.Fields(text)[0]+" "+app), func(t *testing.T) {
				var (
					reqID, threadTS, responseURL string
					user                         = contract.User{ID: alice}
					ack                          response
				)
				if via == "mention" {
					var m mention
					m, ack = h.mention(alice, text)
					reqID, threadTS = m.eventID, m.ts
				} else {
					reqID, ack = h.slash(alice, text)
					responseURL = h.responses.url + "/commands/" + reqID
					user.Name = "alice"
				}
				if ack.code != 200 {
					t.Fatalf("ack = %d %s", ack.code, ack.body)
				}
				name := strings.Fields(tc.cmd)[0]
				id := contract.CommandWorkflowID(name, reqID)
				if tc.want.wfType == contract.WorkflowDeploy {
					id = contract.DeployWorkflowID(app)
				}
				info := h.describe(id)
				if info.Type != tc.want.wfType || !info.Running || info.RequestID != reqID || info.RequestedBy != alice {
					t.Errorf("run %s = %+v, want a running %s with request id %s", id, info, tc.want.wfType, reqID)
				}
				// The Temporal UI's list says what was asked and by whom.
				who := alice
				if user.Name != "" {
					who = "alice (" + alice + ")"
				}
				wantSummary := text + ", asked by " + who
				if strings.HasPrefix(text, "autosync") {
					wantSummary = strings.Replace(strings.Replace(text, "autosync", "auto-sync", 1), app+" ", "", 1) + " " + app + ", asked by " + who
				} else if strings.HasPrefix(text, "rollback "+app) {
					wantSummary = "rollback " + app + " → 3, asked by " + who
				}
				if summary, _ := h.userMetadata(id); summary != wantSummary {
					t.Errorf("Temporal UI summary %q, want %q", summary, wantSummary)
				}
				if tc.want.wfType == contract.WorkflowDeploy {
					var in contract.DeployInput
					if q := h.input(id, &in); q != h.cfg.TemporalTaskQueue {
						t.Errorf("task queue %q, want %q", q, h.cfg.TemporalTaskQueue)
					}
					wantIn := contract.DeployInput{
						Request: contract.DeployRequest{
							App: app, Action: tc.want.action, HistoryID: tc.want.histID, RequestedBy: user,
							Channel: testChannel, ThreadTS: threadTS, ResponseURL: responseURL,
						},
						Policy: contract.DeployPolicy{
							Approvers: []string{bob}, ApprovalTimeout: 30 * time.Minute, HealthTimeout: 10 * time.Minute,
							ParamNames:    []string{"image.tag", "replicaCount"}, // ROLLBACK_TABLE_FIELDS
							TemporalUIURL: testUIURL, Namespace: "default",
						},
					}
					// No APPROVAL_POLICY_FILE: the environment's rule.
					wantIn.Rules = contract.ProjectRules{{Rule: contract.DefaultDeployRule(wantIn.Policy, h.cfg.AllowedUsers)}}
					if !reflect.DeepEqual(in, wantIn) {
						t.Errorf("input\n got %+v\nwant %+v", in, wantIn)
					}
					if info.Action != string(tc.want.action) {
						t.Errorf("memo action %q, want %q", info.Action, tc.want.action)
					}
				} else {
					var in contract.CommandInput
					h.input(id, &in)
					wantIn := contract.CommandInput{
						App: app, RequestedBy: user,
						Reply:         contract.ReplyTo{Channel: testChannel, ThreadTS: threadTS, ResponseURL: responseURL},
						TemporalUIURL: testUIURL, Namespace: "default", Projects: tc.want.projects,
						BotName: h.cfg.BotName, Command: text,
					}
					switch tc.want.wfType {
					case contract.WorkflowLogs:
						wantIn.TailLines = 50
					case contract.WorkflowRollbackRevisions:
						wantIn.RollbackFields = []string{"image.tag", "replicaCount"}
					}
					if !reflect.DeepEqual(in, wantIn) {
						t.Errorf("input\n got %+v\nwant %+v", in, wantIn)
					}
				}
				h.settle()
				if via == "mention" {
					if th := h.thread(threadTS); len(th) != 0 {
						t.Errorf("the gateway replied to a started command: %+v", th)
					}
				} else if got := h.responses.texts(reqID); len(got) != 0 {
					t.Errorf("the gateway replied to a started command: %q", got)
				}
			})
		}
	}
	if got := h.counter("deploybot_gateway_workflows_started_total", "workflow", contract.WorkflowDeploy); got != 8 {
		t.Errorf("workflows_started_total{DeployWorkflow} = %v, want 8", got)
	}
	if got := h.counter("deploybot_gateway_requests_total", "route", "/slack/commands", "outcome", "started"); got != 10 {
		t.Errorf("requests_total{/slack/commands, started} = %v, want 10", got)
	}
}

// A second change for an app while one is in flight is refused with a link
// to the running one, as a mention and as /deploy.
func TestSecondDeployForAnAppSaysAlreadyRunningWithALink(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	app := uniq("busy")
	first, _ := h.mention(alice, "sync "+app)
	run := h.describe(contract.DeployWorkflowID(app))

	second, ack := h.mention(bob, "rollback "+app+" 2")
	if ack.code != 200 {
		t.Fatalf("ack = %d", ack.code)
	}
	trigger, _ := h.slash(bob, "autosync "+app+" off")
	h.settle()

	link := contract.RunURL(testUIURL, "default", run.WorkflowID, run.RunID)
	th := h.thread(second.ts)
	if len(th) != 1 {
		t.Fatalf("thread of the second request = %+v, want one reply", th)
	}
	for _, text := range append([]string{th[0].Text}, h.responses.texts(trigger)...) {
		for _, want := range []string{"already in progress", "<" + link + "|", "`sync`", "<@" + alice + ">", app} {
			if !strings.Contains(text, want) {
				t.Errorf("reply %q lacks %q", text, want)
			}
		}
	}
	if th[0].Ephemeral || th[0].ThreadTS != second.ts {
		t.Errorf("reply not in the asking message's thread: %+v", th[0])
	}
	if len(h.responses.texts(trigger)) != 1 {
		t.Errorf("slash replies %q, want one", h.responses.texts(trigger))
	}
	if after := h.describe(contract.DeployWorkflowID(app)); after.RunID != run.RunID || after.RequestID != first.eventID {
		t.Errorf("the running request changed: %+v", after)
	}
	if got := h.counter("deploybot_gateway_requests_total", "outcome", "already_running"); got != 2 {
		t.Errorf("already_running = %v, want 2", got)
	}
}

// Slack redelivers an event whose acknowledgement it did not see. Three
// retries of a mention start one workflow and produce no reply at all; the
// same holds for a read-only command and for help (one reply, never four).
func TestRetriedEventStartsOneWorkflowAndRepliesOnce(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	h.startWorker()
	app := uniq("retry")

	deliver := func(m mention) {
		t.Helper()
		for i := 1; i <= 3; i++ {
			// Each retry is signed afresh by Slack, as a real redelivery is.
			if ack := h.postEvent(m.body(), "X-Slack-Retry-Num", fmt.Sprint(i), "X-Slack-Retry-Reason", "http_timeout"); ack.code != 200 {
				t.Fatalf("retry %d ack = %d %s", i, ack.code, ack.body)
			}
			h.settle()
		}
	}

	// A deploy run.
	syncMsg, _ := h.mention(alice, "sync "+app)
	deliver(syncMsg)
	if n := h.runs(contract.DeployWorkflowID(app)); n != 1 {
		t.Errorf("%d runs of %s, want 1", n, contract.DeployWorkflowID(app))
	}
	if th := h.thread(syncMsg.ts); len(th) != 0 {
		t.Errorf("replies to a retried sync: %+v", th)
	}

	// A read-only command whose run has already finished: the id stays taken.
	statusMsg, _ := h.mention(alice, "status "+app)
	id := contract.CommandWorkflowID("status", statusMsg.eventID)
	h.result(id, nil)
	deliver(statusMsg)
	if n := h.runs(id); n != 1 {
		t.Errorf("%d runs of %s, want 1", n, id)
	}

	// A deploy run that has already ended (here: rejected) must not be
	// started again by a late retry, although its id is free.
	doneApp := uniq("ended")
	endedMsg, _ := h.mention(alice, "sync "+doneApp)
	h.click(bob, "deploybot.reject", contract.DeployWorkflowID(doneApp), "")
	h.result(contract.DeployWorkflowID(doneApp), &contract.Decision{})
	deliver(endedMsg)
	if n := h.runs(contract.DeployWorkflowID(doneApp)); n != 1 {
		t.Errorf("%d runs of %s, want 1", n, contract.DeployWorkflowID(doneApp))
	}

	// A gateway reply (help) is sent once.
	helpMsg, _ := h.mention(mallory, "help")
	h.settle()
	deliver(helpMsg)
	if th := h.thread(helpMsg.ts); len(th) != 1 || !strings.Contains(th[0].Text, "rollback_revisions APP") {
		t.Errorf("thread of a retried help = %+v, want exactly one help reply", th)
	}

	if got := h.counter("deploybot_gateway_workflows_started_total"); got != 3 {
		t.Errorf("workflows_started_total = %v, want 3", got)
	}
	if got := h.counter("deploybot_gateway_requests_total", "outcome", "duplicate"); got != 9 {
		t.Errorf("duplicate outcomes = %v, want 9", got)
	}
	if got := h.counter("deploybot_gateway_replies_total", "result", "skipped"); got != 3 {
		t.Errorf("skipped replies = %v, want 3", got)
	}
}

// A captured request re-sent as is (same signature, same timestamp, within
// the 5 minutes) passes the signature check but starts nothing new.
func TestReplayedRequestStartsOneWorkflow(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	app := uniq("replay")
	full := "<@" + botID + "> sync " + app
	m := mention{eventID: uniq("Ev"), user: alice, text: full, ts: h.say(alice, full)}
	body := m.body()
	hdr := signed(body)
	for i := range 3 {
		if ack := h.post("/slack/events", "application/json", body, hdr); ack.code != 200 {
			t.Fatalf("delivery %d: ack = %d %s", i, ack.code, ack.body)
		}
	}
	h.settle()
	if n := h.runs(contract.DeployWorkflowID(app)); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
	if th := h.thread(m.ts); len(th) != 0 {
		t.Errorf("replayed request got replies: %+v", th)
	}
	if got := h.counter("deploybot_gateway_workflows_started_total"); got != 1 {
		t.Errorf("workflows_started_total = %v, want 1", got)
	}
}

// Only ALLOWED_USERS may ask for anything but help; a refusal is answered
// in the thread and written to the audit log, and nothing starts.
func TestUnauthorizedUserIsRefusedAndAudited(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	app := uniq("guarded")
	m, ack := h.mention(mallory, "sync "+app)
	if ack.code != 200 {
		t.Fatalf("ack = %d", ack.code)
	}
	trigger, _ := h.slash(mallory, "status "+app)
	h.settle()

	th := h.thread(m.ts)
	if len(th) != 1 || !strings.Contains(th[0].Text, "not allowed") || !strings.Contains(th[0].Text, "`sync "+app+"`") || !strings.Contains(th[0].Text, "ALLOWED_USERS") {
		t.Errorf("refusal in thread = %+v", th)
	}
	if got := h.responses.texts(trigger); len(got) != 1 || !strings.Contains(got[0], "not allowed") {
		t.Errorf("slash refusal = %q", got)
	}
	audit := logLines(h.logs, "audit: request refused", "user="+mallory, "command=\"sync "+app+"\"", `at=\d{4}-\d\d-\d\dT`)
	if len(audit) != 1 {
		t.Errorf("audit lines for the refused sync: %q\nall logs:\n%s", audit, h.logs)
	}
	if len(logLines(h.logs, "audit: request refused", "user="+mallory, "via=slash")) != 1 {
		t.Errorf("no audit line for the refused slash command:\n%s", h.logs)
	}
	if h.exists(contract.DeployWorkflowID(app)) {
		t.Error("a refused request started a workflow")
	}
	if got := h.counter("deploybot_gateway_requests_total", "outcome", "unauthorized"); got != 2 {
		t.Errorf("unauthorized = %v, want 2", got)
	}

	// help is for everyone.
	hm, _ := h.mention(mallory, "help")
	h.settle()
	if th := h.thread(hm.ts); len(th) != 1 || !strings.Contains(th[0].Text, "autosync APP on|off") {
		t.Errorf("help for mallory = %+v", th)
	}
}

// An unknown or malformed command gets a reply that says what was wrong,
// followed by help.
func TestMalformedCommandsGetAnExplanationAndHelp(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	for text, want := range map[string]string{
		"deploy guestbook":          `I don't know the command "deploy"`,
		"sycn guestbook":            "Did you mean `sync APP`?",
		"rollback guestbook":        "needs the history id",
		"sync ../etc":               "is not a valid Argo CD app name",
		"autosync guestbook sortof": `not "sortof"`,
		"sync a&lt;!channel&gt;b":   `"a&lt;!channel&gt;b" is not a valid Argo CD app name`,
	} {
		m, ack := h.mention(alice, text)
		trigger, sack := h.slash(alice, text)
		if ack.code != 200 || sack.code != 200 {
			t.Fatalf("%q: acks %d %d", text, ack.code, sack.code)
		}
		h.settle()
		th := h.thread(m.ts)
		replies := h.responses.texts(trigger)
		if len(th) != 1 || len(replies) != 1 {
			t.Fatalf("%q: thread %+v, slash replies %q; want one each", text, th, replies)
		}
		for _, got := range []string{th[0].Text, replies[0]} {
			if !strings.Contains(got, want) || !strings.Contains(got, "rollback_revisions APP") {
				t.Errorf("%q: reply %q lacks %q or the help", text, got, want)
			}
			if strings.Contains(got, "<!") {
				t.Errorf("%q: reply %q carries a broadcast from the user's text", text, got)
			}
		}
	}
	if got := h.counter("deploybot_gateway_workflows_started_total"); got != 0 {
		t.Errorf("malformed commands started %v workflows", got)
	}
}

// slackAckDeadline is how long Slack waits for an answer to a request.
const slackAckDeadline = 3 * time.Second

// With Temporal down, the acknowledgement still comes (inside Slack's 3 s:
// the Temporal deadline is 2 s) and the user is told, not left in silence.
func TestTemporalDownIsReportedNotSilent(t *testing.T) {
	h := newHarness(t, downTemporalClient(t))
	start := time.Now()
	m, ack := h.mention(alice, "sync guestbook")
	took := time.Since(start)
	if ack.code != 200 {
		t.Fatalf("ack = %d %s", ack.code, ack.body)
	}
	// Slack's deadline, not a speed goal: a later ack is a failed request
	// that Slack retries or shows as an error.
	if took >= slackAckDeadline {
		t.Errorf("mention acked after %v with Temporal down, want inside Slack's %v", took, slackAckDeadline)
	}
	start = time.Now()
	trigger, sack := h.slash(alice, "status guestbook")
	if took := time.Since(start); took >= slackAckDeadline {
		t.Errorf("slash command acked after %v with Temporal down, want inside Slack's %v", took, slackAckDeadline)
	}
	if sack.code != 200 {
		t.Fatalf("slash ack = %d", sack.code)
	}
	h.settle()
	th := h.thread(m.ts)
	if len(th) != 1 || !strings.Contains(th[0].Text, "could not reach Temporal") || !strings.Contains(th[0].Text, "`sync guestbook` was not started") {
		t.Errorf("reply with Temporal down = %+v", th)
	}
	if got := h.responses.texts(trigger); len(got) != 1 || !strings.Contains(got[0], "could not reach Temporal") {
		t.Errorf("slash reply with Temporal down = %q", got)
	}
	if got := h.counter("deploybot_gateway_requests_total", "outcome", "temporal_unavailable"); got != 2 {
		t.Errorf("temporal_unavailable = %v, want 2", got)
	}
	t.Logf("ack with Temporal down took %v", took)
}

func TestURLVerificationEchoesTheChallenge(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	body := []byte(`{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
	ack := h.postEvent(body)
	if ack.code != 200 || ack.body != `{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}` {
		t.Errorf("url_verification = %d %s", ack.code, ack.body)
	}
	// Unsigned, it is refused like anything else.
	if ack := h.post("/slack/events", "application/json", body, nil); ack.code != 401 {
		t.Errorf("unsigned url_verification = %d, want 401", ack.code)
	}
}

// Events deploybot does not act on are acknowledged and ignored: other
// event types, bots (loops), edits (would run a command twice).
func TestIgnoredEvents(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	app := uniq("ignored")
	ts := h.say(alice, "<@"+botID+"> sync "+app)
	for name, ev := range map[string]string{
		"reaction": `{"type":"reaction_added","user":"U0ALICE","reaction":"+1"}`,
		"bot":      `{"type":"app_mention","user":"U0OTHER","bot_id":"B0OTHER","text":"<@U0DEPLOYBOT> sync ` + app + `","ts":"` + ts + `","channel":"C0DEPLOYS"}`,
		"edit":     `{"type":"app_mention","user":"U0ALICE","text":"<@U0DEPLOYBOT> sync ` + app + `","ts":"` + ts + `","channel":"C0DEPLOYS","edited":{"user":"U0ALICE","ts":"1.2"}}`,
	} {
		body := []byte(`{"type":"event_callback","event_id":"` + uniq("Ev") + `","event":` + ev + `}`)
		if ack := h.postEvent(body); ack.code != 200 {
			t.Errorf("%s: ack = %d", name, ack.code)
		}
	}
	h.settle()
	if th := h.thread(ts); len(th) != 0 {
		t.Errorf("ignored events got replies: %+v", th)
	}
	if got := h.counter("deploybot_gateway_requests_total", "outcome", "ignored"); got != 3 {
		t.Errorf("ignored = %v, want 3", got)
	}
	if h.exists(contract.DeployWorkflowID(app)) {
		t.Error("an ignored event started a workflow")
	}
}

// refusingStarter is a Temporal that answers, but says no.
type refusingStarter struct{ gateway.Starter }

func (refusingStarter) DescribeRun(context.Context, string, string) (gateway.RunInfo, error) {
	return gateway.RunInfo{}, gateway.ErrNotFound
}

func (refusingStarter) StartDeploy(context.Context, contract.DeployInput, string) (gateway.Run, error) {
	return gateway.Run{}, errors.New("namespace <default> is not registered")
}

func (refusingStarter) StartCommand(context.Context, string, string, contract.CommandInput, string) (gateway.Run, error) {
	return gateway.Run{}, errors.New("invalid argument")
}

// A Temporal that refuses (rather than cannot be reached) is reported too,
// with its reason escaped.
func TestTemporalRefusalIsReported(t *testing.T) {
	h := newHarness(t, downTemporalClient(t), func(_ *config.Config, o *gateway.Options) { o.Starter = refusingStarter{} })
	m, _ := h.mention(alice, "sync guestbook")
	trigger, _ := h.slash(alice, "logs guestbook")
	h.settle()
	if th := h.thread(m.ts); len(th) != 1 || !strings.Contains(th[0].Text, "Temporal refused it (namespace &lt;default&gt; is not registered)") {
		t.Errorf("reply = %+v", th)
	}
	if got := h.responses.texts(trigger); len(got) != 1 || !strings.Contains(got[0], "could not start `logs guestbook`") {
		t.Errorf("slash reply = %q", got)
	}
	if got := h.counter("deploybot_gateway_requests_total", "outcome", "error"); got != 2 {
		t.Errorf("error outcomes = %v, want 2", got)
	}
}

// A Temporal that accepts connections but never answers is the worst case:
// the Temporal deadline (2 s) still gets Slack its acknowledgement inside
// 3 s, and the user is told.
func TestHangingTemporalStillAcksInsideSlacksBudget(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn // accepted, never answered
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tc, err := client.NewLazyClient(client.Options{HostPort: l.Addr().String(), Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	h := newHarness(t, tc)
	for _, text := range []string{"sync guestbook", "status guestbook"} {
		// A Temporal that does not answer in time is busy, not down (Step 7,
		// defect 10): Slack is asked to deliver the event again (non-2xx;
		// the event id keeps a late success from starting twice) ...
		start := time.Now()
		m, ack := h.mention(alice, text)
		took := time.Since(start)
		if ack.code != http.StatusServiceUnavailable || took >= slackAckDeadline {
			t.Errorf("%q: ack %d after %v, want 503 inside Slack's %v", text, ack.code, took, slackAckDeadline)
		}
		h.settle()
		if th := h.thread(m.ts); len(th) != 0 {
			t.Errorf("%q: replied while Slack will redeliver: %+v", text, th)
		}
		// ... and its last redelivery tells the user to try again.
		ack = h.postEvent(m.body(), "X-Slack-Retry-Num", "3", "X-Slack-Retry-Reason", "http_error")
		if ack.code != 200 {
			t.Errorf("%q: last redelivery ack %d, want 200", text, ack.code)
		}
		h.settle()
		if th := h.thread(m.ts); len(th) != 1 || !strings.Contains(th[0].Text, "did not answer within 2s") || !strings.Contains(th[0].Text, "try again") {
			t.Errorf("%q: reply = %+v, want one saying Temporal is busy", text, th)
		}
		t.Logf("%q with a hanging Temporal: ack after %v", text, took)
	}
	if got := h.counter("deploybot_gateway_requests_total", "route", "/slack/events", "code", "503", "outcome", "temporal_busy_retry"); got != 2 {
		t.Errorf("requests{temporal_busy_retry} = %v, want 2", got)
	}
	if got := h.counter("deploybot_gateway_requests_total", "route", "/slack/events", "code", "200", "outcome", "temporal_busy"); got != 2 {
		t.Errorf("requests{temporal_busy} = %v, want 2", got)
	}
	// A slash command is not redelivered: the user is told at once.
	trigger, _ := h.slash(alice, "status guestbook")
	h.settle()
	if got := h.responses.texts(trigger); len(got) != 1 || !strings.Contains(got[0], "did not answer within 2s") {
		t.Errorf("slash reply = %q", got)
	}
}

// TestRepliesSurviveRateLimits (Step 7, defect 5): the gateway's own
// replies are tried again when Slack answers 429 (after its Retry-After),
// both in a thread and on a slash command's response_url, and one that
// cannot be sent within the budget is counted lost.
func TestRepliesSurviveRateLimits(t *testing.T) {
	h := newHarness(t, downTemporalClient(t))
	app := uniq("guarded")
	h.slack.RateLimitNext("chat.postMessage", 2, time.Second)
	m, _ := h.mention(mallory, "sync "+app)
	h.responses.rateLimitNext(2)
	trigger, _ := h.slash(mallory, "status "+app)
	h.settle()
	if th := h.thread(m.ts); len(th) != 1 || !strings.Contains(th[0].Text, "not allowed") {
		t.Errorf("refusal in the thread after two 429s = %+v", th)
	}
	if got := h.responses.texts(trigger); len(got) != 1 || !strings.Contains(got[0], "not allowed") {
		t.Errorf("slash refusal after two 429s = %q", got)
	}
	if got := h.counter("deploybot_gateway_reply_retries_total"); got != 4 {
		t.Errorf("reply_retries_total = %v, want 4", got)
	}
	if got := h.counter("deploybot_gateway_replies_total", "result", "sent"); got != 2 {
		t.Errorf("replies sent = %v, want 2", got)
	}

	lost := newHarness(t, downTemporalClient(t), func(_ *config.Config, o *gateway.Options) { o.ReplyBudget = 2500 * time.Millisecond })
	lost.slack.RateLimitNext("chat.postMessage", 100, time.Second)
	lost.mention(mallory, "sync "+app)
	lost.settle()
	if got := lost.counter("deploybot_gateway_replies_total", "result", "failed"); got != 1 {
		t.Errorf("replies failed = %v, want the one that could not be sent", got)
	}
	if len(logLines(lost.logs, "the reply is lost", "attempts=")) != 1 {
		t.Errorf("no log line for the lost reply:\n%s", lost.logs)
	}
}

// TestCraftedUserIDsAreRefused (Step 7, defect 11): a user that is not a
// Slack member id never reaches a reply (where it would be echoed
// unescaped) or a run.
func TestCraftedUserIDsAreRefused(t *testing.T) {
	h := newHarness(t, downTemporalClient(t))
	crafted := "U0ALICE> <!channel"
	ts := h.say(alice, "<@"+botID+"> sync guestbook")
	m := mention{eventID: uniq("Ev"), user: crafted, text: "<@" + botID + "> sync guestbook", ts: ts}
	if ack := h.postEvent(m.body()); ack.code != http.StatusBadRequest {
		t.Errorf("mention by %q: ack %d, want 400", crafted, ack.code)
	}
	trigger, ack := h.slash(crafted, "help")
	if ack.code != http.StatusBadRequest {
		t.Errorf("slash by %q: ack %d, want 400", crafted, ack.code)
	}
	h.settle()
	if th := h.thread(ts); len(th) != 0 {
		t.Errorf("the crafted mention got replies: %+v", th)
	}
	if got := h.responses.texts(trigger); len(got) != 0 {
		t.Errorf("the crafted slash command got %q", got)
	}
	if n := h.counter("deploybot_gateway_requests_total", "route", "/slack/commands", "code", "400", "outcome", "bad_request"); n != 1 {
		t.Errorf("slash with a crafted user counted %v times as bad_request, want 1", n)
	}
}

// TestReplayAfterANewerRunStartsNothing (Step 7, defect 8): a signed event
// replayed inside Slack's window, after a newer request of the same app has
// run, must not start a third run: a Slack request id starts at most one
// run, whichever run of the app is the latest.
func TestReplayAfterANewerRunStartsNothing(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	h.startWorker()
	app := uniq("replay")
	id := contract.DeployWorkflowID(app)
	first, _ := h.mention(alice, "sync "+app)
	h.click(bob, "deploybot.reject", id, "")
	h.result(id, &contract.Decision{})
	h.mention(alice, "sync "+app) // a newer request of the same app
	h.click(bob, "deploybot.reject", id, "")
	h.result(id, &contract.Decision{})
	if n := h.runs(id); n != 2 {
		t.Fatalf("%d runs of %s before the replay, want 2", n, id)
	}
	if ack := h.postEvent(first.body()); ack.code != 200 {
		t.Fatalf("replay ack = %d %s", ack.code, ack.body)
	}
	h.settle()
	if n := h.runs(id); n != 2 {
		t.Errorf("%d runs of %s after replaying the first request, want still 2", n, id)
	}
	if th := h.thread(first.ts); len(th) != 0 {
		t.Errorf("the replay was answered: %+v", th)
	}
}

// An app written with Argo CD's own namespace is the same app (one run id);
// the same name in another namespace is another app with its own run.
func TestNamespacedAppsHaveTheirOwnRun(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	app := uniq("ns")
	h.mention(alice, "sync "+app)
	run := h.describe(contract.DeployWorkflowID(app))

	same, _ := h.mention(bob, "sync argocd/"+app)
	other, _ := h.mention(bob, "sync team-a/"+app)
	h.settle()
	if th := h.thread(same.ts); len(th) != 1 || !strings.Contains(th[0].Text, "already in progress") {
		t.Errorf("argocd/%s is %s itself, so a second run must be refused: %+v", app, app, th)
	}
	if th := h.thread(other.ts); len(th) != 0 {
		t.Errorf("team-a/%s got a reply instead of its own run: %+v", app, th)
	}
	if got := h.describe(contract.DeployWorkflowID("team-a/" + app)); got.WorkflowID != "deploy-team-a_"+app || got.RunID == run.RunID {
		t.Errorf("team-a/%s run = %+v, want its own run deploy-team-a_%s", app, got, app)
	}
}

// app@instance: the default instance is the bare name; another instance has
// its own run id, its task queue and the ArgoCDInstance search attribute; an
// unknown one is refused with the known ones.
func TestCommandsNameTheArgoCDInstance(t *testing.T) {
	file := filepath.Join(t.TempDir(), "instances.yaml")
	prodQueue := uniq("gw-prod-")
	yaml := "default: staging\ninstances:\n" +
		"- {name: staging, url: http://127.0.0.1:1, tokenEnv: TEST_TOKEN}\n" +
		"- {name: prod, url: https://argocd.prod.example.com, tokenEnv: TEST_TOKEN, namespace: gitops, taskQueue: " + prodQueue + "}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, temporalClient(t), func(c *config.Config, _ *gateway.Options) { c.ArgoCDInstancesFile = file })
	app := uniq("inst")

	h.mention(alice, "sync "+app+"@staging")
	var in contract.DeployInput
	if q := h.input("deploy-"+app, &in); q != h.cfg.TemporalTaskQueue || in.Request.App != app {
		t.Errorf("default instance: queue %s, app %q; want %s and the bare name", q, in.Request.App, h.cfg.TemporalTaskQueue)
	}
	h.mention(alice, "sync gitops/"+app+"@prod")
	id := "deploy-" + app + "~prod"
	if q := h.input(id, &in); q != prodQueue || in.Request.App != app+"@prod" {
		t.Errorf("prod: queue %s, app %q; want %s and %s@prod (gitops is prod's Argo CD namespace)", q, in.Request.App, prodQueue, app)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	desc, err := h.tc.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	attrs := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	if p, ok := attrs[contract.SearchAttrArgoCDInstance.GetName()]; !ok || !strings.Contains(string(p.GetData()), "prod") {
		t.Errorf("search attributes %v lack ArgoCDInstance=prod", attrs)
	}

	bad, _ := h.mention(alice, "sync "+app+"@qa")
	h.settle()
	if th := h.thread(bad.ts); len(th) != 1 || !strings.Contains(th[0].Text, `the Argo CD instance "qa"`) || !strings.Contains(th[0].Text, "staging, prod") {
		t.Errorf("unknown instance reply: %+v", th)
	}
}

// Every command the gateway answers itself gets its answer in the thread and
// starts nothing; a row added to the table without an answer fails here.
func TestEveryAnsweredCommandIsAnswered(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	for _, sp := range command.Table {
		if sp.Kind != command.Answered {
			continue
		}
		m, ack := h.mention(alice, sp.Example)
		if ack.code != 200 {
			t.Fatalf("%s: ack = %d %s", sp.Name, ack.code, ack.body)
		}
		h.settle()
		th := h.thread(m.ts)
		if len(th) != 1 || th[0].Text == "" || strings.Contains(th[0].Text, "no answer") {
			t.Errorf("%s: replies %+v, want its answer", sp.Name, th)
		}
	}
}
