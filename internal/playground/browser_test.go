package playground_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/devenv"
	"github.com/deploybot/deploybot/internal/devenv/devtest"
	"github.com/deploybot/deploybot/internal/slackui"
	"github.com/deploybot/deploybot/internal/testenv"
)

const chromium = "/usr/bin/chromium"

func startEnv(t *testing.T) devenv.URLs { return devtest.Start(t) }

// A hung Chromium must fail the test saying what it was doing, not sit
// until go test's -timeout kills the whole package.
const (
	// browserLifetime bounds a browser's whole life (less if the test's
	// own deadline comes first).
	browserLifetime = 10 * time.Minute
	// actionTimeout bounds starting the browser and each action in it.
	actionTimeout = time.Minute
)

// requireBrowser skips a test that needs Chromium and the whole dev
// environment when there is none or -short asks for quick tests.
func requireBrowser(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		testenv.Missing(t, "Chromium ("+chromium+")", "apt-get install chromium")
	}
	if testing.Short() {
		t.Skip("starts the whole dev environment and a browser")
	}
}

// browser is a headless Chromium on the playground page.
type browser struct {
	t    *testing.T
	ctx  context.Context // the browser's; it ends after life
	life time.Duration
}

func newBrowser(t *testing.T, pageURL string) *browser {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		testenv.Missing(t, "Chromium ("+chromium+")", "apt-get install chromium")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1400, 900),
	}
	life := browserLifetime
	if d, ok := t.Deadline(); ok && time.Until(d)-30*time.Second < life {
		life = time.Until(d) - 30*time.Second
	}
	lctx, cancelLife := context.WithTimeout(context.Background(), life)
	actx, cancelAlloc := chromedp.NewExecAllocator(lctx, opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); cancelLife() })
	b := &browser{t: t, ctx: ctx, life: life}
	// The first Run starts Chromium, and its context is the browser's:
	// a shorter one would stop the browser once it ends. So it is watched.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start Chromium: %v", err)
		}
	case <-time.After(actionTimeout):
		cancelCtx()
		t.Fatalf("Chromium did not start within %v", actionTimeout)
	}
	b.run("open the playground",
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.CSS(`#composer`)),
		chromedp.WaitReady(chromedp.CSS(`#user option[value="U0ALICE"]`)),
	)
	// Approve asks "are you sure?" with window.confirm; say yes.
	b.eval("answer confirm dialogs", `window.confirm = function () { return true; }; true`)
	return b
}

// action returns a context for one action in the browser, bounded by
// actionTimeout.
func (b *browser) action() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, actionTimeout)
}

// failed fails the test for err, saying so when the browser hung.
func (b *browser) failed(ctx context.Context, what string, err error) {
	b.t.Helper()
	switch {
	case b.ctx.Err() != nil:
		b.t.Fatalf("%s: the browser's lifetime (%v) ran out (%v)", what, b.life.Round(time.Second), err)
	case ctx.Err() != nil:
		b.t.Fatalf("%s: the browser did not answer within %v (%v)", what, actionTimeout, err)
	}
	b.t.Fatalf("%s: %v", what, err)
}

func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.action()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Steps(actions...)); err != nil {
		b.failed(ctx, what, err)
	}
}

// eval runs a script that returns a boolean.
func (b *browser) eval(what, js string) bool {
	b.t.Helper()
	ctx, cancel := b.action()
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		b.failed(ctx, what, err)
	}
	return ok
}

// as picks who acts in the page.
func (b *browser) as(userID string) {
	b.t.Helper()
	b.eval("act as "+userID, fmt.Sprintf(
		`(function(){var s=document.getElementById('user'); s.value=%q; s.dispatchEvent(new Event('change')); return s.value===%q;})()`, userID, userID))
}

// say types text in the channel's composer and sends it.
func (b *browser) say(text string) {
	b.t.Helper()
	b.run("say "+text,
		chromedp.SendKeys(chromedp.CSS(`#composer`), text),
		chromedp.Click(chromedp.CSS(`#send`)),
	)
}

