package mcpproxy

import "sync"

// maxStreamsPerPrincipal bounds the event streams (GET /mcp) one principal
// holds open at once, across its sessions (security.md L4). mcp-go serves
// any number of GET streams on one session; an agent needs one.
const maxStreamsPerPrincipal = 16

// streamSlots counts the open GET streams: one per session, and at most
// maxStreamsPerPrincipal per principal.
type streamSlots struct {
	mu           sync.Mutex
	sessions     map[string]bool
	principals   map[string]int
	perPrincipal int
}

func newStreamSlots() *streamSlots {
	return &streamSlots{sessions: map[string]bool{}, principals: map[string]int{}, perPrincipal: maxStreamsPerPrincipal}
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
	if s.principals[principal] >= s.perPrincipal {
		return nil, streamTooMany
	}
	if session != "" {
		s.sessions[session] = true
	}
	s.principals[principal]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			delete(s.sessions, session)
			if s.principals[principal]--; s.principals[principal] <= 0 {
				delete(s.principals, principal)
			}
		})
	}, streamOpened
}
