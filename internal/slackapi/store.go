package slackapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Message is what Slack holds for one posted message, as the Go API returns
// it (a copy: changing it changes nothing on the server).
type Message struct {
	Channel  string
	TS       string
	ThreadTS string // parent's ts for a reply; "" for a top-level message
	// User is who posted it: the bot's user ID for everything the worker
	// posts, a member's ID for PostUserMessage.
	User string
	Text string
	// Blocks are the blocks as the client sent them (nil when it sent none).
	Blocks json.RawMessage
	// Attachments are the legacy attachments as sent (nil when none).
	Attachments json.RawMessage
	Metadata    *slack.SlackMetadata
	// Broadcast marks a thread reply also shown in the channel (reply_broadcast).
	Broadcast bool
	// Ephemeral messages are seen only by EphemeralUser; the API's history
	// and replies never return them.
	Ephemeral     bool
	EphemeralUser string
	Files         []File
	// Edited is set once chat.update changed the message; Updates counts the
	// changes.
	Edited  bool
	Updates int
	// Deleted is set by chat.delete; the message stays visible here (not in
	// the API's history) so tests can see that it was deleted.
	Deleted bool
}

// File is an uploaded file.
type File struct {
	ID, Name, Title string
	Content         []byte
	// Channel and ThreadTS say where the file was first shared; both are
	// empty for a file uploaded but not shared (or not completed yet).
	Channel, ThreadTS string
	// MessageTS is the ts of the message that shared it.
	MessageTS string
}

func (m Message) clone() Message {
	out := m
	out.Blocks = bytes.Clone(m.Blocks)
	out.Attachments = bytes.Clone(m.Attachments)
	if m.Metadata != nil {
		out.Metadata = cloneMetadata(m.Metadata)
	}
	if m.Files != nil {
		out.Files = make([]File, len(m.Files))
		for i, f := range m.Files {
			out.Files[i] = f.clone()
		}
	}
	return out
}

func (f File) clone() File {
	f.Content = bytes.Clone(f.Content)
	return f
}

// cloneMetadata deep-copies through JSON because event_payload is an
// arbitrary tree.
func cloneMetadata(md *slack.SlackMetadata) *slack.SlackMetadata {
	b, err := json.Marshal(md)
	if err != nil {
		cp := *md
		return &cp
	}
	var out slack.SlackMetadata
	_ = json.Unmarshal(b, &out)
	return &out
}

type channelState struct {
	id, name string
	dm       bool // a user's DM with the bot, made by posting to a user ID
	auto     bool // made on first use because Options.Channels was empty
	msgs     []*msgState
	byTS     map[string]*msgState
	replies  map[string][]*msgState // parent ts → replies in post order
}

func newChannelState(id, name string) *channelState {
	return &channelState{id: id, name: name, byTS: map[string]*msgState{}, replies: map[string][]*msgState{}}
}

type msgState struct {
	m        Message // Files unset; see fileIDs
	fileIDs  []string
	editedTS string
}

type fileState struct {
	f        File
	size     int // length announced to files.getUploadURLExternal
	uploaded bool
	complete bool
	created  time.Time
	user     string
	shares   []share
}

type share struct{ channel, ts, threadTS string }

// nextTS returns a ts after every ts handed out so far, in Slack's
// "seconds.micros" form based on the wall clock, so the playground shows
// real times.
func (s *Server) nextTS() string {
	now := time.Now().UnixMicro()
	if now <= s.lastTS {
		now = s.lastTS + 1
	}
	s.lastTS = now
	return formatTS(now)
}

func formatTS(micros int64) string {
	return fmt.Sprintf("%d.%06d", micros/1e6, micros%1e6)
}

// parseTS reads "1700000000.000100" (or fewer fraction digits) into
// microseconds, so ts compare as numbers, not strings.
func parseTS(ts string) (int64, bool) {
	secStr, frac, _ := strings.Cut(ts, ".")
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil || sec < 0 || len(frac) > 6 {
		return 0, false
	}
	var micros int64
	if frac != "" {
		micros, err = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		if err != nil || micros < 0 {
			return 0, false
		}
	}
	return sec*1e6 + micros, true
}

func mustTS(ts string) int64 {
	v, _ := parseTS(ts)
	return v
}

