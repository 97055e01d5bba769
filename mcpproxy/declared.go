package mcpproxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/mcpexecutor/executor/mcpproxy/openapi"
	"github.com/mcpexecutor/executor/store"
)

// Declarations are integrations and connections written in the
// configuration (config as code). Apply makes the store match them: it adds
// what is new, updates what changed, removes what was declared before and no
// longer is, and leaves everything added at run time alone.
type Declarations struct {
	Integrations []DeclaredIntegration `json:"integrations,omitempty"`
	Connections  []DeclaredConnection  `json:"connections,omitempty"`
}

// DeclaredIntegration is one integration in the configuration.
type DeclaredIntegration struct {
	Slug        string `json:"slug"`
	Kind        string `json:"kind"` // "openapi", "mcp", "graphql"
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Spec is an OpenAPI description: an http(s) URL or a file path.
	Spec    string `json:"spec,omitempty"`
	BaseURL string `json:"base_url,omitempty"`
	// Endpoint is an MCP server's or a GraphQL API's URL.
	Endpoint string `json:"endpoint,omitempty"`
	// Transport of an MCP server: streamable-http, sse, auto (remote), or
	// stdio when Command is set.
	Transport   string            `json:"transport,omitempty"`
	Command     string            `json:"command,omitempty"`
	Args        []string          `json:"args,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Cwd         string            `json:"cwd,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	QueryParams map[string]string `json:"query,omitempty"`
	// AuthHeader declares an API-key template (apikey-0) in that header for
	// MCP and GraphQL integrations (OpenAPI detects its own).
	AuthHeader string `json:"auth_header,omitempty"`
	AuthPrefix string `json:"auth_prefix,omitempty"`
}

// DeclaredConnection is one connection in the configuration. Values are the
// credential's variables, already resolved from placeholders by the host.
type DeclaredConnection struct {
	Integration string            `json:"integration"`
	Owner       string            `json:"owner"`
	Subject     string            `json:"subject,omitempty"` // the principal owning a user connection
	Name        string            `json:"name"`
	Template    string            `json:"template,omitempty"`
	Values      map[string]string `json:"-"`
}

// ApplyDeclarations brings the store in line with d. Configuration errors
// (bad names, unknown templates, a slug taken by a run-time integration)
// fail it; an upstream that cannot be reached is logged and retried later, so
// a down upstream never stops the gateway from starting.
func (g *Gateway) ApplyDeclarations(ctx context.Context, d Declarations) error {
	declared := map[string]bool{}
	for i := range d.Integrations {
		di := &d.Integrations[i]
		declared[di.Slug] = true
		if err := g.applyIntegration(ctx, di); err != nil {
			return fmt.Errorf("integration %s: %w", di.Slug, err)
		}
	}
	ints, err := g.listIntegrations()
	if err != nil {
		return err
	}
	for _, in := range ints {
		if in.Source == "caddyfile" && !declared[in.Slug] {
			in.Source = "api" // allow removal
			if err := g.store.Update(func(tx store.Tx) error { return tx.PutJSON(store.Integrations, in.Slug, in) }); err != nil {
				return err
			}
			if err := g.removeIntegration(in.Slug); err != nil {
				return fmt.Errorf("removing integration %s, no longer declared: %w", in.Slug, err)
			}
			g.logger.Info("removed integration no longer declared", "integration", in.Slug)
		}
	}
	keep := map[string]bool{}
	for i := range d.Connections {
		dc := &d.Connections[i]
		key, err := g.applyConnection(ctx, dc)
		if err != nil {
			return fmt.Errorf("connection %s %s %s: %w", dc.Integration, dc.Owner, dc.Name, err)
		}
		keep[key] = true
	}
	var stale []Connection
	_ = g.store.View(func(tx store.Tx) error {
		return tx.ForEach(store.Connections, "", func(key string, v []byte) error {
			var c Connection
			if json.Unmarshal(v, &c) == nil && c.Source == "caddyfile" && !keep[key] {
				stale = append(stale, c)
			}
			return nil
		})
	})
	for i := range stale {
		if err := g.removeConnection(&stale[i], g.integrationKind(stale[i].Integration)); err != nil {
			return err
		}
	}
	return nil
}

