package mcpproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/mcpexecutor/executor/mcpproxy/oauth"
	"github.com/mcpexecutor/executor/store"
)

// OAuth connections. The protocol is package oauth's; this file keeps the
// state: registered clients (secrets sealed), flows in progress (state and
// PKCE verifier sealed, bound to the signed-in principal, single use,
// fifteen minutes), and each connection's tokens (sealed). Access tokens are
// refreshed a minute before they expire, one refresh per connection at a
// time, and a rotated refresh token is stored before the new access token is
// used.

// oauthFlowTTL is how long a started authorization may take.
const oauthFlowTTL = 15 * time.Minute

// oauthRefreshSkew refreshes tokens this long before they expire.
const oauthRefreshSkew = 60 * time.Second

// oauthClient is a registered OAuth client (an "OAuth app").
type oauthClient struct {
	Slug        string           `json:"slug"`
	Owner       string           `json:"owner"`
	Subject     string           `json:"subject,omitempty"`
	Grant       string           `json:"grant"` // authorization_code, client_credentials
	ClientID    string           `json:"clientId"`
	AuthMethod  string           `json:"authMethod,omitempty"`
	Endpoints   *oauth.Endpoints `json:"endpoints"`
	RedirectURI string           `json:"redirectUri,omitempty"`
	Scopes      []string         `json:"scopes,omitempty"`
	Dynamic     bool             `json:"dynamic,omitempty"` // registered with RFC 7591
	// MetadataDocument marks the client whose client_id is this gateway's
	// client ID metadata document (CIMD): nothing was registered.
	MetadataDocument bool   `json:"metadataDocument,omitempty"`
	Integration      string `json:"integration,omitempty"`
	CreatedAt        int64  `json:"createdAt"`
}

func oauthClientKey(owner, subject, slug string) string {
	return "client/" + owner + "/" + subject + "/" + slug
}

// oauthFlow is an authorization in progress.
type oauthFlow struct {
	State         string           `json:"state"`
	Principal     string           `json:"principal"`
	ClientKey     string           `json:"clientKey"`
	Integration   string           `json:"integration"`
	Owner         string           `json:"owner"`
	Name          string           `json:"name"`
	Template      string           `json:"template"`
	IdentityLabel string           `json:"identityLabel,omitempty"`
	Endpoints     *oauth.Endpoints `json:"endpoints"`
	ExpiresAt     time.Time        `json:"expiresAt"`
	// Reconnect signs an existing connection in again instead of creating one.
	Reconnect bool `json:"reconnect,omitempty"`
}

// connectionOAuth is what a connection keeps to refresh its token.
type connectionOAuth struct {
	ClientKey string           `json:"clientKey"`
	Endpoints *oauth.Endpoints `json:"endpoints"`
}

// loadClient reads a registered client with its secret.
func loadClient(tx store.Tx, key string) (*oauthClient, *oauth.Client, error) {
	var c oauthClient
	ok, err := tx.GetJSON(store.OAuth, key, &c)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, &userError{http.StatusNotFound, "the OAuth client of this connection no longer exists; register it again and reconnect"}
	}
	cl := &oauth.Client{ID: c.ClientID, AuthMethod: c.AuthMethod, RedirectURI: c.RedirectURI}
	secret, err := tx.Secret(store.OAuth, key, "client_secret")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	cl.Secret = string(secret)
	return &c, cl, nil
}

// refreshOAuth renews a connection's access token when it expires within a
// minute. Failures are results the agent sees: oauth_reauth_required when
// the grant is gone (reconnect), oauth_refresh_failed otherwise.
func (g *Gateway) refreshOAuth(ctx context.Context, in *Integration, conn *Connection, cred *integration.Credential) error {
	m := in.authMethod(conn.Template)
	if m == nil || m.Kind != "oauth" || conn.ExpiresAt.IsZero() || time.Until(conn.ExpiresAt) > oauthRefreshSkew {
		return nil
	}
	key := conn.key()
	tok, err := g.oauthRefresh.Do(ctx, key, func() (*oauth.Token, error) {
		return g.refreshToken(ctx, conn)
	})
	if err != nil {
		code, retry := "oauth_refresh_failed", true
		if errors.Is(err, oauth.ErrReauthRequired) {
			code, retry = "oauth_reauth_required", false
		}
		return &integration.ToolError{Code: code, Retryable: retry,
			Message: fmt.Sprintf("The OAuth token of %s could not be refreshed (%s); sign it in again in the console (the connection's Sign in again).", conn.Address(), redact(err.Error(), cred.Secrets()))}
	}
	cred.AccessToken = tok.AccessToken
	return nil
}

