package activities_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/slackui"
)

// responseURL is a slash command's response_url that answers as told.
type responseURL struct {
	srv *httptest.Server

	mu     sync.Mutex
	bodies []map[string]any
	status int
	header map[string]string
	answer string
}

func newResponseURL(t *testing.T) *responseURL {
	t.Helper()
	r := &responseURL{status: http.StatusOK, answer: "ok"}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var body map[string]any
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json; charset=utf-8" || json.Unmarshal(b, &body) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.bodies = append(r.bodies, body)
		for k, v := range r.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(r.status)
		_, _ = io.WriteString(w, r.answer)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *responseURL) answerWith(status int, answer string, header map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.answer, r.header = status, answer, header
}

func postResponse(t *testing.T, in activities.PostResponseInput) error {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	s := &activities.Slack{}
	env.RegisterActivity(s)
	_, err := env.ExecuteActivity(s.PostResponse, in)
	return err
}

func TestSlackPostResponsePostsInChannel(t *testing.T) {
	r := newResponseURL(t)
	tb := slackui.AppsTable(nil, nil)
	if err := postResponse(t, activities.PostResponseInput{
		ResponseURL: r.srv.URL + "/commands/T0/1/abc", Message: slackui.Message{Command: &slackui.CommandReply{Table: &tb}},
	}); err != nil {
		t.Fatal(err)
	}
	if len(r.bodies) != 1 {
		t.Fatalf("%d posts", len(r.bodies))
	}
	b := r.bodies[0]
	blocks, _ := b["blocks"].([]any)
	if b["response_type"] != "in_channel" || !strings.Contains(b["text"].(string), "Argo CD applications: 0") || len(blocks) != 2 {
		t.Errorf("body = %v", b)
	}

	// Slack's JSON form of success works too.
	r.answerWith(http.StatusOK, `{"ok":true}`, nil)
	if err := postResponse(t, activities.PostResponseInput{ResponseURL: r.srv.URL, Message: slackui.Message{Text: "hi"}}); err != nil {
		t.Fatal(err)
	}
}

func TestSlackPostResponseErrors(t *testing.T) {
	r := newResponseURL(t)
	for name, tc := range map[string]struct {
		status    int
		answer    string
		header    map[string]string
		typ       string
		retryable bool
		contains  string
		delay     time.Duration
	}{
		"5xx":          {status: 502, answer: "<html>bad gateway</html>", typ: activities.SlackUnavailableErrorType, retryable: true},
		"rate limited": {status: 429, header: map[string]string{"Retry-After": "3"}, typ: activities.SlackRateLimitedErrorType, retryable: true, delay: 3 * time.Second},
		"expired":      {status: 404, answer: "expired_url", typ: activities.SlackErrorType, contains: "run the command again"},
		"used up":      {status: 400, answer: `{"ok":false,"error":"used_url"}`, typ: activities.SlackErrorType, contains: "five times"},
		"refused 200":  {status: 200, answer: `{"ok":false,"error":"invalid_blocks"}`, typ: activities.SlackErrorType, contains: "deploybot bug"},
	} {
		t.Run(name, func(t *testing.T) {
			r.answerWith(tc.status, tc.answer, tc.header)
			err := postResponse(t, activities.PostResponseInput{ResponseURL: r.srv.URL + "/secret", Message: slackui.Message{Text: "hi"}})
			appErr := slackAppError(t, err)
			if appErr.Type() != tc.typ || appErr.NonRetryable() == tc.retryable || !strings.Contains(appErr.Error(), tc.contains) {
				t.Errorf("%v: type %s nonRetryable %v, want %s retryable=%v containing %q", appErr, appErr.Type(), appErr.NonRetryable(), tc.typ, tc.retryable, tc.contains)
			}
			if tc.delay != 0 && appErr.NextRetryDelay() != tc.delay {
				t.Errorf("NextRetryDelay = %s, want %s", appErr.NextRetryDelay(), tc.delay)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL + "/secret-path"
		dead.Close()
		appErr := slackAppError(t, postResponse(t, activities.PostResponseInput{ResponseURL: url, Message: slackui.Message{Text: "hi"}}))
		if appErr.Type() != activities.SlackUnavailableErrorType || appErr.NonRetryable() || strings.Contains(appErr.Error(), "secret-path") {
			t.Errorf("%v: want retryable %s without the URL", appErr, activities.SlackUnavailableErrorType)
		}
	})
	for _, bad := range []string{"", "hooks.slack.com/commands/x", "ftp://hooks.slack.com/x", "https://"} {
		appErr := slackAppError(t, postResponse(t, activities.PostResponseInput{ResponseURL: bad, Message: slackui.Message{Text: "hi"}}))
		if appErr.Type() != activities.SlackBadMessageErrorType || !appErr.NonRetryable() {
			t.Errorf("response_url %q: %v", bad, appErr)
		}
	}
	appErr := slackAppError(t, postResponse(t, activities.PostResponseInput{ResponseURL: r.srv.URL}))
	if appErr.Type() != activities.SlackBadMessageErrorType {
		t.Errorf("empty message: %v", appErr)
	}
}
