// Package slackapi is an in-memory Slack Web API server.
//
// It stands in for https://slack.com/api/ in the local playground and in the
// integration and durability tests: the worker's unchanged slack-go client is
// pointed at it with slack.OptionAPIURL(srv.URL()+"/api/") (SLACK_API_URL),
// and it answers with the JSON shapes Slack uses, so the production code path
// runs. Tests and the playground then read what "Slack" received through the
// Go API (Messages, Thread, Files, Calls, Subscribe) and can inject failures
// (FailNext, RateLimitNext).
//
// Only the methods the bot uses are implemented: auth.test, chat.postMessage,
// chat.update, chat.postEphemeral, chat.delete, conversations.history,
// conversations.replies, users.info, files.getUploadURLExternal,
// files.completeUploadExternal (with the upload URL it hands out),
// files.info, usergroups.list and usergroups.users.list. Any other method
// answers {"ok":false,"error":"unknown_method"} with HTTP 200, as Slack does.
package slackapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configures a Server.
type Options struct {
	// Token is the bot token callers must present, either as
	// "Authorization: Bearer <token>" or as the "token" form field (slack-go
	// sends form-encoded calls with the field, not the header). Empty accepts
	// any token, or none.
	Token string
	// Users are the workspace members users.info knows. The first user with
	// IsBot set is the bot the token belongs to; without one a default bot
	// (DefaultBotUserID) is added.
	Users []User
	// Channels are the conversations that exist. Posting anywhere else is
	// channel_not_found. With no channels at all, every channel ID is accepted
	// and created on first use, which keeps small tests short.
	Channels []Channel
	// UserGroups are the workspace's user groups (usergroups.list,
	// usergroups.users.list); SetUserGroup changes them later.
	UserGroups []UserGroup
	// Scopes are the bot token's OAuth scopes. Nil grants every scope; when
	// set, a method needing a scope not listed answers missing_scope with
	// "needed" and "provided", as Slack does (the scopes are those Slack
	// documents for each method: chat:write, usergroups:read, …).
	Scopes []string
	// Logger receives one debug line per API call. Nil discards.
	Logger *slog.Logger
}

// User is a workspace member, e.g. {ID: "U0ALICE", Name: "alice"}.
type User struct {
	ID, Name, RealName string
	IsBot              bool
}

// Channel is a conversation the bot can post in, e.g. {ID: "C0DEPLOY", Name: "deploys"}.
type Channel struct {
	ID, Name string
}

// UserGroup is a Slack user group (a "subteam"), e.g. {ID: "S0PLATFORM",
// Handle: "platform", Name: "Platform team", Users: []string{"U0BOB"}}:
// people mention it as @platform.
type UserGroup struct {
	ID, Handle, Name string
	// Users are the members' user IDs, in Slack's order.
	Users []string
	// Disabled groups are left out of usergroups.list, and
	// usergroups.users.list answers no_such_subteam for them, unless the
	// call sets include_disabled.
	Disabled bool
}

// Identity of the workspace and of the bot when Options.Users names no bot.
const (
	// DefaultBotUserID is the bot's user ID when Options.Users has no bot.
	DefaultBotUserID = "U0DEPLOYBOT"
	// BotID is the bot_id of every message the bot posts.
	BotID = "B0DEPLOYBOT"
	// AppID is the app_id of every message the bot posts.
	AppID = "A0DEPLOYBOT"
	// TeamID is the workspace ID.
	TeamID = "T0DEPLOYBOT"
	// TeamName is the workspace name auth.test reports.
	TeamName = "deploybot-playground"
)

// Pseudo method names for the requests that are not /api/<method> calls;
// Calls and FailNext accept them like real method names.
const (
	// UploadMethod counts POSTs of file bytes to the URL from files.getUploadURLExternal.
	UploadMethod = "upload"
	// DownloadMethod counts GETs of a file's url_private.
	DownloadMethod = "download"
	// AnyMethod makes FailNext apply to whatever method is called next.
	AnyMethod = "*"
)

// Slack limits the server enforces.
const (
	// MaxTextChars is the longest message text accepted (msg_too_long beyond).
	MaxTextChars = 40000
	// MaxBlocks is the most blocks one message may carry (invalid_blocks beyond).
	MaxBlocks = 50
	// MaxUploadBytes is the largest file accepted (file_too_large beyond).
	MaxUploadBytes = 50 << 20
	// maxFormBytes caps an API request body that is not a file upload.
	maxFormBytes = 10 << 20
)

// defaultRetryAfter is what FailNext(method, n, "ratelimited") advertises.
const defaultRetryAfter = time.Second

