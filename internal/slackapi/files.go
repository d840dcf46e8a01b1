package slackapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// filesGetUploadURLExternal is step 1 of the v2 upload: reserve a file ID
// and hand out a URL on this server to POST the bytes to.
func (s *Server) filesGetUploadURLExternal(q *request) (map[string]any, error) {
	name := q.get("filename")
	if name == "" {
		return nil, slackErr("invalid_arguments", "missing required field: filename")
	}
	length, err := strconv.Atoi(q.get("length"))
	if err != nil || length <= 0 {
		return nil, slackErr("invalid_arguments", "missing required field: length")
	}
	if length > MaxUploadBytes {
		return nil, slackErr("file_too_large")
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	key := hex.EncodeToString(secret)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextFile++
	id := fmt.Sprintf("F%010d", s.nextFile)
	s.files[id] = &fileState{f: File{ID: id, Name: name, Title: name}, size: length, created: time.Now(), user: s.bot.ID}
	s.fileSeq = append(s.fileSeq, id)
	s.uploads[key] = id
	return map[string]any{"upload_url": q.base + uploadPrefix + key, "file_id": id}, nil
}

// serveUpload is step 2: the bytes arrive as multipart field "file" (what
// slack-go sends) or as the raw body. Like Slack's upload host it needs no
// token: the URL is the secret. It answers "OK - <size>" as Slack does.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, key string) {
	if f, ok := s.takeFault(UploadMethod); ok {
		writeFault(w, f)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	id, ok := s.uploads[key]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	data, err := readUpload(r)
	switch {
	case errors.Is(err, errTooLarge):
		http.Error(w, "file_too_large", http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	f := s.files[id]
	if f == nil || f.complete {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	f.f.Content = data
	f.uploaded = true
	s.mu.Unlock()
	if len(data) != f.size {
		s.log.Debug("slack upload size differs from announced length", "file", id, "announced", f.size, "got", len(data))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintf(w, "OK - %d", len(data))
}

var errTooLarge = errors.New("file_too_large")

func readUpload(r *http.Request) ([]byte, error) {
	readCapped := func(rd io.Reader) ([]byte, error) {
		b, err := io.ReadAll(io.LimitReader(rd, MaxUploadBytes+1))
		if err != nil {
			return nil, err
		}
		if len(b) > MaxUploadBytes {
			return nil, errTooLarge
		}
		return b, nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return readCapped(r.Body)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, errors.New(`no "file" part in the upload`)
		}
		if err != nil {
			return nil, err
		}
		if p.FormName() == "file" {
			return readCapped(p)
		}
	}
}

// filesCompleteUploadExternal is step 3: finish the uploads and, with
// channel_id (or channels), share them in one message per channel, in the
// thread_ts thread when given, with initial_comment (or blocks) as its text.
func (s *Server) filesCompleteUploadExternal(q *request) (map[string]any, error) {
	var sums []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(q.get("files")), &sums); err != nil || len(sums) == 0 {
		return nil, slackErr("invalid_arguments", "files must be a JSON array of {id,title}")
	}
	comment := q.get("initial_comment")
	if err := checkText(comment); err != nil {
		return nil, err
	}
	var blocks []byte
	if q.has("blocks") && comment == "" {
		b, aerr := checkBlocks(q.get("blocks"))
		if aerr != nil {
			return nil, aerr
		}
		blocks = b
	}
	var targets []string
	if c := q.get("channel_id"); c != "" {
		targets = append(targets, c)
	}
	for c := range strings.SplitSeq(q.get("channels"), ",") {
		if c = strings.TrimSpace(c); c != "" && !slices.Contains(targets, c) {
			targets = append(targets, c)
		}
	}
	threadTS := q.get("thread_ts")
	if threadTS != "" && len(targets) != 1 {
		return nil, slackErr("invalid_arguments", "thread_ts needs exactly one channel")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, sum := range sums {
		f := s.files[sum.ID]
		if f == nil || !f.uploaded || f.complete {
			return nil, slackErr("file_not_found")
		}
		ids = append(ids, sum.ID)
	}
	// Resolve every channel before changing anything so a bad one fails the
	// whole call, as Slack does.
	type target struct {
		ch   *channelState
		root string
	}
	var resolved []target
	for _, raw := range targets {
		ch, aerr := s.resolveChannel(raw, true)
		if aerr != nil {
			return nil, aerr
		}
		t := target{ch: ch}
		if threadTS != "" {
			if t.root, aerr = s.threadRoot(ch, threadTS); aerr != nil {
				return nil, aerr
			}
		}
		resolved = append(resolved, t)
	}
	out := make([]map[string]any, 0, len(sums))
	for _, sum := range sums {
		f := s.files[sum.ID]
		f.complete = true
		if sum.Title != "" {
			f.f.Title = sum.Title
		}
		for k, v := range s.uploads {
			if v == sum.ID {
				delete(s.uploads, k)
			}
		}
		out = append(out, map[string]any{"id": f.f.ID, "title": f.f.Title})
	}
	posted := make([]*msgState, 0, len(resolved))
	for _, t := range resolved {
		m := Message{TS: s.nextTS(), ThreadTS: t.root, User: s.bot.ID, Text: comment, Blocks: blocks}
		st := s.addMessage(t.ch, m)
		st.fileIDs = ids
		posted = append(posted, st)
		for _, id := range ids {
			f := s.files[id]
			f.shares = append(f.shares, share{channel: t.ch.id, ts: m.TS, threadTS: t.root})
			if f.f.Channel == "" {
				f.f.Channel, f.f.ThreadTS, f.f.MessageTS = t.ch.id, t.root, m.TS
			}
		}
	}
	for _, id := range ids {
		fc := s.files[id].f.clone()
		s.publish(Event{Kind: EventFile, Channel: fc.Channel, TS: fc.MessageTS, ThreadTS: fc.ThreadTS, File: &fc})
	}
	for _, st := range posted {
		s.publish(Event{Kind: EventPosted, Channel: st.m.Channel, TS: st.m.TS, ThreadTS: st.m.ThreadTS, Message: s.export(st)})
	}
	return map[string]any{"files": out}, nil
}

func (s *Server) filesInfo(q *request) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[q.get("file")]
	if f == nil || !f.complete {
		return nil, slackErr("file_not_found")
	}
	return map[string]any{
		"file":     s.wireFile(f, q.base),
		"comments": []any{},
		"paging":   map[string]any{"count": 100, "total": 0, "page": 1, "pages": 0},
	}, nil
}

// serveDownload serves url_private, with the same token check as the API:
// slack-go's GetFile sends it as a Bearer header.
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request, rest string) {
	if f, ok := s.takeFault(DownloadMethod); ok {
		writeFault(w, f)
		return
	}
	if code := s.checkAuth(r, ""); code != "" {
		http.Error(w, code, http.StatusForbidden)
		return
	}
	id, _, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	var data []byte // never modified once uploaded, so safe to write unlocked
	var name string
	f := s.files[id]
	found := f != nil && f.complete
	if found {
		data, name = f.f.Content, f.f.Name
	}
	s.mu.Unlock()
	if !found {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(extOf(name))
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

func extOf(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:]
	}
	return ""
}
