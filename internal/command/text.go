package command

import (
	"strings"
	"unicode"
)

// tokens turns Slack message text into lowercase words: Slack's <…>
// entities are resolved (mentions, channels and broadcasts dropped, links
// replaced by their label), its HTML escapes undone, and quotes, markup and
// punctuation around words removed.
func tokens(text string) []string {
	text = resolveEntities(text)
	text = htmlUnescaper.Replace(text)
	text = strings.Map(func(r rune) rune {
		switch {
		case isInvisible(r):
			return -1
		case unicode.IsSpace(r), unicode.IsControl(r):
			return ' '
		}
		return r
	}, text)
	var out []string
	for _, f := range strings.Fields(text) {
		f = strings.TrimFunc(f, isEdgeNoise)
		if f != "" {
			out = append(out, strings.ToLower(f))
		}
	}
	return out
}

// resolveEntities rewrites Slack's <…> formatting: <@U123> and <@U123|name>
// (mentions), <!here> and friends, and <#C123|name> (channels) become spaces;
// <http://x|label> becomes its label and <http://x> the address without the
// scheme, because Slack auto-links words that look like domains, such as an
// app named guestbook.io.
func resolveEntities(text string) string {
	if !strings.Contains(text, "<") {
		return text
	}
	var b strings.Builder
	for {
		open := strings.IndexByte(text, '<')
		if open < 0 {
			b.WriteString(text)
			break
		}
		b.WriteString(text[:open])
		rest := text[open+1:]
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			// A lone '<' is not an entity; drop it and keep the rest.
			b.WriteByte(' ')
			text = rest
			continue
		}
		b.WriteByte(' ')
		b.WriteString(entityText(rest[:end]))
		b.WriteByte(' ')
		text = rest[end+1:]
	}
	return b.String()
}

func entityText(e string) string {
	if e == "" {
		return ""
	}
	switch e[0] {
	case '@', '!', '#':
		return ""
	}
	target, label, hasLabel := strings.Cut(e, "|")
	if hasLabel && label != "" {
		return label
	}
	for _, scheme := range []string{"https://", "http://", "mailto:"} {
		if len(target) >= len(scheme) && strings.EqualFold(target[:len(scheme)], scheme) {
			target = target[len(scheme):]
			break
		}
	}
	return strings.TrimRight(target, "/")
}

// Slack escapes only these three in message text.
var htmlUnescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// isInvisible reports zero-width characters that editors and phones slip
// into text; they would otherwise glue onto a word.
func isInvisible(r rune) bool {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad':
		return true
	}
	return false
}

// isEdgeNoise reports characters that may wrap a word without being part of
// it: quotes (straight and smart), Slack markup (*bold*, _italic_,
// ~strike~, `code`) and punctuation, the full stop included. No command word, app name or history id
// starts or ends with one ('#' is kept for "#3").
func isEdgeNoise(r rune) bool {
	switch r {
	case '"', '\'', '`', '*', '_', '~', ',', '.', ';', ':', '!', '?', '(', ')', '[', ']', '{', '}', '<', '>',
		'\u201c', '\u201d', '\u201e', '\u201f', '\u2018', '\u2019', '\u201a', '\u201b',
		'\u00ab', '\u00bb', '\u2039', '\u203a', '\u2032', '\u2033':
		return true
	}
	return false
}
