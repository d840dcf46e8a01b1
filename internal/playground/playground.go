// Package playground serves the web page that stands in for Slack in
// `deploybot dev`: it shows the channel the bot posts in (from the in-memory
// Slack Web API, internal/slackapi), and sends the gateway exactly the signed
// requests Slack would send when someone writes or clicks there, so the
// gateway's production code path runs. It also stands in for SonarQube (it
// sends signed sample webhooks of a failed or passing quality gate) and for
// a mailbox (it lists the email the worker sent to the SMTP sink).
package playground

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/internal/smtpsink"
)

//go:embed static
var static embed.FS

// Options configures the playground.
type Options struct {
	// Slack is the Slack stand-in the worker posts to; the page shows its
	// channel and the playground records what people type there.
	Slack *slackapi.Server
	// SlackToken is the bot token Slack accepts; the playground uses it to
	// post the ephemeral replies that arrive on a slash command's response_url.
	SlackToken string
	// GatewayURL is the gateway's base URL (http://host:port); requests go to
	// /slack/events, /slack/commands and /slack/interactions under it.
	GatewayURL string
	// SigningSecret signs the requests as Slack would (SIGNING_SECRET).
	SigningSecret string
	// TemporalUIURL is linked from the page.
	TemporalUIURL string
	// Users are the people one can act as; the bot among them is not offered.
	Users []slackapi.User
	// Channel is the channel the page shows.
	Channel slackapi.Channel
	// Done, when closed, ends the live-update streams so an HTTP server
	// shutdown does not wait for open pages.
	Done <-chan struct{}
	// SonarQubeSecret signs the sample SonarQube webhooks
	// (SONARQUBE_WEBHOOK_SECRET); "" sends them unsigned, as SonarQube does
	// when its webhook has no secret.
	SonarQubeSecret string
	// Mail is where the Emails panel reads the email the worker sent; nil
	// hides the panel unless MailUIURL is set. *smtpsink.Sink is one.
	Mail MailSource
	// MailUIURL is the web page of a mail catcher that receives the worker's
	// email instead (docker-compose's mailpit); without Mail, the Emails
	// panel links to it.
	MailUIURL string
	// Client sends the requests to the gateway; nil = a client with a 30s timeout.
	Client *http.Client
	// Logger receives what went wrong; nil discards.
	Logger *slog.Logger
}

// Prefix is the path the playground is served under.
const Prefix = "/playground"

// MailSource is the mailbox the Emails panel shows.
type MailSource interface {
	// Messages returns the messages received so far, oldest first.
	Messages() []smtpsink.Message
	// Subscribe returns a channel that receives a value when messages
	// arrive (it may coalesce several) and is closed by stop.
	Subscribe() (ch <-chan struct{}, stop func())
}

var _ MailSource = (*smtpsink.Sink)(nil)

// responseURLTTL is how long a slash command's response_url works (as in Slack).
const responseURLTTL = 30 * time.Minute

type handler struct {
	opts   Options
	mux    *http.ServeMux
	bot    slackapi.User
	byName map[string]slackapi.User
	byID   map[string]slackapi.User

	mu        sync.Mutex
	responses map[string]responseTarget
}

type responseTarget struct {
	user, channel, threadTS string
	expires                 time.Time
}

// New returns the playground's handler. Mount it so that it sees the full
// path (it serves /playground and everything under /playground/).
func New(opts Options) http.Handler {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{opts: opts, mux: http.NewServeMux(), byName: map[string]slackapi.User{}, byID: map[string]slackapi.User{}, responses: map[string]responseTarget{}}
	if opts.Slack != nil {
		h.bot = opts.Slack.BotUser()
	}
	for _, u := range opts.Users {
		h.byName[u.Name] = u
		h.byID[u.ID] = u
		if u.IsBot && h.bot.ID == "" {
			h.bot = u
		}
	}
	if _, ok := h.byID[h.bot.ID]; !ok && h.bot.ID != "" {
		h.byID[h.bot.ID] = h.bot
		h.byName[h.bot.Name] = h.bot
	}
	sub, _ := fs.Sub(static, "static")
	h.mux.HandleFunc("GET "+Prefix, h.page)
	h.mux.HandleFunc("GET "+Prefix+"/{$}", h.page)
	h.mux.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", http.FileServerFS(sub)))
	h.mux.HandleFunc("GET "+Prefix+"/api/state", h.state)
	h.mux.HandleFunc("GET "+Prefix+"/api/events", h.events)
	h.mux.HandleFunc("POST "+Prefix+"/api/say", h.say)
	h.mux.HandleFunc("POST "+Prefix+"/api/click", h.click)
	h.mux.HandleFunc("POST "+Prefix+"/api/respond/{token}", h.respond)
	h.mux.HandleFunc("GET "+Prefix+"/api/emails", h.emails)
	h.mux.HandleFunc("POST "+Prefix+"/api/sonarqube", h.sonarqube)
	h.mux.HandleFunc("GET "+Prefix+"/files/{id}", h.file)
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	b, err := static.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// user finds a person by ID or name.
func (h *handler) user(s string) (slackapi.User, bool) {
	if u, ok := h.byID[s]; ok {
		return u, true
	}
	u, ok := h.byName[strings.TrimPrefix(s, "@")]
	return u, ok
}

type jsonUser struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	RealName string `json:"real_name"`
	IsBot    bool   `json:"is_bot"`
}

