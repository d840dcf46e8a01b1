package runsapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// recorded is what the fake server saw of one request.
type recorded struct {
	method, rawPath, path, query, auth, contentType string
	body                                            []byte
}

// fakeAPI serves status and body to every request and records it.
func fakeAPI(t *testing.T, status int, body string) (*httptest.Server, *recorded) {
	t.Helper()
	rec := &recorded{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.method = r.Method
		rec.rawPath = r.URL.EscapedPath()
		rec.path = r.URL.Path
		rec.query = r.URL.RawQuery
		rec.auth = r.Header.Get("Authorization")
		rec.contentType = r.Header.Get("Content-Type")
		rec.body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func newTestClient(t *testing.T, url string) *Client {
	t.Helper()
	c, err := NewClient(url, "tok-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientGetEscapesID(t *testing.T) {
	srv, rec := fakeAPI(t, 200, `{"id":"sast-p%b~1 x","type":"sast","state":"waiting_for_decision","status":"running","startedAt":"2026-01-02T03:04:05Z","expiresAt":"2026-01-03T03:04:05Z"}`)
	run, err := newTestClient(t, srv.URL).Get(context.Background(), "sast-p%b~1 x")
	if err != nil {
		t.Fatal(err)
	}
	if rec.method != http.MethodGet {
		t.Errorf("method = %s, want GET", rec.method)
	}
	if want := "/api/v1/runs/sast-p%25b~1%20x"; rec.rawPath != want {
		t.Errorf("escaped path = %q, want %q", rec.rawPath, want)
	}
	if want := "/api/v1/runs/sast-p%b~1 x"; rec.path != want {
		t.Errorf("path = %q, want %q", rec.path, want)
	}
	if rec.auth != "Bearer tok-1" {
		t.Errorf("Authorization = %q", rec.auth)
	}
	if run.ID != "sast-p%b~1 x" || run.State != StateWaiting || !run.ExpiresAt.Equal(time.Date(2026, 1, 3, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("run = %+v", run)
	}
}

func TestClientKeepsPathPrefix(t *testing.T) {
	srv, rec := fakeAPI(t, 200, `{"runs":[]}`)
	if _, err := newTestClient(t, srv.URL+"/deploybot/").List(context.Background(), ListQuery{}); err != nil {
		t.Fatal(err)
	}
	if rec.path != "/deploybot/api/v1/runs" || rec.query != "" {
		t.Errorf("path = %q, query = %q; want /deploybot/api/v1/runs and no query", rec.path, rec.query)
	}
}

func TestClientListQuery(t *testing.T) {
	srv, rec := fakeAPI(t, 200, `{"runs":[{"id":"sast-b","type":"sast","state":"done","status":"completed","outcome":"accepted","startedAt":"2026-01-02T03:04:05Z"},{"id":"sast-a","type":"sast","state":"done","status":"completed","outcome":"superseded","startedAt":"2026-01-01T03:04:05Z"}]}`)
	list, err := newTestClient(t, srv.URL).List(context.Background(), ListQuery{
		Type: TypeSAST, Project: "my proj&x=1", Branch: "feat/a", Revision: "abc123", App: "guestbook", Limit: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.method != http.MethodGet || rec.path != BasePath {
		t.Errorf("%s %s, want GET %s", rec.method, rec.path, BasePath)
	}
	want := "app=guestbook&branch=feat%2Fa&limit=5&project=my+proj%26x%3D1&revision=abc123&type=sast"
	if rec.query != want {
		t.Errorf("query = %q, want %q", rec.query, want)
	}
	if rec.auth != "Bearer tok-1" {
		t.Errorf("Authorization = %q", rec.auth)
	}
	if len(list.Runs) != 2 || list.Runs[0].ID != "sast-b" || list.Runs[0].Outcome != "accepted" {
		t.Errorf("runs = %+v", list.Runs)
	}
	if _, err := newTestClient(t, srv.URL).List(context.Background(), ListQuery{Limit: -1}); err == nil {
		t.Error("a negative limit was sent")
	}
}

func TestClientDecide(t *testing.T) {
	srv, rec := fakeAPI(t, 200, `{"outcome":"accepted","run":{"id":"sast-k","type":"sast","state":"running","status":"running","outcome":"accepted","decidedBy":{"id":"U0BOB","name":"Bob"},"startedAt":"2026-01-02T03:04:05Z"}}`)
	resp, err := newTestClient(t, srv.URL).Decide(context.Background(), "sast-k~1", DecisionRequest{Decision: DecisionAccept, User: "U0BOB", UserName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.method != http.MethodPost || rec.rawPath != "/api/v1/runs/sast-k~1/decision" {
		t.Errorf("%s %s, want POST /api/v1/runs/sast-k~1/decision", rec.method, rec.rawPath)
	}
	if rec.contentType != "application/json" || rec.auth != "Bearer tok-1" {
		t.Errorf("Content-Type = %q, Authorization = %q", rec.contentType, rec.auth)
	}
	var sent DecisionRequest
	if err := json.Unmarshal(rec.body, &sent); err != nil || sent != (DecisionRequest{Decision: "accept", User: "U0BOB", UserName: "Bob"}) {
		t.Errorf("body = %s (%v)", rec.body, err)
	}
	if resp.Outcome != "accepted" || resp.Run.DecidedBy == nil || resp.Run.DecidedBy.Name != "Bob" {
		t.Errorf("response = %+v", resp)
	}
}

func TestClientErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantMsg   string
		wantInErr []string
		retryable bool
	}{
		{"unauthorized", 401, `{"error":"invalid token"}`, "invalid token", []string{"401 Unauthorized", "invalid token", "API_TOKENS", "DEPLOYBOT_API_TOKEN"}, false},
		{"forbidden", 403, `{"error":"U0MAL is not a security approver"}`, "U0MAL is not a security approver", []string{"403 Forbidden", "not a security approver"}, false},
		{"not found", 404, `{"error":"no run sast-x"}`, "no run sast-x", []string{"404 Not Found", "no run sast-x", "run id"}, false},
		{"conflict", 409, `{"error":"the run no longer waits for a decision"}`, "the run no longer waits for a decision", []string{"409 Conflict", "no longer waits"}, false},
		{"rate limited", 429, `{"error":"slow down"}`, "slow down", []string{"429"}, true},
		{"server error", 500, `{"error":"temporal unavailable"}`, "temporal unavailable", []string{"500 Internal Server Error", "temporal unavailable", "temporary"}, true},
		{"proxy page", 502, "<html>\n  <body>Bad   Gateway</body>\n</html>", "<html> <body>Bad Gateway</body> </html>", []string{"502 Bad Gateway", "Bad Gateway</body>"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := fakeAPI(t, tt.status, tt.body)
			_, err := newTestClient(t, srv.URL).Get(context.Background(), "sast-x")
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Message != tt.wantMsg {
				t.Errorf("APIError = %+v, want status %d message %q", apiErr, tt.status, tt.wantMsg)
			}
			for _, s := range tt.wantInErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if apiErr.Retryable() != tt.retryable {
				t.Errorf("Retryable() = %v, want %v", apiErr.Retryable(), tt.retryable)
			}
		})
	}
}

func TestClientBadAnswers(t *testing.T) {
	srv, _ := fakeAPI(t, 200, `<html>login</html>`)
	_, err := newTestClient(t, srv.URL).List(context.Background(), ListQuery{})
	if err == nil || !strings.Contains(err.Error(), "not the expected JSON") {
		t.Errorf("HTML answer: err = %v", err)
	}

	srv.Close()
	_, err = newTestClient(t, srv.URL).List(context.Background(), ListQuery{})
	var apiErr *APIError
	if err == nil || errors.As(err, &apiErr) || !strings.Contains(err.Error(), "runs API") {
		t.Errorf("closed server: err = %v, want a network error naming the runs API", err)
	}
}

func TestClientRefusesBadIDs(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	for _, id := range []string{"", ".", ".."} {
		if _, err := c.Get(context.Background(), id); err == nil {
			t.Errorf("Get(%q) did not fail", id)
		}
		if _, err := c.Decide(context.Background(), id, DecisionRequest{Decision: DecisionReject, User: "U1"}); err == nil {
			t.Errorf("Decide(%q) did not fail", id)
		}
	}
}

func TestNewClientValidates(t *testing.T) {
	tests := []struct {
		url, token, wantErr string
	}{
		{"localhost:8080", "t", "http:// or https://"},
		{"ftp://host", "t", "http:// or https://"},
		{"http://", "t", "no host"},
		{"http://user:secret@host", "t", "user or password"},
		{"http://host/?x=1", "t", "query or fragment"},
		{"http://host/#frag", "t", "query or fragment"},
		{"http://host\x7f", "t", "runs API URL"},
		{"http://host", "", "API_TOKENS"},
		{"http://host", "tok\n", "trailing newline"},
	}
	for _, tt := range tests {
		_, err := NewClient(tt.url, tt.token, nil)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("NewClient(%q, %q) = %v, want an error mentioning %q", tt.url, tt.token, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks the URL's password: %v", err)
		}
	}
	c, err := NewClient(" https://deploybot.example.com/x/ ", "t", nil)
	if err != nil || c.BaseURL() != "https://deploybot.example.com/x" {
		t.Errorf("NewClient = %v, %v; want base https://deploybot.example.com/x", c, err)
	}
}
