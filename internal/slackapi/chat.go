package slackapi

// content is the message body fields common to post, ephemeral and update.
type content struct {
	text, blocks, attachments, metadata bool // which fields were sent
	m                                   Message
}

func readContent(q *request) (content, *apiError) {
	var c content
	if q.has("text") {
		c.text, c.m.Text = true, q.get("text")
		if err := checkText(c.m.Text); err != nil {
			return c, err
		}
	}
	if q.has("blocks") {
		b, err := checkBlocks(q.get("blocks"))
		if err != nil {
			return c, err
		}
		c.blocks, c.m.Blocks = true, b
	}
	if q.has("attachments") {
		a, err := checkAttachments(q.get("attachments"))
		if err != nil {
			return c, err
		}
		c.attachments, c.m.Attachments = true, a
	}
	if q.has("metadata") && q.get("metadata") != "" {
		md, err := checkMetadata(q.get("metadata"))
		if err != nil {
			return c, err
		}
		c.metadata, c.m.Metadata = true, md
	}
	return c, nil
}

// empty reports a message with nothing to show, which Slack refuses with no_text.
func (c content) empty() bool {
	return c.m.Text == "" && len(c.m.Attachments) <= 2 && (len(c.m.Blocks) == 0 || string(c.m.Blocks) == "[]")
}

func (s *Server) chatPostMessage(q *request) (map[string]any, error) {
	c, aerr := readContent(q)
	if aerr != nil {
		return nil, aerr
	}
	if c.empty() {
		return nil, slackErr("no_text")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, aerr := s.resolveChannel(q.get("channel"), true)
	if aerr != nil {
		return nil, aerr
	}
	m := c.m
	m.User = s.bot.ID
	if ts := q.get("thread_ts"); ts != "" {
		root, aerr := s.threadRoot(ch, ts)
		if aerr != nil {
			return nil, aerr
		}
		m.ThreadTS = root
		m.Broadcast = q.flag("reply_broadcast")
	}
	m.TS = s.nextTS()
	st := s.addMessage(ch, m)
	s.publish(Event{Kind: EventPosted, Channel: ch.id, TS: m.TS, ThreadTS: m.ThreadTS, Message: s.export(st)})
	return map[string]any{
		"channel": ch.id,
		"ts":      m.TS,
		"message": s.wire(ch, st, q.base, true),
	}, nil
}

func (s *Server) chatPostEphemeral(q *request) (map[string]any, error) {
	c, aerr := readContent(q)
	if aerr != nil {
		return nil, aerr
	}
	if c.empty() {
		return nil, slackErr("no_text")
	}
	user := q.get("user")
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, aerr := s.resolveChannel(q.get("channel"), true)
	if aerr != nil {
		return nil, aerr
	}
	if _, ok := s.users[user]; !ok {
		return nil, slackErr("user_not_in_channel")
	}
	m := c.m
	m.User = s.bot.ID
	m.Ephemeral, m.EphemeralUser = true, user
	if ts := q.get("thread_ts"); ts != "" {
		root, aerr := s.threadRoot(ch, ts)
		if aerr != nil {
			return nil, aerr
		}
		m.ThreadTS = root
	}
	m.TS = s.nextTS()
	st := s.addMessage(ch, m)
	s.publish(Event{Kind: EventPosted, Channel: ch.id, TS: m.TS, ThreadTS: m.ThreadTS, Message: s.export(st)})
	return map[string]any{"message_ts": m.TS}, nil
}

// ownMessage finds a message chat.update or chat.delete may change.
func (s *Server) ownMessage(q *request, cantCode string) (*channelState, *msgState, *apiError) {
	ch, aerr := s.resolveChannel(q.get("channel"), false)
	if aerr != nil {
		return nil, nil, aerr
	}
	st := ch.byTS[q.get("ts")]
	if st == nil || !visible(st) {
		return nil, nil, slackErr("message_not_found")
	}
	if st.m.User != s.bot.ID {
		return nil, nil, slackErr(cantCode)
	}
	return ch, st, nil
}

// chatUpdate replaces what was sent: text, blocks, attachments and metadata
// each change only when the field is present; an empty blocks array clears
// the blocks, as on Slack.
func (s *Server) chatUpdate(q *request) (map[string]any, error) {
	c, aerr := readContent(q)
	if aerr != nil {
		return nil, aerr
	}
	if !c.text && !c.blocks && !c.attachments && !c.metadata {
		return nil, slackErr("no_text")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, st, aerr := s.ownMessage(q, "cant_update_message")
	if aerr != nil {
		return nil, aerr
	}
	if c.text {
		st.m.Text = c.m.Text
	}
	if c.blocks {
		st.m.Blocks = c.m.Blocks
		if string(c.m.Blocks) == "[]" {
			st.m.Blocks = nil
		}
	}
	if c.attachments {
		st.m.Attachments = c.m.Attachments
		if string(c.m.Attachments) == "[]" {
			st.m.Attachments = nil
		}
	}
	if c.metadata {
		st.m.Metadata = c.m.Metadata
	}
	st.m.Edited = true
	st.m.Updates++
	st.editedTS = s.nextTS()
	s.publish(Event{Kind: EventUpdated, Channel: ch.id, TS: st.m.TS, ThreadTS: st.m.ThreadTS, Message: s.export(st)})
	return map[string]any{
		"channel": ch.id,
		"ts":      st.m.TS,
		"text":    st.m.Text,
		"message": s.wire(ch, st, q.base, true),
	}, nil
}

func (s *Server) chatDelete(q *request) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, st, aerr := s.ownMessage(q, "cant_delete_message")
	if aerr != nil {
		return nil, aerr
	}
	st.m.Deleted = true
	s.publish(Event{Kind: EventDeleted, Channel: ch.id, TS: st.m.TS, ThreadTS: st.m.ThreadTS, Message: s.export(st)})
	return map[string]any{"channel": ch.id, "ts": st.m.TS}, nil
}
