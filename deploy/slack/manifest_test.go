// Package slackapp_test checks deploybot's Slack app manifests against the
// code: the bot scopes must be exactly those of the Slack Web API methods
// the production code calls, and the request URLs must be routes the
// gateway serves.
package slackapp_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"gopkg.in/yaml.v3"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/testenv"
)

// webAPIMethod is a Slack Web API method with the scopes Slack documents for
// it (https://docs.slack.dev/reference/methods/<method>).
type webAPIMethod struct {
	scopes []string
	// appLevel: the scope belongs to the app-level token (xapp-…), not to
	// the bot token, and is granted when that token is created.
	appLevel bool
}

// webAPIMethods are the Web API methods of slackGoMethods.
var webAPIMethods = map[string]webAPIMethod{
	"chat.postMessage":   {scopes: []string{"chat:write"}},
	"chat.update":        {scopes: []string{"chat:write"}},
	"chat.postEphemeral": {scopes: []string{"chat:write"}},
	// Not a Web API method: slack-go's mode for posting to a slash
	// command's response_url, which needs no token and no scope.
	"chat.responseURL": {},
	// Public channels need channels:history, private ones groups:history
	// (direct messages would need im:history and mpim:history; deploybot
	// works in channels only).
	"conversations.history":        {scopes: []string{"channels:history", "groups:history"}},
	"conversations.replies":        {scopes: []string{"channels:history", "groups:history"}},
	"files.getUploadURLExternal":   {scopes: []string{"files:write"}},
	"files.completeUploadExternal": {scopes: []string{"files:write"}},
	"usergroups.users.list":        {scopes: []string{"usergroups:read"}},
	"apps.connections.open":        {scopes: []string{"connections:write"}, appLevel: true},
}

// slackGoMethods maps the slack-go client methods deploybot may use to the
// Web API methods they call: "slack.M" is a method of *slack.Client (also
// when reached through socketmode.Client, which embeds one), "socketmode.M"
// one of *socketmode.Client itself. An empty list means no Web API call
// (local, or a frame on the Socket Mode WebSocket). The test checks every
// entry against slack-go's source.
var slackGoMethods = map[string][]string{
	"slack.PostMessage":                   {"chat.postMessage"},
	"slack.PostMessageContext":            {"chat.postMessage"},
	"slack.UpdateMessage":                 {"chat.update"},
	"slack.UpdateMessageContext":          {"chat.update"},
	"slack.PostEphemeral":                 {"chat.postEphemeral"},
	"slack.PostEphemeralContext":          {"chat.postEphemeral"},
	"slack.GetConversationHistory":        {"conversations.history"},
	"slack.GetConversationHistoryContext": {"conversations.history"},
	"slack.GetConversationReplies":        {"conversations.replies"},
	"slack.GetConversationRepliesContext": {"conversations.replies"},
	// The v2 upload (files.upload is retired): get an upload URL, send the
	// bytes there, complete the upload (which shares the file).
	"slack.UploadFile":                    {"files.getUploadURLExternal", "files.completeUploadExternal"},
	"slack.UploadFileContext":             {"files.getUploadURLExternal", "files.completeUploadExternal"},
	"slack.GetUploadURLExternalContext":   {"files.getUploadURLExternal"},
	"slack.CompleteUploadExternalContext": {"files.completeUploadExternal"},
	"slack.UploadToURL":                   {}, // the upload URL files.getUploadURLExternal returned
	"slack.GetUserGroupMembers":           {"usergroups.users.list"},
	"slack.GetUserGroupMembersContext":    {"usergroups.users.list"},
	"slack.Debug":                         {},
	"slack.Debugf":                        {},
	"slack.Debugln":                       {},
	"socketmode.Run":                      {"apps.connections.open"},
	"socketmode.RunContext":               {"apps.connections.open"},
	"socketmode.Open":                     {"apps.connections.open"},
	"socketmode.OpenContext":              {"apps.connections.open"},
	"socketmode.Ack":                      {},
	"socketmode.AckCtx":                   {},
	"socketmode.Send":                     {},
	"socketmode.SendCtx":                  {},
	"socketmode.Debugf":                   {},
	"socketmode.Debugln":                  {},
}

// eventScopes are the bot scopes the subscribed bot events need.
var eventScopes = map[string]string{"app_mention": "app_mentions:read"}

// slashCommandScope is what any slash command needs.
const slashCommandScope = "commands"

// notSlackGo lists calls the scanner cannot resolve (their receiver's type
// comes from a package it does not type-check) that are known not to be
// slack-go clients, as "dir/of/package.Method" (relative to the module
// root) → what the receiver is. Calls
// whose name is only a local slack-go method (Send, Ack…) need no entry.
var notSlackGo = map[string]string{}

