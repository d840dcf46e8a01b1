package runsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/deploybot/deploybot/internal/version"
)

// maxBody caps what the client reads of an answer: a list of 100 runs is a
// few hundred kilobytes; anything larger is not the runs API.
const maxBody = 8 << 20

// DefaultTimeout bounds each request of a Client made with a nil
// *http.Client, so a hung gateway cannot hang the caller.
const DefaultTimeout = 30 * time.Second

// Client calls the runs API of a deploybot gateway. It is safe for
// concurrent use.
type Client struct {
	base  string // scheme://host[/prefix], escaped, without a trailing slash
	token string
	hc    *http.Client
}

// NewClient returns a client of the runs API served at baseURL (e.g.
// DefaultURL, or https://deploybot.example.com when the gateway is behind a
// proxy; a path prefix is kept). token is one of the gateway's API_TOKENS.
// hc nil means a client with DefaultTimeout.
func NewClient(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("runs API URL %q: %w; use e.g. %s", baseURL, err, DefaultURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("runs API URL %q must start with http:// or https://, e.g. %s", baseURL, DefaultURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("runs API URL %q has no host; use e.g. %s", baseURL, DefaultURL)
	}
	if u.User != nil {
		// The token is the only credential; a password in the URL would end up in logs.
		return nil, fmt.Errorf("runs API URL %q must not contain a user or password: pass the token instead", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("runs API URL %q must not have a query or fragment: give the gateway's base URL, e.g. %s", baseURL, DefaultURL)
	}
	if token == "" {
		return nil, errors.New("no runs API token: use one of the gateway's API_TOKENS")
	}
	if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		// Usually a newline read from a file; net/http would refuse the header with a vaguer error.
		return nil, errors.New("the runs API token contains spaces or control characters (a trailing newline?); pass the token alone")
	}
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	base := u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/")
	return &Client{base: base, token: token, hc: hc}, nil
}

// BaseURL returns the URL the client calls, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// Get returns the run with workflow id id.
func (c *Client) Get(ctx context.Context, id string) (*Run, error) {
	p, err := runPath(id)
	if err != nil {
		return nil, err
	}
	var run Run
	if err := c.do(ctx, http.MethodGet, p, nil, &run); err != nil {
		return nil, err
	}
	return &run, nil
}

// List returns the runs matching q, newest first.
func (c *Client) List(ctx context.Context, q ListQuery) (*RunList, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("list runs: limit %d is negative; use 0 for the default (20) or up to 100", q.Limit)
	}
	v := url.Values{}
	for _, kv := range [][2]string{{"type", q.Type}, {"project", q.Project}, {"branch", q.Branch}, {"revision", q.Revision}, {"app", q.App}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	p := BasePath
	if len(v) > 0 {
		p += "?" + v.Encode()
	}
	var list RunList
	if err := c.do(ctx, http.MethodGet, p, nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// Decide approves, accepts or rejects the run with workflow id id on behalf
// of req.User. The run's approver rules apply; a refusal is an *APIError.
func (c *Client) Decide(ctx context.Context, id string, req DecisionRequest) (*DecisionResponse, error) {
	p, err := runPath(id)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode decision: %w", err)
	}
	var resp DecisionResponse
	if err := c.do(ctx, http.MethodPost, p+"/decision", body, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// runPath is the escaped path of one run. Ids may hold '%', '~' and other
// characters a path must escape; "." and ".." would be cleaned away by the
// server's router and address another resource.
func runPath(id string) (string, error) {
	switch id {
	case "":
		return "", errors.New("no run id given")
	case ".", "..":
		return "", fmt.Errorf("%q is not a run id", id)
	}
	return BasePath + "/" + url.PathEscape(id), nil
}

// do sends one request and decodes a 2xx answer into out, or returns an
// *APIError for any other status.
func (c *Client) do(ctx context.Context, method, pathAndQuery string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+pathAndQuery, rd)
	if err != nil {
		return fmt.Errorf("runs API: build %s request: %w", method, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "deploybot/"+version.String())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error already names the method and URL; the URL carries no secret.
		return fmt.Errorf("runs API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("runs API: read the answer to %s %s: %w", method, req.URL.Path, err)
	}
	if len(data) > maxBody {
		return fmt.Errorf("runs API: the answer to %s %s is larger than %d bytes; is %s a deploybot gateway?", method, req.URL.Path, maxBody, c.base)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newAPIError(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("runs API: the answer to %s %s (%d) is not the expected JSON: %w; is %s a deploybot gateway?", method, req.URL.Path, resp.StatusCode, err, c.base)
	}
	return nil
}

// APIError is a 4xx or 5xx answer of the runs API.
type APIError struct {
	StatusCode int
	// Message is the answer's Error field or, when the body is not an
	// Error (a proxy's page), the start of the body.
	Message string
}

// newAPIError reads an error answer's body.
func newAPIError(status int, body []byte) *APIError {
	var e Error
	msg := ""
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
	} else {
		msg = strings.Join(strings.Fields(string(body)), " ")
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
	}
	return &APIError{StatusCode: status, Message: msg}
}

// Error says what was refused and what to do about it.
func (e *APIError) Error() string {
	status := strconv.Itoa(e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		status += " " + t
	}
	msg := ""
	if e.Message != "" {
		msg = ": " + e.Message
	}
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return "runs API refused the token (" + status + ")" + msg + "; check that the token (--token or DEPLOYBOT_API_TOKEN) is one of the gateway's API_TOKENS"
	case e.StatusCode == http.StatusForbidden:
		return "runs API refused the request (" + status + ")" + msg + "; the token or the user is not allowed to do this"
	case e.StatusCode == http.StatusNotFound:
		return "runs API: not found (" + status + ")" + msg + "; check the run id, and that the URL points at a deploybot gateway that serves " + BasePath
	case e.StatusCode >= 500:
		return "runs API failed (" + status + ")" + msg + "; this is usually temporary (gateway restarting, Temporal unreachable): if it persists, check the gateway's log"
	default:
		return "runs API refused the request (" + status + ")" + msg
	}
}

// Retryable reports whether the same request may succeed later: a server
// error, a timeout or rate limiting. Other 4xx answers will not change.
func (e *APIError) Retryable() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests
}
