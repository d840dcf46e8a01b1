package contract

import (
	"strings"
	"time"
)

// FormatDuration writes d as settings and approval rules are written,
// without zero units: 30m, 1h30m, 24h, 45s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