// scanSkip are the directories (relative to the module root) whose code is
// not deploybot's use of Slack: the Slack stand-in and the playground that
// drives it, and deploy/ (tests like this one).
var scanSkip = map[string]bool{
	"internal/slackapi":   true,
	"internal/playground": true,
	"deploy":              true,
	"bin":                 true,
}

type manifest struct {
	Metadata struct {
		MajorVersion int `yaml:"major_version"`
		MinorVersion int `yaml:"minor_version"`
	} `yaml:"_metadata"`
	DisplayInformation struct {
		Name            string `yaml:"name"`
		Description     string `yaml:"description"`
		LongDescription string `yaml:"long_description"`
		BackgroundColor string `yaml:"background_color"`
	} `yaml:"display_information"`
	Features struct {
		BotUser *struct {
			DisplayName  string `yaml:"display_name"`
			AlwaysOnline bool   `yaml:"always_online"`
		} `yaml:"bot_user"`
		SlashCommands []struct {
			Command      string `yaml:"command"`
			URL          string `yaml:"url"`
			Description  string `yaml:"description"`
			UsageHint    string `yaml:"usage_hint"`
			ShouldEscape bool   `yaml:"should_escape"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot  []string `yaml:"bot"`
			User []string `yaml:"user"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		EventSubscriptions *struct {
			RequestURL string   `yaml:"request_url"`
			BotEvents  []string `yaml:"bot_events"`
			UserEvents []string `yaml:"user_events"`
		} `yaml:"event_subscriptions"`
		Interactivity *struct {
			IsEnabled             bool   `yaml:"is_enabled"`
			RequestURL            string `yaml:"request_url"`
			MessageMenuOptionsURL string `yaml:"message_menu_options_url"`
		} `yaml:"interactivity"`
		OrgDeployEnabled     *bool `yaml:"org_deploy_enabled"`
		SocketModeEnabled    *bool `yaml:"socket_mode_enabled"`
		TokenRotationEnabled *bool `yaml:"token_rotation_enabled"`
	} `yaml:"settings"`
}

const (
	httpManifest   = "manifest.yaml"
	socketManifest = "manifest-socket-mode.yaml"
	exampleHost    = "deploybot.example.com"
)

// loadManifest parses a manifest strictly: a misspelt or unknown field is an
// error, as it would be for Slack.
func loadManifest(t *testing.T, name string) manifest {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var m manifest
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

var (
	scanOnce   sync.Once
	scanRoot   string
	scanLoader *loader
	scanUses   []use
	scanErr    error
)

// codeUses scans the repository once per test binary.
func codeUses(t *testing.T) (*loader, []use) {
	t.Helper()
	scanOnce.Do(func() {
		root := testenv.RepoRoot(t)
		scanRoot = root
		mod, err := modulePath(root)
		if err != nil {
			scanErr = err
			return
		}
		dirs, err := scanDirs(root, scanSkip)
		if err != nil {
			scanErr = err
			return
		}
		scanLoader = newLoader(root)
		scanUses, scanErr = scan(scanLoader, root, mod, dirs)
	})
	if scanErr != nil {
		t.Fatalf("scanning the code: %v", scanErr)
	}
	return scanLoader, scanUses
}

// requiredScopes turns the uses found into bot scopes and app-level scopes
// (each with the calls that need it), and the problems: slack-go methods
// missing from the table, unresolved calls.
func requiredScopes(uses []use) (bot, app map[string][]string, problems []string) {
	bot, app = map[string][]string{}, map[string][]string{}
	for _, u := range uses {
		where := fmt.Sprintf("%s (%s)", u.key, shortPos(u.pos.String()))
		if u.via == "unresolved" {
			if onlyLocal(u.key) {
				continue
			}
			if _, known := notSlackGo[shortPos(filepath.Dir(u.pos.Filename))+"."+u.key]; !known {
				problems = append(problems, fmt.Sprintf("%s: cannot tell whether this %s call is on a slack-go client "+
					"(its receiver's type comes from a package this test does not type-check); if it is, add the method to "+
					"slackGoMethods and the scopes to both manifests, else add it to notSlackGo", shortPos(u.pos.String()), u.key))
			}
			continue
		}
		apis, ok := slackGoMethods[u.key]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: slack-go %s is not in slackGoMethods: add it there with the Web API "+
				"methods it calls (and those to webAPIMethods with their scopes), then add the scopes to both manifests "+
				"(deploy/slack/manifest*.yaml) and to deploy/slack/README.md", shortPos(u.pos.String()), u.key))
			continue
		}
		for _, api := range apis {
			m, ok := webAPIMethods[api]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: Web API method %s is not in webAPIMethods", where, api))
				continue
			}
			for _, s := range m.scopes {
				if m.appLevel {
					app[s] = appendOnce(app[s], u.key+" → "+api)
				} else {
					bot[s] = appendOnce(bot[s], u.key+" → "+api)
				}
			}
		}
	}
	return bot, app, problems
}

