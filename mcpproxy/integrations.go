package mcpproxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unsafe"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
	"github.com/mcpexecutor/executor/mcpproxy/graphql"
	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/mcpexecutor/executor/mcpproxy/mcpupstream"
	"github.com/mcpexecutor/executor/mcpproxy/openapi"
	"github.com/mcpexecutor/executor/store"
)

// baseKey is where an integration's add-time catalog lives in the tools
// bucket; connection keys start with "org/" or "user/", so they never clash.
func baseKey(slug string) string { return "base/" + slug }

// blobKey is where an integration's source document (an OpenAPI description,
// a GraphQL schema) is kept, gzip-compressed: GitHub's 13 MB description
// takes 1.5 MB.
func blobKey(slug string) string { return "source/" + slug }

// largeDocument is the size of a source document past which its parse
// bounds the heap's growth and returns its garbage to the OS when done.
const largeDocument = 4 << 20

// compressSource gzips a source document for the blobs bucket.
func compressSource(data []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // the level is valid
	_, _ = zw.Write(data)                              // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	return buf.Bytes()
}

// userError is a problem with the request, shown to the user as is (400).
type userError struct {
	status int
	msg    string
}

func (e *userError) Error() string { return e.msg }

// codedError gives a userError a machine-readable code more specific than
// its status.
type codedError struct {
	code string
	err  *userError
}

func (e *codedError) Error() string { return e.err.msg }
func (e *codedError) Unwrap() error { return e.err }