type jsonFile struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

type jsonMessage struct {
	TS        string          `json:"ts"`
	ThreadTS  string          `json:"thread_ts,omitempty"`
	User      string          `json:"user"`
	Text      string          `json:"text"`
	Blocks    json.RawMessage `json:"blocks,omitempty"`
	Ephemeral bool            `json:"ephemeral,omitempty"`
	Edited    bool            `json:"edited,omitempty"`
	Broadcast bool            `json:"broadcast,omitempty"`
	Files     []jsonFile      `json:"files,omitempty"`
}

type jsonState struct {
	Channel    map[string]string `json:"channel"`
	Users      []jsonUser        `json:"users"`
	Bot        string            `json:"bot"`
	TemporalUI string            `json:"temporal_ui,omitempty"`
	Messages   []jsonMessage     `json:"messages"`
}

// state serves the channel's messages; ephemeral ones only for ?user=.
func (h *handler) state(w http.ResponseWriter, r *http.Request) {
	viewer := r.URL.Query().Get("user")
	if u, ok := h.user(viewer); ok {
		viewer = u.ID
	}
	st := jsonState{
		Channel:    map[string]string{"id": h.opts.Channel.ID, "name": h.opts.Channel.Name},
		Bot:        h.bot.ID,
		TemporalUI: h.opts.TemporalUIURL,
		Messages:   []jsonMessage{},
	}
	for _, u := range h.opts.Users {
		st.Users = append(st.Users, jsonUser{ID: u.ID, Name: u.Name, RealName: u.RealName, IsBot: u.IsBot})
	}
	for _, m := range h.opts.Slack.Messages(h.opts.Channel.ID) {
		if m.Deleted || (m.Ephemeral && m.EphemeralUser != viewer) {
			continue
		}
		jm := jsonMessage{TS: m.TS, ThreadTS: m.ThreadTS, User: m.User, Text: m.Text, Blocks: m.Blocks,
			Ephemeral: m.Ephemeral, Edited: m.Edited, Broadcast: m.Broadcast}
		for _, f := range m.Files {
			jm.Files = append(jm.Files, jsonFile{ID: f.ID, Name: f.Name, Title: f.Title, URL: Prefix + "/files/" + url.PathEscape(f.ID)})
		}
		st.Messages = append(st.Messages, jm)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, st)
}

// events streams a line per change in the Slack stand-in (server-sent
// events); the page reloads the state when it gets one.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, stop := h.opts.Slack.Subscribe()
	defer stop()
	var mail <-chan struct{} // nil: no mailbox, never ready
	if h.opts.Mail != nil {
		var stopMail func()
		mail, stopMail = h.opts.Mail.Subscribe()
		defer stopMail()
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, "retry: 1000\n\n")
	fl.Flush()
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.opts.Done:
			return
		case <-ping.C:
			_, _ = io.WriteString(w, ": ping\n\n")
		case _, ok := <-mail:
			if !ok {
				mail = nil // the sink closed; the channel's stream goes on
				continue
			}
			_, _ = io.WriteString(w, "data: {\"kind\":\"email\"}\n\n")
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if ev.Channel != "" && ev.Channel != h.opts.Channel.ID {
				continue
			}
			b, _ := json.Marshal(map[string]any{"kind": ev.Kind, "ts": ev.TS, "thread_ts": ev.ThreadTS, "missed": ev.Missed})
			_, _ = fmt.Fprintf(w, "data: %s\n\n", b)
		}
		fl.Flush()
	}
}

// readRequest decodes the JSON body into v and resolves who acts (*user,
// filled by the decode); it answers 400 itself and returns false when either
// fails. The bot cannot act from the page.
func (h *handler) readRequest(w http.ResponseWriter, r *http.Request, v any, user *string) (slackapi.User, bool) {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "bad JSON: " + err.Error()})
		return slackapi.User{}, false
	}
	u, ok := h.user(*user)
	if !ok || u.IsBot {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "unknown user " + *user})
		return slackapi.User{}, false
	}
	return u, true
}

type sayRequest struct {
	User     string `json:"user"`
	Text     string `json:"text"`
	ThreadTS string `json:"thread_ts"`
}

