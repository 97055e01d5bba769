package mcpproxy

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/mcpexecutor/executor/store"
)

// toolEntry is one tool in the catalog with its search fields precomputed,
// so a search over thousands of tools does no string work per tool beyond
// comparing.
type toolEntry struct {
	// Path is the sandbox path: the address without "tools.", e.g.
	// "pets.user.main.pets.getPet", or a static id such as
	// "executor.coreTools.connections.list".
	Path        string
	Integration string
	Kind        string
	Owner       string // "org", "user"; "" for static tools
	Subject     string
	Connection  string
	Tool        *integration.Tool
	Defs        map[string]json.RawMessage
	Static      bool
	system      *systemTool

	segs   []string // Path split on dots, for policy patterns
	search searchDoc
}

// Address is the full address, "tools.<path>".
func (e *toolEntry) Address() string { return "tools." + e.Path }

// connectionKey is the store key of the connection p's call of e goes
// through, or "" for a tool of the gateway itself.
func (e *toolEntry) connectionKey(p Principal) string {
	if e.system != nil || e.Connection == "" {
		return ""
	}
	return connectionKey(e.Owner, p.subjectFor(e.Owner), e.Integration, e.Connection)
}

// connTools is one connection's tools.
type connTools struct {
	conn   Connection
	kind   string
	tools  []*toolEntry
	byName map[string]*toolEntry
	held   map[string]heldTool // tools held back until a person approves them, by name
}

// catalog is the in-memory index of every tool: rebuilt for a connection when
// its tools change, never per call.
type catalog struct {
	mu     sync.RWMutex
	conns  map[string]*connTools // by connection key
	static []*toolEntry
	byPath map[string]*toolEntry // static tools

	// ix is the search index over every tool, rebuilt on the first search
	// after a change (nil until then).
	ix *searchIndex

	// changed, if set, is told the key of a connection whose tools were
	// replaced or removed (after the change, without c.mu held).
	changed func(key string)
}

func newCatalog(system []*systemTool) *catalog {
	c := &catalog{conns: map[string]*connTools{}, byPath: map[string]*toolEntry{}}
	for _, st := range system {
		e := &toolEntry{Path: st.path, Integration: "executor", Kind: "executor", Static: true, system: st, Tool: &st.tool, segs: strings.Split(st.path, ".")}
		e.search = newSearchDoc(e)
		c.static = append(c.static, e)
		c.byPath[e.Path] = e
	}
	sort.Slice(c.static, func(i, j int) bool { return c.static[i].Path < c.static[j].Path })
	return c
}

// set replaces a connection's tools; held are tools it has but keeps out of
// sight (see storedTools).
func (c *catalog) set(conn Connection, kind string, cat *integration.Catalog, held map[string]heldTool) {
	ct := &connTools{conn: conn, kind: kind, byName: map[string]*toolEntry{}, held: held}
	if cat != nil {
		for i := range cat.Tools {
			t := &cat.Tools[i]
			e := &toolEntry{
				Path:        conn.Integration + "." + conn.Owner + "." + conn.Name + "." + t.Name,
				Integration: conn.Integration,
				Kind:        kind,
				Owner:       conn.Owner,
				Subject:     conn.Subject,
				Connection:  conn.Name,
				Tool:        t,
				Defs:        cat.Definitions,
			}
			e.segs = strings.Split(e.Path, ".")
			e.search = newSearchDoc(e)
			ct.tools = append(ct.tools, e)
			ct.byName[t.Name] = e
		}
	}
	sort.Slice(ct.tools, func(i, j int) bool { return ct.tools[i].Path < ct.tools[j].Path })
	c.mu.Lock()
	old := c.conns[conn.key()]
	c.conns[conn.key()] = ct
	c.ix = nil
	c.mu.Unlock()
	if old != nil {
		forgetValidators(old.tools)
	}
	c.notify(conn.key())
}

func (c *catalog) notify(keys ...string) {
	if c.changed != nil {
		for _, k := range keys {
			c.changed(k)
		}
	}
}

func (c *catalog) remove(key string) {
	c.mu.Lock()
	old := c.conns[key]
	delete(c.conns, key)
	c.ix = nil
	c.mu.Unlock()
	if old != nil {
		forgetValidators(old.tools)
	}
	c.notify(key)
}

func (c *catalog) removeIntegration(slug string) {
	c.mu.Lock()
	var gone []*toolEntry
	var keys []string
	for k, ct := range c.conns {
		if ct.conn.Integration == slug {
			gone = append(gone, ct.tools...)
			keys = append(keys, k)
			delete(c.conns, k)
		}
	}
	c.ix = nil
	c.mu.Unlock()
	forgetValidators(gone)
	c.notify(keys...)
}

