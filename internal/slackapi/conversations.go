package slackapi

import (
	"encoding/base64"
	"strconv"
	"strings"
)

func (s *Server) authTest(q *request) (map[string]any, error) {
	return map[string]any{
		"url":                   "https://" + TeamName + ".slack.com/",
		"team":                  TeamName,
		"user":                  s.bot.Name,
		"team_id":               TeamID,
		"user_id":               s.bot.ID,
		"bot_id":                BotID,
		"is_enterprise_install": false,
	}, nil
}

func (s *Server) usersInfo(q *request) (map[string]any, error) {
	u, ok := s.users[q.get("user")]
	if !ok {
		return nil, slackErr("user_not_found")
	}
	realName := u.RealName
	if realName == "" {
		realName = u.Name
	}
	return map[string]any{"user": map[string]any{
		"id":          u.ID,
		"team_id":     TeamID,
		"name":        u.Name,
		"deleted":     false,
		"real_name":   realName,
		"tz":          "UTC",
		"tz_label":    "Coordinated Universal Time",
		"tz_offset":   0,
		"is_bot":      u.IsBot,
		"is_app_user": false,
		"updated":     0,
		"profile": map[string]any{
			"real_name":               realName,
			"real_name_normalized":    realName,
			"display_name":            u.Name,
			"display_name_normalized": u.Name,
			"team":                    TeamID,
		},
	}}, nil
}

// window is the oldest/latest/inclusive/cursor/limit arguments of a history
// read.
type window struct {
	oldest, latest int64
	inclusive      bool
	cursor         int64 // 0: none
	limit          int
}

func readWindow(q *request, defLimit, maxLimit int) (window, *apiError) {
	w := window{latest: 1 << 62, inclusive: q.flag("inclusive")}
	if v := q.get("oldest"); v != "" {
		t, ok := parseTS(v)
		if !ok {
			return w, slackErr("invalid_ts_oldest")
		}
		w.oldest = t
	}
	if v := q.get("latest"); v != "" {
		t, ok := parseTS(v)
		if !ok {
			return w, slackErr("invalid_ts_latest")
		}
		w.latest = t
	}
	if v := q.get("cursor"); v != "" {
		t, ok := decodeCursor(v)
		if !ok {
			return w, slackErr("invalid_cursor")
		}
		w.cursor = t
	}
	w.limit = defLimit
	if v := q.get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return w, slackErr("invalid_limit")
		}
		if n > 0 {
			w.limit = min(n, maxLimit)
		}
	}
	return w, nil
}

func (w window) contains(ts int64) bool {
	if w.inclusive {
		return ts >= w.oldest && ts <= w.latest
	}
	return ts > w.oldest && ts < w.latest
}

// Cursors look like Slack's: base64 of "next_ts:<micros>".
func encodeCursor(micros int64) string {
	return base64.StdEncoding.EncodeToString([]byte("next_ts:" + strconv.FormatInt(micros, 10)))
}

func decodeCursor(c string) (int64, bool) {
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	v, ok := strings.CutPrefix(string(b), "next_ts:")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n > 0
}

// readMessages serves a paged read of one channel: it parses the window,
// finds the channel and lets pick choose the messages (in answer order)
// under s.mu, then cuts them to the limit, setting has_more and the next
// cursor (the first message left out), and renders them into out["messages"].
func (s *Server) readMessages(q *request, defLimit, maxLimit int, out map[string]any, pick func(w window, ch *channelState) ([]*msgState, error)) (map[string]any, error) {
	w, aerr := readWindow(q, defLimit, maxLimit)
	if aerr != nil {
		return nil, aerr
	}
	meta := q.flag("include_all_metadata")
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, aerr := s.lookupChannel(q.get("channel"))
	if aerr != nil {
		return nil, aerr
	}
	picked, err := pick(w, ch)
	if err != nil {
		return nil, err
	}
	if len(picked) > w.limit {
		out["has_more"] = true
		out["response_metadata"] = map[string]any{"next_cursor": encodeCursor(mustTS(picked[w.limit].m.TS))}
		picked = picked[:w.limit]
	}
	msgs := make([]wireMessage, 0, len(picked))
	for _, st := range picked {
		msgs = append(msgs, s.wire(ch, st, q.base, meta))
	}
	out["messages"] = msgs
	return out, nil
}

// conversationsHistory lists the channel's top-level messages (and replies
// broadcast to it), newest first, like Slack.
func (s *Server) conversationsHistory(q *request) (map[string]any, error) {
	out := map[string]any{"pin_count": 0, "has_more": false}
	return s.readMessages(q, 100, 999, out, func(w window, ch *channelState) ([]*msgState, error) {
		var picked []*msgState
		for i := len(ch.msgs) - 1; i >= 0; i-- {
			st := ch.msgs[i]
			top := st.m.ThreadTS == "" || st.m.Broadcast
			ts := mustTS(st.m.TS)
			if !visible(st) || !top || !w.contains(ts) || (w.cursor != 0 && ts > w.cursor) {
				continue
			}
			picked = append(picked, st)
		}
		return picked, nil
	})
}

// conversationsReplies returns the parent then its replies, oldest first.
// As on Slack, asking for a reply's ts returns just that reply.
func (s *Server) conversationsReplies(q *request) (map[string]any, error) {
	out := map[string]any{"has_more": false}
	return s.readMessages(q, 1000, 1000, out, func(w window, ch *channelState) ([]*msgState, error) {
		ts := q.get("ts")
		if _, ok := parseTS(ts); !ok {
			return nil, slackErr("thread_not_found")
		}
		parent := ch.byTS[ts]
		if parent == nil || !visible(parent) {
			return nil, slackErr("thread_not_found")
		}
		if parent.m.ThreadTS != "" && parent.m.ThreadTS != parent.m.TS {
			return []*msgState{parent}, nil
		}
		var picked []*msgState
		if w.cursor == 0 {
			picked = append(picked, parent)
		}
		for _, r := range s.replies(ch, ts) {
			rts := mustTS(r.m.TS)
			if w.contains(rts) && (w.cursor == 0 || rts >= w.cursor) {
				picked = append(picked, r)
			}
		}
		return picked, nil
	})
}
