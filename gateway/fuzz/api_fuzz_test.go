package fuzz

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/runsapi"
)

// fzAPIRequest is a runs API request with a bearer token; a target that
// is no valid request line still reaches the router (as a proxy could send
// it), so nothing is left out.
func fzAPIRequest(method, target, token string, body []byte) *http.Request {
	req := httptest.NewRequest(method, runsapi.BasePath, bytes.NewReader(body))
	if u, err := url.ParseRequestURI(target); err == nil {
		req.URL, req.RequestURI = u, target
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// fzTokens are the tokens a request may carry: the deciding one (bound to
// fzBob), the reading one, a wrong one, none.
var fzTokens = []string{fzDecider, fzReader, "not-a-token", ""}

// FuzzRunsAPIDecision posts any body to POST /api/v1/runs/{id}/decision
// with any id and runId, and reads the run back with GET. The answers are
// never a 5xx or a panic; every refusal is JSON with a message. A decision
// reaches the run only with the deciding token, only for a body that is a
// JSON decision word (approve, accept, reject, any case) naming no user or
// the token's own, and then as the token's user (never the body's), under
// a clean name, approving unless it said reject; it is answered 200 with
// the outcome.
func FuzzRunsAPIDecision(f *testing.F) {
	f.Add("deploy-guestbook", "", []byte(`{"decision":"approve","user":"U0BOB"}`), uint8(0))
	f.Add("sast-deploybot%3Apayments-api~branch-main~task-AYx1", fzRunID, []byte(`{"decision":"accept"}`), uint8(0))
	f.Add("deploy-guestbook", "", []byte(`{"decision":"REJECT","user":"U0BOB","userName":"Bob\r\nBcc: x@evil"}`), uint8(0))
	f.Add("deploy-guestbook", "", []byte(`{"decision":"approve","user":"U0MALLORY"}`), uint8(0))
	f.Add("deploy-guestbook", "", []byte(`{"decision":"approve","user":"bob"}`), uint8(0))
	f.Add("deploy-guestbook", "", []byte(`{"decision":"approve"}`), uint8(1))
	f.Add("deploy-guestbook", "", []byte(`{"decision":"approve"}`), uint8(2))
	f.Add("deploy-guestbook", "", []byte(`{"decision":"maybe"}`), uint8(0))
	f.Add("deploy-guest\nbook", "", []byte(`{"decision":"approve"}`), uint8(0))
	f.Add("cmd-status-Ev1", "", []byte(`{"decision":"approve"}`), uint8(0))
	f.Add("deploy-x", "\x00", []byte(`{"decision":"approve"}`), uint8(0))
	f.Add("a/b", "", []byte(`null`), uint8(0))
	f.Add("deploy-x", "", []byte(`{"decision":"approve"`), uint8(3))
	f.Add("deploy-x", "", []byte(`["approve"]`), uint8(0))
	g := newFzGateway(f)
	f.Fuzz(func(t *testing.T, id, runID string, body []byte, tok uint8) {
		token := fzTokens[int(tok)%len(fzTokens)]
		target := runsapi.BasePath + "/" + url.PathEscape(id)
		if runID != "" {
			target += "?runId=" + url.QueryEscape(runID)
		}
		g.do(t, fzAPIRequest(http.MethodGet, target, fzReader, nil))

		target = runsapi.BasePath + "/" + url.PathEscape(id) + "/decision"
		if runID != "" {
			target += "?runId=" + url.QueryEscape(runID)
		}
		res := g.do(t, fzAPIRequest(http.MethodPost, target, token, body))
		var req struct {
			Decision *string `json:"decision"`
			User     string  `json:"user"`
			UserName string  `json:"userName"`
		}
		bodyOK := json.Unmarshal(body, &req) == nil && req.Decision != nil
		word := ""
		if bodyOK {
			word = strings.ToLower(*req.Decision)
		}
		valid := bodyOK && (word == "approve" || word == "accept" || word == "reject") && (req.User == "" || req.User == fzBob)
		decides := fzCount(res.calls, "Decide")
		switch {
		case token == fzDecider && valid && utf8.ValidString(id) && decides != 1 && res.code < 400:
			t.Fatalf("a valid decision answered %d %s with %d decide calls", res.code, res.body, decides)
		case decides > 0 && (token != fzDecider || !valid):
			t.Fatalf("a decision with token %q and body %q reached the run", token, body)
		case decides > 1:
			t.Fatalf("%d decide calls for one request", decides)
		case token == "" || token == "not-a-token":
			if res.code != http.StatusUnauthorized && res.code != http.StatusNotFound {
				t.Fatalf("token %q answered %d %s, want 401", token, res.code, res.body)
			}
		}
		if decides == 0 {
			if res.code == http.StatusOK {
				t.Fatalf("200 %s without a decision", res.body)
			}
			return
		}
		var d *contract.Decision
		for _, c := range res.calls {
			if c.method == "Decide" {
				d = c.decision
				if c.workflowID != id {
					t.Errorf("decided %q, want %q", c.workflowID, id)
				}
			}
		}
		checkUser(t, "API decider", d.User)
		if d.User.ID != fzBob || d.User.Name != contract.CleanName(req.UserName) || d.User.Via != "token ci" || d.Source != "api" || d.Approve != (word != "reject") {
			t.Errorf("decision %+v for body %q, want %s deciding as the token's user", d, body, word)
		}
		var resp runsapi.DecisionResponse
		if res.code != http.StatusOK || json.Unmarshal(res.body, &resp) != nil || resp.Outcome == "" || resp.Run.ID != id {
			t.Errorf("decision answered %d %s, want 200 with the outcome and the run", res.code, res.body)
		}
	})
}

// FuzzRunsAPIList reads GET /api/v1/runs with any query string. The answer
// is 200 with a run list or a 400 with a message, never a 5xx or a panic,
// and every visibility query it sends is one Temporal can take: UTF-8
// without control characters, with no backslash and its quotes in pairs
// (no filter value can end its quotes and add a condition).
func FuzzRunsAPIList(f *testing.F) {
	for _, q := range []string{
		"", "type=sast", "type=deploy&app=guestbook&limit=5", "project=deploybot%3Apayments-api&branch=release%2F2024.03",
		"revision=9f2c1b7e&limit=100", "limit=0", "limit=101", "type=other", "app=x%27%20OR%20%271%27%3D%271",
		"branch=a%5Cb", "project=%00", "app=" + strings.Repeat("a", 300), "app=%E2%80%A8", "limit=1&limit=2",
		"type=sast;project=p", "%zz",
	} {
		f.Add(q)
	}
	g := newFzGateway(f)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := fzAPIRequest(http.MethodGet, runsapi.BasePath, fzReader, nil)
		req.URL.RawQuery = rawQuery
		res := g.do(t, req)
		if res.code != http.StatusOK && res.code != http.StatusBadRequest {
			t.Fatalf("?%s answered %d %s, want 200 or 400", rawQuery, res.code, res.body)
		}
		if res.code == http.StatusOK {
			var list runsapi.RunList
			if err := json.Unmarshal(res.body, &list); err != nil || list.Runs == nil {
				t.Fatalf("?%s answered 200 %s, not a run list", rawQuery, res.body)
			}
		}
		for _, c := range res.calls {
			if c.method != "ListRuns" {
				continue
			}
			ctl := strings.IndexFunc(c.query, unicode.IsControl) >= 0
			if !utf8.ValidString(c.query) || ctl || strings.Contains(c.query, `\`) || strings.Count(c.query, "'")%2 != 0 {
				t.Fatalf("?%s sent the visibility query %q", rawQuery, c.query)
			}
		}
	})
}
