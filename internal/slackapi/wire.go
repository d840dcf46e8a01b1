package slackapi

import (
	"encoding/json"
	"mime"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/slack-go/slack"
)

// wireMessage is a message as Slack's Web API returns it.
type wireMessage struct {
	Type            string               `json:"type"`
	Subtype         string               `json:"subtype,omitempty"`
	User            string               `json:"user,omitempty"`
	BotID           string               `json:"bot_id,omitempty"`
	AppID           string               `json:"app_id,omitempty"`
	Text            string               `json:"text"`
	TS              string               `json:"ts"`
	ThreadTS        string               `json:"thread_ts,omitempty"`
	ParentUserID    string               `json:"parent_user_id,omitempty"`
	ReplyCount      int                  `json:"reply_count,omitempty"`
	ReplyUsersCount int                  `json:"reply_users_count,omitempty"`
	ReplyUsers      []string             `json:"reply_users,omitempty"`
	LatestReply     string               `json:"latest_reply,omitempty"`
	Team            string               `json:"team,omitempty"`
	BotProfile      *wireBotProfile      `json:"bot_profile,omitempty"`
	Blocks          json.RawMessage      `json:"blocks,omitempty"`
	Attachments     json.RawMessage      `json:"attachments,omitempty"`
	Metadata        *slack.SlackMetadata `json:"metadata,omitempty"`
	Edited          *wireEdited          `json:"edited,omitempty"`
	Files           []wireFile           `json:"files,omitempty"`
	Upload          bool                 `json:"upload,omitempty"`
	Root            *wireMessage         `json:"root,omitempty"`
}

type wireBotProfile struct {
	ID     string `json:"id"`
	AppID  string `json:"app_id"`
	Name   string `json:"name"`
	TeamID string `json:"team_id"`
}

type wireEdited struct {
	User string `json:"user"`
	TS   string `json:"ts"`
}

// wireFile is a file object as files.info and message "files" return it.
type wireFile struct {
	ID                 string                            `json:"id"`
	Created            int64                             `json:"created"`
	Timestamp          int64                             `json:"timestamp"`
	Name               string                            `json:"name"`
	Title              string                            `json:"title"`
	Mimetype           string                            `json:"mimetype"`
	Filetype           string                            `json:"filetype"`
	PrettyType         string                            `json:"pretty_type"`
	User               string                            `json:"user"`
	UserTeam           string                            `json:"user_team"`
	Mode               string                            `json:"mode"`
	Editable           bool                              `json:"editable"`
	IsExternal         bool                              `json:"is_external"`
	ExternalType       string                            `json:"external_type"`
	IsPublic           bool                              `json:"is_public"`
	Size               int                               `json:"size"`
	URLPrivate         string                            `json:"url_private"`
	URLPrivateDownload string                            `json:"url_private_download"`
	Permalink          string                            `json:"permalink"`
	Channels           []string                          `json:"channels"`
	Groups             []string                          `json:"groups"`
	IMs                []string                          `json:"ims"`
	Shares             map[string]map[string][]wireShare `json:"shares,omitempty"`
	CommentsCount      int                               `json:"comments_count"`
}

type wireShare struct {
	TS          string `json:"ts"`
	ThreadTS    string `json:"thread_ts,omitempty"`
	ChannelName string `json:"channel_name"`
	TeamID      string `json:"team_id"`
	ReplyCount  int    `json:"reply_count"`
}

// wire renders a stored message. includeMeta follows include_all_metadata:
// history and replies only return metadata when asked, as on Slack.
func (s *Server) wire(c *channelState, st *msgState, base string, includeMeta bool) wireMessage {
	m := st.m
	w := wireMessage{
		Type:        "message",
		User:        m.User,
		Text:        m.Text,
		TS:          m.TS,
		ThreadTS:    m.ThreadTS,
		Team:        TeamID,
		Blocks:      m.Blocks,
		Attachments: m.Attachments,
	}
	if m.User == s.bot.ID {
		w.BotID, w.AppID = BotID, AppID
		w.BotProfile = &wireBotProfile{ID: BotID, AppID: AppID, Name: s.bot.Name, TeamID: TeamID}
	}
	if includeMeta && m.Metadata != nil {
		w.Metadata = m.Metadata
	}
	if m.Edited {
		w.Edited = &wireEdited{User: m.User, TS: st.editedTS}
	}
	for _, id := range st.fileIDs {
		if f := s.files[id]; f != nil {
			w.Files = append(w.Files, s.wireFile(f, base))
			w.Upload = true
		}
	}
	if m.ThreadTS != "" && m.ThreadTS != m.TS {
		if p := c.byTS[m.ThreadTS]; p != nil {
			w.ParentUserID = p.m.User
		}
		if m.Broadcast {
			w.Subtype = "thread_broadcast"
			if p := c.byTS[m.ThreadTS]; p != nil && !p.m.Deleted {
				root := s.wire(c, p, base, includeMeta)
				w.Root = &root
			}
		}
		return w
	}
	// A parent carries its thread summary, and thread_ts = its own ts once
	// it has replies.
	users := map[string]bool{}
	for _, r := range s.replies(c, m.TS) {
		w.ReplyCount++
		w.LatestReply = r.m.TS
		if !users[r.m.User] {
			users[r.m.User] = true
			w.ReplyUsers = append(w.ReplyUsers, r.m.User)
		}
	}
	if w.ReplyCount > 0 {
		w.ThreadTS = m.TS
		w.ReplyUsersCount = len(w.ReplyUsers)
	}
	return w
}

// replies returns the visible replies to ts (not ephemeral, not deleted).
func (s *Server) replies(c *channelState, ts string) []*msgState {
	var out []*msgState
	for _, st := range c.replies[ts] {
		if visible(st) {
			out = append(out, st)
		}
	}
	return out
}

func visible(st *msgState) bool { return !st.m.Ephemeral && !st.m.Deleted }

func (s *Server) wireFile(f *fileState, base string) wireFile {
	ext := strings.TrimPrefix(path.Ext(f.f.Name), ".")
	mt := mime.TypeByExtension(path.Ext(f.f.Name))
	if mt == "" {
		mt = "text/plain"
	}
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	if ext == "" {
		ext = "text"
	}
	priv := base + downloadPrefix + f.f.ID + "/" + url.PathEscape(f.f.Name)
	w := wireFile{
		ID: f.f.ID, Created: f.created.Unix(), Timestamp: f.created.Unix(),
		Name: f.f.Name, Title: f.f.Title, Mimetype: mt, Filetype: ext, PrettyType: strings.ToUpper(ext),
		User: f.user, UserTeam: TeamID, Mode: "hosted", ExternalType: "", IsPublic: true,
		Size: len(f.f.Content), URLPrivate: priv, URLPrivateDownload: priv + "?download=1",
		Permalink: base + "/files/" + f.user + "/" + f.f.ID + "/" + url.PathEscape(f.f.Name),
		Channels:  []string{}, Groups: []string{}, IMs: []string{},
	}
	if len(f.shares) > 0 {
		pub := map[string][]wireShare{}
		for _, sh := range f.shares {
			if !slices.Contains(w.Channels, sh.channel) {
				w.Channels = append(w.Channels, sh.channel)
			}
			name := ""
			if c := s.channels[sh.channel]; c != nil {
				name = c.name
			}
			pub[sh.channel] = append(pub[sh.channel], wireShare{TS: sh.ts, ThreadTS: sh.threadTS, ChannelName: name, TeamID: TeamID})
		}
		w.Shares = map[string]map[string][]wireShare{"public": pub}
	}
	return w
}