var mentionRE = regexp.MustCompile(`@([a-z][a-z0-9._-]*)`)

// slackText turns "@name" of known people into Slack's <@ID> form, as the
// Slack client does when one picks a name.
func (h *handler) slackText(text string) string {
	return mentionRE.ReplaceAllStringFunc(text, func(m string) string {
		if u, ok := h.byName[m[1:]]; ok {
			return "<@" + u.ID + ">"
		}
		return m
	})
}

// say records what someone typed and forwards it to the gateway as Slack
// would: a mention of the bot as an app_mention event, /deploy as a slash
// command.
func (h *handler) say(w http.ResponseWriter, r *http.Request) {
	var req sayRequest
	u, ok := h.readRequest(w, r, &req, &req.User)
	if !ok {
		return
	}
	text := strings.TrimSpace(req.Text)
	if text == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "nothing to send"})
		return
	}
	if strings.HasPrefix(text, "/") {
		cmd, rest, _ := strings.Cut(text, " ")
		if cmd != "/deploy" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": cmd + " is not a command here; try /deploy help"})
			return
		}
		h.slash(w, r, u, strings.TrimSpace(rest), req.ThreadTS)
		return
	}
	text = h.slackText(text)
	m, err := h.opts.Slack.PostUserMessage(h.opts.Channel.ID, u.ID, req.ThreadTS, text)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	out := map[string]any{"ok": true, "ts": m.TS, "thread_ts": m.ThreadTS}
	if h.bot.ID == "" || !strings.Contains(text, "<@"+h.bot.ID+">") {
		writeJSON(w, http.StatusOK, out)
		return
	}
	ev := map[string]any{"type": "app_mention", "user": u.ID, "text": text, "ts": m.TS, "channel": h.opts.Channel.ID, "event_ts": m.TS}
	if m.ThreadTS != "" {
		ev["thread_ts"] = m.ThreadTS
	}
	body, _ := json.Marshal(map[string]any{
		"token": "playground", "team_id": slackapi.TeamID, "api_app_id": slackapi.AppID,
		"type": "event_callback", "event_id": "Ev" + randomID(), "event_time": time.Now().Unix(),
		"event": ev, "authorizations": []map[string]any{{"team_id": slackapi.TeamID, "user_id": h.bot.ID, "is_bot": true}},
	})
	h.forward(w, "/slack/events", "application/json", body, out)
}

// slash sends `/deploy text` as Slack's slash-command form.
func (h *handler) slash(w http.ResponseWriter, r *http.Request, u slackapi.User, text, threadTS string) {
	token := randomID()
	h.mu.Lock()
	now := time.Now()
	for k, v := range h.responses {
		if now.After(v.expires) {
			delete(h.responses, k)
		}
	}
	h.responses[token] = responseTarget{user: u.ID, channel: h.opts.Channel.ID, threadTS: threadTS, expires: now.Add(responseURLTTL)}
	h.mu.Unlock()
	form := url.Values{
		"token": {"playground"}, "team_id": {slackapi.TeamID}, "team_domain": {slackapi.TeamName},
		"channel_id": {h.opts.Channel.ID}, "channel_name": {h.opts.Channel.Name},
		"user_id": {u.ID}, "user_name": {u.Name}, "command": {"/deploy"}, "text": {text},
		"api_app_id":   {slackapi.AppID},
		"response_url": {selfURL(r) + Prefix + "/api/respond/" + token}, "trigger_id": {strconv.FormatInt(time.Now().UnixNano(), 10) + "." + randomID()},
	}
	h.forward(w, "/slack/commands", "application/x-www-form-urlencoded", []byte(form.Encode()), map[string]any{"ok": true})
}

type clickRequest struct {
	User      string `json:"user"`
	MessageTS string `json:"message_ts"`
	ActionID  string `json:"action_id"`
	Value     string `json:"value"`
}

