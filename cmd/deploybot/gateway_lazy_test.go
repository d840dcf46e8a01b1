package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/internal/testenv"
)

// TestGatewayStartsWithTemporalDown (Step 7, defect 9): a gateway process
// started while Temporal is down serves at once, stays ready (degraded),
// tells a Slack user that Temporal is unreachable, and starts runs once
// Temporal answers — no crash loop during a Temporal outage.
func TestGatewayStartsWithTemporalDown(t *testing.T) {
	temporalPort := testenv.FreePort(t)
	sl := slackapi.StartTest(t, slackapi.Options{
		Token:    "xoxb-lazy",
		Users:    []slackapi.User{{ID: "U0ALICE", Name: "alice"}},
		Channels: []slackapi.Channel{{ID: "C0DEPLOY", Name: "deploys"}},
	})
	const secret = "lazy-signing-secret"
	gw := startChild(t, "gateway", []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		fmt.Sprintf("TEMPORAL_ADDRESS=127.0.0.1:%d", temporalPort), "TEMPORAL_TASK_QUEUE=lazy",
		"SLACK_TOKEN=xoxb-lazy", "SLACK_API_URL=" + sl.URL() + "/api/", "SIGNING_SECRET=" + secret,
		"ALLOWED_USERS=U0ALICE", "LOG_LEVEL=warn"})
	base := gw.base
	readyz := func() map[string]string {
		t.Helper()
		select {
		case <-gw.exited:
			t.Fatalf("the gateway exited while Temporal is down: %v", gw.waitErr)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatalf("/readyz: %v", err)
		}
		defer resp.Body.Close()
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz = %d %v, want 200", resp.StatusCode, body)
		}
		return body
	}
	if body := readyz(); body["status"] != "degraded" || !strings.Contains(body["temporal"], "unreachable") {
		t.Errorf("/readyz with Temporal down = %v, want degraded and why", body)
	}

	mention := func(text string) {
		t.Helper()
		text = "<@" + slackapi.DefaultBotUserID + "> " + text
		posted, err := sl.PostUserMessage("C0DEPLOY", "U0ALICE", "", text)
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := json.Marshal(map[string]any{
			"type": "event_callback", "team_id": "T0", "api_app_id": "A0",
			"event_id": "Ev" + strconv.FormatInt(time.Now().UnixNano(), 10), "event_time": time.Now().Unix(),
			"event": map[string]any{"type": "app_mention", "user": "U0ALICE", "channel": "C0DEPLOY",
				"text": text, "ts": posted.TS},
		})
		ts := time.Now().Unix()
		req, _ := http.NewRequest(http.MethodPost, base+"/slack/events", strings.NewReader(string(ev)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-Slack-Signature", gateway.Sign(secret, ts, ev))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	waitReply := func(what, contains string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			for _, m := range sl.Messages("C0DEPLOY") {
				if strings.Contains(m.Text, contains) {
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("Slack never got %s (%q)", what, contains)
	}
	mention("status guestbook")
	waitReply("the Temporal-is-unreachable reply", "could not reach Temporal")

	// Temporal comes up on the address the gateway was given.
	srv := testenv.StartTemporalOn(t, temporalPort)
	deadline := time.Now().Add(30 * time.Second)
	for readyz()["status"] != "ready" {
		if time.Now().After(deadline) {
			t.Fatal("the gateway never saw Temporal come up")
		}
		time.Sleep(200 * time.Millisecond)
	}
	mention("status guestbook")
	tc, err := client.Dial(client.Options{HostPort: srv.Address, Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	deadline = time.Now().Add(30 * time.Second)
	for {
		list, err := tc.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: "WorkflowType = 'AppStatusWorkflow'"})
		if err == nil && len(list.Executions) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status run started once Temporal was up: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
