package activities

import "time"

// SetGroupClock makes s's user group cache read the time from now.
func SetGroupClock(s *Slack, now func() time.Time) {
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	s.groups.now = now
}