func badRequest(format string, args ...any) error {
	return &userError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// newIntegration is what an add flow hands to addIntegration.
type newIntegration struct {
	Integration
	base   *integration.Catalog
	source []byte
}

// addIntegration stores a new integration, its add-time catalog and source,
// all in one transaction: on any failure nothing is written.
func (g *Gateway) addIntegration(n *newIntegration) error {
	in := &n.Integration
	if in.Slug == "" {
		in.Slug = Slugify(in.Name)
	}
	if err := validName("slug", in.Slug); err != nil {
		return badRequest("%v", err)
	}
	if in.Name == "" {
		in.Name = in.Slug
	}
	if len(in.AuthMethods) == 0 {
		in.AuthMethods = []AuthMethod{{Template: "none", Kind: "none", Label: "No authentication"}}
	}
	now := time.Now().UTC()
	in.CreatedAt, in.UpdatedAt = now, now
	if in.Source == "" {
		in.Source = "api"
	}
	err := g.store.Update(func(tx store.Tx) error {
		if tx.Get(store.Integrations, in.Slug) != nil {
			return &userError{http.StatusConflict, fmt.Sprintf("an integration with slug %q already exists; choose another slug or remove it first", in.Slug)}
		}
		if err := tx.PutJSON(store.Integrations, in.Slug, in); err != nil {
			return err
		}
		if n.base != nil {
			if err := tx.PutJSON(store.Tools, baseKey(in.Slug), n.base); err != nil {
				return err
			}
		}
		if n.source != nil {
			return tx.Put(store.Blobs, blobKey(in.Slug), n.source)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n.base != nil {
		g.bases.Store(in.Slug, n.base)
	}
	return nil
}

// integrationRecord reads one integration.
func (g *Gateway) integrationRecord(slug string) (*Integration, error) {
	var in Integration
	var ok bool
	err := g.store.View(func(tx store.Tx) error {
		var err error
		ok, err = tx.GetJSON(store.Integrations, slug, &in)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &userError{http.StatusNotFound, fmt.Sprintf("integration %q not found", slug)}
	}
	return &in, nil
}

// base returns an integration's add-time catalog, if it has one.
func (g *Gateway) base(slug string) *integration.Catalog {
	if v, ok := g.bases.Load(slug); ok {
		return v.(*integration.Catalog)
	}
	var cat integration.Catalog
	var ok bool
	_ = g.store.View(func(tx store.Tx) error {
		var err error
		ok, err = tx.GetJSON(store.Tools, baseKey(slug), &cat)
		return err
	})
	if !ok {
		return nil
	}
	v, _ := g.bases.LoadOrStore(slug, &cat)
	return v.(*integration.Catalog)
}

// removeIntegration deletes an integration with every connection, tool list
// and secret under it.
func (g *Gateway) removeIntegration(slug string) error {
	in, err := g.integrationRecord(slug)
	if err != nil {
		return err
	}
	if in.Source == "caddyfile" {
		return &userError{http.StatusConflict, fmt.Sprintf("integration %q is declared in the Caddyfile; remove it there and reload", slug)}
	}
	var keys []string
	err = g.store.Update(func(tx store.Tx) error {
		err := tx.ForEach(store.Connections, "", func(key string, v []byte) error {
			var c Connection
			if json.Unmarshal(v, &c) == nil && c.Integration == slug {
				keys = append(keys, key)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := errors.Join(tx.Delete(store.Connections, k), tx.Delete(store.Tools, k), tx.DeleteSecrets(store.Connections, k)); err != nil {
				return err
			}
		}
		return errors.Join(tx.Delete(store.Integrations, slug), tx.Delete(store.Tools, baseKey(slug)), tx.Delete(store.Blobs, blobKey(slug)))
	})
	if err != nil {
		return err
	}
	g.bases.Delete(slug)
	g.catalog.removeIntegration(slug)
	for _, k := range keys {
		g.forget(in.Kind, k)
	}
	return nil
}

// forget tells a pooling kind to drop what it holds for a connection.
func (g *Gateway) forget(kind, key string) {
	if f, ok := g.kinds[kind].(integration.Forgetter); ok {
		f.Forget(key)
	}
}

// checkUpstreamURL is the save-time egress check of a URL the user gives.
func (g *Gateway) checkUpstreamURL(field, raw string) error {
	if err := egress.CheckURL(raw, egress.Options{AllowLocalNetwork: g.config().AllowLocalNetwork}); err != nil {
		return badRequest("%s: %v", field, err)
	}
	return nil
}

// ---- OpenAPI ----

type openAPISpecSource struct {
	Kind  string `json:"kind"` // "url" or "blob"
	URL   string `json:"url,omitempty"`
	Value string `json:"value,omitempty"`
}

// loadOpenAPI fetches (or takes) and parses a description.
func (g *Gateway) loadOpenAPI(ctx context.Context, src openAPISpecSource) (*openapi.Document, []byte, error) {
	var data []byte
	switch src.Kind {
	case "url":
		if err := g.checkUpstreamURL("spec.url", src.URL); err != nil {
			return nil, nil, err
		}
		b, err := openapi.Fetch(ctx, g.httpClient(), src.URL)
		if err != nil {
			return nil, nil, badRequest("fetching the OpenAPI description: %s", egress.Describe(err))
		}
		data = b
	case "blob", "text":
		// Parse and compressSource only read the document: share the
		// string's bytes rather than copy 13 MB for GitHub's.
		data = unsafe.Slice(unsafe.StringData(src.Value), len(src.Value))
	default:
		return nil, nil, badRequest(`spec.kind must be "url" or "blob"`)
	}
	if len(data) > largeDocument && !heapBounded(ctx) { // fetched, read from a file, or a body without a length
		defer boundHeap(importHeadroom * int64(len(data)))()
	}
	doc, err := openapi.Parse(data)
	if err != nil {
		return nil, nil, badRequest("%v", err)
	}
	return doc, data, nil
}

// specSourceOf reads the preview's `spec`: a URL or the document itself.
func specSourceOf(s string) openAPISpecSource {
	t := strings.TrimSpace(s)
	if u, err := url.Parse(t); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && !strings.ContainsAny(t, " \n") {
		return openAPISpecSource{Kind: "url", URL: t}
	}
	return openAPISpecSource{Kind: "blob", Value: s}
}

func (g *Gateway) handleOpenAPIPreview(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Spec string `json:"spec"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Spec) == "" {
		writeError(w, http.StatusBadRequest, "spec is required: a URL or the OpenAPI document itself")
		return
	}
	doc, _, err := g.loadOpenAPI(r.Context(), specSourceOf(req.Spec))
	if err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		openapi.Preview
		AuthMethods []AuthMethod `json:"authMethods"`
	}{doc.Preview(), doc.AuthMethods()})
}

func (g *Gateway) handleOpenAPIAdd(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Spec        openAPISpecSource `json:"spec"`
		Slug        string            `json:"slug"`
		Name        string            `json:"name"`
		Description string            `json:"description"`
		BaseURL     string            `json:"baseUrl"`
		Headers     map[string]string `json:"headers"`
		QueryParams map[string]string `json:"queryParams"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	n, err := g.openAPIIntegration(r.Context(), req.Spec, req.Slug, req.Name, req.Description, openapi.Config{BaseURL: req.BaseURL, Headers: req.Headers, QueryParams: req.QueryParams})
	g.finishAdd(w, n, err)
}

// finishAdd stores a built integration and answers with its slug (and tool
// count, when the kind built its catalog at add time).
func (g *Gateway) finishAdd(w http.ResponseWriter, n *newIntegration, err error) {
	if err == nil {
		err = g.addIntegration(n)
	}
	if err != nil {
		g.writeErr(w, err)
		return
	}
	out := map[string]any{"slug": n.Slug}
	if n.base != nil {
		out["toolCount"] = len(n.base.Tools)
	}
	writeJSON(w, http.StatusOK, out)
}

// openAPIIntegration builds an OpenAPI integration from a description.
func (g *Gateway) openAPIIntegration(ctx context.Context, src openAPISpecSource, slug, name, description string, cfg openapi.Config) (*newIntegration, error) {
	doc, data, err := g.loadOpenAPI(ctx, src)
	if err != nil {
		return nil, err
	}
	if cfg.BaseURL != "" {
		if err := g.checkUpstreamURL("baseUrl", cfg.BaseURL); err != nil {
			return nil, err
		}
	}
	packed := make(chan []byte, 1) // compressed while the catalog is built
	go func() { packed <- compressSource(data) }()
	cat, err := doc.Catalog()
	source := <-packed
	if err != nil {
		return nil, badRequest("%v", err)
	}
	cfg.Servers = doc.Servers()
	if src.Kind == "url" {
		cfg.SourceURL = src.URL
	}
	if name == "" {
		name = doc.Title()
	}
	if slug == "" {
		slug = Slugify(name)
	}
	raw, _ := json.Marshal(cfg)
	n := &newIntegration{Integration: Integration{Slug: slug, Name: name, Description: description, Kind: "openapi", Config: raw,
		AuthMethods: doc.AuthMethods(), DisplayURL: cfg.SourceURL}, base: cat, source: source}
	if n.Description == "" {
		n.Description = doc.Title()
	}
	return n, nil
}

// ---- MCP servers ----

type mcpServerRequest struct {
	Transport       string            `json:"transport"`
	Name            string            `json:"name"`
	Slug            string            `json:"slug"`
	Description     string            `json:"description"`
	Endpoint        string            `json:"endpoint"`
	RemoteTransport string            `json:"remoteTransport"`
	Headers         map[string]string `json:"headers"`
	QueryParams     map[string]string `json:"queryParams"`
	Command         string            `json:"command"`
	Args            []string          `json:"args"`
	Env             map[string]string `json:"env"`
	Cwd             string            `json:"cwd"`
	Auth            *authRequest      `json:"auth"`
}

// authRequest is how an MCP or GraphQL integration authenticates.
type authRequest struct {
	Kind       string `json:"kind"` // none, header, oauth2
	HeaderName string `json:"headerName"`
	Prefix     string `json:"prefix"`
}

func (g *Gateway) mcpIntegration(req mcpServerRequest) (*newIntegration, error) {
	if req.Transport == "" {
		req.Transport = "remote"
	}
	cfg := mcpupstream.Config{Transport: req.Transport, Endpoint: req.Endpoint, RemoteTransport: req.RemoteTransport, Headers: req.Headers,
		QueryParams: req.QueryParams, Command: req.Command, Args: req.Args, Env: req.Env, Cwd: req.Cwd}
	if err := cfg.Validate(g.config().AllowStdio); err != nil {
		return nil, badRequest("%v", err)
	}
	display := req.Endpoint
	if req.Transport == "remote" {
		if err := g.checkUpstreamURL("endpoint", req.Endpoint); err != nil {
			return nil, err
		}
	} else {
		display = strings.TrimSpace(req.Command + " " + strings.Join(req.Args, " "))
	}
	methods := []AuthMethod{{Template: "none", Kind: "none", Label: "No authentication"}}
	if req.Auth != nil {
		switch req.Auth.Kind {
		case "", "none":
		case "header":
			methods = append(methods, headerAuthMethod(req.Auth.HeaderName, req.Auth.Prefix))
		case "oauth2":
			methods = append(methods, AuthMethod{Template: "oauth-mcp", Kind: "oauth", Label: "OAuth (discovered from the server)",
				OAuth: &OAuthSpec{Grant: "authorization_code", Discovery: true, Resource: req.Endpoint}})
		default:
			return nil, badRequest(`auth.kind must be "none", "header" or "oauth2"`)
		}
	}
	name := req.Name
	if name == "" {
		name = req.Slug
	}
	if name == "" {
		return nil, badRequest("name is required")
	}
	raw, _ := json.Marshal(cfg)
	return &newIntegration{Integration: Integration{Slug: req.Slug, Name: name, Description: req.Description, Kind: "mcp", Config: raw,
		AuthMethods: methods, DisplayURL: display}}, nil
}

func (g *Gateway) handleMCPAdd(w http.ResponseWriter, r *http.Request) {
	var req mcpServerRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	n, err := g.mcpIntegration(req)
	g.finishAdd(w, n, err)
}

func (g *Gateway) handleMCPProbe(w http.ResponseWriter, r *http.Request) {
	req, ctx, cancel, ok := g.startProbe(w, r)
	if !ok {
		return
	}
	defer cancel()
	res, err := mcpupstream.Probe(ctx, g.httpClient(), req.URL, req.Headers)
	if err != nil {
		writeError(w, http.StatusBadGateway, "probing %s: %s", req.URL, egress.Describe(err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// probeRequest is the body of the probe endpoints: a URL (or an MCP
// endpoint) and optional headers.
type probeRequest struct {
	URL      string            `json:"url"`
	Endpoint string            `json:"endpoint"`
	Headers  map[string]string `json:"headers"`
}

// startProbe decodes a probe request, applies the save-time egress check
// and bounds the probe to 20 seconds. It answers the error itself.
func (g *Gateway) startProbe(w http.ResponseWriter, r *http.Request) (*probeRequest, context.Context, context.CancelFunc, bool) {
	var req probeRequest
	if !decodeJSON(w, r, &req) {
		return nil, nil, nil, false
	}
	field := "url"
	if req.Endpoint != "" {
		field, req.URL = "endpoint", req.Endpoint
	}
	if err := g.checkUpstreamURL(field, req.URL); err != nil {
		g.writeErr(w, err)
		return nil, nil, nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	return &req, ctx, cancel, true
}

// headerAuthMethod is the API-key template of an MCP or GraphQL
// integration: the key in one header, with "Bearer " before it when the
// header is Authorization and no prefix was given.
func headerAuthMethod(header, prefix string) AuthMethod {
	if header == "" {
		header = "Authorization"
	}
	if prefix == "" && strings.EqualFold(header, "Authorization") {
		prefix = "Bearer "
	}
	return AuthMethod{Template: "apikey-0", Kind: "apikey", Label: "API key (" + header + ")",
		Placements: []PlacementSpec{{Carrier: "header", Name: header, Prefix: prefix}}}
}

// ---- GraphQL ----

type graphQLRequest struct {
	Endpoint    string            `json:"endpoint"`
	Slug        string            `json:"slug"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Headers     map[string]string `json:"headers"`
	QueryParams map[string]string `json:"queryParams"`
	// Schema is SDL or an introspection result, for endpoints that do not
	// allow introspection.
	Schema string       `json:"schema"`
	Auth   *authRequest `json:"auth"`
}

func (g *Gateway) graphQLIntegration(ctx context.Context, req graphQLRequest) (*newIntegration, error) {
	if err := g.checkUpstreamURL("endpoint", req.Endpoint); err != nil {
		return nil, err
	}
	var schema *graphql.Schema
	var err error
	if strings.TrimSpace(req.Schema) != "" {
		schema, err = graphql.ParseSchema([]byte(req.Schema))
	} else {
		schema, err = graphql.Introspect(ctx, g.httpClient(), req.Endpoint, req.Headers)
	}
	if err != nil {
		return nil, badRequest("reading the GraphQL schema: %s", egress.Describe(err))
	}
	cat, err := schema.Catalog()
	if err != nil {
		return nil, badRequest("%v", err)
	}
	cfg := graphql.Config{Endpoint: req.Endpoint, Headers: req.Headers, QueryParams: req.QueryParams, SDL: schema.SDL()}
	if err := cfg.Validate(); err != nil {
		return nil, badRequest("%v", err)
	}
	methods := []AuthMethod{{Template: "none", Kind: "none", Label: "No authentication"}}
	if req.Auth != nil && req.Auth.Kind == "header" {
		methods = append(methods, headerAuthMethod(req.Auth.HeaderName, req.Auth.Prefix))
	}
	name := req.Name
	if name == "" {
		name = req.Slug
	}
	if name == "" {
		if u, err := url.Parse(req.Endpoint); err == nil {
			name = u.Hostname()
		}
	}
	raw, _ := json.Marshal(cfg)
	return &newIntegration{Integration: Integration{Slug: req.Slug, Name: name, Description: req.Description, Kind: "graphql", Config: raw,
		AuthMethods: methods, DisplayURL: req.Endpoint}, base: cat, source: compressSource([]byte(schema.SDL()))}, nil
}

func (g *Gateway) handleGraphQLAdd(w http.ResponseWriter, r *http.Request) {
	var req graphQLRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	n, err := g.graphQLIntegration(ctx, req)
	g.finishAdd(w, n, err)
}

// ---- generic ----

// integrationView is an integration as the API shows it.
type integrationView struct {
	Slug        string       `json:"slug"`
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Kind        string       `json:"kind"`
	CanRemove   bool         `json:"canRemove"`
	CanRefresh  bool         `json:"canRefresh"`
	AuthMethods []AuthMethod `json:"authMethods"`
	DisplayURL  string       `json:"displayUrl,omitempty"`
	Source      string       `json:"source"`
	ToolCount   int          `json:"toolCount"`
	Connections int          `json:"connectionCount"`
	CreatedAt   int64        `json:"createdAt"`
}

func (g *Gateway) viewIntegration(p Principal, in *Integration) integrationView {
	v := integrationView{Slug: in.Slug, Name: in.Name, Description: in.Description, Kind: in.Kind, CanRemove: in.Source != "caddyfile",
		CanRefresh: true, AuthMethods: in.AuthMethods, DisplayURL: in.DisplayURL, Source: in.Source, CreatedAt: in.CreatedAt.UnixMilli()}
	if v.AuthMethods == nil {
		v.AuthMethods = []AuthMethod{}
	}
	for _, ct := range g.catalog.connections(p) {
		if ct.conn.Integration == in.Slug {
			v.Connections++
			v.ToolCount += len(ct.tools)
		}
	}
	if v.ToolCount == 0 {
		if b := g.base(in.Slug); b != nil {
			v.ToolCount = len(b.Tools)
		}
	}
	return v
}

func (g *Gateway) handleIntegrationsList(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	ints, err := g.listIntegrations()
	if err != nil {
		g.writeErr(w, err)
		return
	}
	out := []integrationView{}
	for i := range ints {
		out = append(out, g.viewIntegration(p, &ints[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *Gateway) handleIntegrationGet(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	in, err := g.integrationRecord(r.PathValue("slug"))
	if err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g.viewIntegration(p, in))
}

func (g *Gateway) handleIntegrationPatch(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	slug := r.PathValue("slug")
	var in Integration
	err := g.store.Update(func(tx store.Tx) error {
		ok, err := tx.GetJSON(store.Integrations, slug, &in)
		if err != nil {
			return err
		}
		if !ok {
			return &userError{http.StatusNotFound, fmt.Sprintf("integration %q not found", slug)}
		}
		if req.Name != nil {
			if strings.TrimSpace(*req.Name) == "" {
				return badRequest("name must not be empty")
			}
			in.Name = strings.TrimSpace(*req.Name)
		}
		if req.Description != nil {
			in.Description = *req.Description
		}
		in.UpdatedAt = time.Now().UTC()
		return tx.PutJSON(store.Integrations, slug, in)
	})
	if err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g.viewIntegration(p, &in))
}

func (g *Gateway) handleIntegrationDelete(w http.ResponseWriter, r *http.Request) {
	if err := g.removeIntegration(r.PathValue("slug")); err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"removed": true})
}

// handleDetect says which kind of integration a URL looks like, for the
// console's "search or paste a URL" box: it probes without credentials.
func (g *Gateway) handleDetect(w http.ResponseWriter, r *http.Request) {
	req, ctx, cancel, ok := g.startProbe(w, r)
	if !ok {
		return
	}
	defer cancel()
	if b, err := openapi.Fetch(ctx, g.httpClient(), req.URL); err == nil {
		if doc, err := openapi.Parse(b); err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"kind": "openapi", "title": doc.Title(), "url": req.URL})
			return
		}
	}
	if res, err := mcpupstream.Probe(ctx, g.httpClient(), req.URL, nil); err == nil {
		writeJSON(w, http.StatusOK, map[string]any{"kind": "mcp", "url": req.URL, "probe": res})
		return
	}
	if _, err := graphql.Introspect(ctx, g.httpClient(), req.URL, nil); err == nil {
		writeJSON(w, http.StatusOK, map[string]any{"kind": "graphql", "url": req.URL})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "unknown", "url": req.URL,
		"message": "This URL is not an OpenAPI description, an MCP server or a GraphQL endpoint that answers without credentials. Choose the kind and add it manually."})
}

// writeErr maps an error to a response: userErrors carry their status and
// text; anything else is answered with a generic 500 and a correlation id,
// its cause logged only.
func (g *Gateway) writeErr(w http.ResponseWriter, err error) {
	var ue *userError
	if errors.As(err, &ue) {
		code := statusCode(ue.status)
		if ce := (*codedError)(nil); errors.As(err, &ce) {
			code = ce.code
		}
		writeCodedError(w, ue.status, code, "%s", ue.msg)
		return
	}
	id := correlationID()
	g.logger.Error("API request failed", "id", id, "error", err)
	writeError(w, http.StatusInternalServerError, "The request failed because of an internal error [%s]; the server log has the details.", id)
}