// resolveChannel maps what a caller passed as channel (an ID, a name with or
// without "#", or a user ID for the user's DM with the bot) to a
// conversation. create says whether an unknown ID may be made up when
// Options.Channels was empty.
func (s *Server) resolveChannel(raw string, create bool) (*channelState, *apiError) {
	if raw == "" {
		return nil, slackErr("channel_not_found")
	}
	if c := s.channels[raw]; c != nil {
		return c, nil
	}
	if id, ok := s.names[strings.TrimPrefix(raw, "#")]; ok {
		return s.channels[id], nil
	}
	if _, ok := s.users[raw]; ok && strings.HasPrefix(raw, "U") {
		id := "D" + strings.TrimPrefix(raw, "U")
		c := s.channels[id]
		if c == nil {
			c = newChannelState(id, "")
			c.dm = true
			s.channels[id] = c
		}
		return c, nil
	}
	if s.openChannels && create && !strings.HasPrefix(raw, "#") {
		c := newChannelState(raw, "")
		c.auto = true
		s.channels[raw] = c
		return c, nil
	}
	return nil, slackErr("channel_not_found")
}

// lookupChannel finds a channel for reading: with open channels an unknown
// one is just empty.
func (s *Server) lookupChannel(raw string) (*channelState, *apiError) {
	c, err := s.resolveChannel(raw, false)
	if err != nil && s.openChannels && raw != "" {
		return newChannelState(raw, ""), nil
	}
	return c, err
}

func (s *Server) addMessage(c *channelState, m Message) *msgState {
	m.Channel = c.id
	st := &msgState{m: m}
	c.msgs = append(c.msgs, st)
	c.byTS[m.TS] = st
	if m.ThreadTS != "" {
		c.replies[m.ThreadTS] = append(c.replies[m.ThreadTS], st)
	}
	return st
}

// export returns the Go-API view of a stored message.
func (s *Server) export(st *msgState) Message {
	out := st.m.clone()
	for _, id := range st.fileIDs {
		if f := s.files[id]; f != nil {
			out.Files = append(out.Files, f.f.clone())
		}
	}
	return out
}

// Messages returns every message of channel, top-level and replies,
// ephemeral and deleted ones included, in post order.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[channel]
	if c == nil {
		return nil
	}
	out := make([]Message, 0, len(c.msgs))
	for _, st := range c.msgs {
		out = append(out, s.export(st))
	}
	return out
}

// Thread returns the message ts of channel followed by its replies in post
// order (ephemeral replies and deleted ones included); nil if there is no
// such message.
func (s *Server) Thread(channel, ts string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[channel]
	if c == nil || c.byTS[ts] == nil {
		return nil
	}
	out := []Message{s.export(c.byTS[ts])}
	for _, st := range c.replies[ts] {
		out = append(out, s.export(st))
	}
	return out
}

// Message returns the message ts of channel, whatever its kind or state.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[channel]
	if c == nil || c.byTS[ts] == nil {
		return Message{}, false
	}
	return s.export(c.byTS[ts]), true
}

// Files returns every file whose bytes were uploaded, in upload order.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []File
	for _, id := range s.fileSeq {
		if f := s.files[id]; f != nil && f.uploaded {
			out = append(out, f.f.clone())
		}
	}
	return out
}

// Users returns the workspace members, the bot included, in Options order.
func (s *Server) Users() []User {
	out := make([]User, 0, len(s.userOrder))
	for _, id := range s.userOrder {
		out = append(out, s.users[id])
	}
	return out
}

// PostUserMessage records a message typed by a workspace member, as the
// playground does when someone writes in its page (the gateway then gets
// the event from the playground, not from here). threadTS may be "" for a
// top-level message.
func (s *Server) PostUserMessage(channel, user, threadTS, text string) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[user]; !ok {
		return Message{}, slackErr("user_not_found")
	}
	c, err := s.resolveChannel(channel, true)
	if err != nil {
		return Message{}, err
	}
	if threadTS != "" {
		if threadTS, err = s.threadRoot(c, threadTS); err != nil {
			return Message{}, err
		}
	}
	st := s.addMessage(c, Message{TS: s.nextTS(), ThreadTS: threadTS, User: user, Text: text})
	out := s.export(st)
	s.publish(Event{Kind: EventPosted, Channel: c.id, TS: st.m.TS, ThreadTS: threadTS, Message: out})
	return out, nil
}

// threadRoot returns the ts of the thread a reply to ts belongs in:
// replying to a reply lands in its parent's thread, as in Slack.
func (s *Server) threadRoot(c *channelState, ts string) (string, *apiError) {
	if _, ok := parseTS(ts); !ok {
		return "", slackErr("invalid_thread_ts")
	}
	p := c.byTS[ts]
	if p == nil || p.m.Ephemeral || p.m.Deleted {
		return "", slackErr("thread_not_found")
	}
	if p.m.ThreadTS != "" {
		return p.m.ThreadTS, nil
	}
	return ts, nil
}