// waitText waits until the element matching sel shows text.
func (b *browser) waitText(what, sel, text string) {
	b.t.Helper()
	js := fmt.Sprintf(`(function(){var e=document.querySelector(%q); return !!e && e.innerText.indexOf(%q) >= 0;})()`, sel, text)
	b.poll(what, js)
}

func (b *browser) poll(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if b.eval(what, js) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	ctx, cancel := b.action()
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	cancel()
	b.shot("failure.png")
	b.t.Fatalf("never saw %s; page:\n%s", what, body)
}

// waitRequest waits until the channel's latest approval request (the last
// message with an Approve button) shows every one of texts.
func (b *browser) waitRequest(what string, texts ...string) {
	b.t.Helper()
	b.poll(what, fmt.Sprintf(`(function(){
		var bs=document.querySelectorAll('#channel button[data-action-id="deploybot.approve"]');
		var row=bs.length && bs[bs.length-1].closest('.msg');
		return !!row && %s.every(function(t){ return row.innerText.indexOf(t) >= 0; });
	})()`, jsStrings(texts)))
}

// waitLastThread opens the channel's latest thread until it shows every
// one of texts.
func (b *browser) waitLastThread(what string, texts ...string) {
	b.t.Helper()
	b.poll(what, fmt.Sprintf(`(function(){
		var r=document.querySelectorAll('#channel .replies');
		if (r.length) r[r.length-1].click();
		var th=document.querySelector('#thread').innerText;
		return %s.every(function(t){ return th.indexOf(t) >= 0; });
	})()`, jsStrings(texts)))
}