// visible returns every tool p can see, static tools first, in path order
// within each connection. Policy filtering is the caller's.
func (c *catalog) visible(p Principal) []*toolEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := len(c.static)
	for _, ct := range c.conns {
		if ct.conn.Owner == OwnerOrg || ct.conn.Subject == p.ID {
			n += len(ct.tools)
		}
	}
	out := make([]*toolEntry, 0, n)
	out = append(out, c.static...)
	for _, ct := range c.conns {
		if ct.conn.Owner == OwnerOrg || ct.conn.Subject == p.ID {
			out = append(out, ct.tools...)
		}
	}
	return out
}

// index returns the search index over every tool, building it if the
// catalog changed since the last search.
func (c *catalog) index() *searchIndex {
	c.mu.RLock()
	ix := c.ix
	c.mu.RUnlock()
	if ix != nil {
		return ix
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ix == nil {
		all := append([]*toolEntry{}, c.static...)
		for _, ct := range c.conns {
			all = append(all, ct.tools...)
		}
		c.ix = buildSearchIndex(all)
	}
	return c.ix
}

// canSee reports whether e belongs to p's view of the catalog.
func canSee(p Principal, e *toolEntry) bool {
	return e.Static || e.Owner == OwnerOrg || e.Subject == p.ID
}

// connections returns the connections p can see.
func (c *catalog) connections(p Principal) []*connTools {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*connTools
	for _, ct := range c.conns {
		if ct.conn.Owner == OwnerOrg || ct.conn.Subject == p.ID {
			out = append(out, ct)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].conn.Address() < out[j].conn.Address() })
	return out
}

// lookup resolves a sandbox path for p: a five-segment dynamic address
// (`<integration>.<org|user>.<connection>.<tool…>`) or a static tool id.
func (c *catalog) lookup(p Principal, path string) (*toolEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if ct, name, dynamic := c.connAtLocked(p, path); dynamic {
		if ct == nil {
			return nil, false
		}
		e, ok := ct.byName[name]
		return e, ok
	}
	e, ok := c.byPath[path]
	return e, ok
}

// connAtLocked splits a dynamic address (see lookup) into p's connection,
// nil when there is none, and the tool name; dynamic is false for any other
// path. c.mu must be held.
func (c *catalog) connAtLocked(p Principal, path string) (ct *connTools, name string, dynamic bool) {
	parts := strings.SplitN(path, ".", 4)
	if len(parts) != 4 || (parts[1] != OwnerOrg && parts[1] != OwnerUser) {
		return nil, "", false
	}
	return c.conns[connectionKey(parts[1], p.subjectFor(parts[1]), parts[0], parts[2])], parts[3], true
}

// connection returns p's connection of integration named name, owned by
// owner ("org" or "user"), or nil.
func (c *catalog) connection(p Principal, integration, owner, name string) *connTools {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.conns[connectionKey(owner, p.subjectFor(owner), integration, name)]
}

// has reports whether the connection with key has tools in the catalog.
func (c *catalog) has(key string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.conns[key] != nil
}

// connectionsOf returns the keys of an integration's connections.
func (c *catalog) connectionsOf(slug string) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var keys []string
	for k, ct := range c.conns {
		if ct.conn.Integration == slug {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// updateConnection replaces a connection's record, keeping its tools.
func (c *catalog) updateConnection(conn Connection, kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ct, ok := c.conns[conn.key()]; ok {
		ct.conn = conn
	}
}

// load reads every connection's stored tools; base resolves references to an
// integration's add-time catalog.
func (c *catalog) load(st store.Store, kindOf func(integration string) string, base func(slug string) *integration.Catalog) error {
	type loaded struct {
		conn Connection
		st   storedTools
	}
	var all []loaded
	err := st.View(func(tx store.Tx) error {
		return tx.ForEach(store.Connections, "", func(key string, value []byte) error {
			var l loaded
			if err := json.Unmarshal(value, &l.conn); err != nil {
				return nil
			}
			if _, err := tx.GetJSON(store.Tools, key, &l.st); err != nil {
				return nil
			}
			all = append(all, l)
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, l := range all {
		cat := &l.st.Catalog
		if l.st.Base {
			if cat = base(l.conn.Integration); cat == nil {
				cat = &integration.Catalog{}
			}
		}
		c.set(l.conn, kindOf(l.conn.Integration), cat, l.st.Held)
	}
	return nil
}

// heldTool reports why the tool at path, which p cannot see, is held back,
// or "" when it is not a held tool.
func (c *catalog) heldTool(p Principal, path string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if ct, name, _ := c.connAtLocked(p, path); ct != nil {
		return ct.held[name].Reason
	}
	return ""
}

// heldTools returns the held tools of a connection, by name.
func (c *catalog) heldTools(key string) map[string]heldTool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if ct, ok := c.conns[key]; ok {
		return ct.held
	}
	return nil
}