// Server is an in-memory Slack Web API. It is safe for concurrent use.
type Server struct {
	token string
	log   *slog.Logger
	bot   User

	users        map[string]User
	userOrder    []string
	openChannels bool     // no Options.Channels: accept any channel
	scopes       []string // nil: every scope
	created      time.Time

	mu       sync.Mutex
	channels map[string]*channelState // by ID
	names    map[string]string        // channel name → ID
	files    map[string]*fileState    // by file ID
	fileSeq  []string                 // file IDs in creation order
	uploads  map[string]string        // upload secret → file ID
	nextFile int
	lastTS   int64 // unix microseconds of the last ts handed out
	groups   map[string]UserGroup
	groupSeq []string // group IDs in the order they were added
	calls    map[string]int
	faults   map[string][]fault

	subMu sync.Mutex
	subs  map[*subscriber]struct{}

	urlMu  sync.Mutex
	url    string
	closer func()
}

type fault struct {
	err        string
	retryAfter time.Duration
}

// New returns a Server for opts. Serve it with Handler, Start or StartTest.
func New(opts Options) *Server {
	s := &Server{
		token:   opts.Token,
		log:     opts.Logger,
		users:   map[string]User{},
		scopes:  opts.Scopes,
		created: time.Now(),
		groups:  map[string]UserGroup{},
		calls:   map[string]int{},
		faults:  map[string][]fault{},
		subs:    map[*subscriber]struct{}{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, u := range opts.Users {
		if u.ID == "" {
			continue
		}
		if _, dup := s.users[u.ID]; !dup {
			s.userOrder = append(s.userOrder, u.ID)
		}
		s.users[u.ID] = u
		if u.IsBot && s.bot.ID == "" {
			s.bot = u
		}
	}
	if s.bot.ID == "" {
		s.bot = User{ID: DefaultBotUserID, Name: "deploybot", RealName: "deploybot", IsBot: true}
		s.users[s.bot.ID] = s.bot
		s.userOrder = append(s.userOrder, s.bot.ID)
	}
	s.openChannels = len(opts.Channels) == 0
	s.resetChannels(opts.Channels)
	for _, g := range opts.UserGroups {
		s.setUserGroup(g)
	}
	return s
}

// resetChannels empties the store and recreates chs, the configured channels.
func (s *Server) resetChannels(chs []Channel) {
	s.channels = map[string]*channelState{}
	s.names = map[string]string{}
	for _, c := range chs {
		if c.ID == "" {
			continue
		}
		s.channels[c.ID] = newChannelState(c.ID, c.Name)
		if c.Name != "" {
			s.names[c.Name] = c.ID
		}
	}
	s.files = map[string]*fileState{}
	s.fileSeq = nil
	s.uploads = map[string]string{}
}

// BotUser returns the user the token belongs to; messages the worker posts
// carry its ID.
func (s *Server) BotUser() User { return s.bot }

// Handler serves the API at "/api/<method>", the upload URLs and the files'
// url_private. Mount it at the root of a server, or under a prefix with
// http.StripPrefix: URLs it hands out keep the prefix.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

// Start serves the API on a free port of 127.0.0.1 and returns the base URL
// (API base = url+"/api/"). Stop it with Close.
func (s *Server) Start() (string, error) { return s.Listen("127.0.0.1:0") }

// Listen serves the API on addr (host:port) and returns the base URL. Stop it
// with Close.
func (s *Server) Listen(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("slackapi: listen on %s: %w", addr, err)
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	u := "http://" + ln.Addr().String()
	s.setURL(u, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if hs.Shutdown(ctx) != nil {
			_ = hs.Close()
		}
	})
	return u, nil
}

// StartTest starts a Server for opts on 127.0.0.1 and closes it when the test
// ends.
func StartTest(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s.Handler())
	s.setURL(ts.URL, ts.Close)
	t.Cleanup(s.Close)
	return s
}

func (s *Server) setURL(u string, closer func()) {
	s.urlMu.Lock()
	defer s.urlMu.Unlock()
	s.url, s.closer = u, closer
}

// URL returns the base URL, like http://127.0.0.1:40123, once Start, Listen
// or StartTest ran; "" when the Server is only mounted with Handler. The
// slack-go API base is URL()+"/api/".
func (s *Server) URL() string {
	s.urlMu.Lock()
	defer s.urlMu.Unlock()
	return s.url
}

// Close stops the listener started by Start, Listen or StartTest. It is safe
// to call more than once.
func (s *Server) Close() {
	s.urlMu.Lock()
	c := s.closer
	s.closer = nil
	s.urlMu.Unlock()
	if c != nil {
		c()
	}
}