// jsStrings is texts as a JavaScript array literal.
func jsStrings(texts []string) string {
	q := make([]string, len(texts))
	for i, t := range texts {
		q[i] = strconv.Quote(t)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// waitShown waits until one message in the element matching sel shows one
// of texts (Slack mrkdwn, as slackui writes it) the way Slack shows it:
// every run of its words (shownPieces), and none of its emoji shortcodes
// left as typed. Several texts are alternatives, e.g. for a time that may
// fall either side of a minute.
func (b *browser) waitShown(what, sel string, texts ...string) {
	b.t.Helper()
	alts := make([]string, len(texts))
	for i, text := range texts {
		pieces, codes := shownPieces(text)
		if len(pieces) == 0 {
			b.t.Fatalf("%s: %q has no words to look for", what, text)
		}
		alts[i] = fmt.Sprintf("{pieces:%s,codes:%s}", jsStrings(pieces), jsStrings(codes))
	}
	b.poll(what, fmt.Sprintf(`(function(){
		var alts=[%s];
		return [...document.querySelectorAll(%q)].some(function(m){
			var t=m.innerText;
			return alts.some(function(a){
				return a.pieces.every(function(p){ return t.indexOf(p) >= 0; }) &&
					!a.codes.some(function(c){ return t.indexOf(c) >= 0; });
			});
		});
	})()`, strings.Join(alts, ","), sel+" .msg"))
}

var (
	// slackEntityRE is a Slack entity: <@U…>, <!date^…|label>, <url|label>.
	slackEntityRE = regexp.MustCompile(`<([^<>]+)>`)
	shortcodeRE   = regexp.MustCompile(`:[a-z0-9_+-]+:`)
	// markupRE is mrkdwn's formatting and line breaks, where shown text
	// is cut into runs.
	markupRE  = regexp.MustCompile("[*`_~\n]")
	unescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
)

// cut marks where shownPieces cuts the text.
const cut = "\x00"

// shownPieces are the runs of words the page shows of Slack mrkdwn text,
// as Slack does: a mention reads @name (devenv.DevUsers), a date or link
// its label, &lt; and the like decoded; the text is cut where formatting,
// line breaks and emoji were. codes are its emoji shortcodes.
func shownPieces(text string) (pieces, codes []string) {
	names := map[string]string{}
	for _, u := range devenv.DevUsers {
		names[u.ID] = u.Name
	}
	var shown strings.Builder
	plain := func(s string) {
		codes = append(codes, shortcodeRE.FindAllString(s, -1)...)
		s = shortcodeRE.ReplaceAllString(s, cut)
		shown.WriteString(unescaper.Replace(markupRE.ReplaceAllString(s, cut)))
	}
	last := 0
	for _, m := range slackEntityRE.FindAllStringSubmatchIndex(text, -1) {
		plain(text[last:m[0]])
		last = m[1]
		target, label, _ := strings.Cut(text[m[2]:m[3]], "|")
		switch {
		case strings.HasPrefix(target, "@") && names[target[1:]] != "":
			label = "@" + names[target[1:]]
		case strings.HasPrefix(target, "@"):
			label = target
		case label == "":
			label = target
		}
		shown.WriteString(unescaper.Replace(label))
	}
	plain(text[last:])
	for _, p := range strings.Split(shown.String(), cut) {
		if p = strings.TrimSpace(p); p != "" {
			pieces = append(pieces, p)
		}
	}
	return pieces, codes
}

// clickLast clicks the last button with actionID in the element matching sel.
func (b *browser) clickLast(sel, actionID string) {
	b.t.Helper()
	js := fmt.Sprintf(`(function(){var bs=document.querySelectorAll(%q+' button[data-action-id=%q]'); if(!bs.length) return false; bs[bs.length-1].click(); return true;})()`, sel, actionID)
	b.poll("a "+actionID+" button in "+sel, js)
}

// shot saves a screenshot in the test's temp dir and returns it.
func (b *browser) shot(name string) []byte {
	b.t.Helper()
	ctx, cancel := b.action()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return nil
	}
	p := filepath.Join(b.t.TempDir(), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
	return png
}

// TestPlaygroundInBrowser drives the playground page in headless Chromium
// through the production gateway path: alice asks in a mention, mallory's
// approval is refused, bob's goes through and the thread ends Synced and
// Healthy; then a rollback of the auto-sync app payments.
func TestPlaygroundInBrowser(t *testing.T) {
	requireBrowser(t)
	urls := startEnv(t)
	if !strings.HasSuffix(urls.Playground, "/playground") {
		t.Fatalf("URLs.Playground = %q", urls.Playground)
	}
	b := newBrowser(t, urls.Playground)

	b.as("U0ALICE")
	b.say("@deploybot sync guestbook")
	b.waitText("alice's mention in the channel", "#channel", "@deploybot sync guestbook")
	b.poll("the approval request in the thread", `!!document.querySelector('#thread button[data-action-id="deploybot.approve"]')`)

	b.as("U0MALLORY")
	b.clickLast("#thread", "deploybot.approve")
	b.waitText("mallory's refusal", "#thread", "You are not an approver")
	b.poll("the refusal marked as only for mallory", `(function(){var m=document.querySelectorAll('#thread .msg.ephemeral'); return m.length>0 && m[m.length-1].innerText.indexOf('Only visible to you')>=0;})()`)

	b.as("U0BOB")
	b.poll("the refusal hidden from bob", `document.querySelector('#thread').innerText.indexOf('You are not an approver') < 0`)
	b.clickLast("#thread", "deploybot.approve")
	b.waitText("Synced and Healthy in the thread", "#thread", "Synced and Healthy")
	b.waitText("the request marked approved", "#thread", "Approved by")
	b.waitText("a link to the run in the Temporal UI", "#thread", "View run in Temporal")
	png := b.shot("playground.png")
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" && png != nil {
		out := filepath.Join(testenv.RepoRoot(t), "docs", "playground.png")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}

	// Rollback of the auto-sync app: list the history, then roll back.
	b.run("close the thread", chromedp.Click(chromedp.CSS(`#close-thread`)))
	b.as("U0ALICE")
	b.say("/deploy rollback_revisions payments")
	b.waitText("the payments history table", "#channel", "payments")
	b.poll("the history as a code block", `!!document.querySelector('#channel pre')`)
	b.say("/deploy rollback payments 2")
	b.poll("the rollback approval request", `!!document.querySelector('#channel button[data-action-id="deploybot.approve"]')`)
	b.as("U0BOB")
	b.clickLast("#channel", "deploybot.approve")
	b.poll("the rollback to end Synced and Healthy", `(function(){
		var r=document.querySelectorAll('#channel .replies');
		if (r.length) r[r.length-1].click();
		return document.querySelector('#thread').innerText.indexOf('Synced and Healthy')>=0;
	})()`)
	b.shot("rollback.png")
}

// TestPlaygroundOtherNamespaceAndInstance: in the page, alice asks for
// team-a/guestbook (an Application in namespace team-a) and search@prod (an
// app on the second Argo CD); bob approves each and each thread ends Synced
// and Healthy, naming the app as it was asked for.
func TestPlaygroundOtherNamespaceAndInstance(t *testing.T) {
	requireBrowser(t)
	b := newBrowser(t, startEnv(t).Playground)
	for _, app := range []string{"team-a/guestbook", "search@prod"} {
		b.as("U0ALICE")
		b.say("/deploy sync " + app)
		b.poll("the approval request for "+app, fmt.Sprintf(`(function(){
			var bs=document.querySelectorAll('#channel button[data-action-id="deploybot.approve"]');
			var row=bs.length && bs[bs.length-1].closest('.msg');
			return !!row && row.innerText.indexOf(%q) >= 0;
		})()`, app))
		b.as("U0BOB")
		b.clickLast("#channel", "deploybot.approve")
		b.poll(app+" to end Synced and Healthy in its thread", fmt.Sprintf(`(function(){
			var r=document.querySelectorAll('#channel .replies');
			if (r.length) r[r.length-1].click();
			var th=document.querySelector('#thread').innerText;
			return th.indexOf(%q) >= 0 && th.indexOf('Synced and Healthy') >= 0;
		})()`, app))
		b.run("close the thread", chromedp.Click(chromedp.CSS(`#close-thread`)))
	}
	b.shot("namespace-and-instance.png")
}

// TestPlaygroundTwoApprovals: under the dev approval policy, ledger
// (project payments) needs one of @platform and one of @payments-leads.
// bob's approval is counted and shown, carol's meets
// the rule, and the sync ends Synced and Healthy.
func TestPlaygroundTwoApprovals(t *testing.T) {
	requireBrowser(t)
	b := newBrowser(t, startEnv(t).Playground)
	b.as("U0ALICE")
	b.say("/deploy sync ledger")
	b.waitRequest("the approval request for ledger, needing two approvals", "ledger", "Needs 2 approvals")
	b.as("U0BOB")
	b.clickLast("#channel", "deploybot.approve")
	// The request says "1 of @payments-leads (waiting)" before bob clicks
	// too; waiting on it let carol click bob's button while it was still
	// disabled for his click, and her click was lost.
	b.waitRequest("bob's approval shown on the request", "1 of @platform (✓ @bob)", "1 of @payments-leads (waiting)")
	b.as("U0CAROL")
	b.clickLast("#channel", "deploybot.approve")
	b.waitLastThread("ledger to end Synced and Healthy in its thread", "ledger", "Synced and Healthy")
	b.shot("two-approvals.png")
}

// TestPlaygroundSASTInBrowser drives the SonarQube part of the playground:
// a sample failed quality gate goes to the gateway's webhook as SonarQube
// would send it, the request with its failed conditions appears in the
// channel, mallory's Accept risk is refused, bob's is counted, and the
// decision email reaches the SMTP sink and the Emails panel. Then a passing
// analysis of the same branch supersedes a new pending request.
func TestPlaygroundSASTInBrowser(t *testing.T) {
	requireBrowser(t)
	env := devtest.StartEnv(t)
	b := newBrowser(t, env.Playground)
	b.as("U0ALICE")

	b.run("send a sample failed quality gate", chromedp.Click(chromedp.CSS(`#sonar-fail`)))
	b.waitText("the gateway accepting the webhook", "#sonar-result", "Gateway answered 2")
	b.poll("the quality-gate request with its Accept risk button", `!!document.querySelector('#channel button[data-action-id="deploybot.sast.accept"]')`)
	b.waitText("the failed conditions", "#channel", "new_security_rating")
	b.waitText("the coverage condition", "#channel", "new_coverage")
	b.waitText("the Accept risk button's label", "#channel", "Accept risk")

	// The refusal is an ephemeral reply in the request's thread.
	const refusal = "not a security approver"
	b.as("U0MALLORY")
	b.clickLast("#channel", "deploybot.sast.accept")
	b.poll("mallory's refusal", fmt.Sprintf(`(function(){
		if (document.querySelector('main').innerText.indexOf(%q) >= 0) return true;
		var bs=document.querySelectorAll('#channel button[data-action-id="deploybot.sast.accept"]');
		var row=bs.length && bs[bs.length-1].closest('.msg');
		var r=row && row.querySelector('.replies');
		if (r) r.click();
		return false;
	})()`, refusal))

	b.as("U0BOB")
	b.poll("the refusal hidden from bob", fmt.Sprintf(`document.querySelector('main').innerText.indexOf(%q) < 0`, refusal))
	b.clickLast("#channel", "deploybot.sast.accept")
	b.waitText("the request marked accepted by bob", "#channel", "Risk accepted by @bob")
	b.poll("the buttons gone", `!document.querySelector('#channel button[data-action-id="deploybot.sast.accept"]')`)
	b.waitText("the decision email in the Emails panel", "#emails", "Security risk accepted")
	for _, want := range []string{"deploybot:payments-api", "bob (U0BOB)", "security@example.com", "new_security_rating"} {
		b.waitText("the email naming "+want, "#emails", want)
	}
	msgs := env.Mail.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "payments-api") || !strings.Contains(msgs[0].Text, "bob") {
		t.Errorf("the sink got %d messages, want the one decision email: %+v", len(msgs), msgs)
	}
	b.eval("close the thread", `document.getElementById('close-thread').click(); true`)
	png := b.shot("playground-sast.png")
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" && png != nil {
		out := filepath.Join(testenv.RepoRoot(t), "docs", "playground-sast.png")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}

	// A new failed analysis waits; the passing one after it supersedes it.
	b.run("send another failed quality gate", chromedp.Click(chromedp.CSS(`#sonar-fail`)))
	b.poll("a new pending request", `!!document.querySelector('#channel button[data-action-id="deploybot.sast.accept"]')`)
	b.run("send a passing analysis", chromedp.Click(chromedp.CSS(`#sonar-pass`)))
	b.waitText("the gateway's answer to the passing analysis", "#sonar-result", "Passing analysis of deploybot:payments-api")
	b.waitText("the pending request superseded", "#channel", "Superseded by a newer analysis")
	b.poll("no buttons left", `!document.querySelector('#channel button[data-action-id="deploybot.sast.accept"]')`)
	b.shot("superseded.png")
}

