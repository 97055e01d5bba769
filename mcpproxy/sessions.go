package mcpproxy

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/mcpexecutor/executor/store"
)

// maxSessionsPerPrincipal bounds the sessions one principal can hold; the
// oldest are ended first.
const maxSessionsPerPrincipal = 64

// sessionTTL ends sessions nobody used for this long.
const sessionTTL = 7 * 24 * time.Hour

// session is one MCP session (protocols before 2026-07-28). It is bound to the
// principal that created it: a session id is never a credential on its own.
type session struct {
	ID     string `json:"id"`
	Owner  string `json:"owner"`
	Mode   string `json:"mode"`
	Origin string `json:"origin,omitempty"`
	// Endpoint is the path the session was minted on; empty means /mcp.
	Endpoint  string    `json:"endpoint,omitempty"`
	CreatedAt time.Time `json:"createdAt"`

	lastSeen time.Time
}

// sessionRegistry keeps sessions in memory and in the store, so a restart
// does not end them.
type sessionRegistry struct {
	store  store.Store
	logger *slog.Logger

	mu     sync.Mutex
	byID   map[string]*session
	loaded bool
}

func newSessionRegistry(st store.Store, logger *slog.Logger) *sessionRegistry {
	return &sessionRegistry{store: st, logger: logger, byID: map[string]*session{}}
}

func (r *sessionRegistry) load() {
	if r.loaded {
		return
	}
	r.loaded = true
	now := time.Now()
	var expired []string
	err := r.store.View(func(tx store.Tx) error {
		return tx.ForEach(store.Sessions, "", func(key string, value []byte) error {
			var s session
			if err := json.Unmarshal(value, &s); err != nil {
				expired = append(expired, key)
				return nil
			}
			s.lastSeen = s.CreatedAt
			if now.Sub(s.CreatedAt) > sessionTTL {
				expired = append(expired, key)
				return nil
			}
			r.byID[s.ID] = &s
			return nil
		})
	})
	if err != nil {
		r.logger.Error("loading MCP sessions", "error", err)
	}
	if len(expired) > 0 {
		r.deleteStored(expired...)
	}
}

// endpoint is the path of the MCP endpoint the session belongs to.
func (s *session) endpoint() string {
	if s.Endpoint == "" {
		return "/mcp"
	}
	return s.Endpoint
}

// create mints a session for owner on the endpoint at path. Ids carry 192
// random bits in visible ASCII.
func (r *sessionRegistry) create(owner Principal, mode, origin, path string) *session {
	s := &session{ID: newSessionID(), Owner: owner.ID, Mode: mode, Origin: origin, CreatedAt: time.Now().UTC()}
	if path != "/mcp" {
		s.Endpoint = path
	}
	s.lastSeen = s.CreatedAt
	r.mu.Lock()
	r.load()
	r.byID[s.ID] = s
	evicted := r.evictLocked(owner.ID)
	r.mu.Unlock()
	err := r.store.Update(func(tx store.Tx) error {
		for _, id := range evicted {
			if err := tx.Delete(store.Sessions, id); err != nil {
				return err
			}
		}
		return tx.PutJSON(store.Sessions, s.ID, s)
	})
	if err != nil {
		r.logger.Error("saving MCP session; it will not survive a restart", "error", err)
	}
	return s
}

// evictLocked removes the oldest sessions of owner beyond the cap.
func (r *sessionRegistry) evictLocked(owner string) []string {
	var mine []*session
	for _, s := range r.byID {
		if s.Owner == owner {
			mine = append(mine, s)
		}
	}
	if len(mine) <= maxSessionsPerPrincipal {
		return nil
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].lastSeen.Before(mine[j].lastSeen) })
	var ids []string
	for _, s := range mine[:len(mine)-maxSessionsPerPrincipal] {
		delete(r.byID, s.ID)
		ids = append(ids, s.ID)
	}
	return ids
}

// lookup returns the session with id and marks it used.
func (r *sessionRegistry) lookup(id string) (*session, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.load()
	s, ok := r.byID[id]
	if !ok {
		return nil, false
	}
	if time.Since(s.lastSeen) > sessionTTL {
		delete(r.byID, id)
		go r.deleteStored(id)
		return nil, false
	}
	s.lastSeen = time.Now()
	cp := *s
	return &cp, true
}

func (r *sessionRegistry) terminate(id string) bool {
	r.mu.Lock()
	r.load()
	_, ok := r.byID[id]
	delete(r.byID, id)
	r.mu.Unlock()
	if ok {
		r.deleteStored(id)
	}
	return ok
}

func (r *sessionRegistry) deleteStored(ids ...string) {
	err := r.store.Update(func(tx store.Tx) error {
		for _, id := range ids {
			if err := tx.Delete(store.Sessions, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.logger.Error("deleting MCP sessions", "error", err)
	}
}

func newSessionID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sessionIDs adapts the registry to mcp-go's SessionIdManager for one request,
// so the session minted by initialize is bound to that request's principal.
type sessionIDs struct {
	reg       *sessionRegistry
	principal Principal
	mode      string
	origin    string
	endpoint  string
}

var errUnknownSession = errors.New("unknown session")

func (m *sessionIDs) Generate() string {
	return m.reg.create(m.principal, m.mode, m.origin, m.endpoint).ID
}

// mine reports whether id names a live session of this request's principal
// on this request's endpoint.
func (m *sessionIDs) mine(id string) bool {
	s, ok := m.reg.lookup(id)
	return ok && s.Owner == m.principal.ID && s.endpoint() == m.endpoint
}

func (m *sessionIDs) Validate(id string) (bool, error) {
	if !m.mine(id) {
		return false, errUnknownSession
	}
	return false, nil
}

func (m *sessionIDs) Terminate(id string) (bool, error) {
	if !m.mine(id) {
		return false, errUnknownSession
	}
	m.reg.terminate(id)
	return false, nil
}

// sessionResolver hands mcp-go a SessionIdManager bound to each request of
// the endpoint at path endpoint.
type sessionResolver struct {
	reg      *sessionRegistry
	endpoint string
}

func (s sessionResolver) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	if r == nil {
		// mcp-go asks without a request only while shutting down, to end its
		// in-memory streams; the sessions themselves outlive the process.
		return keepSessions{}
	}
	p, _ := PrincipalFrom(r.Context())
	return &sessionIDs{reg: s.reg, principal: p, mode: modeFrom(r.Context()), origin: requestOrigin(r), endpoint: s.endpoint}
}

// keepSessions ends nothing: used when the process stops.
type keepSessions struct{}

func (keepSessions) Generate() string               { return newSessionID() }
func (keepSessions) Validate(string) (bool, error)  { return false, nil }
func (keepSessions) Terminate(string) (bool, error) { return false, nil }
