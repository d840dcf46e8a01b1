package activities

import (
	"context"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// SlackUploader is the v2 file upload (files.getUploadURLExternal, the
// upload itself, files.completeUploadExternal) of *slack.Client. It is not
// part of SlackAPI so fakes that never upload need not implement it.
type SlackUploader interface {
	UploadFileContext(ctx context.Context, params slack.UploadFileParameters) (*slack.FileSummary, error)
}

var _ SlackUploader = (*slack.Client)(nil)

// UploadFileInput is the input of Slack.UploadFile.
type UploadFileInput struct {
	Channel string
	// ThreadTS shares the file in that thread ("" = in the channel).
	ThreadTS string
	// Filename names the file (e.g. "guestbook-logs.txt"); Title defaults
	// to it. A retry recognises an earlier attempt's file by both, so a
	// title unique to the run (e.g. with its time) keeps two runs' files
	// with the same name apart.
	Filename string
	Title    string
	Content  string
	// InitialComment is the mrkdwn message the file is shared with; escape
	// user-typed text in it (slackui.Escape).
	InitialComment string
}

// UploadFileResult is the result of Slack.UploadFile.
type UploadFileResult struct {
	FileID string
	// AlreadyUploaded is true when a retried attempt found the file shared
	// by an earlier attempt whose answer was lost.
	AlreadyUploaded bool
}

// UploadFile uploads in.Content as a file and shares it in in.Channel (in
// the thread in.ThreadTS if set) with Slack's v2 upload flow; the retired
// files.upload is never used. A retried attempt first looks for a file with
// the same name shared there since the activity was scheduled, and returns
// it instead of sharing the file twice.
func (s *Slack) UploadFile(ctx context.Context, in UploadFileInput) (UploadFileResult, error) {
	if in.Title == "" {
		in.Title = in.Filename
	}
	switch {
	case in.Channel == "":
		return UploadFileResult{}, slackBadMessage("UploadFile needs a channel")
	case in.Filename == "":
		return UploadFileResult{}, slackBadMessage("UploadFile needs a filename")
	case in.Content == "":
		// Slack refuses empty files; say so before asking it.
		return UploadFileResult{}, slackBadMessage("UploadFile needs content: Slack does not accept empty files")
	}
	if err := checkComment(in.InitialComment); err != nil {
		return UploadFileResult{}, err
	}
	up, ok := s.Client.(SlackUploader)
	if !ok {
		return UploadFileResult{}, slackBadMessage("the Slack client cannot upload files (it does not implement UploadFileContext)")
	}
	call := slackCall{method: "files.completeUploadExternal", channel: in.Channel, ts: in.ThreadTS}

	if info := activity.GetInfo(ctx); info.Attempt > 1 {
		since := info.ScheduledTime
		if since.IsZero() {
			since = time.Now().Add(-24 * time.Hour)
		}
		id, found, err := s.findUpload(ctx, in.Channel, in.ThreadTS, in.Filename, in.Title, since.Add(-slackLookupSkew))
		switch {
		case found:
			activity.GetLogger(ctx).Info("file already shared by an earlier attempt", "channel", in.Channel, "file", id, "name", in.Filename)
			return UploadFileResult{FileID: id, AlreadyUploaded: true}, nil
		case err != nil:
			aerr := s.wrapError(ctx, slackCall{method: lookupMethod(in.ThreadTS), channel: in.Channel, ts: in.ThreadTS}, err)
			if slackRetryable(aerr) {
				return UploadFileResult{}, aerr
			}
			// As in PostMessage: a rare duplicate beats a file never shared.
			activity.GetLogger(ctx).Warn("Cannot look for an earlier attempt's upload; uploading anyway", "error", aerr)
		}
	}

	f, err := up.UploadFileContext(ctx, slack.UploadFileParameters{
		Filename:        in.Filename,
		Title:           in.Title,
		Content:         in.Content,
		FileSize:        len(in.Content),
		Channel:         in.Channel,
		ThreadTimestamp: in.ThreadTS,
		InitialComment:  in.InitialComment,
	})
	if err != nil {
		return UploadFileResult{}, s.wrapUploadError(ctx, call, err)
	}
	return UploadFileResult{FileID: f.ID}, nil
}

// checkComment refuses a comment Slack would refuse (msg_too_long) before
// anything is uploaded.
func checkComment(text string) error {
	const maxCommentRunes = 40000
	if len([]rune(text)) > maxCommentRunes {
		return slackBadMessage("the file's initial comment is longer than Slack allows (40,000 characters)")
	}
	return nil
}

// wrapUploadError classifies an upload error like wrapError, naming the
// step that failed. slack-go refusing to send the token to an upload URL on
// another host is a configuration problem, not an outage.
func (s *Slack) wrapUploadError(ctx context.Context, call slackCall, err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "GetUploadURLExternal:"):
		call.method = "files.getUploadURLExternal"
	case strings.HasPrefix(msg, "UploadToURL:"):
		call.method = "files.getUploadURLExternal" // its upload_url; documented there
		if strings.Contains(msg, "refusing to send the token") {
			return temporal.NewNonRetryableApplicationError(
				"slack upload: "+msg+": Slack's upload URL is not on SLACK_API_URL's host; check SLACK_API_URL",
				SlackErrorType, err, "upload_url_refused")
		}
	}
	return s.wrapError(ctx, call, err)
}

// findUpload looks for a message sharing a file with this name and title
// since the given time: among the thread's replies if threadTS is set, else
// among the channel's top-level messages.
func (s *Slack) findUpload(ctx context.Context, channel, threadTS, name, title string, since time.Time) (fileID string, found bool, err error) {
	var id string
	_, found, err = s.findRecent(ctx, channel, threadTS, since, false, func(m slack.Message) bool {
		for _, f := range m.Files {
			if f.Name == name && f.Title == title {
				id = f.ID
				return true
			}
		}
		return false
	})
	return id, found, err
}