// TestBrowserEmailsLinkTheMailCatcher: the playground run as its own service
// (docker-compose), whose worker mails a catcher, links it in the Emails
// panel instead of listing mail it never sees.
func TestBrowserEmailsLinkTheMailCatcher(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- devenv.RunPlayground(ctx, devenv.PlaygroundOptions{
			Addr: "127.0.0.1:0", GatewayURL: "http://127.0.0.1:1", SlackToken: devenv.DevSlackToken,
			SigningSecret: devenv.DevSigningSecret, MailUIURL: "http://localhost:8025",
			OnReady: func(base string) { ready <- base },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("playground: %v", err)
		}
	})
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("playground did not start: %v", err)
	case <-time.After(actionTimeout):
		t.Fatalf("playground did not start within %v", actionTimeout)
	}
	b := newBrowser(t, base+"/playground")
	b.run("the mail catcher's link in the Emails panel",
		chromedp.WaitVisible(chromedp.CSS(`#emails-box a[href="http://localhost:8025"]`)))
}

// TestTemporalUITellsTheRun opens the Temporal UI of `deploybot dev` on a
// run waiting for its second approval: the run's page shows its summary
// (what was asked, by whom, names beside ids), its details (the rule) and
// its current step (waiting, with bob's approval counted).
func TestTemporalUITellsTheRun(t *testing.T) {
	requireBrowser(t)
	urls := startEnv(t)
	b := newBrowser(t, urls.Playground)
	b.as("U0ALICE")
	b.say("/deploy sync ledger")
	b.as("U0BOB")
	b.clickLast("#channel", "deploybot.approve")
	// Wait for bob's ✓: "(waiting)" is on the request before he clicks too.
	b.waitRequest("bob's approval shown on the request", "1 of @platform (✓ @bob)", "1 of @payments-leads (waiting)")
	b.run("open the run in the Temporal UI", chromedp.Navigate(urls.TemporalUI+"/namespaces/default/workflows/deploy-ledger"))
	// The UI shows summary, details and current details on the run's User
	// Metadata tab, each rendered in a same-origin frame.
	b.poll("the run's summary, details and current step in the Temporal UI", `(function(){
		var tab=document.querySelector('#user-metadata-tab');
		if (!tab) return false;
		if (tab.getAttribute('aria-selected') !== 'true') { tab.click(); return false; }
		var text=[...document.querySelectorAll('iframe')].map(function(f){
			try { return f.contentDocument.body.innerText; } catch (e) { return ''; }
		}).join('\n');
		return text.indexOf('sync ledger, asked by alice (U0ALICE)') >= 0 &&
			text.indexOf('payments-two-approvals') >= 0 &&
			text.indexOf('Waiting for approval until') >= 0 &&
			text.indexOf('1 of @platform (✓ bob (U0BOB))') >= 0;
	})()`)
	b.shot("temporal-ui.png")
}