// Calls reports how many requests method received since New or Reset,
// including ones answered with an error or an injected failure.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// FailNext makes the next n calls of method (or AnyMethod) fail with
// slackErr: "ratelimited" answers HTTP 429 with Retry-After: 1 (slack-go
// returns *slack.RateLimitedError), "internal_error" and "fatal_error" answer
// HTTP 500, "service_unavailable" HTTP 503, anything else HTTP 200
// {"ok":false,"error":slackErr}. Failures queue up behind earlier ones.
func (s *Server) FailNext(method string, n int, slackErr string) {
	s.addFaults(method, n, fault{err: slackErr, retryAfter: defaultRetryAfter})
}

// RateLimitNext makes the next n calls of method answer HTTP 429 with
// Retry-After set to retryAfter, rounded up to whole seconds as Slack sends
// it (0 stays 0).
func (s *Server) RateLimitNext(method string, n int, retryAfter time.Duration) {
	s.addFaults(method, n, fault{err: "ratelimited", retryAfter: retryAfter})
}

func (s *Server) addFaults(method string, n int, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[method] = append(s.faults[method], f)
	}
}

// Reset forgets all messages, files, counters and pending failures; users,
// channels and user groups stay. Timestamps keep increasing across resets
// so a page that cached old ones cannot confuse them with new ones.
// Subscribers get an EventReset.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var chs []Channel
	for _, c := range s.channels {
		if !c.dm && !c.auto {
			chs = append(chs, Channel{ID: c.id, Name: c.name})
		}
	}
	s.resetChannels(chs)
	s.calls = map[string]int{}
	s.faults = map[string][]fault{}
	s.publish(Event{Kind: EventReset})
}

// takeFault counts the call and pops the failure to inject, if any.
func (s *Server) takeFault(method string) (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[method]++
	for _, key := range []string{method, AnyMethod} {
		if q := s.faults[key]; len(q) > 0 {
			s.faults[key] = q[1:]
			return q[0], true
		}
	}
	return fault{}, false
}

// writeFault answers an injected failure the way Slack does.
func writeFault(w http.ResponseWriter, f fault) {
	status := http.StatusOK
	switch f.err {
	case "ratelimited":
		secs := int64((f.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 0), 10))
		status = http.StatusTooManyRequests
	case "internal_error", "fatal_error":
		status = http.StatusInternalServerError
	case "service_unavailable":
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, errorBody(f.err))
}