// onlyLocal reports whether every slack-go client method named name makes
// no Web API call (and at least one exists).
func onlyLocal(name string) bool {
	found := false
	for _, pkg := range []string{"slack.", "socketmode."} {
		apis, ok := slackGoMethods[pkg+name]
		if !ok {
			continue
		}
		if len(apis) > 0 {
			return false
		}
		found = true
	}
	return found
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// shortPos makes a position or path relative to the module root.
func shortPos(p string) string {
	if rel, err := filepath.Rel(scanRoot, p); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return p
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestBotScopesAreExactlyWhatTheCodeCalls(t *testing.T) {
	_, uses := codeUses(t)
	bot, app, problems := requiredScopes(uses)
	for _, p := range problems {
		t.Error(p)
	}
	if len(uses) == 0 || len(bot) == 0 {
		t.Fatal("the scanner found no slack-go call in the code: it is broken")
	}
	for _, name := range []string{httpManifest, socketManifest} {
		m := loadManifest(t, name)
		want := map[string][]string{slashCommandScope: {"the /deploy slash command"}}
		for s, why := range bot {
			want[s] = why
		}
		if m.Settings.EventSubscriptions != nil {
			for _, ev := range m.Settings.EventSubscriptions.BotEvents {
				s, ok := eventScopes[ev]
				if !ok {
					t.Errorf("%s: bot event %s: not in eventScopes", name, ev)
					continue
				}
				want[s] = append(want[s], "the "+ev+" bot event")
			}
		}
		have := map[string]bool{}
		for _, s := range m.OAuthConfig.Scopes.Bot {
			if have[s] {
				t.Errorf("%s: bot scope %s is listed twice", name, s)
			}
			have[s] = true
			if _, ok := want[s]; !ok {
				if _, isApp := app[s]; isApp || s == "connections:write" {
					t.Errorf("%s: %s is an app-level scope (granted when the xapp- token is created), not a bot scope", name, s)
				} else {
					t.Errorf("%s: bot scope %s is not needed by any Web API call in the code, nor by the events or the slash command: remove it", name, s)
				}
			}
		}
		for _, s := range keys(want) {
			if !have[s] {
				t.Errorf("%s: bot scope %s is missing; needed by %s", name, s, strings.Join(want[s], ", "))
			}
		}
		if len(m.OAuthConfig.Scopes.User) > 0 {
			t.Errorf("%s: user scopes %v: deploybot acts only as its bot", name, m.OAuthConfig.Scopes.User)
		}
	}
	for s, why := range app {
		if s != "connections:write" {
			t.Errorf("app-level scope %s (needed by %v) is not documented: say in manifest-socket-mode.yaml and README.md when it is granted", s, why)
		}
	}
	for _, f := range []string{socketManifest, "README.md"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for s := range app {
			if !strings.Contains(string(data), s) {
				t.Errorf("%s does not mention the app-level scope %s that Socket Mode needs", f, s)
			}
		}
	}
	t.Logf("bot scopes needed: %v; app-level: %v", keys(bot), keys(app))
}

// TestTableMatchesSlackGo checks every slackGoMethods entry against
// slack-go's source: the Web API methods listed must be reachable from the
// method's body, and every Web API method reachable from it must be known
// and need no scope beyond the listed ones.
func TestTableMatchesSlackGo(t *testing.T) {
	l, _ := codeUses(t)
	apiName := regexp.MustCompile(`^[a-z]+(\.[a-zA-Z]+)+$`)
	for _, key := range keys(slackGoMethods) {
		fn, err := l.lookupClientMethod(key)
		if err != nil {
			t.Errorf("slackGoMethods[%s]: %v", key, err)
			continue
		}
		reach := l.reachableStrings(fn)
		declared := map[string]bool{}
		for _, api := range slackGoMethods[key] {
			declared[api] = true
			if _, ok := webAPIMethods[api]; !ok {
				t.Errorf("slackGoMethods[%s]: %s is not in webAPIMethods", key, api)
			}
			if !reach[api] {
				t.Errorf("slackGoMethods[%s] says it calls %s, but slack-go's source never names it", key, api)
			}
		}
		scopes := map[string]bool{}
		for api := range declared {
			for _, s := range webAPIMethods[api].scopes {
				scopes[s] = true
			}
		}
		for _, s := range keys(reach) {
			if !apiName.MatchString(s) || declared[s] {
				continue
			}
			m, ok := webAPIMethods[s]
			if !ok {
				t.Errorf("slack-go's %s may call %s, which webAPIMethods does not know: add it (with its scopes) and to slackGoMethods[%s] if it is called", key, s, key)
				continue
			}
			for _, sc := range m.scopes {
				if !scopes[sc] {
					t.Errorf("slack-go's %s may call %s, which needs %s: add it to slackGoMethods[%s]", key, s, sc, key)
				}
			}
		}
	}
}

func TestBotEventsAndSlashCommand(t *testing.T) {
	for _, name := range []string{httpManifest, socketManifest} {
		m := loadManifest(t, name)
		// gateway/events.go acts on app_mention and ignores every other event.
		if m.Settings.EventSubscriptions == nil || !slices.Equal(m.Settings.EventSubscriptions.BotEvents, []string{"app_mention"}) {
			t.Errorf("%s: bot events must be exactly [app_mention] (the only event the gateway handles)", name)
		} else if len(m.Settings.EventSubscriptions.UserEvents) > 0 {
			t.Errorf("%s: user events %v: deploybot subscribes to none", name, m.Settings.EventSubscriptions.UserEvents)
		}
		if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/deploy" {
			t.Errorf("%s: the slash command must be exactly /deploy", name)
		}
		if m.Features.BotUser == nil || m.Features.BotUser.DisplayName == "" {
			t.Errorf("%s: features.bot_user.display_name is required for a bot", name)
		} else if m.Features.BotUser.DisplayName != config.Default().BotName {
			t.Errorf("%s: bot display name %q differs from BOT_NAME's default %q", name, m.Features.BotUser.DisplayName, config.Default().BotName)
		}
		if m.Settings.Interactivity == nil || !m.Settings.Interactivity.IsEnabled {
			t.Errorf("%s: interactivity must be enabled (approval buttons)", name)
		}
		if m.Settings.TokenRotationEnabled == nil || *m.Settings.TokenRotationEnabled {
			t.Errorf("%s: token_rotation_enabled must be false: deploybot does not refresh SLACK_TOKEN", name)
		}
		if m.Settings.OrgDeployEnabled == nil {
			t.Errorf("%s: settings.org_deploy_enabled is missing", name)
		}
		if m.DisplayInformation.Name == "" || len(m.DisplayInformation.Name) > 35 {
			t.Errorf("%s: display_information.name must be 1 to 35 characters", name)
		}
		if len(m.DisplayInformation.Description) > 140 {
			t.Errorf("%s: display_information.description is over Slack's 140 characters", name)
		}
	}
	h, s := loadManifest(t, httpManifest), loadManifest(t, socketManifest)
	if !slices.Equal(h.OAuthConfig.Scopes.Bot, s.OAuthConfig.Scopes.Bot) {
		t.Errorf("the two manifests' bot scopes differ: %v and %v", h.OAuthConfig.Scopes.Bot, s.OAuthConfig.Scopes.Bot)
	}
}

func TestSocketModeManifestHasNoURLs(t *testing.T) {
	m := loadManifest(t, socketManifest)
	if m.Settings.SocketModeEnabled == nil || !*m.Settings.SocketModeEnabled {
		t.Error("socket_mode_enabled must be true")
	}
	if es := m.Settings.EventSubscriptions; es != nil && es.RequestURL != "" {
		t.Errorf("event_subscriptions.request_url %q: Socket Mode needs none", es.RequestURL)
	}
	if in := m.Settings.Interactivity; in != nil && (in.RequestURL != "" || in.MessageMenuOptionsURL != "") {
		t.Error("interactivity has a URL: Socket Mode needs none")
	}
	for _, c := range m.Features.SlashCommands {
		if c.URL != "" {
			t.Errorf("slash command %s has url %q: Socket Mode needs none", c.Command, c.URL)
		}
	}
}

// TestHTTPManifestURLsAreGatewayRoutes asks a real gateway about each request
// URL: an unsigned POST must be refused for its signature (401), not 404,
// and a signed request must reach the right handler.
func TestHTTPManifestURLsAreGatewayRoutes(t *testing.T) {
	m := loadManifest(t, httpManifest)
	if m.Settings.SocketModeEnabled == nil || *m.Settings.SocketModeEnabled {
		t.Error("socket_mode_enabled must be false in the HTTP manifest")
	}
	const secret = "manifest-test-signing-secret"
	cfg := config.Default()
	cfg.SigningSecret = secret
	// A lazy client to a port nobody listens on: the gateway only needs one
	// to be built, and these requests never reach Temporal.
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	gw, err := gateway.New(gateway.Options{Temporal: tc, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	do := func(path string, body []byte, signed bool) (int, string) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if signed {
			ts := time.Now().Unix()
			req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
			req.Header.Set("X-Slack-Signature", gateway.Sign(secret, ts, body))
		}
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, req)
		out, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(out)
	}
	// The probe tells a route from no route.
	if code, _ := do("/slack/no-such-route", nil, false); code != http.StatusNotFound {
		t.Fatalf("an unknown path answered %d, want 404: the probe below cannot tell routes apart", code)
	}

	type endpoint struct {
		what, raw string
		// check sends a signed request that only the right handler answers so.
		check func(path string) error
	}
	var eps []endpoint
	if es := m.Settings.EventSubscriptions; es != nil {
		eps = append(eps, endpoint{"event_subscriptions.request_url", es.RequestURL, func(path string) error {
			// What Slack sends when the request URL is saved.
			body := []byte(`{"type":"url_verification","token":"x","challenge":"manifest-test-challenge"}`)
			code, out := do(path, body, true)
			if code != http.StatusOK || !strings.Contains(out, "manifest-test-challenge") {
				return fmt.Errorf("url_verification answered %d %s, want 200 with the challenge", code, out)
			}
			return nil
		}})
	} else {
		t.Error("settings.event_subscriptions is missing")
	}
	if in := m.Settings.Interactivity; in != nil {
		eps = append(eps, endpoint{"interactivity.request_url", in.RequestURL, func(path string) error {
			code, out := do(path, []byte("payload="), true)
			if code != http.StatusBadRequest || !strings.Contains(out, "interaction payload") {
				return fmt.Errorf("an empty interaction answered %d %s, want the interaction handler's 400", code, out)
			}
			return nil
		}})
	} else {
		t.Error("settings.interactivity is missing")
	}
	for _, c := range m.Features.SlashCommands {
		eps = append(eps, endpoint{"slash command " + c.Command + " url", c.URL, func(path string) error {
			code, out := do(path, []byte("command="+url.QueryEscape(c.Command)), true)
			if code != http.StatusBadRequest || !strings.Contains(out, "trigger_id") {
				return fmt.Errorf("a slash command without trigger_id answered %d %s, want the command handler's 400", code, out)
			}
			return nil
		}})
	}
	for _, ep := range eps {
		u, err := url.Parse(ep.raw)
		switch {
		case ep.raw == "":
			t.Errorf("%s is empty", ep.what)
			continue
		case err != nil:
			t.Errorf("%s %q: %v", ep.what, ep.raw, err)
			continue
		case u.Scheme != "https":
			t.Errorf("%s %q: Slack requires https", ep.what, ep.raw)
		case u.Host != exampleHost:
			t.Errorf("%s %q: use the placeholder host %s (the comment says to replace it)", ep.what, ep.raw, exampleHost)
		case u.RawQuery != "" || u.Fragment != "":
			t.Errorf("%s %q: the gateway's routes take no query", ep.what, ep.raw)
		}
		code, out := do(u.Path, []byte("token=x"), false)
		if code != http.StatusUnauthorized {
			t.Errorf("%s %q: an unsigned POST to %s answered %d %s, want 401 (the signature check of a Slack route)", ep.what, ep.raw, u.Path, code, out)
			continue
		}
		if err := ep.check(u.Path); err != nil {
			t.Errorf("%s %q: %v", ep.what, ep.raw, err)
		}
	}
	data, err := os.ReadFile(httpManifest)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?i)replace\s+` + regexp.QuoteMeta(exampleHost)).Match(data) {
		t.Errorf("%s must say in a comment to replace %s", httpManifest, exampleHost)
	}
}

// TestReadmeExplainsEveryScope keeps deploy/slack/README.md in step with the
// manifests: each bot scope is named there.
func TestReadmeExplainsEveryScope(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range loadManifest(t, httpManifest).OAuthConfig.Scopes.Bot {
		if !strings.Contains(string(data), "`"+s+"`") {
			t.Errorf("README.md does not explain the bot scope `%s`", s)
		}
	}
	for _, v := range []string{"SLACK_TOKEN", "SIGNING_SECRET", "SLACK_APP_TOKEN"} {
		if !strings.Contains(string(data), v) {
			t.Errorf("README.md does not say what goes into %s", v)
		}
	}
}
