package playground_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/testenv"
)

// shortcodeInText is an emoji shortcode at the start of a Go string or
// between words of one, as deploybot's messages write them.
var shortcodeInText = regexp.MustCompile(`(?:"|\s):([a-z][a-z0-9_+-]*):(?:\s|")`)

// TestPageShowsEveryEmojiTheBotWrites: every emoji shortcode the gateway,
// the workflows and slackui put in messages is in the page's map, so the
// playground shows an emoji where Slack would, not ":ice_cube:".
func TestPageShowsEveryEmojiTheBotWrites(t *testing.T) {
	js, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(js), "var EMOJI = {")
	table, _, ok := strings.Cut(after, "};")
	if !ok {
		t.Fatal("static/app.js has no var EMOJI = {…};")
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`([a-z][a-z0-9_+-]*):\s*"`).FindAllStringSubmatch(table, -1) {
		known[m[1]] = true
	}
	root := testenv.RepoRoot(t)
	var missing []string
	seen := 0
	for _, dir := range []string{"gateway", "workflows", "internal/slackui"} {
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range shortcodeInText.FindAllStringSubmatch(string(src), -1) {
				seen++
				if !known[m[1]] && !slices.Contains(missing, m[1]) {
					missing = append(missing, m[1])
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("found no shortcode in deploybot's messages: the pattern is wrong")
	}
	if len(missing) > 0 {
		t.Errorf("static/app.js's EMOJI lacks %s: the page would show them as typed", strings.Join(missing, ", "))
	}
}