func errorBody(code string) map[string]any {
	return map[string]any{"ok": false, "error": code}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError is a Slack error code, optionally with the detail strings Slack
// puts in "errors" (as for invalid_blocks).
type apiError struct {
	code   string
	detail []string
}

func (e *apiError) Error() string { return e.code }

func slackErr(code string, detail ...string) *apiError {
	return &apiError{code: code, detail: detail}
}

// request is one decoded API call.
type request struct {
	method string
	form   url.Values
	base   string // external base URL, for the URLs handed out
	r      *http.Request
}

func (q *request) get(key string) string { return q.form.Get(key) }

func (q *request) has(key string) bool { _, ok := q.form[key]; return ok }

func (q *request) flag(key string) bool {
	v, _ := strconv.ParseBool(q.form.Get(key))
	return v
}

type handlerFunc func(s *Server, q *request) (map[string]any, error)

var methods = map[string]handlerFunc{
	"auth.test":                    (*Server).authTest,
	"chat.postMessage":             (*Server).chatPostMessage,
	"chat.update":                  (*Server).chatUpdate,
	"chat.postEphemeral":           (*Server).chatPostEphemeral,
	"chat.delete":                  (*Server).chatDelete,
	"conversations.history":        (*Server).conversationsHistory,
	"conversations.replies":        (*Server).conversationsReplies,
	"users.info":                   (*Server).usersInfo,
	"files.getUploadURLExternal":   (*Server).filesGetUploadURLExternal,
	"files.completeUploadExternal": (*Server).filesCompleteUploadExternal,
	"files.info":                   (*Server).filesInfo,
	"usergroups.list":              (*Server).usergroupsList,
	"usergroups.users.list":        (*Server).usergroupsUsersList,
}

// methodScopes are the bot scopes Slack documents for each method. The
// conversations.* reads need the history scope of the channel's kind; the
// stand-in's channels are public ones (channels:history), its DMs need
// im:history.
var methodScopes = map[string]string{
	"chat.postMessage":             "chat:write",
	"chat.update":                  "chat:write",
	"chat.postEphemeral":           "chat:write",
	"chat.delete":                  "chat:write",
	"conversations.history":        "channels:history",
	"conversations.replies":        "channels:history",
	"users.info":                   "users:read",
	"files.getUploadURLExternal":   "files:write",
	"files.completeUploadExternal": "files:write",
	"files.info":                   "files:read",
	"usergroups.list":              "usergroups:read",
	"usergroups.users.list":        "usergroups:read",
}

// methodScope is the bot scope method needs ("" = none, as for auth.test),
// for a call on channel (which matters only to the conversations.* reads).
func methodScope(method, channel string) string {
	if strings.HasPrefix(method, "conversations.") && strings.HasPrefix(channel, "D") {
		return "im:history"
	}
	return methodScopes[method]
}

// retired answers like Slack does for methods it has switched off, so code
// still using them fails the way it would in production.
var retired = map[string]bool{"files.upload": true}

const (
	apiPrefix      = "/api/"
	uploadPrefix   = "/upload/v1/"
	downloadPrefix = "/files-pri/"
)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, apiPrefix):
		s.serveAPI(w, r, strings.TrimPrefix(path, apiPrefix))
	case strings.HasPrefix(path, uploadPrefix):
		s.serveUpload(w, r, strings.TrimPrefix(path, uploadPrefix))
	case strings.HasPrefix(path, downloadPrefix):
		s.serveDownload(w, r, strings.TrimPrefix(path, downloadPrefix))
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, method string) {
	if f, ok := s.takeFault(method); ok {
		s.log.Debug("slack api call", "method", method, "injected", f.err)
		writeFault(w, f)
		return
	}
	h := methods[method]
	if h == nil {
		code := "unknown_method"
		if retired[method] {
			code = "method_deprecated"
		}
		s.log.Debug("slack api call", "method", method, "error", code)
		writeJSON(w, http.StatusOK, errorBody(code))
		return
	}
	form, err := parseForm(w, r)
	if err != nil {
		s.log.Debug("slack api call", "method", method, "error", err)
		writeJSON(w, http.StatusOK, errorBody("invalid_form_data"))
		return
	}
	if code := s.checkAuth(r, form.Get("token")); code != "" {
		s.log.Debug("slack api call", "method", method, "error", code)
		writeJSON(w, http.StatusOK, errorBody(code))
		return
	}
	if need := methodScope(method, form.Get("channel")); need != "" && s.scopes != nil && !slices.Contains(s.scopes, need) {
		s.log.Debug("slack api call", "method", method, "error", "missing_scope", "needed", need)
		b := errorBody("missing_scope")
		b["needed"], b["provided"] = need, strings.Join(s.scopes, ",")
		writeJSON(w, http.StatusOK, b)
		return
	}
	q := &request{method: method, form: form, base: externalBase(r), r: r}
	body, err := h(s, q)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = slackErr("internal_error")
		}
		s.log.Debug("slack api call", "method", method, "error", ae.code, "detail", ae.detail)
		b := errorBody(ae.code)
		if len(ae.detail) > 0 {
			b["errors"] = ae.detail
			b["response_metadata"] = map[string]any{"messages": ae.detail}
		}
		writeJSON(w, http.StatusOK, b)
		return
	}
	s.log.Debug("slack api call", "method", method, "ok", true)
	body["ok"] = true
	writeJSON(w, http.StatusOK, body)
}

// checkAuth returns "" when the call may proceed, else Slack's error code.
// The Bearer header wins over the form field, as on Slack.
func (s *Server) checkAuth(r *http.Request, formToken string) string {
	if s.token == "" {
		return ""
	}
	tok := formToken
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "invalid_auth"
		}
		tok = strings.TrimSpace(rest)
	}
	switch {
	case tok == "":
		return "not_authed"
	case tok != s.token:
		return "invalid_auth"
	}
	return ""
}

// parseForm reads the arguments the way Slack accepts them: query string,
// application/x-www-form-urlencoded or multipart/form-data (what slack-go
// sends), or a JSON object (what slack-go's JSON methods send), whose
// non-string values become JSON strings, as blocks are in a form.
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		vals := r.URL.Query()
		var obj map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&obj); err != nil {
			return nil, fmt.Errorf("json body: %w", err)
		}
		for k, raw := range obj {
			var str string
			if json.Unmarshal(raw, &str) == nil {
				vals.Set(k, str)
				continue
			}
			vals.Set(k, string(raw))
		}
		return vals, nil
	case strings.HasPrefix(ct, "multipart/form-data"):
		if err := r.ParseMultipartForm(maxFormBytes); err != nil {
			return nil, err
		}
		return r.Form, nil
	default:
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		return r.Form, nil
	}
}

// externalBase is the URL the caller reached this handler under, prefix
// included, so upload and file URLs work behind http.StripPrefix and pass
// slack-go's check that it only sends the token to the API's own host.
func externalBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host = h
	}
	prefix := ""
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
		full, inner := u.EscapedPath(), r.URL.EscapedPath()
		if strings.HasSuffix(full, inner) {
			prefix = strings.TrimSuffix(full, inner)
		}
	}
	return scheme + "://" + host + prefix
}