// refreshToken performs one refresh and stores the result before anyone
// uses it.
func (g *Gateway) refreshToken(ctx context.Context, conn *Connection) (*oauth.Token, error) {
	key := conn.key()
	var info connectionOAuth
	var rt string
	var cl *oauth.Client
	var current Connection
	err := g.store.View(func(tx store.Tx) error {
		if _, err := tx.GetJSON(store.Connections, key, &current); err != nil {
			return err
		}
		if ok, err := tx.GetJSON(store.OAuth, "conn/"+key, &info); err != nil || !ok {
			return errors.Join(err, errors.New("the connection has no OAuth state"))
		}
		b, err := tx.Secret(store.Connections, key, "oauth:refresh")
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		rt = string(b)
		if info.ClientKey != "" {
			_, cl, err = loadClient(tx, info.ClientKey)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// Another caller may have refreshed while we waited for the store.
	if time.Until(current.ExpiresAt) > oauthRefreshSkew {
		var at []byte
		_ = g.store.View(func(tx store.Tx) error { at, err = tx.Secret(store.Connections, key, "oauth:access"); return err })
		if len(at) > 0 {
			return &oauth.Token{AccessToken: string(at), ExpiresAt: current.ExpiresAt}, nil
		}
	}
	if rt == "" || cl == nil {
		return nil, fmt.Errorf("no refresh token: %w", oauth.ErrReauthRequired)
	}
	tok, err := oauth.Refresh(ctx, g.httpClient(), info.Endpoints, cl, rt)
	if err != nil {
		return nil, err
	}
	err = g.store.Update(func(tx store.Tx) error {
		var c Connection
		if ok, err := tx.GetJSON(store.Connections, key, &c); err != nil || !ok {
			return errors.Join(err, errors.New("the connection was removed"))
		}
		if tok.RefreshToken != "" {
			if err := tx.PutSecret(store.Connections, key, "oauth:refresh", []byte(tok.RefreshToken)); err != nil {
				return err
			}
		}
		if err := tx.PutSecret(store.Connections, key, "oauth:access", []byte(tok.AccessToken)); err != nil {
			return err
		}
		c.ExpiresAt, c.UpdatedAt = tok.ExpiresAt, time.Now().UTC()
		return tx.PutJSON(store.Connections, key, &c)
	})
	if err != nil {
		return nil, err
	}
	conn.ExpiresAt = tok.ExpiresAt
	return tok, nil
}

// callbackURL is where the authorization server sends the user back.
func callbackURL(r *http.Request) string { return requestOrigin(r) + "/api/oauth/callback" }

func (g *Gateway) discoverOptions() oauth.DiscoverOptions {
	return oauth.DiscoverOptions{AllowHTTPLoopback: g.config().AllowLocalNetwork}
}

// handleOAuthProbe is POST /api/oauth/probe {url}: RFC 9728 → RFC 8414.
func (g *Gateway) handleOAuthProbe(w http.ResponseWriter, r *http.Request) {
	req, ctx, cancel, ok := g.startProbe(w, r)
	if !ok {
		return
	}
	defer cancel()
	ep, err := oauth.Discover(ctx, g.httpClient(), req.URL, "", g.discoverOptions())
	if err != nil {
		writeError(w, http.StatusBadGateway, "OAuth discovery for %s failed: %s", req.URL, egress.Describe(err))
		return
	}
	writeJSON(w, http.StatusOK, ep)
}

type oauthClientRequest struct {
	Owner        string   `json:"owner"`
	Slug         string   `json:"slug"`
	Grant        string   `json:"grant"`
	ClientID     string   `json:"clientId"`
	ClientSecret string   `json:"clientSecret"`
	AuthMethod   string   `json:"authMethod"`
	Integration  string   `json:"integration"`
	Template     string   `json:"template"`
	Scopes       []string `json:"scopes"`
	// Endpoints override (or replace) what the integration's template says.
	AuthorizationURL string `json:"authorizationUrl"`
	TokenURL         string `json:"tokenUrl"`
	Resource         string `json:"resource"`
}

// handleOAuthClientCreate registers an OAuth app someone created at the
// provider (client id and, for confidential clients, a secret).
func (g *Gateway) handleOAuthClientCreate(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req oauthClientRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	c, err := g.registerClient(r, p, req)
	if err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (g *Gateway) registerClient(r *http.Request, p Principal, req oauthClientRequest) (*oauthClient, error) {
	if err := validOwner(req.Owner); err != nil {
		return nil, badRequest("%v", err)
	}
	if err := validName("slug", req.Slug); err != nil {
		return nil, badRequest("%v", err)
	}
	if strings.TrimSpace(req.ClientID) == "" {
		return nil, badRequest("clientId is required")
	}
	ep := &oauth.Endpoints{AuthorizationURL: req.AuthorizationURL, TokenURL: req.TokenURL, Resource: req.Resource}
	grant := req.Grant
	if req.Integration != "" {
		in, err := g.integrationRecord(req.Integration)
		if err != nil {
			return nil, err
		}
		if m := in.authMethod(req.Template); m != nil && m.OAuth != nil {
			if ep.AuthorizationURL == "" {
				ep.AuthorizationURL = m.OAuth.AuthorizationURL
			}
			if ep.TokenURL == "" {
				ep.TokenURL = m.OAuth.TokenURL
			}
			if grant == "" {
				grant = m.OAuth.Grant
			}
			if len(req.Scopes) == 0 {
				req.Scopes = m.OAuth.Scopes
			}
		}
	}
	if grant == "" {
		grant = "authorization_code"
	}
	if grant != "authorization_code" && grant != "client_credentials" {
		return nil, badRequest(`grant must be "authorization_code" or "client_credentials"`)
	}
	if ep.TokenURL == "" || (grant == "authorization_code" && ep.AuthorizationURL == "") {
		return nil, badRequest("tokenUrl (and authorizationUrl for authorization_code) is required")
	}
	for field, u := range map[string]string{"tokenUrl": ep.TokenURL, "authorizationUrl": ep.AuthorizationURL} {
		if u != "" {
			if err := g.checkUpstreamURL(field, u); err != nil {
				return nil, err
			}
		}
	}
	c := &oauthClient{Slug: req.Slug, Owner: req.Owner, Grant: grant, ClientID: req.ClientID, AuthMethod: req.AuthMethod, Endpoints: ep,
		RedirectURI: callbackURL(r), Scopes: req.Scopes, Integration: req.Integration, CreatedAt: time.Now().UnixMilli()}
	if req.Owner == OwnerUser {
		c.Subject = p.ID
	}
	return c, g.saveClient(c, req.ClientSecret, false)
}

func (g *Gateway) saveClient(c *oauthClient, secret string, replace bool) error {
	key := oauthClientKey(c.Owner, c.Subject, c.Slug)
	return g.store.Update(func(tx store.Tx) error {
		if !replace && tx.Get(store.OAuth, key) != nil {
			return &userError{http.StatusConflict, fmt.Sprintf("an OAuth client %q already exists for %s", c.Slug, c.Owner)}
		}
		if err := tx.PutJSON(store.OAuth, key, c); err != nil {
			return err
		}
		if secret != "" {
			return tx.PutSecret(store.OAuth, key, "client_secret", []byte(secret))
		}
		return tx.DeleteSecrets(store.OAuth, key)
	})
}

func (g *Gateway) handleOAuthClientsList(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	out := []oauthClient{}
	err := g.store.View(func(tx store.Tx) error {
		return tx.ForEach(store.OAuth, "client/", func(_ string, v []byte) error {
			var c oauthClient
			if json.Unmarshal(v, &c) == nil && (c.Owner == OwnerOrg || c.Subject == p.ID) {
				out = append(out, c)
			}
			return nil
		})
	})
	if err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *Gateway) handleOAuthClientDelete(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Owner string `json:"owner"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	subject := p.subjectFor(req.Owner)
	key := oauthClientKey(req.Owner, subject, r.PathValue("slug"))
	err := g.store.Update(func(tx store.Tx) error {
		if tx.Get(store.OAuth, key) == nil {
			return &userError{http.StatusNotFound, "OAuth client not found"}
		}
		return errors.Join(tx.Delete(store.OAuth, key), tx.DeleteSecrets(store.OAuth, key))
	})
	if err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"removed": true})
}

// ClientMetadataPath is where the gateway serves its OAuth client ID
// metadata document (draft-ietf-oauth-client-id-metadata-document). An
// authorization server that supports such documents takes this URL as the
// client_id and reads the document from it, so the path must be reachable
// without signing in (with Cloudflare Access: a Bypass policy for exactly
// this path).
const ClientMetadataPath = "/api/oauth/client-id-metadata.json"

// ServeClientMetadata writes the document served at ClientMetadataPath of
// origin: a public client (PKCE, no secret) whose only redirect is the
// gateway's OAuth callback.
func ServeClientMetadata(w http.ResponseWriter, origin string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"client_id":                  origin + ClientMetadataPath,
		"client_name":                "Executor",
		"client_uri":                 origin,
		"redirect_uris":              []string{origin + "/api/oauth/callback"},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
		"application_type":           "web",
	})
}

func (g *Gateway) handleClientMetadata(w http.ResponseWriter, r *http.Request) {
	ServeClientMetadata(w, requestOrigin(r))
}

// metadataDocumentReachable reports whether the authorization server can
// read this gateway's metadata document: the gateway's origin is https, or
// both are on this machine (local mode, where integrations may reach
// loopback).
func (g *Gateway) metadataDocumentReachable(r *http.Request, ep *oauth.Endpoints) bool {
	origin, err := url.Parse(requestOrigin(r))
	if err != nil {
		return false
	}
	if origin.Scheme == "https" {
		return true
	}
	issuer, err := url.Parse(ep.Issuer)
	return err == nil && origin.Scheme == "http" && IsLoopbackHost(origin.Hostname()) &&
		IsLoopbackHost(issuer.Hostname()) && g.config().AllowLocalNetwork
}

// metadataDocumentClient is the client for an authorization server that
// reads the gateway's metadata document: its client_id is the document's
// URL, and nothing is registered. Like a registered client it is kept per
// issuer (and redirect URI), so a moved resource gets a client of its own.
func (g *Gateway) metadataDocumentClient(r *http.Request, p Principal, owner string, ep *oauth.Endpoints, scopes []string) (string, error) {
	slug, subject, redirect, key := issuerClient(r, p, owner, "cimd-", ep)
	c := &oauthClient{Slug: slug, Owner: owner, Subject: subject, Grant: "authorization_code", ClientID: requestOrigin(r) + ClientMetadataPath,
		AuthMethod: "none", Endpoints: ep, RedirectURI: redirect, Scopes: scopes, MetadataDocument: true, CreatedAt: time.Now().UnixMilli()}
	return key, g.saveClient(c, "", true)
}

// issuerClient names the client the gateway keeps for an authorization
// server: per owner, issuer, resource and redirect URI, so a changed server
// means a new client. prefix tells the kinds apart ("dcr-", "cimd-").
func issuerClient(r *http.Request, p Principal, owner, prefix string, ep *oauth.Endpoints) (slug, subject, redirect, key string) {
	subject = p.subjectFor(owner)
	redirect = callbackURL(r)
	slug = prefix + argsDigest(json.RawMessage(jsonString(ep.Issuer + " " + ep.Resource + " " + redirect)))[:12]
	return slug, subject, redirect, oauthClientKey(owner, subject, slug)
}

// dynamicClient finds this gateway's registered client for an authorization
// server (keyed by issuer and redirect URI, so a changed server means a new
// registration), or registers one with RFC 7591.
func (g *Gateway) dynamicClient(ctx context.Context, r *http.Request, p Principal, owner string, ep *oauth.Endpoints, scopes []string) (string, error) {
	slug, subject, redirect, key := issuerClient(r, p, owner, "dcr-", ep)
	found := false
	_ = g.store.View(func(tx store.Tx) error { found = tx.Get(store.OAuth, key) != nil; return nil })
	if found {
		return key, nil
	}
	if ep.RegistrationURL == "" {
		return "", &codedError{"oauth_client_required", &userError{http.StatusBadRequest, fmt.Sprintf("the authorization server %s does not allow dynamic client registration; register an OAuth client for it first", ep.Issuer)}}
	}
	cl, err := oauth.Register(ctx, g.httpClient(), ep, redirect, "Executor", scopes)
	if err != nil {
		return "", &userError{http.StatusBadGateway, "registering with " + ep.Issuer + " failed: " + egress.Describe(err)}
	}
	c := &oauthClient{Slug: slug, Owner: owner, Subject: subject, Grant: "authorization_code", ClientID: cl.ID, AuthMethod: cl.AuthMethod,
		Endpoints: ep, RedirectURI: redirect, Scopes: scopes, Dynamic: true, CreatedAt: time.Now().UnixMilli()}
	return key, g.saveClient(c, cl.Secret, true)
}

// handleOAuthStart is POST /api/oauth/start: begin connecting with OAuth.
// client_credentials connects at once; authorization_code returns the URL to
// send the user to.
func (g *Gateway) handleOAuthStart(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Client        string   `json:"client"`
		ClientOwner   string   `json:"clientOwner"`
		Owner         string   `json:"owner"`
		Name          string   `json:"name"`
		Integration   string   `json:"integration"`
		Template      string   `json:"template"`
		IdentityLabel string   `json:"identityLabel"`
		Scopes        []string `json:"scopes"`
		// Reconnect signs the existing connection in again: a new grant
		// (after a revocation, or when the server moved to another
		// authorization server) under the same address.
		Reconnect bool `json:"reconnect"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	out, err := g.startOAuth(r, p, oauthStart{client: req.Client, clientOwner: req.ClientOwner, owner: req.Owner, name: req.Name,
		slug: req.Integration, template: req.Template, label: req.IdentityLabel, scopes: req.Scopes, reconnect: req.Reconnect})
	if err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// oauthStart is what POST /api/oauth/start asks for.
type oauthStart struct {
	client, clientOwner, owner, name, slug, template, label string
	scopes                                                  []string
	reconnect                                               bool
}

func (g *Gateway) startOAuth(r *http.Request, p Principal, s oauthStart) (map[string]any, error) {
	ctx := r.Context()
	client, clientOwner, owner, name, slug, template, label, scopes := s.client, s.clientOwner, s.owner, s.name, s.slug, s.template, s.label, s.scopes
	if err := validOwner(owner); err != nil {
		return nil, badRequest("%v", err)
	}
	if err := validName("name", name); err != nil {
		return nil, badRequest("%v", err)
	}
	var existing *Connection
	if s.reconnect {
		conn, _, err := g.connectionFor(p, owner, slug, name)
		if err != nil {
			return nil, err
		}
		if conn.Source == "caddyfile" {
			return nil, &userError{http.StatusConflict, "this connection is declared in the Caddyfile; change its credential there and reload"}
		}
		if template == "" {
			template = conn.Template
		}
		if template != conn.Template {
			return nil, badRequest("template %q is not the one %s was connected with (%s); remove it and connect again to change it", template, conn.Address(), conn.Template)
		}
		existing = conn
	}
	in, err := g.integrationRecord(slug)
	if err != nil {
		return nil, err
	}
	m := in.authMethod(template)
	if m == nil || m.Kind != "oauth" || m.OAuth == nil {
		return nil, badRequest("template %q of %s is not an OAuth method", template, slug)
	}
	subject := p.subjectFor(owner)
	if existing == nil && g.connectionExists(connectionKey(owner, subject, slug, name)) {
		return nil, &userError{http.StatusConflict, fmt.Sprintf("connection tools.%s.%s.%s already exists; to sign it in again, pass reconnect: true", slug, owner, name)}
	}
	if len(scopes) == 0 {
		scopes = m.OAuth.Scopes
	}
	var clientKey string
	switch {
	case existing != nil && client == "" && !m.OAuth.Discovery:
		// The client registered for the connection signs it in again.
		clientKey = existing.OAuthClient
	case client != "":
		if clientOwner == "" {
			clientOwner = owner
		}
		cs := ""
		if clientOwner == OwnerUser {
			cs = p.ID
		}
		clientKey = oauthClientKey(clientOwner, cs, client)
	case m.OAuth.Discovery:
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ep, err := oauth.Discover(dctx, g.httpClient(), m.OAuth.Resource, "", g.discoverOptions())
		if err != nil {
			return nil, &userError{http.StatusBadGateway, "OAuth discovery failed: " + egress.Describe(err)}
		}
		if len(scopes) == 0 {
			scopes = ep.ScopesSupported
		}
		// Dynamic registration where the server offers it, else the client
		// ID metadata document where the server takes one and can read
		// this gateway's. The MCP specification prefers the document, but
		// behind Cloudflare Access it is readable only with a Bypass policy
		// for its path, and registration works without one.
		if ep.RegistrationURL == "" && ep.ClientIDMetadataDocuments && g.metadataDocumentReachable(r, ep) {
			clientKey, err = g.metadataDocumentClient(r, p, owner, ep, scopes)
		} else {
			clientKey, err = g.dynamicClient(dctx, r, p, owner, ep, scopes)
		}
		if err != nil {
			return nil, err
		}
	default:
		return nil, &codedError{"oauth_client_required", &userError{http.StatusBadRequest, fmt.Sprintf("register an OAuth client for %s first (POST /api/oauth/clients) and pass its slug as client", slug)}}
	}
	var rec *oauthClient
	var cl *oauth.Client
	if err := g.store.View(func(tx store.Tx) error { var err error; rec, cl, err = loadClient(tx, clientKey); return err }); err != nil {
		return nil, err
	}
	ep := *rec.Endpoints
	if rec.Grant == "client_credentials" {
		tok, err := oauth.ClientCredentials(ctx, g.httpClient(), &ep, cl, scopes)
		if err != nil {
			return nil, &userError{http.StatusBadGateway, "the token request failed: " + egress.Describe(err)}
		}
		f := &oauthFlow{Owner: owner, Name: name, Template: template, IdentityLabel: label, ClientKey: clientKey, Endpoints: &ep, Reconnect: existing != nil}
		conn, n, err := g.finishOAuth(ctx, p, in, f, tok)
		if err != nil {
			return nil, err
		}
		return map[string]any{"status": "connected", "connection": connectionView(conn, n)}, nil
	}
	cl.RedirectURI = rec.RedirectURI
	if cl.RedirectURI == "" {
		cl.RedirectURI = callbackURL(r)
	}
	auth, err := oauth.StartAuthorization(&ep, cl, scopes)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	flow := &oauthFlow{State: auth.State, Principal: p.ID, ClientKey: clientKey, Integration: slug, Owner: owner, Name: name, Template: template,
		IdentityLabel: label, Endpoints: &ep, ExpiresAt: time.Now().Add(oauthFlowTTL), Reconnect: existing != nil}
	err = g.store.Update(func(tx store.Tx) error {
		if err := tx.PutJSON(store.OAuth, "state/"+auth.State, flow); err != nil {
			return err
		}
		return tx.PutSecret(store.OAuth, "state/"+auth.State, "verifier", []byte(auth.Verifier))
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"status": "redirect", "authorizationUrl": auth.URL, "state": auth.State}, nil
}

// finishOAuth stores the token of a completed sign-in: a new connection, or
// the new grant of an existing one.
func (g *Gateway) finishOAuth(ctx context.Context, p Principal, in *Integration, f *oauthFlow, tok *oauth.Token) (*Connection, int, error) {
	if f.Reconnect {
		return g.reconnectOAuth(ctx, p, in, f, tok)
	}
	return g.connectOAuth(ctx, p, in, f.Owner, f.Name, f.Template, f.IdentityLabel, f.ClientKey, f.Endpoints, tok)
}

// reconnectOAuth gives an existing connection a new grant: its tokens, its
// OAuth client and endpoints (which may be those of another authorization
// server now) and its tools, listed with the new token and approved as
// they are, since a person just signed in. The pooled upstream client is
// dropped, so the next call uses the new token.
func (g *Gateway) reconnectOAuth(ctx context.Context, p Principal, in *Integration, f *oauthFlow, tok *oauth.Token) (*Connection, int, error) {
	conn, _, err := g.connectionFor(p, f.Owner, in.Slug, f.Name)
	if err != nil {
		return nil, 0, err
	}
	conn.ExpiresAt, conn.OAuthClient, conn.OAuthScope = tok.ExpiresAt, f.ClientKey, tok.Scope
	if f.IdentityLabel != "" {
		conn.IdentityLabel = f.IdentityLabel
	}
	cat, err := g.produce(ctx, in, conn, integration.Credential{AccessToken: tok.AccessToken})
	if err != nil {
		return nil, 0, err
	}
	now := time.Now().UTC()
	conn.UpdatedAt, conn.ToolsSyncedAt = now, now
	key := conn.key()
	base := g.base(in.Slug)
	err = g.store.Update(func(tx store.Tx) error {
		if tx.Get(store.Connections, key) == nil {
			return &userError{http.StatusNotFound, fmt.Sprintf("connection %s was removed while signing in", conn.Address())}
		}
		// The old grant's tokens go, a refresh token included when the new
		// grant has none.
		if err := tx.DeleteSecrets(store.Connections, key); err != nil {
			return err
		}
		if err := tx.PutSecret(store.Connections, key, "oauth:access", []byte(tok.AccessToken)); err != nil {
			return err
		}
		if tok.RefreshToken != "" {
			if err := tx.PutSecret(store.Connections, key, "oauth:refresh", []byte(tok.RefreshToken)); err != nil {
				return err
			}
		}
		if err := tx.PutJSON(store.OAuth, "conn/"+key, connectionOAuth{ClientKey: f.ClientKey, Endpoints: f.Endpoints}); err != nil {
			return err
		}
		return putConnection(tx, conn, cat, base)
	})
	if err != nil {
		return nil, 0, err
	}
	g.catalog.set(*conn, in.Kind, cat, nil)
	g.forget(in.Kind, key)
	return conn, len(cat.Tools), nil
}

// connectOAuth produces the tools with the new token and stores the
// connection, its tokens and its OAuth state together.
func (g *Gateway) connectOAuth(ctx context.Context, p Principal, in *Integration, owner, name, template, label, clientKey string, ep *oauth.Endpoints, tok *oauth.Token) (*Connection, int, error) {
	subject := p.subjectFor(owner)
	now := time.Now().UTC()
	conn := &Connection{Owner: owner, Subject: subject, Integration: in.Slug, Name: name, Template: template, IdentityLabel: label,
		ExpiresAt: tok.ExpiresAt, OAuthClient: clientKey, OAuthScope: tok.Scope, CreatedAt: now, UpdatedAt: now, Source: "api"}
	cat, err := g.produce(ctx, in, conn, integration.Credential{AccessToken: tok.AccessToken})
	if err != nil {
		return nil, 0, err
	}
	key := conn.key()
	return g.insertConnection(in, conn, cat, func(tx store.Tx) error {
		if err := tx.PutSecret(store.Connections, key, "oauth:access", []byte(tok.AccessToken)); err != nil {
			return err
		}
		if tok.RefreshToken != "" {
			if err := tx.PutSecret(store.Connections, key, "oauth:refresh", []byte(tok.RefreshToken)); err != nil {
				return err
			}
		}
		return tx.PutJSON(store.OAuth, "conn/"+key, connectionOAuth{ClientKey: clientKey, Endpoints: ep})
	})
}

// takeFlow reads and deletes a flow in one transaction: a state works once.
func (g *Gateway) takeFlow(state string) (*oauthFlow, string, error) {
	var f oauthFlow
	var verifier []byte
	err := g.store.Update(func(tx store.Tx) error {
		ok, err := tx.GetJSON(store.OAuth, "state/"+state, &f)
		if err != nil {
			return err
		}
		if !ok {
			return badRequest("this sign-in link was already used or never existed; start connecting again")
		}
		if verifier, err = tx.Secret(store.OAuth, "state/"+state, "verifier"); err != nil {
			return err
		}
		return errors.Join(tx.Delete(store.OAuth, "state/"+state), tx.DeleteSecrets(store.OAuth, "state/"+state))
	})
	return &f, string(verifier), err
}

// handleOAuthCallback is GET /api/oauth/callback: the authorization server
// sends the user back here. The state must exist, be unexpired, unused and
// belong to the signed-in principal.
func (g *Gateway) handleOAuthCallback(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		oauthPage(w, http.StatusBadRequest, "Sign-in failed", "The authorization server sent no state. Start connecting again from the console.", "")
		return
	}
	f, verifier, err := g.takeFlow(state)
	if err != nil {
		oauthPage(w, http.StatusBadRequest, "Sign-in failed", errorSentence(err), "")
		return
	}
	back := "/integrations/" + f.Integration
	if f.Principal != p.ID {
		g.logger.Warn("OAuth callback completed by another principal", "principal", p.ID)
		oauthPage(w, http.StatusForbidden, "Sign-in failed", "This sign-in was started by someone else. Start connecting again while signed in as yourself.", back)
		return
	}
	if time.Now().After(f.ExpiresAt) {
		oauthPage(w, http.StatusBadRequest, "Sign-in failed", "This sign-in took longer than 15 minutes. Start connecting again.", back)
		return
	}
	code, err := oauth.CallbackCheck(q, f.Endpoints, state)
	if err != nil {
		oauthPage(w, http.StatusBadRequest, "Sign-in failed", err.Error(), back)
		return
	}
	var cl *oauth.Client
	var rec *oauthClient
	if err := g.store.View(func(tx store.Tx) error { var err error; rec, cl, err = loadClient(tx, f.ClientKey); return err }); err != nil {
		oauthPage(w, http.StatusBadRequest, "Sign-in failed", errorSentence(err), back)
		return
	}
	cl.RedirectURI = rec.RedirectURI
	tok, err := oauth.Exchange(r.Context(), g.httpClient(), f.Endpoints, cl, code, verifier)
	if err != nil {
		oauthPage(w, http.StatusBadGateway, "Sign-in failed", "The token request failed: "+egress.Describe(err), back)
		return
	}
	in, err := g.integrationRecord(f.Integration)
	if err == nil {
		_, _, err = g.finishOAuth(r.Context(), p, in, f, tok)
	}
	if err != nil {
		oauthPage(w, http.StatusBadGateway, "Sign-in failed", errorSentence(err), back)
		return
	}
	what := "is connected"
	if f.Reconnect {
		what = "is signed in again"
	}
	oauthPage(w, http.StatusOK, "Connected", fmt.Sprintf("tools.%s.%s.%s %s. You can close this window and return to the console or your agent.", f.Integration, f.Owner, f.Name, what), back)
}

func (g *Gateway) handleOAuthCancel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		State string `json:"state"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	_, _, _ = g.takeFlow(req.State)
	writeJSON(w, http.StatusOK, map[string]bool{"cancelled": true})
}

func errorSentence(err error) string {
	var ue *userError
	if errors.As(err, &ue) {
		return ue.msg
	}
	return "An internal error stopped the sign-in; the server log has the details."
}

var oauthPageTemplate = template.Must(template.New("oauth").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Executor</title><link rel="stylesheet" href="/assets/style.css"></head>
<body><main class="signin"><h1>{{.Title}}</h1><p>{{.Message}}</p>{{if .Back}}<p><a class="button primary" href="{{.Back}}">Back to the console</a></p>{{end}}</main></body></html>`))

// oauthPage renders the page a browser lands on after signing in.
func oauthPage(w http.ResponseWriter, status int, title, message, back string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = oauthPageTemplate.Execute(w, map[string]string{"Title": title, "Message": message, "Back": back})
}