// TestPlaygroundDiffAndHistory: in the page, `diff frontend` shares the
// sync preview (summary and file) in the channel and answers a slash
// command with the summary; a sync of frontend shows the same preview in
// its request; `/deploy history frontend` lists that run.
func TestPlaygroundDiffAndHistory(t *testing.T) {
	requireBrowser(t)
	b := newBrowser(t, startEnv(t).Playground)
	b.as("U0ALICE")
	b.say("@deploybot diff frontend")
	b.waitLastThread("the preview file shared in the mention's thread", "What a sync of frontend would change:", "Deployment/frontend image", "Sync preview of frontend")
	b.run("close the thread", chromedp.Click(chromedp.CSS(`#close-thread`)))
	b.say("/deploy diff frontend")
	b.poll("the preview answering the slash command", `(function(){
		var m=document.querySelectorAll('#channel .msg');
		return m.length>0 && m[m.length-1].innerText.indexOf('would change') >= 0 && m[m.length-1].innerText.indexOf('Deployment/frontend') >= 0;
	})()`)
	b.say("/deploy sync frontend")
	b.waitRequest("the request with the preview", "frontend", "resource", "change:")
	b.as("U0BOB")
	b.clickLast("#channel", "deploybot.approve")
	b.waitLastThread("frontend to end Synced and Healthy in its thread", "frontend", "Synced and Healthy", "Sync preview of frontend")
	b.run("close the thread", chromedp.Click(chromedp.CSS(`#close-thread`)))
	b.as("U0ALICE")
	b.poll("history to list the sync", `(function(){
		var m=document.querySelectorAll('#channel .msg');
		var last=m.length ? m[m.length-1].innerText : '';
		if (last.indexOf('deploybot run') >= 0 && last.indexOf('succeeded') >= 0) return true;
		var c=document.getElementById('composer');
		if (!window.__asked || Date.now() - window.__asked > 3000) {
			window.__asked = Date.now();
			c.value='/deploy history frontend'; document.getElementById('send').click();
		}
		return false;
	})()`)
	b.shot("diff-history.png")
}

