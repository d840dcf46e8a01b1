package slackapp_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeSource exercises every way the scanner can see, or must not see, a
// slack-go client method.
const fakeSource = `package fake

import (
	"context"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"example.com/standin"
)

// API is the shape activities.SlackAPI has: slack-go methods behind an interface.
type API interface {
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
}

// Logger has a slack-go method name with another signature.
type Logger interface{ PostMessage(msg string) }

// own is deploybot's own type with slack-go method names.
type own struct{}

func (own) PostMessage(string) error { return nil }
func (own) UpdateMessage()           {}

type wrapper struct{ *slack.Client }

func F(ctx context.Context, c *slack.Client, a API, lg Logger, sm *socketmode.Client, w wrapper, s standin.Thing) {
	c.GetUsersContext(ctx)
	a.PostMessageContext(ctx, "C1")
	lg.PostMessage("hello")
	own{}.PostMessage("C1")
	own{}.UpdateMessage()
	go sm.RunContext(ctx)
	ack := sm.AckCtx
	_ = ack
	w.AuthTestContext(ctx)
	sm.PostMessageContext(ctx, "C1")
	s.PostEphemeralContext(ctx, "C1", "U1")
	s.Send()
	_ = slack.PostWebhook("https://hooks.example.com/x", nil)
	_ = slack.New("xoxb-x", slack.OptionHTTPClient(nil))
}
`

// TestScannerSelfTest runs the scanner over a synthetic package, so its
// failure modes stay real: a slack-go method missing from the table, one
// reached through an interface, an embedded client or socketmode.Client, a
// method value, an unresolvable receiver, a package-level HTTP function —
// and deploybot's own methods with slack-go names, which must not count.
func TestScannerSelfTest(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fake.go"), []byte(fakeSource), 0o644); err != nil {
		t.Fatal(err)
	}
	l, _ := codeUses(t) // shares the type-checked standard library and slack-go
	uses, err := scan(l, dir, "example.com/fake", []string{"."})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range uses {
		got = append(got, u.key+" "+u.via)
	}
	want := []string{
		"PostEphemeralContext unresolved",
		"Send unresolved",
		"slack.AuthTestContext direct",
		"slack.GetUsersContext direct",
		"slack.PostMessageContext direct",
		"slack.PostMessageContext interface",
		"slack.func:PostWebhook direct",
		"socketmode.AckCtx direct",
		"socketmode.RunContext direct",
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("scanner found\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	bot, app, problems := requiredScopes(uses)
	if !slices.Equal(keys(bot), []string{"chat:write"}) || !slices.Equal(keys(app), []string{"connections:write"}) {
		t.Errorf("scopes: bot %v, app-level %v; want [chat:write] and [connections:write]", keys(bot), keys(app))
	}
	wantProblems := []string{
		"slack.AuthTestContext is not in slackGoMethods",
		"slack.GetUsersContext is not in slackGoMethods",
		"slack.func:PostWebhook is not in slackGoMethods",
		"cannot tell whether this PostEphemeralContext call is on a slack-go client",
	}
	if len(problems) != len(wantProblems) {
		t.Errorf("problems:\n  %s\nwant %d", strings.Join(problems, "\n  "), len(wantProblems))
	}
	for _, w := range wantProblems {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, w) }) {
			t.Errorf("no problem says %q; got:\n  %s", w, strings.Join(problems, "\n  "))
		}
	}
}
