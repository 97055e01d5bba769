package mcpproxy

import (
	"sync"
	"time"
)

// maxStreamsPerPrincipal bounds the event streams (GET /mcp) one principal
// holds open at once, across its sessions (security.md L4). mcp-go serves
// any number of GET streams on one session; an agent needs one.
const maxStreamsPerPrincipal = 16

// streamMaxAge ends an event stream after this long (security.md L4: a
// stream nobody uses must not be held forever, heartbeats or not). MCP
// clients open a new one when a stream ends.
const streamMaxAge = time.Hour

// streamSlots counts the open GET streams: one per session, and at most
// perPrincipal per principal.
type streamSlots struct {
	mu           sync.Mutex
	sessions     map[string]bool
	principals   counters
	perPrincipal int
	maxAge       time.Duration
}

func newStreamSlots() *streamSlots {
	return &streamSlots{sessions: map[string]bool{}, perPrincipal: maxStreamsPerPrincipal, maxAge: streamMaxAge}
}

// streamRefusal says why a stream was not opened.
type streamRefusal int

const (
	streamOpened streamRefusal = iota
	streamSessionBusy
	streamTooMany
)

// open takes a slot for a stream of principal on session ("" for a stream
// without one). release gives it back; it is nil unless the stream opened.
func (s *streamSlots) open(principal, session string) (release func(), why streamRefusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if session != "" && s.sessions[session] {
		return nil, streamSessionBusy
	}
	releasePrincipal, ok := s.principals.take(principal, s.perPrincipal)
	if !ok {
		return nil, streamTooMany
	}
	if session != "" {
		s.sessions[session] = true
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.sessions, session)
			s.mu.Unlock()
			releasePrincipal()
		})
	}, streamOpened
}
