// deploybot playground: a small stand-in for Slack's channel view.
// Every piece of text from the server goes into the DOM as a text node
// (textContent or createTextNode); no untrusted string is ever parsed as HTML.
(function () {
  "use strict";

  var state = { users: [], byId: {}, bot: "", messages: [], channel: {} };
  var openThread = "";
  var colors = ["#e8912d", "#2bac76", "#1264a3", "#e01e5a", "#4a154b", "#36c5f0"];

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = text;
    return n;
  }
  function currentUser() { return $("user").value; }
  function userName(id) { var u = state.byId[id]; return u ? u.name : id; }

  function decode(s) {
    return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  // Slack shows these shortcodes as emoji; the ones deploybot's messages use.
  var EMOJI = {
    rocket: "\u{1F680}", white_check_mark: "\u2705", heavy_check_mark: "\u2714\uFE0F", x: "\u274C",
    warning: "\u26A0\uFE0F", hourglass: "\u231B", hourglass_flowing_sand: "\u23F3", gear: "\u2699\uFE0F",
    information_source: "\u2139\uFE0F", page_facing_up: "\u{1F4C4}", pause_button: "\u23F8\uFE0F",
    arrow_forward: "\u25B6\uFE0F", rewind: "\u23EA", no_entry: "\u26D4", lock: "\u{1F512}",
    shield: "\u{1F6E1}\uFE0F", arrows_counterclockwise: "\u{1F504}", alarm_clock: "\u23F0", email: "\u{1F4E7}",
    ice_cube: "\u{1F9CA}", sunny: "\u2600\uFE0F", thinking_face: "\u{1F914}", scroll: "\u{1F4DC}",
    rotating_light: "\u{1F6A8}", mag: "\u{1F50D}"
  };
  function emoji(s) {
    return s.replace(/:([a-z0-9_+-]+):/g, function (all, name) { return EMOJI[name] || all; });
  }

  // safeURL allows only http(s) and relative links.
  function safeURL(u) {
    u = decode(u);
    if (/^https?:\/\//i.test(u) || /^\/(?!\/)/.test(u)) return u;
    return "";
  }

  // inline renders Slack mrkdwn without code blocks into parent.
  function inline(parent, s, depth) {
    var re = /<([^<>]+)>|`([^`\n]+)`|\*([^*\n]+)\*|(^|[\s(])_([^_\n]+)_|~([^~\n]+)~/g;
    var last = 0, m;
    while ((m = re.exec(s)) !== null) {
      var start = m.index;
      if (m[4] !== undefined && m[5] !== undefined) start += m[4].length;
      if (start > last) parent.appendChild(document.createTextNode(emoji(decode(s.slice(last, start)))));
      last = re.lastIndex;
      if (m[1] !== undefined) {
        parent.appendChild(special(m[1]));
      } else if (m[2] !== undefined) {
        parent.appendChild(el("code", "", decode(m[2])));
      } else if (m[3] !== undefined) {
        var b = el("b");
        if (depth < 3) inline(b, m[3], depth + 1); else b.textContent = decode(m[3]);
        parent.appendChild(b);
      } else if (m[5] !== undefined) {
        var i = el("i");
        if (depth < 3) inline(i, m[5], depth + 1); else i.textContent = decode(m[5]);
        parent.appendChild(i);
      } else if (m[6] !== undefined) {
        var st = el("s");
        inline(st, m[6], depth + 1);
        parent.appendChild(st);
      }
    }
    if (last < s.length) parent.appendChild(document.createTextNode(emoji(decode(s.slice(last)))));
  }

  // special renders <...>: links, mentions, channels, dates.
  function special(inner) {
    var bar = inner.indexOf("|");
    var target = bar >= 0 ? inner.slice(0, bar) : inner;
    var label = bar >= 0 ? inner.slice(bar + 1) : "";
    if (target.charAt(0) === "@") {
      return el("span", "mention", "@" + userName(target.slice(1)));
    }
    if (target.charAt(0) === "#") {
      return el("span", "mention", "#" + (label || state.channel.name || target.slice(1)));
    }
    if (target.charAt(0) === "!") {
      if (target.indexOf("!date^") === 0) {
        var parts = target.split("^");
        var when = parseInt(parts[1], 10);
        var txt = label ? decode(label) : "";
        if (!isNaN(when)) {
          var d = el("span", "date", txt || new Date(when * 1000).toLocaleString());
          d.title = new Date(when * 1000).toLocaleString();
          return d;
        }
        return document.createTextNode(txt);
      }
      return el("span", "mention", "@" + (label || target.slice(1)));
    }
    var href = safeURL(target);
    if (!href) return document.createTextNode(decode(label || target));
    var a = el("a", "", decode(label || target));
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener";
    return a;
  }

  // mrkdwn renders text with ```code blocks``` and inline formatting.
  function mrkdwn(s) {
    var box = el("div", "text");
    var parts = String(s || "").split("```");
    for (var i = 0; i < parts.length; i++) {
      if (i % 2 === 1 && i < parts.length - 1) {
        box.appendChild(el("pre", "", decode(parts[i].replace(/^\n/, ""))));
      } else {
        var chunk = parts[i];
        if (i % 2 === 1) chunk = "```" + chunk; // unclosed fence
        if (i > 0 && i % 2 === 0) chunk = chunk.replace(/^\n/, "");
        var span = el("span");
        inline(span, chunk, 0);
        box.appendChild(span);
      }
    }
    return box;
  }

  function textObj(t) {
    if (!t) return el("span");
    if (t.type === "plain_text") return el("div", "text", emoji(t.text));
    return mrkdwn(t.text);
  }

  function button(msg, e) {
    var label = e.text && e.text.text ? e.text.text : e.action_id;
    var b = el("button", e.style || "", emoji(label));
    b.type = "button";
    b.setAttribute("data-action-id", e.action_id || "");
    b.setAttribute("data-value", e.value || "");
    b.setAttribute("data-ts", msg.ts);
    if (e.url) {
      b.addEventListener("click", function () {
        var u = safeURL(e.url);
        if (u) window.open(u, "_blank", "noopener");
      });
      if (!e.action_id) return b;
    }
    b.addEventListener("click", function () {
      if (e.confirm) {
        var c = e.confirm;
        var q = (c.title ? c.title.text + "\n\n" : "") + (c.text ? decode(c.text.text.replace(/[*`]/g, "")) : "");
        if (!window.confirm(q)) return;
      }
      b.disabled = true;
      post("/playground/api/click", { user: currentUser(), message_ts: msg.ts, action_id: e.action_id, value: e.value || "" })
        .then(function () { notice("Clicked " + label + " as " + userName(currentUser()) + ".", false); })
        .catch(function (err) { notice(err.message, true); })
        .then(function () { b.disabled = false; });
    });
    return b;
  }

  function renderBlocks(msg) {
    var box = el("div", "blocks");
    (msg.blocks || []).forEach(function (blk) {
      var d;
      switch (blk.type) {
        case "header":
          d = el("div", "block header", emoji(blk.text ? blk.text.text : ""));
          break;
        case "section":
          d = el("div", "block section");
          if (blk.text) d.appendChild(textObj(blk.text));
          if (blk.fields && blk.fields.length) {
            var f = el("div", "fields");
            blk.fields.forEach(function (x) { f.appendChild(textObj(x)); });
            d.appendChild(f);
          }
          if (blk.accessory && blk.accessory.type === "button") d.appendChild(button(msg, blk.accessory));
          break;
        case "context":
          d = el("div", "block context");
          (blk.elements || []).forEach(function (x) {
            if (x.type === "image") return;
            var t = textObj(x);
            t.style.display = "inline";
            d.appendChild(t);
            d.appendChild(document.createTextNode(" "));
          });
          break;
        case "actions":
          d = el("div", "block actions");
          if (blk.block_id) d.setAttribute("data-block-id", blk.block_id);
          (blk.elements || []).forEach(function (x) {
            if (x.type === "button") d.appendChild(button(msg, x));
          });
          break;
        case "divider":
          d = el("hr", "divider");
          break;
        case "rich_text":
        default:
          d = el("div", "block context", "[" + blk.type + " block]");
      }
      box.appendChild(d);
    });
    return box;
  }

  function fmtTime(ts) {
    var d = new Date(parseFloat(ts) * 1000);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function renderMessage(msg, replies, inThread) {
    var row = el("div", "msg" + (msg.ephemeral ? " ephemeral" : ""));
    row.setAttribute("data-ts", msg.ts);
    if (msg.thread_ts) row.setAttribute("data-thread-ts", msg.thread_ts);
    var u = state.byId[msg.user] || { name: msg.user, is_bot: false };
    var av = el("div", "avatar", (u.name || "?").charAt(0).toUpperCase());
    var idx = 0;
    for (var i = 0; i < (u.name || "").length; i++) idx += u.name.charCodeAt(i);
    av.style.background = colors[idx % colors.length];
    row.appendChild(av);
    var body = el("div", "body");
    var meta = el("div", "meta");
    meta.appendChild(el("span", "name", u.name || msg.user));
    if (u.is_bot) meta.appendChild(el("span", "app", "APP"));
    meta.appendChild(el("span", "time", fmtTime(msg.ts)));
    if (msg.ephemeral) meta.appendChild(el("span", "only-you", "Only visible to you"));
    body.appendChild(meta);
    if (msg.blocks && msg.blocks.length) body.appendChild(renderBlocks(msg));
    else body.appendChild(mrkdwn(msg.text));
    if (msg.edited) body.appendChild(el("span", "edited", "(edited)"));
    if (msg.files && msg.files.length) {
      var fl = el("div", "files");
      msg.files.forEach(function (f) {
        var a = el("a", "", "📄 " + (f.title || f.name));
        a.href = safeURL(f.url);
        a.target = "_blank";
        a.rel = "noopener";
        fl.appendChild(a);
        fl.appendChild(document.createTextNode(" "));
      });
      body.appendChild(fl);
    }
    if (!inThread && replies > 0) {
      var r = el("button", "replies", replies === 1 ? "1 reply" : replies + " replies");
      r.type = "button";
      r.addEventListener("click", function () { showThread(msg.ts); });
      body.appendChild(r);
    }
    row.appendChild(body);
    return row;
  }

  function nearBottom(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 80; }

  function render() {
    var ch = $("channel");
    var stick = nearBottom(ch);
    var counts = {};
    state.messages.forEach(function (m) {
      if (m.thread_ts && m.thread_ts !== m.ts) counts[m.thread_ts] = (counts[m.thread_ts] || 0) + 1;
    });
    ch.replaceChildren();
    state.messages.forEach(function (m) {
      if (m.thread_ts && m.thread_ts !== m.ts && !m.broadcast) return;
      ch.appendChild(renderMessage(m, counts[m.ts] || 0, false));
    });
    if (stick) ch.scrollTop = ch.scrollHeight;
    renderThread();
  }

  function renderThread() {
    var pane = $("thread-pane");
    if (!openThread) { pane.hidden = true; return; }
    pane.hidden = false;
    var box = $("thread");
    var stick = nearBottom(box);
    box.replaceChildren();
    box.setAttribute("data-thread-ts", openThread);
    state.messages.forEach(function (m) {
      if (m.ts === openThread || m.thread_ts === openThread) box.appendChild(renderMessage(m, 0, true));
    });
    if (stick) box.scrollTop = box.scrollHeight;
  }

  function showThread(ts) {
    openThread = ts;
    renderThread();
    $("thread").scrollTop = $("thread").scrollHeight;
  }

  var loading = false, again = false;
  function load() {
    if (loading) { again = true; return; }
    loading = true;
    fetch("/playground/api/state?user=" + encodeURIComponent(currentUser() || ""), { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        var first = !state.users.length;
        state = s;
        state.byId = {};
        (s.users || []).forEach(function (u) { state.byId[u.id] = u; });
        if (first) { setup(); again = true; }
        render();
      })
      .catch(function (err) { notice("Could not load the channel: " + err.message, true); })
      .then(function () {
        loading = false;
        if (again) { again = false; load(); }
      });
  }

  function setup() {
    var sel = $("user");
    state.users.forEach(function (u) {
      if (u.is_bot) return;
      var o = el("option", "", u.name + " — " + (u.real_name || u.name));
      o.value = u.id;
      sel.appendChild(o);
    });
    $("chan-name").textContent = "#" + (state.channel.name || state.channel.id);
    var tl = $("temporal-link");
    if (state.temporal_ui && safeURL(state.temporal_ui)) {
      tl.href = safeURL(state.temporal_ui);
      tl.hidden = false;
    }
  }

  function notice(text, isError) {
    var n = $("notice");
    n.textContent = text;
    n.className = "notice" + (isError ? " error" : "");
  }

  function post(url, body) {
    return fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok || !j.ok) throw new Error(j.error || ("HTTP " + r.status));
          return j;
        });
      });
  }

  function send(input, threadTS) {
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    post("/playground/api/say", { user: currentUser(), text: text, thread_ts: threadTS || "" })
      .then(function (j) {
        notice("Sent as " + userName(currentUser()) + ": " + text, false);
        if (j.ts && !threadTS && /@deploybot\b/.test(text)) showThread(j.ts);
        load();
      })
      .catch(function (err) { notice(err.message, true); });
  }

  // Emails panel: what the worker sent to the SMTP sink, newest first.
  var mailLoading = false, mailAgain = false;
  function loadEmails() {
    if (mailLoading) { mailAgain = true; return; }
    mailLoading = true;
    fetch("/playground/api/emails", { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(renderEmails)
      .catch(function (err) { notice("Could not load the emails: " + err.message, true); })
      .then(function () {
        mailLoading = false;
        if (mailAgain) { mailAgain = false; loadEmails(); }
      });
  }

  function renderEmails(j) {
    var box = $("emails");
    if (!j.enabled) {
      var ui = safeURL(j.ui_url || "");
      if (!ui) { $("emails-box").hidden = true; return; }
      // The worker's email goes to a mail catcher of its own (compose).
      var p = el("p", "hint", "The worker's email (SAST decisions) goes to the mail catcher: ");
      var a = el("a", "", ui);
      a.href = ui; a.target = "_blank"; a.rel = "noopener";
      p.appendChild(a);
      box.replaceChildren(p);
      return;
    }
    var list = j.emails || [];
    $("email-count").textContent = list.length ? "(" + list.length + ")" : "";
    if (!list.length) return;
    box.replaceChildren();
    list.forEach(function (m) {
      var d = el("div", "email");
      d.appendChild(el("div", "subject", m.subject || "(no subject)"));
      d.appendChild(el("div", "hdr", "From: " + m.from));
      d.appendChild(el("div", "hdr", "To: " + (m.to || []).join(", ")));
      d.appendChild(el("div", "hdr", "Date: " + m.date));
      d.appendChild(el("pre", "", m.text || ""));
      box.appendChild(d);
    });
  }

  // sonar sends a sample SonarQube webhook through the playground's server
  // and shows what the gateway answered.
  function sonar(gate, btn) {
    var out = $("sonar-result");
    btn.disabled = true;
    fetch("/playground/api/sonarqube", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ gate: gate }) })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        out.hidden = false;
        out.className = "sonar-result" + (j.ok ? "" : " error");
        out.replaceChildren();
        var what = (j.gate === "OK" ? "Passing analysis" : "Failed quality gate") + " of " + (j.project || "?") + " (" + (j.branch || "?") + ")";
        out.appendChild(el("div", "", what + ", revision " + (j.revision || "?") + (j.signed ? ", signed" : ", unsigned")));
        if (j.status) out.appendChild(el("div", "", "Gateway answered " + (j.status_text || j.status)));
        else if (j.error) out.appendChild(el("div", "", j.error));
        if (j.body) out.appendChild(el("pre", "", j.body));
      })
      .catch(function (err) { notice(err.message, true); })
      .then(function () { btn.disabled = false; });
  }

  function connect() {
    if (!window.EventSource) { setInterval(function () { load(); loadEmails(); }, 1500); return; }
    var es = new EventSource("/playground/api/events");
    es.onopen = function () { $("live").className = "live on"; load(); loadEmails(); };
    es.onmessage = function (e) {
      var kind = "";
      try { kind = JSON.parse(e.data).kind; } catch (err) { /* reload everything */ }
      if (kind === "email") loadEmails(); else load();
    };
    es.onerror = function () { $("live").className = "live"; };
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("composer-form").addEventListener("submit", function (e) { e.preventDefault(); send($("composer"), ""); });
    $("thread-form").addEventListener("submit", function (e) { e.preventDefault(); send($("thread-composer"), openThread); });
    $("close-thread").addEventListener("click", function () { openThread = ""; renderThread(); });
    $("user").addEventListener("change", load);
    $("sonar-fail").addEventListener("click", function () { sonar("ERROR", $("sonar-fail")); });
    $("sonar-pass").addEventListener("click", function () { sonar("OK", $("sonar-pass")); });
    load();
    loadEmails();
    connect();
  });
})();
