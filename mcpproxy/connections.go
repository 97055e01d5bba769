package mcpproxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/mcpexecutor/executor/store"
)

// listIntegrations returns every integration, by slug.
func (g *Gateway) listIntegrations() ([]Integration, error) {
	var out []Integration
	err := g.store.View(func(tx store.Tx) error {
		return tx.ForEach(store.Integrations, "", func(_ string, v []byte) error {
			var in Integration
			if err := json.Unmarshal(v, &in); err != nil {
				return fmt.Errorf("reading an integration: %w", err)
			}
			out = append(out, in)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out, err
}

// integrationKind returns the kind of the integration slug, or "".
func (g *Gateway) integrationKind(slug string) string {
	var in Integration
	_ = g.store.View(func(tx store.Tx) error {
		_, err := tx.GetJSON(store.Integrations, slug, &in)
		return err
	})
	return in.Kind
}

// resolveConnection loads what a kind needs to call e's upstream for p: the
// integration's configuration and the connection's credential, unsealed for
// this call only. The records come from g.records, which reads them again
// once an Update has written either bucket; the credential is unsealed from
// the store on every call, so no plaintext outlives the call.
func (g *Gateway) resolveConnection(ctx context.Context, p Principal, e *toolEntry) (*integration.Connection, error) {
	key := e.connectionKey(p)
	r, err := g.records.get(g.store, key, func(tx store.Tx) (resolvedRecords, error) {
		var r resolvedRecords
		if ok, err := tx.GetJSON(store.Integrations, e.Integration, &r.in); err != nil || !ok {
			return r, errors.Join(err, fmt.Errorf("integration %s is missing", e.Integration))
		}
		if ok, err := tx.GetJSON(store.Connections, key, &r.conn); err != nil || !ok {
			return r, errors.Join(err, fmt.Errorf("connection %s is missing", key))
		}
		return r, nil
	})
	if err != nil {
		return nil, err
	}
	in, conn := r.in, r.conn // copies: refreshOAuth may change conn
	var cred integration.Credential
	err = g.store.View(func(tx store.Tx) error {
		var err error
		cred, err = loadCredential(tx, &in, &conn)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := g.refreshOAuth(ctx, &in, &conn, &cred); err != nil {
		return nil, err
	}
	return g.integrationConnection(&in, &conn, cred), nil
}

// resolvedRecords are a connection and its integration as resolveConnection
// read them. Shared by every call that finds them in recordCache: nobody
// modifies them.
type resolvedRecords struct {
	in   Integration
	conn Connection
}

// recordCache keeps the records of the connections in use, read at one
// version of the Integrations and Connections buckets: a tool call then
// decodes no JSON. Any Update that writes to either bucket (a connection
// added, changed or removed, a token refreshed, an integration updated)
// moves the version on and empties the cache, so a call never uses records
// older than the last Update that had returned when it began.
type recordCache struct {
	mu      sync.Mutex
	version uint64
	m       map[string]resolvedRecords
}

// get returns the records of key, reading them with load in a View when
// they are not cached at the current version.
func (c *recordCache) get(st store.Store, key string, load func(store.Tx) (resolvedRecords, error)) (resolvedRecords, error) {
	v := st.Version(store.Integrations) + st.Version(store.Connections) // both only grow
	c.mu.Lock()
	r, ok := c.m[key]
	if c.version != v {
		ok = false
	}
	c.mu.Unlock()
	if ok {
		return r, nil
	}
	err := st.View(func(tx store.Tx) error {
		var err error
		r, err = load(tx)
		return err
	})
	if err != nil {
		return r, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v < c.version {
		return r, nil // read at an older version than the cache holds: do not keep it
	}
	if c.version != v || c.m == nil {
		c.version, c.m = v, map[string]resolvedRecords{}
	}
	c.m[key] = r
	return r, nil
}

// loadCredential unseals a connection's credential: the values its
// template's placements need, and an OAuth access token.
func loadCredential(tx store.Tx, in *Integration, conn *Connection) (integration.Credential, error) {
	cred := integration.Credential{Values: map[string]string{}}
	key := conn.key()
	m := in.authMethod(conn.Template)
	if m == nil {
		return cred, nil
	}
	for _, pl := range m.Placements {
		cred.Placements = append(cred.Placements, pl)
		v := pl.VariableName()
		if pl.Literal != "" || cred.Values[v] != "" {
			continue
		}
		secret, err := tx.Secret(store.Connections, key, "var:"+v)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return cred, fmt.Errorf("unsealing %s of %s: %w", v, key, err)
		}
		cred.Values[v] = string(secret)
		clear(secret)
	}
	if m.Kind == "oauth" {
		tok, err := tx.Secret(store.Connections, key, "oauth:access")
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return cred, fmt.Errorf("unsealing the access token of %s: %w", key, err)
		}
		cred.AccessToken = string(tok)
		clear(tok)
	}
	return cred, nil
}

// integrationConnection is what a kind sees of a connection.
func (g *Gateway) integrationConnection(in *Integration, conn *Connection, cred integration.Credential) *integration.Connection {
	key := conn.key()
	return &integration.Connection{
		Key:          key,
		Integration:  in.Slug,
		Config:       in.Config,
		Owner:        conn.Owner,
		Subject:      conn.Subject,
		Name:         conn.Name,
		Credential:   cred,
		HTTP:         g.httpClient(),
		Base:         g.base(in.Slug),
		ToolsChanged: func() { g.scheduleRefresh(key) },
	}
}

// httpClient is the egress client kinds must use.
func (g *Gateway) httpClient() *http.Client {
	return g.config().HTTPClient
}

// saveConnectionTools persists a connection and the tools it produced, and
// puts them in the catalog.
func (g *Gateway) saveConnectionTools(conn Connection, kind string, cat *integration.Catalog) error {
	conn.ToolsSyncedAt = time.Now().UTC()
	err := g.store.Update(func(tx store.Tx) error { return putConnection(tx, &conn, cat, nil) })
	if err != nil {
		return fmt.Errorf("saving connection %s: %w", conn.Address(), err)
	}
	g.catalog.set(conn, kind, cat, nil)
	return nil
}

// connectionRequest is POST /api/connections.
type connectionRequest struct {
	Owner         string            `json:"owner"`
	Name          string            `json:"name"`
	Integration   string            `json:"integration"`
	Template      string            `json:"template"`
	IdentityLabel string            `json:"identityLabel"`
	Description   string            `json:"description"`
	Value         *string           `json:"value"`
	Values        map[string]string `json:"values"`
}

// maxSecretBytes caps one credential value.
const maxSecretBytes = 16 << 10

// createConnection validates a request, produces the connection's tools
// with its credential, and only then stores everything in one transaction:
// a failure anywhere leaves nothing behind.
func (g *Gateway) createConnection(ctx context.Context, p Principal, req connectionRequest) (*Connection, int, error) {
	if err := validOwner(req.Owner); err != nil {
		return nil, 0, badRequest("%v", err)
	}
	if err := validName("name", req.Name); err != nil {
		return nil, 0, badRequest("%v", err)
	}
	in, err := g.integrationRecord(req.Integration)
	if err != nil {
		return nil, 0, err
	}
	if req.Template == "" {
		req.Template = "none"
	}
	m := in.authMethod(req.Template)
	if m == nil {
		var names []string
		for _, a := range in.AuthMethods {
			names = append(names, a.Template)
		}
		return nil, 0, badRequest("template %q is not one of %s's authentication methods (%s)", req.Template, in.Slug, strings.Join(names, ", "))
	}
	if m.Kind == "oauth" {
		return nil, 0, badRequest("template %q uses OAuth: start it with POST /api/oauth/start", req.Template)
	}
	values, err := credentialValues(m, req.Value, req.Values)
	if err != nil {
		return nil, 0, err
	}
	subject := p.subjectFor(req.Owner)
	now := time.Now().UTC()
	conn := &Connection{Owner: req.Owner, Subject: subject, Integration: in.Slug, Name: req.Name, Template: req.Template,
		IdentityLabel: req.IdentityLabel, Description: req.Description, CreatedAt: now, UpdatedAt: now, Source: "api"}
	if g.connectionExists(conn.key()) {
		return nil, 0, &userError{http.StatusConflict, fmt.Sprintf("connection %s already exists; remove it or choose another name", conn.Address())}
	}
	cred := integration.Credential{Values: values}
	for _, pl := range m.Placements {
		cred.Placements = append(cred.Placements, pl)
	}
	cat, err := g.produce(ctx, in, conn, cred)
	if err != nil {
		return nil, 0, err
	}
	return g.insertConnection(in, conn, cat, func(tx store.Tx) error {
		for k, v := range values {
			if err := tx.PutSecret(store.Connections, conn.key(), "var:"+k, []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Connections one principal may own, and the organization's: each holds
// its tools and a sealed credential, so nobody fills the database with
// them (security.md K13).
var (
	maxPersonalConnections = 100
	maxOrgConnections      = 1000
)

// insertConnection stores a new connection with its tools, and what
// putSecrets writes in the same transaction, then lists its tools. A
// connection created meanwhile under the same name wins: this one is a 409.
func (g *Gateway) insertConnection(in *Integration, conn *Connection, cat *integration.Catalog, putSecrets func(store.Tx) error) (*Connection, int, error) {
	conn.ToolsSyncedAt = time.Now().UTC()
	err := g.store.Update(func(tx store.Tx) error {
		if tx.Get(store.Connections, conn.key()) != nil {
			return &userError{http.StatusConflict, fmt.Sprintf("connection %s already exists", conn.Address())}
		}
		limit, whose := maxOrgConnections, "the organization has"
		if conn.Owner == OwnerUser {
			limit, whose = maxPersonalConnections, "you have"
		}
		n, err := tx.Count(store.Connections, conn.Owner+"/"+conn.Subject+"/")
		if err != nil {
			return err
		}
		if n >= limit {
			return &userError{http.StatusConflict, fmt.Sprintf("%s %d connections, the most there may be; remove one before adding %s", whose, n, conn.Address())}
		}
		if err := putSecrets(tx); err != nil {
			return err
		}
		return putConnection(tx, conn, cat, g.base(in.Slug))
	})
	if err != nil {
		return nil, 0, err
	}
	g.catalog.set(*conn, in.Kind, cat, nil)
	return conn, len(cat.Tools), nil
}

// credentialValues checks the credential against the template: exactly one
// origin (value or values), every variable the placements need, nothing else.
func credentialValues(m *AuthMethod, value *string, values map[string]string) (map[string]string, error) {
	need := map[string]bool{}
	for _, pl := range m.Placements {
		if pl.Literal == "" {
			need[pl.VariableName()] = true
		}
	}
	if value != nil && len(values) > 0 {
		return nil, badRequest("Expected exactly one credential origin: give value or values, not both")
	}
	out := map[string]string{}
	if value != nil {
		out["token"] = *value
	}
	for k, v := range values {
		out[k] = v
	}
	if m.Kind == "none" {
		for _, v := range out {
			if v != "" {
				return nil, badRequest("template %q takes no credential; remove value/values", m.Template)
			}
		}
		return map[string]string{}, nil
	}
	if len(out) == 0 {
		return nil, badRequest("Expected exactly one credential origin: give value (or values) for template %q", m.Template)
	}
	for k, v := range out {
		if !need[k] {
			return nil, badRequest("template %q has no variable %q", m.Template, k)
		}
		if strings.TrimSpace(v) == "" {
			return nil, badRequest("the value of %q must not be empty", k)
		}
		if len(v) > maxSecretBytes || strings.ContainsAny(v, "\r\n\x00") {
			return nil, badRequest("the value of %q must be a single line under %d bytes", k, maxSecretBytes)
		}
	}
	for k := range need {
		if out[k] == "" {
			return nil, badRequest("template %q needs a value for %q", m.Template, k)
		}
	}
	return out, nil
}

// produce lists a connection's tools through its kind.
func (g *Gateway) produce(ctx context.Context, in *Integration, conn *Connection, cred integration.Credential) (*integration.Catalog, error) {
	kind, ok := g.kinds[in.Kind]
	if !ok {
		return nil, fmt.Errorf("integration kind %q is not available", in.Kind)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cat, err := kind.Produce(ctx, g.integrationConnection(in, conn, cred))
	if err != nil {
		return nil, &userError{http.StatusBadGateway, fmt.Sprintf("listing the tools of %s failed: %s", in.Slug, redact(egress.Describe(err), cred.Secrets()))}
	}
	if cat == nil {
		cat = &integration.Catalog{}
	}
	return cat, nil
}

// redact removes every secret from s.
func redact(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// storedTools is a connection's entry in the tools bucket: its own catalog,
// or a reference to the integration's add-time catalog (OpenAPI, GraphQL),
// so a large description is kept once, not once per connection.
//
// A catalog of its own (an upstream MCP server's tools) holds only the
// tools a person has approved: Approved has the definition hash of each,
// taken whenever a person produced the tools (adding the connection,
// refreshing it, a configuration that changed it). When the upstream later
// changes a tool's definition or adds one, the automatic refresh holds it
// back (Held, by name) until a person refreshes the connection: the agent
// never reads a definition nobody looked at (security.md E6, a "rug pull").
type storedTools struct {
	Base bool `json:"base,omitempty"`
	integration.Catalog
	Approved map[string]string   `json:"approved,omitempty"`
	Held     map[string]heldTool `json:"held,omitempty"`
}

// heldTool is a tool held back from agents, kept for a person to review.
type heldTool struct {
	Reason string            `json:"reason"`           // "changed" or "new"
	Tool   integration.Tool  `json:"tool"`             // as the upstream defines it now
	Before *integration.Tool `json:"before,omitempty"` // the approved definition it would replace
}

// putConnection stores a connection and the tools a person has just
// produced for it, all approved.
func putConnection(tx store.Tx, conn *Connection, cat, base *integration.Catalog) error {
	if err := tx.PutJSON(store.Connections, conn.key(), conn); err != nil {
		return err
	}
	if base != nil && cat == base {
		return tx.PutJSON(store.Tools, conn.key(), storedTools{Base: true})
	}
	return tx.PutJSON(store.Tools, conn.key(), storedTools{Catalog: *cat, Approved: toolHashes(cat.Tools)})
}

// toolHash identifies what an upstream says of a tool: its name and
// description, its schemas, what it is called upstream and its annotations
// (Meta), and whether it needs approval by default. The fields are listed
// here, not taken from integration.Tool whole, so that a field added to
// that type later does not hold every tool on the first refresh after an
// upgrade.
func toolHash(t *integration.Tool) string {
	compact := func(raw json.RawMessage) string {
		var c bytes.Buffer
		if json.Compact(&c, raw) != nil {
			return string(raw)
		}
		return c.String()
	}
	b, _ := json.Marshal([]any{"v1", t.Name, t.Description, compact(t.InputSchema), compact(t.OutputSchema), compact(t.Meta), t.RequiresApproval})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func toolHashes(tools []integration.Tool) map[string]string {
	m := make(map[string]string, len(tools))
	for i := range tools {
		m[tools[i].Name] = toolHash(&tools[i])
	}
	return m
}

// holdUnapproved splits what an automatic refresh produced into the tools a
// person approved (unchanged since) and those held back. prev is what was
// stored before, for the approved definitions a held one would replace.
func holdUnapproved(cat *integration.Catalog, approved map[string]string, prev *storedTools) (*integration.Catalog, map[string]heldTool) {
	before := map[string]*integration.Tool{}
	for i := range prev.Tools {
		before[prev.Tools[i].Name] = &prev.Tools[i]
	}
	for name, h := range prev.Held {
		if h.Before != nil {
			before[name] = h.Before
		}
	}
	kept := &integration.Catalog{Definitions: cat.Definitions}
	var held map[string]heldTool
	for i := range cat.Tools {
		t := &cat.Tools[i]
		h, ok := approved[t.Name]
		if ok && h == toolHash(t) {
			kept.Tools = append(kept.Tools, *t)
			continue
		}
		if held == nil {
			held = map[string]heldTool{}
		}
		ht := heldTool{Reason: "new", Tool: *t}
		if ok {
			ht.Reason, ht.Before = "changed", before[t.Name]
		}
		held[t.Name] = ht
	}
	return kept, held
}

func (g *Gateway) connectionExists(key string) bool {
	found := false
	_ = g.store.View(func(tx store.Tx) error {
		found = tx.Get(store.Connections, key) != nil
		return nil
	})
	return found
}

// connectionFor reads the connection named by an API path for p.
func (g *Gateway) connectionFor(p Principal, owner, slug, name string) (*Connection, *Integration, error) {
	if err := validOwner(owner); err != nil {
		return nil, nil, badRequest("%v", err)
	}
	subject := p.subjectFor(owner)
	var conn Connection
	var in Integration
	var ok bool
	err := g.store.View(func(tx store.Tx) error {
		var err error
		if ok, err = tx.GetJSON(store.Connections, connectionKey(owner, subject, slug, name), &conn); err != nil || !ok {
			return err
		}
		_, err = tx.GetJSON(store.Integrations, slug, &in)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, &userError{http.StatusNotFound, fmt.Sprintf("connection tools.%s.%s.%s not found", slug, owner, name)}
	}
	return &conn, &in, nil
}

// refreshConnection produces a connection's tools again with its stored
// credential and replaces them.
// refreshConnection produces a connection's tools again. reviewed says a
// person asked for it (or a configuration they wrote): every tool is then
// approved as it is now. An automatic refresh (the upstream announced a
// change, or the listing grew old) holds back what changed (see storedTools).
func (g *Gateway) refreshConnection(ctx context.Context, key string, reviewed bool) (int, error) {
	var conn Connection
	var in Integration
	var cred integration.Credential
	err := g.store.View(func(tx store.Tx) error {
		ok, err := tx.GetJSON(store.Connections, key, &conn)
		if err != nil || !ok {
			return errors.Join(err, &userError{http.StatusNotFound, "connection not found"})
		}
		if _, err := tx.GetJSON(store.Integrations, conn.Integration, &in); err != nil {
			return err
		}
		cred, err = loadCredential(tx, &in, &conn)
		return err
	})
	if err != nil {
		return 0, err
	}
	if err := g.refreshOAuth(ctx, &in, &conn, &cred); err != nil {
		return 0, err
	}
	cat, err := g.produce(ctx, &in, &conn, cred)
	if err != nil {
		return 0, err
	}
	// A connection whose tools were never listed (one declared in the
	// configuration while its server was down) gets them approved as the
	// configuration's author would have on the first listing.
	neverListed := conn.ToolsSyncedAt.IsZero()
	conn.ToolsSyncedAt = time.Now().UTC()
	base := g.base(in.Slug)
	var held map[string]heldTool
	err = g.store.Update(func(tx store.Tx) error {
		if tx.Get(store.Connections, key) == nil {
			return &userError{http.StatusNotFound, "connection was removed"}
		}
		if reviewed || neverListed || (base != nil && cat == base) {
			return putConnection(tx, &conn, cat, base)
		}
		var prev storedTools
		if _, err := tx.GetJSON(store.Tools, key, &prev); err != nil {
			return err
		}
		approved := prev.Approved
		if approved == nil && !prev.Base { // stored before approvals were kept
			approved = toolHashes(prev.Tools)
		}
		cat, held = holdUnapproved(cat, approved, &prev)
		if err := tx.PutJSON(store.Connections, key, &conn); err != nil {
			return err
		}
		return tx.PutJSON(store.Tools, key, storedTools{Catalog: *cat, Approved: approved, Held: held})
	})
	if err != nil {
		return 0, err
	}
	if len(held) > 0 {
		g.logger.Warn("tools changed upstream are held until a person refreshes the connection", "connection", key, "held", len(held))
	}
	g.catalog.set(conn, in.Kind, cat, held)
	return len(cat.Tools), nil
}

// scheduleRefresh refreshes a connection's tools in the background, at most
// one refresh per connection at a time.
func (g *Gateway) scheduleRefresh(key string) {
	if _, busy := g.refreshing.LoadOrStore(key, true); busy {
		return
	}
	go func() {
		defer g.refreshing.Delete(key)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := g.refreshConnection(ctx, key, false); err != nil {
			g.logger.Warn("refreshing tools", "connection", key, "error", err)
		}
	}()
}

// removeConnection deletes a connection, its tools and its secrets.
func (g *Gateway) removeConnection(conn *Connection, kind string) error {
	key := conn.key()
	err := g.store.Update(func(tx store.Tx) error {
		return errors.Join(tx.Delete(store.Connections, key), tx.Delete(store.Tools, key), tx.DeleteSecrets(store.Connections, key))
	})
	if err != nil {
		return err
	}
	g.catalog.remove(key)
	g.forget(kind, key)
	return nil
}

func (g *Gateway) handleConnectionsList(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	q := r.URL.Query()
	out := []map[string]any{}
	for _, ct := range g.catalog.connections(p) {
		c := ct.conn
		if (q.Get("integration") != "" && c.Integration != q.Get("integration")) || (q.Get("owner") != "" && c.Owner != q.Get("owner")) {
			continue
		}
		out = append(out, g.connectionAPIView(&c, len(ct.tools)))
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *Gateway) handleConnectionCreate(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req connectionRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	conn, n, err := g.createConnection(r.Context(), p, req)
	if err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, connectionView(conn, n))
}

func (g *Gateway) handleConnectionGet(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	conn, _, err := g.connectionFor(p, r.PathValue("owner"), r.PathValue("integration"), r.PathValue("name"))
	if err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g.connectionAPIView(conn, g.toolCount(conn.key())))
}

// connectionAPIView is what people see of a connection: connectionView and
// the tools held back until someone reviews them (never shown to agents).
func (g *Gateway) connectionAPIView(conn *Connection, toolCount int) map[string]any {
	v := connectionView(conn, toolCount)
	if held := g.catalog.heldTools(conn.key()); len(held) > 0 {
		v["heldTools"] = held
	}
	return v
}

func (g *Gateway) toolCount(key string) int {
	g.catalog.mu.RLock()
	defer g.catalog.mu.RUnlock()
	if ct, ok := g.catalog.conns[key]; ok {
		return len(ct.tools)
	}
	return 0
}

func (g *Gateway) handleConnectionPatch(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Description   *string `json:"description"`
		IdentityLabel *string `json:"identityLabel"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	conn, in, err := g.connectionFor(p, r.PathValue("owner"), r.PathValue("integration"), r.PathValue("name"))
	if err != nil {
		g.writeErr(w, err)
		return
	}
	if req.Description != nil {
		conn.Description = *req.Description
	}
	if req.IdentityLabel != nil {
		conn.IdentityLabel = *req.IdentityLabel
	}
	conn.UpdatedAt = time.Now().UTC()
	if err := g.store.Update(func(tx store.Tx) error { return tx.PutJSON(store.Connections, conn.key(), conn) }); err != nil {
		g.writeErr(w, err)
		return
	}
	g.catalog.updateConnection(*conn, in.Kind)
	writeJSON(w, http.StatusOK, connectionView(conn, g.toolCount(conn.key())))
}

func (g *Gateway) handleConnectionDelete(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	conn, in, err := g.connectionFor(p, r.PathValue("owner"), r.PathValue("integration"), r.PathValue("name"))
	if err != nil {
		g.writeErr(w, err)
		return
	}
	if conn.Source == "caddyfile" {
		g.writeErr(w, &userError{http.StatusConflict, "this connection is declared in the Caddyfile; remove it there and reload"})
		return
	}
	if err := g.removeConnection(conn, in.Kind); err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"removed": true})
}

func (g *Gateway) handleConnectionRefresh(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	conn, _, err := g.connectionFor(p, r.PathValue("owner"), r.PathValue("integration"), r.PathValue("name"))
	if err != nil {
		g.writeErr(w, err)
		return
	}
	n, err := g.refreshConnection(r.Context(), conn.key(), true)
	if err != nil {
		g.writeErr(w, err)
		return
	}
	conn, _, _ = g.connectionFor(p, r.PathValue("owner"), r.PathValue("integration"), r.PathValue("name"))
	writeJSON(w, http.StatusOK, g.connectionAPIView(conn, n))
}
