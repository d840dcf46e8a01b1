package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Reasons a Slack request is refused, the "reason" label of
// deploybot_gateway_signature_failures_total.
const (
	reasonMissing   = "missing"   // no signature or timestamp header
	reasonMalformed = "malformed" // a header is not in Slack's format
	reasonStale     = "stale"     // timestamp more than MaxClockSkew from now
	reasonMismatch  = "mismatch"  // the signature is not the body's
	reasonTooLarge  = "too_large" // body over MaxBodyBytes
	reasonNoSecret  = "no_secret" // SIGNING_SECRET is not set
)

// verifySlack refuses, before anything else is looked at, every request
// that Slack did not sign: v0= + hex HMAC-SHA256(signing secret,
// "v0:{timestamp}:{body}"), compared in constant time, with the timestamp
// within MaxClockSkew of now (a captured request cannot be replayed later)
// and the body at most MaxBodyBytes. Refusals are logged and counted and
// nothing else happens. The verified body is passed on under ctxBody.
func (s *Server) verifySlack(c *gin.Context) {
	refuse := func(code int, reason, detail string) {
		s.metrics.sigFailures.WithLabelValues(reason).Inc()
		s.log.Warn("slack request refused", "reason", reason, "detail", detail,
			"path", c.Request.URL.Path, "remote", c.Request.RemoteAddr,
			"forwardedFor", c.GetHeader("X-Forwarded-For"), "userAgent", c.Request.UserAgent())
		outcome := outcomeRefusedSig
		if reason == reasonTooLarge {
			outcome = outcomeTooLarge
		}
		c.Set(ctxOutcome, outcome)
		c.AbortWithStatusJSON(code, errBody(http.StatusText(code)))
	}
	if s.cfg.SigningSecret == "" {
		refuse(http.StatusUnauthorized, reasonNoSecret, "SIGNING_SECRET is not set, so no request can be verified")
		return
	}
	tsHeader := c.GetHeader("X-Slack-Request-Timestamp")
	sigHeader := c.GetHeader("X-Slack-Signature")
	if tsHeader == "" || sigHeader == "" {
		refuse(http.StatusUnauthorized, reasonMissing, "no X-Slack-Signature or X-Slack-Request-Timestamp header")
		return
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		refuse(http.StatusUnauthorized, reasonMalformed, "X-Slack-Request-Timestamp is not a number")
		return
	}
	if skew := time.Since(time.Unix(ts, 0)); skew > MaxClockSkew || skew < -MaxClockSkew {
		refuse(http.StatusUnauthorized, reasonStale, "timestamp is "+skew.Round(time.Second).String()+" away from now")
		return
	}
	hexSig, ok := strings.CutPrefix(sigHeader, "v0=")
	sig, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(sig) != sha256.Size {
		refuse(http.StatusUnauthorized, reasonMalformed, "X-Slack-Signature is not v0=<64 hex digits>")
		return
	}
	body, err := readBody(c)
	switch {
	case errors.Is(err, errTooLarge):
		refuse(http.StatusRequestEntityTooLarge, reasonTooLarge, err.Error())
		return
	case err != nil:
		c.Set(ctxOutcome, outcomeBadRequest)
		c.AbortWithStatusJSON(http.StatusBadRequest, errBody("could not read the body"))
		return
	}
	mac := hmac.New(sha256.New, []byte(s.cfg.SigningSecret))
	mac.Write([]byte("v0:" + tsHeader + ":"))
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), sig) {
		refuse(http.StatusUnauthorized, reasonMismatch, "signature does not match the body")
		return
	}
	c.Set(ctxBody, body)
	c.Next()
}

// errTooLarge is readBody's refusal of a body over MaxBodyBytes.
var errTooLarge = errors.New("body over " + strconv.Itoa(MaxBodyBytes) + " bytes")

// readBody reads the whole request body, refusing (errTooLarge) one over
// MaxBodyBytes without reading past the cap.
func readBody(c *gin.Context) ([]byte, error) {
	if c.Request.ContentLength > MaxBodyBytes {
		return nil, fmt.Errorf("%w (Content-Length %d)", errTooLarge, c.Request.ContentLength)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errTooLarge
	}
	return body, err
}

// Sign returns the X-Slack-Signature Slack would send for body at
// timestamp ts (unix seconds). The playground and tests use it to send
// exactly what Slack sends.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + strconv.FormatInt(ts, 10) + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}
