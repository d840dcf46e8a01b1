package fuzz

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/gateway"
)

// fzSlackRoutes are the routes behind Slack's signature.
var fzSlackRoutes = []string{"/slack/events", "/slack/interactions", "/interactions", "/slack/commands"}

// fzHMAC is Slack's v0 signature, computed independently of the gateway.
func fzHMAC(secret, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return mac.Sum(nil)
}

// FuzzSlackSignature checks Slack's v0 signature on every Slack route: a
// body signed now with the secret is let through (any answer but 401 or
// 413); the same body with one byte flipped, or the signature with one
// digit changed, is a 401 counted as a mismatch, with nothing started or
// answered; and arbitrary X-Slack-Request-Timestamp and X-Slack-Signature
// headers get through only if they are a real signature of the body at a
// timestamp within MaxClockSkew.
func FuzzSlackSignature(f *testing.F) {
	now := time.Now().Unix()
	ev := fzMention("Ev01", fzAlice, "sync guestbook", nil)
	f.Add(ev, uint16(10), byte(1), uint8(0), "1531420618", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	f.Add(fzSlash(fzAlice, "alice", "status guestbook"), uint16(3), byte(0x80), uint8(3), strconv.FormatInt(now, 10), gateway.Sign(fzSecret, now, ev))
	f.Add([]byte(`payload=%7B%7D`), uint16(0), byte(0xff), uint8(1), "+"+strconv.FormatInt(now, 10), "v0="+strings.Repeat("0", 64))
	f.Add([]byte{}, uint16(0), byte(0), uint8(2), "", "")
	f.Add([]byte("x"), uint16(0), byte(0), uint8(0), "1e9", "v0=ZZ")
	g := newFzGateway(f)
	f.Fuzz(func(t *testing.T, body []byte, at uint16, mask byte, route uint8, tsHeader, sigHeader string) {
		path := fzSlackRoutes[int(route)%len(fzSlackRoutes)]
		const ctype = "application/x-www-form-urlencoded"
		if got, want := gateway.Sign(fzSecret, 1531420618, body), "v0="+hex.EncodeToString(fzHMAC(fzSecret, "1531420618", body)); got != want {
			t.Fatalf("Sign = %s, want %s", got, want)
		}

		hdr := fzSlackHeaders(body)
		if res := g.do(t, fzPost(path, ctype, body, hdr)); res.code == http.StatusUnauthorized || res.code == http.StatusRequestEntityTooLarge {
			t.Fatalf("a body signed now was refused: %d %s", res.code, res.body)
		}

		refused := func(what string, body []byte, hdr http.Header) {
			t.Helper()
			res := g.do(t, fzPost(path, ctype, body, hdr))
			if res.code != http.StatusUnauthorized || len(res.calls) > 0 || len(res.replies) > 0 {
				t.Fatalf("%s: answer %d %s with %d calls, %d replies; want a bare 401", what, res.code, res.body, len(res.calls), len(res.replies))
			}
			if len(res.refusals) != 1 || res.refusals[0] != "mismatch" {
				t.Fatalf("%s: refusals logged and counted as %q, want one mismatch", what, res.refusals)
			}
		}
		if len(body) > 0 {
			flipped := append([]byte(nil), body...)
			if mask == 0 {
				mask = 1
			}
			flipped[int(at)%len(flipped)] ^= mask
			refused("flipped body byte", flipped, hdr)
		}
		sig := []byte(hdr.Get("X-Slack-Signature"))
		i := len("v0=") + int(at)%(len(sig)-len("v0="))
		sig[i] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", sig[i])+1+int(mask)%15)%16]
		refused("changed signature digit", body, http.Header{"X-Slack-Request-Timestamp": hdr["X-Slack-Request-Timestamp"], "X-Slack-Signature": {string(sig)}})

		// Arbitrary headers: through only when they are a fresh signature.
		res := g.do(t, fzPost(path, ctype, body, http.Header{"X-Slack-Request-Timestamp": {tsHeader}, "X-Slack-Signature": {sigHeader}}))
		if res.code == http.StatusUnauthorized && len(res.refusals) != 1 {
			t.Fatalf("a 401 with refusals %q logged, want one", res.refusals)
		}
		if res.code != http.StatusUnauthorized {
			ts, err := strconv.ParseInt(tsHeader, 10, 64)
			got, herr := hex.DecodeString(strings.TrimPrefix(sigHeader, "v0="))
			fresh := err == nil && time.Since(time.Unix(ts, 0)).Abs() <= gateway.MaxClockSkew+time.Second
			if !strings.HasPrefix(sigHeader, "v0=") || herr != nil || !hmac.Equal(got, fzHMAC(fzSecret, tsHeader, body)) || !fresh {
				t.Fatalf("headers %q %q were let through (%d %s)", tsHeader, sigHeader, res.code, res.body)
			}
		}
	})
}