func (di *DeclaredIntegration) hash() string {
	b, _ := json.Marshal(di)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (g *Gateway) applyIntegration(ctx context.Context, di *DeclaredIntegration) error {
	if err := validName("slug", di.Slug); err != nil {
		return err
	}
	hash := di.hash()
	existing, err := g.integrationRecord(di.Slug)
	if err == nil {
		if existing.Source != "caddyfile" {
			return fmt.Errorf("the slug %q is taken by an integration added at run time; remove it or declare another slug", di.Slug)
		}
		if existing.DeclaredHash == hash {
			return nil
		}
	}
	n, err := g.declaredIntegration(ctx, di)
	if err != nil {
		var ue *userError
		if errors.As(err, &ue) && existing != nil && strings.Contains(ue.msg, "fetching") {
			g.logger.Warn("keeping the previous version of a declared integration", "integration", di.Slug, "error", err)
			return nil
		}
		return err
	}
	n.Source, n.DeclaredHash = "caddyfile", hash
	if existing == nil {
		return g.addIntegration(n)
	}
	// Changed: replace the record, catalog and source, then re-produce its
	// connections' tools.
	n.CreatedAt, n.UpdatedAt = existing.CreatedAt, time.Now().UTC()
	err = g.store.Update(func(tx store.Tx) error {
		if err := tx.PutJSON(store.Integrations, n.Slug, &n.Integration); err != nil {
			return err
		}
		if n.base != nil {
			if err := tx.PutJSON(store.Tools, baseKey(n.Slug), n.base); err != nil {
				return err
			}
		} else if err := tx.Delete(store.Tools, baseKey(n.Slug)); err != nil {
			return err
		}
		if n.source != nil {
			return tx.Put(store.Blobs, blobKey(n.Slug), n.source)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n.base != nil {
		g.bases.Store(n.Slug, n.base)
	} else {
		g.bases.Delete(n.Slug)
	}
	for _, ct := range g.catalog.connectionsOf(n.Slug) {
		g.forget(n.Kind, ct)
		if _, err := g.refreshConnection(ctx, ct, true); err != nil {
			g.logger.Warn("refreshing a connection after its integration changed", "connection", ct, "error", err)
		}
	}
	return nil
}

// declaredIntegration builds an integration through the same add flows the
// API uses.
func (g *Gateway) declaredIntegration(ctx context.Context, di *DeclaredIntegration) (*newIntegration, error) {
	switch di.Kind {
	case "openapi":
		if di.Spec == "" {
			return nil, errors.New("spec is required: a URL or a file path of the OpenAPI description")
		}
		src := openAPISpecSource{Kind: "url", URL: di.Spec}
		if !strings.HasPrefix(di.Spec, "http://") && !strings.HasPrefix(di.Spec, "https://") {
			b, err := os.ReadFile(di.Spec)
			if err != nil {
				return nil, fmt.Errorf("reading spec: %w", err)
			}
			src = openAPISpecSource{Kind: "blob", Value: string(b)}
		}
		return g.openAPIIntegration(ctx, src, di.Slug, di.Name, di.Description,
			openapi.Config{BaseURL: di.BaseURL, Headers: di.Headers, QueryParams: di.QueryParams})
	case "mcp":
		req := mcpServerRequest{Name: di.Name, Slug: di.Slug, Description: di.Description, Endpoint: di.Endpoint, Headers: di.Headers,
			QueryParams: di.QueryParams, Command: di.Command, Args: di.Args, Env: di.Env, Cwd: di.Cwd}
		if req.Name == "" {
			req.Name = di.Slug
		}
		if di.Command != "" {
			req.Transport = "stdio"
		} else {
			req.Transport, req.RemoteTransport = "remote", di.Transport
		}
		if di.AuthHeader != "" {
			req.Auth = &authRequest{"header", di.AuthHeader, di.AuthPrefix}
		}
		return g.mcpIntegration(req)
	case "graphql":
		req := graphQLRequest{Endpoint: di.Endpoint, Slug: di.Slug, Name: di.Name, Description: di.Description, Headers: di.Headers, QueryParams: di.QueryParams}
		if di.AuthHeader != "" {
			req.Auth = &authRequest{"header", di.AuthHeader, di.AuthPrefix}
		}
		return g.graphQLIntegration(ctx, req)
	}
	return nil, fmt.Errorf("kind %q must be openapi, mcp or graphql", di.Kind)
}

// applyConnection creates or updates one declared connection and returns
// its key.
func (g *Gateway) applyConnection(ctx context.Context, dc *DeclaredConnection) (string, error) {
	if err := validOwner(dc.Owner); err != nil {
		return "", err
	}
	if err := validName("name", dc.Name); err != nil {
		return "", err
	}
	if dc.Owner == OwnerUser && dc.Subject == "" {
		return "", errors.New("a user connection needs `subject <principal id>`")
	}
	if dc.Owner == OwnerOrg {
		dc.Subject = ""
	}
	in, err := g.integrationRecord(dc.Integration)
	if err != nil {
		return "", err
	}
	if dc.Template == "" {
		dc.Template = "none"
	}
	m := in.authMethod(dc.Template)
	if m == nil {
		return "", fmt.Errorf("template %q is not one of %s's authentication methods", dc.Template, in.Slug)
	}
	if m.Kind == "oauth" {
		return "", fmt.Errorf("template %q uses OAuth, which needs a person to sign in: connect it from the console", dc.Template)
	}
	values, err := credentialValues(m, nil, dc.Values)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	conn := &Connection{Owner: dc.Owner, Subject: dc.Subject, Integration: in.Slug, Name: dc.Name, Template: dc.Template, Source: "caddyfile", CreatedAt: now, UpdatedAt: now}
	key := conn.key()
	var existing Connection
	var exists, same bool
	err = g.store.View(func(tx store.Tx) error {
		var err error
		if exists, err = tx.GetJSON(store.Connections, key, &existing); err != nil || !exists {
			return err
		}
		same = existing.Template == conn.Template
		for k, v := range values {
			s, err := tx.Secret(store.Connections, key, "var:"+k)
			if err != nil || string(s) != v {
				same = false
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if exists && existing.Source != "caddyfile" {
		return "", fmt.Errorf("connection %s exists (created at run time); remove it or declare another name", conn.Address())
	}
	if exists && same {
		return key, nil
	}
	if exists {
		conn.CreatedAt = existing.CreatedAt
	}
	cred := integration.Credential{Values: values}
	for _, pl := range m.Placements {
		cred.Placements = append(cred.Placements, pl)
	}
	cat, perr := g.produce(ctx, in, conn, cred)
	if perr != nil {
		g.logger.Warn("a declared connection's tools could not be listed yet; retrying in the background", "connection", conn.Address(), "error", perr)
		cat = &integration.Catalog{}
	} else {
		conn.ToolsSyncedAt = time.Now().UTC()
	}
	err = g.store.Update(func(tx store.Tx) error {
		if err := tx.DeleteSecrets(store.Connections, key); err != nil {
			return err
		}
		for k, v := range values {
			if err := tx.PutSecret(store.Connections, key, "var:"+k, []byte(v)); err != nil {
				return err
			}
		}
		return putConnection(tx, conn, cat, g.base(in.Slug))
	})
	if err != nil {
		return "", err
	}
	g.forget(in.Kind, key)
	g.catalog.set(*conn, in.Kind, cat, nil)
	if perr != nil {
		time.AfterFunc(30*time.Second, func() { g.scheduleRefresh(key) })
	}
	return key, nil
}