// click sends the block_actions interaction for a button press.
func (h *handler) click(w http.ResponseWriter, r *http.Request) {
	var req clickRequest
	u, ok := h.readRequest(w, r, &req, &req.User)
	if !ok {
		return
	}
	m, ok := h.opts.Slack.Message(h.opts.Channel.ID, req.MessageTS)
	if !ok || m.Deleted || (m.Ephemeral && m.EphemeralUser != u.ID) {
		writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "no such message"})
		return
	}
	blockID := ""
	var blocks []map[string]any
	if len(m.Blocks) > 0 {
		_ = json.Unmarshal(m.Blocks, &blocks)
	}
	for _, b := range blocks {
		els, _ := b["elements"].([]any)
		for _, e := range els {
			if em, ok := e.(map[string]any); ok && em["action_id"] == req.ActionID {
				blockID, _ = b["block_id"].(string)
			}
		}
	}
	token := randomID()
	h.mu.Lock()
	h.responses[token] = responseTarget{user: u.ID, channel: h.opts.Channel.ID, threadTS: m.ThreadTS, expires: time.Now().Add(responseURLTTL)}
	h.mu.Unlock()
	container := map[string]any{"type": "message", "message_ts": m.TS, "channel_id": h.opts.Channel.ID, "is_ephemeral": m.Ephemeral}
	message := map[string]any{"type": "message", "ts": m.TS, "text": m.Text, "user": m.User}
	if m.ThreadTS != "" {
		container["thread_ts"] = m.ThreadTS
		message["thread_ts"] = m.ThreadTS
	}
	if blocks != nil {
		message["blocks"] = blocks
	}
	actionTS := fmt.Sprintf("%d.%06d", time.Now().Unix(), time.Now().Nanosecond()/1000)
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "token": "playground", "api_app_id": slackapi.AppID,
		"trigger_id":   strconv.FormatInt(time.Now().UnixNano(), 10) + "." + randomID(),
		"user":         map[string]string{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": slackapi.TeamID},
		"team":         map[string]string{"id": slackapi.TeamID, "domain": slackapi.TeamName},
		"channel":      map[string]string{"id": h.opts.Channel.ID, "name": h.opts.Channel.Name},
		"container":    container,
		"message":      message,
		"response_url": selfURL(r) + Prefix + "/api/respond/" + token,
		"actions": []map[string]any{{"type": "button", "action_id": req.ActionID, "block_id": blockID,
			"value": req.Value, "action_ts": actionTS}},
	})
	form := url.Values{"payload": {string(payload)}}
	h.forward(w, "/slack/interactions", "application/x-www-form-urlencoded", []byte(form.Encode()), map[string]any{"ok": true})
}

// forward POSTs body to the gateway signed like Slack and answers the page
// with ok (the gateway answered 2xx) or the gateway's answer.
func (h *handler) forward(w http.ResponseWriter, path, contentType string, body []byte, ok map[string]any) {
	ts := time.Now().Unix()
	req, err := http.NewRequest(http.MethodPost, strings.TrimSuffix(h.opts.GatewayURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Slack-Signature", gateway.Sign(h.opts.SigningSecret, ts, body))
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	resp, err := h.opts.Client.Do(req)
	if err != nil {
		h.opts.Logger.Warn("playground: the gateway did not answer", "path", path, "error", err)
		writeJSON(w, http.StatusBadGateway, map[string]any{"ok": false, "error": "gateway: " + err.Error()})
		return
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		writeJSON(w, http.StatusBadGateway, map[string]any{"ok": false, "error": fmt.Sprintf("gateway answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))})
		return
	}
	writeJSON(w, http.StatusOK, ok)
}

// respond serves the response_url of a slash command or click: the message
// becomes an ephemeral for that person (or a channel message for
// response_type in_channel).
func (h *handler) respond(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	t, ok := h.responses[r.PathValue("token")]
	h.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		http.Error(w, "expired_url", http.StatusNotFound)
		return
	}
	var body struct {
		Text         string          `json:"text"`
		Blocks       json.RawMessage `json:"blocks"`
		ResponseType string          `json:"response_type"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	form := url.Values{"token": {h.opts.SlackToken}, "channel": {t.channel}, "text": {body.Text}}
	method := "chat.postEphemeral"
	if body.ResponseType == "in_channel" {
		method = "chat.postMessage"
	} else {
		form.Set("user", t.user)
	}
	if t.threadTS != "" {
		form.Set("thread_ts", t.threadTS)
	}
	if len(body.Blocks) > 0 && string(body.Blocks) != "null" {
		form.Set("blocks", string(body.Blocks))
	}
	req := httptest.NewRequest(http.MethodPost, "/api/"+method, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.opts.Slack.Handler().ServeHTTP(rec, req)
	var res struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &res)
	if !res.OK {
		h.opts.Logger.Warn("playground: response_url message refused", "error", res.Error)
		http.Error(w, res.Error, http.StatusBadRequest)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// file shows an uploaded file's bytes: text as text, images as images,
// anything else as a download.
func (h *handler) file(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, f := range h.opts.Slack.Files() {
		if f.ID != id {
			continue
		}
		ct := "text/plain; charset=utf-8"
		switch strings.ToLower(path.Ext(f.Name)) {
		case ".png":
			ct = "image/png"
		case ".jpg", ".jpeg":
			ct = "image/jpeg"
		case ".gif":
			ct = "image/gif"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self'")
		w.Header().Set("Content-Disposition", "inline; filename="+strconv.Quote(f.Name))
		_, _ = w.Write(f.Content)
		return
	}
	http.NotFound(w, r)
}

// selfURL is the base URL the request reached the playground under, used
// for response URLs the gateway posts back to.
func selfURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