// TestPlaygroundFreeze: in the page, alice freezes guestbook and is told
// until when and why; `freezes` lists it, `status guestbook` shows it, and
// her `sync guestbook` is refused naming the reason and who froze it, with
// no approval request; once she unfreezes it, the sync is put to approvers.
func TestPlaygroundFreeze(t *testing.T) {
	requireBrowser(t)
	b := newBrowser(t, startEnv(t).Playground)
	const app, reason = "guestbook", "release night"
	alice := contract.User{ID: "U0ALICE"}
	b.as(alice.ID)

	// The gateway ends the freeze 2h after it reads the command, to the
	// minute: the minute now, or the next one if it turns meanwhile.
	end := time.Now().UTC().Add(2 * time.Hour).Truncate(time.Minute)
	freezes := []contract.Freeze{
		{Target: app, Reason: reason, By: alice, Until: end},
		{Target: app, Reason: reason, By: alice, Until: end.Add(time.Minute)},
	}
	each := func(text func(contract.Freeze) string) []string {
		out := make([]string, len(freezes))
		for i, f := range freezes {
			out[i] = text(f)
		}
		return out
	}

	b.say("/deploy freeze " + app + " for 2h " + reason)
	b.waitShown("the freeze set: who froze guestbook, until when and why", "#channel", each(slackui.FreezeStarted)...)

	b.say("/deploy freezes")
	b.waitShown("guestbook listed with its reason in the freezes in force", "#channel", each(func(f contract.Freeze) string {
		return slackui.FreezesText([]contract.Freeze{f})
	})...)

	b.say("/deploy status " + app)
	b.waitShown("the freeze shown by status", "#channel", each(func(f contract.Freeze) string {
		return statusFreezes(t, app, f)
	})...)

	b.say("/deploy sync " + app)
	b.waitShown("the sync refused, naming the reason and who froze it", "#channel", each(func(f contract.Freeze) string {
		return slackui.FrozenRefusal(alice, "sync "+app, app, f)
	})...)
	if b.approveButtons() != 0 {
		t.Fatal("the refused sync was put to approvers")
	}

	b.say("/deploy unfreeze " + app)
	b.waitShown("the freeze lifted", "#channel", each(func(f contract.Freeze) string { return slackui.FreezeLifted(f, alice) })...)

	b.say("/deploy sync " + app)
	b.waitRequest("the approval request for guestbook once unfrozen", app)
	if n := b.approveButtons(); n != 1 {
		t.Errorf("%d approval requests, want the one after unfreeze", n)
	}
	b.shot("freeze.png")
}

