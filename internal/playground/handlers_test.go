package playground_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/playground"
	"github.com/deploybot/deploybot/internal/slackapi"
)

// TestBadInputGetsAClearAnswer: what the page sends is checked before
// anything reaches the gateway, and each refusal says what was wrong.
func TestBadInputGetsAClearAnswer(t *testing.T) {
	users := []slackapi.User{{ID: "U0ALICE", Name: "alice"}, {ID: "U0DEPLOYBOT", Name: "deploybot", IsBot: true}}
	channel := slackapi.Channel{ID: "C0DEPLOYS", Name: "deploys"}
	sl := slackapi.StartTest(t, slackapi.Options{Token: "xoxb-t", Users: users, Channels: []slackapi.Channel{channel}})
	// The gateway must never be called for bad input.
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("gateway called with %s %s", r.Method, r.URL)
	}))
	defer gateway.Close()
	srv := httptest.NewServer(playground.New(playground.Options{
		Slack: sl, SlackToken: "xoxb-t", GatewayURL: gateway.URL, SigningSecret: "s", Users: users, Channel: channel,
	}))
	defer srv.Close()

	for _, tc := range []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"bad JSON", "/playground/api/say", "{", 400, "bad JSON"},
		{"unknown user", "/playground/api/say", `{"user":"eve","text":"hi"}`, 400, "unknown user eve"},
		{"the bot cannot type", "/playground/api/say", `{"user":"deploybot","text":"hi"}`, 400, "unknown user"},
		{"empty text", "/playground/api/say", `{"user":"alice","text":"   "}`, 400, "nothing to send"},
		{"other slash command", "/playground/api/say", `{"user":"alice","text":"/giphy cats"}`, 400, "/giphy is not a command here"},
		{"click on no message", "/playground/api/click", `{"user":"alice","message_ts":"1.000001","action_id":"deploybot.approve","value":"deploy-x"}`, 404, "no such message"},
		{"click by unknown user", "/playground/api/click", `{"user":"eve","message_ts":"1.000001"}`, 400, "unknown user"},
		{"expired response_url", "/playground/api/respond/nope", `{"text":"x"}`, 404, "expired_url"},
		{"sample webhook: bad JSON", "/playground/api/sonarqube", "{", 400, "bad JSON"},
		{"sample webhook: unknown gate", "/playground/api/sonarqube", `{"gate":"WARN"}`, 400, `gate "WARN": want "ERROR" (a failed quality gate) or "OK"`},
		{"sample webhook: no gate", "/playground/api/sonarqube", `{}`, 400, `gate "": want "ERROR"`},
		{"sample webhook: unknown field", "/playground/api/sonarqube", `{"gate":"OK","project":"x"}`, 400, `unknown field "project"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+tc.path, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			got := string(raw)
			var m map[string]any
			if json.Unmarshal(raw, &m) == nil {
				if e, _ := m["error"].(string); e != "" {
					got = e
				}
			}
			if resp.StatusCode != tc.code || !strings.Contains(got, tc.want) {
				t.Errorf("%s: %d %q, want %d containing %q", tc.path, resp.StatusCode, got, tc.code, tc.want)
			}
		})
	}
	if got := len(sl.Messages(channel.ID)); got != 0 {
		t.Errorf("%d messages recorded for refused input", got)
	}
}
