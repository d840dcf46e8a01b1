package slackapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Block Kit limits Slack rejects with invalid_blocks. They are the ones a
// bot building tables and buttons runs into; enforcing them here makes a
// message that Slack would refuse fail in tests too.
const (
	maxSectionText   = 3000
	maxSectionFields = 10
	maxFieldText     = 2000
	maxHeaderText    = 150
	maxMarkdownText  = 12000
	maxActions       = 25
	maxContextElems  = 10
	maxButtonText    = 75
	maxButtonValue   = 2000
	maxActionID      = 255
	maxBlockID       = 255
	maxURL           = 3000
)

func checkText(text string) *apiError {
	if utf8.RuneCountInString(text) > MaxTextChars {
		return slackErr("msg_too_long")
	}
	return nil
}

// checkBlocks validates the blocks form field and returns it as sent. Errors carry Slack-style details with a json-pointer.
func checkBlocks(raw string) (json.RawMessage, *apiError) {
	var blocks []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil || blocks == nil {
		return nil, slackErr("invalid_blocks", "blocks must be a JSON array")
	}
	if len(blocks) > MaxBlocks {
		return nil, slackErr("invalid_blocks", fmt.Sprintf("no more than %d items allowed [json-pointer:/blocks]", MaxBlocks))
	}
	var v validator
	for i, b := range blocks {
		v.block(fmt.Sprintf("/blocks/%d", i), b)
	}
	if len(v.errs) > 0 {
		return nil, slackErr("invalid_blocks", v.errs...)
	}
	return json.RawMessage(raw), nil
}

func checkAttachments(raw string) (json.RawMessage, *apiError) {
	var atts []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &atts); err != nil {
		return nil, slackErr("invalid_attachments")
	}
	return json.RawMessage(raw), nil
}

func checkMetadata(raw string) (*slack.SlackMetadata, *apiError) {
	var md slack.SlackMetadata
	if err := json.Unmarshal([]byte(raw), &md); err != nil {
		return nil, slackErr("invalid_metadata_format")
	}
	if md.EventType == "" {
		return nil, slackErr("invalid_metadata_schema", "missing required field: event_type [json-pointer:/metadata]")
	}
	return &md, nil
}

type validator struct{ errs []string }

func (v *validator) fail(ptr, format string, args ...any) {
	v.errs = append(v.errs, fmt.Sprintf(format, args...)+" [json-pointer:"+ptr+"]")
}

func (v *validator) maxLen(ptr, s string, n int) {
	if utf8.RuneCountInString(s) > n {
		v.fail(ptr, "must be less than %d characters", n+1)
	}
}

type textObj struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// text checks a composition text object; limit 0 means no length limit.
func (v *validator) text(ptr string, t *textObj, limit int, plainOnly bool) {
	switch {
	case t.Type != "plain_text" && t.Type != "mrkdwn":
		v.fail(ptr+"/type", "must be one of plain_text, mrkdwn")
	case plainOnly && t.Type != "plain_text":
		v.fail(ptr+"/type", "must be plain_text")
	}
	if t.Text == "" {
		v.fail(ptr+"/text", "must be more than 0 characters")
	}
	if limit > 0 {
		v.maxLen(ptr+"/text", t.Text, limit)
	}
}

type blockJSON struct {
	Type      string            `json:"type"`
	BlockID   string            `json:"block_id"`
	Text      json.RawMessage   `json:"text"`
	Fields    []textObj         `json:"fields"`
	Elements  []json.RawMessage `json:"elements"`
	Accessory json.RawMessage   `json:"accessory"`
}

func (v *validator) block(ptr string, raw json.RawMessage) {
	var b blockJSON
	if err := json.Unmarshal(raw, &b); err != nil || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		v.fail(ptr, "must be an object")
		return
	}
	if b.Type == "" {
		v.fail(ptr, "missing required field: type")
		return
	}
	v.maxLen(ptr+"/block_id", b.BlockID, maxBlockID)
	switch b.Type {
	case "section":
		if len(b.Text) == 0 && len(b.Fields) == 0 {
			v.fail(ptr, "must provide either text or fields")
		}
		if len(b.Text) > 0 {
			var t textObj
			if json.Unmarshal(b.Text, &t) != nil {
				v.fail(ptr+"/text", "must be an object")
			} else {
				v.text(ptr+"/text", &t, maxSectionText, false)
			}
		}
		if len(b.Fields) > maxSectionFields {
			v.fail(ptr+"/fields", "no more than %d items allowed", maxSectionFields)
		}
		for i := range b.Fields {
			v.text(fmt.Sprintf("%s/fields/%d", ptr, i), &b.Fields[i], maxFieldText, false)
		}
		if len(b.Accessory) > 0 {
			v.element(ptr+"/accessory", b.Accessory)
		}
	case "header":
		var t textObj
		if len(b.Text) == 0 || json.Unmarshal(b.Text, &t) != nil {
			v.fail(ptr+"/text", "missing required field: text")
		} else {
			v.text(ptr+"/text", &t, maxHeaderText, true)
		}
	case "markdown":
		var s string
		if json.Unmarshal(b.Text, &s) != nil {
			v.fail(ptr+"/text", "missing required field: text")
		} else {
			v.maxLen(ptr+"/text", s, maxMarkdownText)
		}
	case "actions":
		v.elements(ptr, b.Elements, maxActions)
		for i, e := range b.Elements {
			v.element(fmt.Sprintf("%s/elements/%d", ptr, i), e)
		}
	case "context":
		v.elements(ptr, b.Elements, maxContextElems)
	}
}

func (v *validator) elements(ptr string, elems []json.RawMessage, limit int) {
	switch {
	case len(elems) == 0:
		v.fail(ptr+"/elements", "must provide at least 1 item")
	case len(elems) > limit:
		v.fail(ptr+"/elements", "no more than %d items allowed", limit)
	}
}

type elementJSON struct {
	Type     string   `json:"type"`
	ActionID string   `json:"action_id"`
	Text     *textObj `json:"text"`
	Value    string   `json:"value"`
	URL      string   `json:"url"`
}

func (v *validator) element(ptr string, raw json.RawMessage) {
	var e elementJSON
	if json.Unmarshal(raw, &e) != nil {
		v.fail(ptr, "must be an object")
		return
	}
	if e.Type == "" {
		v.fail(ptr, "missing required field: type")
		return
	}
	v.maxLen(ptr+"/action_id", e.ActionID, maxActionID)
	if e.Type != "button" {
		return
	}
	if e.Text == nil {
		v.fail(ptr+"/text", "missing required field: text")
	} else {
		v.text(ptr+"/text", e.Text, maxButtonText, true)
	}
	v.maxLen(ptr+"/value", e.Value, maxButtonValue)
	v.maxLen(ptr+"/url", e.URL, maxURL)
}