// statusFreezes is what `status APP` says of freeze f, as slackui renders it.
func statusFreezes(t *testing.T, app string, f contract.Freeze) string {
	t.Helper()
	_, blocks, err := slackui.Render(slackui.Message{Command: &slackui.CommandReply{
		AppStatus: &slackui.AppStatus{App: app, Freezes: []contract.Freeze{f}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, bl := range blocks {
		if s, ok := bl.(*slack.SectionBlock); ok && s.BlockID == slackui.BlockIDFreezes && s.Text != nil {
			return s.Text.Text
		}
	}
	t.Fatalf("status of %s with a freeze has no %s block: %+v", app, slackui.BlockIDFreezes, blocks)
	return ""
}

// approveButtons counts the Approve buttons in the channel.
func (b *browser) approveButtons() int {
	b.t.Helper()
	ctx, cancel := b.action()
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('#channel button[data-action-id=%q]').length`, slackui.ActionApprove)))
	if err != nil {
		b.failed(ctx, "count the Approve buttons", err)
	}
	return n
}

// TestShownPieces: what waitShown looks for in the page, from a slackui text.
func TestShownPieces(t *testing.T) {
	until := time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC)
	pieces, codes := shownPieces(slackui.FreezeStarted(contract.Freeze{Target: "guestbook", Reason: "release <night> & day", By: contract.User{ID: "U0ALICE"}, Until: until}))
	want := []string{"@alice froze", "guestbook", "until 2026-12-24 18:00 UTC: release <night> & day. Every change is refused until then (a break-glass sync may override);", "unfreeze guestbook", "lifts it."}
	if strings.Join(pieces, "|") != strings.Join(want, "|") || strings.Join(codes, " ") != ":ice_cube:" {
		t.Errorf("pieces = %q, codes = %q; want %q, [:ice_cube:]", pieces, codes, want)
	}
}
