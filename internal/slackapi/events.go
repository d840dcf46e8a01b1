package slackapi

import "sync"

// EventKind says what changed.
type EventKind string

// The kinds of Event.
const (
	// EventPosted means a message was added (ephemeral ones and file shares too).
	EventPosted EventKind = "posted"
	// EventUpdated means chat.update changed a message.
	EventUpdated EventKind = "updated"
	// EventDeleted means chat.delete removed a message.
	EventDeleted EventKind = "deleted"
	// EventFile means an upload was completed; File is set. A share also
	// sends EventPosted for the message carrying the file.
	EventFile EventKind = "file"
	// EventReset means Reset emptied the server; reload everything.
	EventReset EventKind = "reset"
)

// Event is a change notification from Subscribe.
type Event struct {
	Kind        EventKind
	Channel, TS string
	ThreadTS    string  // the thread's parent ts for a reply
	Message     Message // the message after the change (not for EventFile, EventReset)
	File        *File   // for EventFile
	// Missed counts the events this subscriber lost before this one because
	// it read too slowly; a page should then reload from Messages.
	Missed int
}

// subscriberBuffer is how many events a slow subscriber may lag behind
// before events are dropped for it.
const subscriberBuffer = 256

type subscriber struct {
	ch     chan Event
	missed int
}

// Subscribe returns a channel of change notifications and a function that
// ends the subscription and closes the channel. Delivery never blocks an
// API call: a subscriber that falls more than a buffer behind loses events,
// and the next event it gets says how many (Event.Missed).
func (s *Server) Subscribe() (<-chan Event, func()) {
	sub := &subscriber{ch: make(chan Event, subscriberBuffer)}
	s.subMu.Lock()
	s.subs[sub] = struct{}{}
	s.subMu.Unlock()
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			s.subMu.Lock()
			delete(s.subs, sub)
			close(sub.ch)
			s.subMu.Unlock()
		})
	}
}

// publish fans ev out without blocking. Callers hold s.mu, so subscribers
// see changes in the order they happened.
func (s *Server) publish(ev Event) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	first := true
	for sub := range s.subs {
		e := ev
		if !first {
			// Each subscriber gets its own copy so one cannot change what
			// another sees.
			e.Message = ev.Message.clone()
			if ev.File != nil {
				f := ev.File.clone()
				e.File = &f
			}
		}
		first = false
		e.Missed = sub.missed
		select {
		case sub.ch <- e:
			sub.missed = 0
		default:
			sub.missed++
		}
	}
}
