package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// attacker is where the misbehaviours point.
const attacker = "https://attacker.example"

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && p == mustPath(s.MetadataURL):
		s.serveMetadata(w)
	case r.Method == http.MethodGet && s.opts.Resource != "" && p == resourceMetadataPath(s.opts.Resource):
		s.serveResourceMetadata(w)
	case r.Method == http.MethodGet && p == "/authorize":
		s.authorize(w, r)
	case r.Method == http.MethodPost && p == "/token":
		s.token(w, r)
	case r.Method == http.MethodPost && p == "/register" && s.opts.DCR:
		s.register(w, r)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "not_found"})
	}
}

func (s *Server) serveMetadata(w http.ResponseWriter) {
	grants := []string{"authorization_code", "refresh_token"}
	if s.opts.ClientCredentials {
		grants = append(grants, "client_credentials")
	}
	m := map[string]any{
		"issuer":                                s.Issuer,
		"authorization_endpoint":                s.AuthorizationURL,
		"token_endpoint":                        s.TokenURL,
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 grants,
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none", "client_secret_post", "client_secret_basic"},
	}
	if s.opts.WrongIssuer {
		m["issuer"] = attacker
	}
	if s.opts.NoS256 {
		m["code_challenge_methods_supported"] = []string{"plain"}
	}
	if len(s.opts.Scopes) > 0 {
		m["scopes_supported"] = s.opts.Scopes
	}
	if s.opts.DCR {
		m["registration_endpoint"] = s.RegistrationURL
	}
	if s.opts.IssParameter {
		m["authorization_response_iss_parameter_supported"] = true
	}
	if s.opts.ClientMetadataDocuments {
		m["client_id_metadata_document_supported"] = true
	}
	if s.opts.EditMetadata != nil {
		s.opts.EditMetadata(m)
	}
	writeJSON(w, http.StatusOK, m)
}

// authorize is the authorization endpoint. The user is always signed in and
// always approves (unless Options.DenyConsent).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := s.learnClient(q.Get("client_id")); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.LastAuthorization = cloneValues(q)
	cl := s.clients[q.Get("client_id")]
	if cl == nil {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirectURI := q.Get("redirect_uri")
	back, err := url.Parse(redirectURI)
	if err != nil || !slices.Contains(cl.redirectURIs, redirectURI) {
		// Never redirect to an unregistered URI (RFC 6749 §4.1.2.1).
		http.Error(w, "redirect_uri is not registered for this client", http.StatusBadRequest)
		return
	}
	redirect := func(params url.Values) {
		bq := back.Query()
		for k, v := range params {
			bq[k] = v
		}
		if state := q.Get("state"); state != "" {
			bq.Set("state", state)
		}
		if s.opts.IssParameter {
			bq.Set("iss", s.Issuer)
		}
		back.RawQuery = bq.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	}
	refuse := func(code, description string) {
		redirect(url.Values{"error": {code}, "error_description": {description}})
	}
	challenge := q.Get("code_challenge")
	switch {
	case q.Get("response_type") != "code":
		refuse("unsupported_response_type", "only response_type=code is supported")
	case challenge == "" && !s.opts.PKCEOptional:
		refuse("invalid_request", "code_challenge is required (PKCE)")
	case challenge != "" && q.Get("code_challenge_method") != "S256":
		refuse("invalid_request", "only the S256 code_challenge_method is supported")
	case !s.resourceOK(q.Get("resource")):
		refuse("invalid_target", "resource must be "+s.opts.Resource)
	case s.opts.DenyConsent:
		refuse("access_denied", "the user declined")
	default:
		code := rand.Text()
		s.codes[code] = &codeGrant{
			clientID:    cl.id,
			redirectURI: redirectURI,
			challenge:   challenge,
			resource:    q.Get("resource"),
			scope:       q.Get("scope"),
			expires:     time.Now().Add(time.Minute),
		}
		s.stats.Authorizations++
		redirect(url.Values{"code": {code}})
	}
}

func (s *Server) resourceOK(resource string) bool {
	return s.opts.Resource == "" || resource == s.opts.Resource
}

// token is the token endpoint.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	form := r.PostForm
	grant := form.Get("grant_type")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.TokenRequests[grant]++
	s.stats.LastTokenRequest[grant] = cloneValues(form)
	cl := s.authenticate(r, form)
	if cl == nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauthtest"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if !s.resourceOK(form.Get("resource")) {
		oauthError(w, http.StatusBadRequest, "invalid_target", "resource must be "+s.opts.Resource)
		return
	}
	switch grant {
	case "authorization_code":
		code := form.Get("code")
		g := s.codes[code]
		delete(s.codes, code) // single use, even when refused below
		switch {
		case g == nil || time.Now().After(g.expires) || g.clientID != cl.id:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the code is unknown, used, expired or another client's")
		case form.Get("redirect_uri") != g.redirectURI:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
		case !pkceOK(g.challenge, form.Get("code_verifier")):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		default:
			rt := rand.Text()
			s.refresh[rt] = &refreshGrant{clientID: cl.id, resource: g.resource, scope: g.scope}
			s.issue(w, cl.id, g.resource, g.scope, rt)
		}
	case "refresh_token":
		rt := form.Get("refresh_token")
		g := s.refresh[rt]
		if g == nil || g.clientID != cl.id {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is unknown, rotated, revoked or another client's")
			return
		}
		next := ""
		if s.opts.RotateRefresh {
			delete(s.refresh, rt)
			next = rand.Text()
			s.refresh[next] = g
		}
		s.stats.Refreshes++
		s.issue(w, cl.id, g.resource, g.scope, next)
	case "client_credentials":
		if !s.opts.ClientCredentials || cl.secret == "" {
			oauthError(w, http.StatusBadRequest, "unauthorized_client", "the client_credentials grant is not allowed for this client")
			return
		}
		s.issue(w, cl.id, form.Get("resource"), form.Get("scope"), "")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code, refresh_token or client_credentials")
	}
}

// authenticate returns the client the request authenticates as, or nil.
// x/oauth2 form-encodes Basic credentials (RFC 6749 §2.3.1), so they are
// decoded here.
func (s *Server) authenticate(r *http.Request, form url.Values) *client {
	id, secret, basic := r.BasicAuth()
	method := "client_secret_basic"
	if basic {
		if form.Has("client_secret") {
			return nil // two methods at once (RFC 6749 §2.3)
		}
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
		method = "client_secret_post"
	}
	cl := s.clients[id]
	switch {
	case cl == nil:
		return nil
	case cl.secret == "":
		if secret != "" {
			return nil
		}
		return cl
	case subtle.ConstantTimeCompare([]byte(secret), []byte(cl.secret)) != 1:
		return nil
	case cl.authMethod != "" && cl.authMethod != method:
		return nil
	}
	return cl
}

func pkceOK(challenge, verifier string) bool {
	if challenge == "" {
		return verifier == "" // a verifier without a challenge is an attack (RFC 9700 §2.1.1)
	}
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// issue answers a token request with a new access token (and refreshToken
// when not empty).
func (s *Server) issue(w http.ResponseWriter, clientID, resource, scope, refreshToken string) {
	at := rand.Text()
	s.access[at] = &accessToken{clientID: clientID, resource: resource, scope: scope, expires: time.Now().Add(s.opts.AccessTTL)}
	m := map[string]any{
		"access_token": at,
		"token_type":   "Bearer",
		"expires_in":   int(s.opts.AccessTTL / time.Second),
	}
	if scope != "" {
		m["scope"] = scope
	}
	if refreshToken != "" {
		m["refresh_token"] = refreshToken
	}
	if s.opts.EditTokenResponse != nil {
		s.opts.EditTokenResponse(m)
	}
	writeJSON(w, http.StatusOK, m)
}

// register is the RFC 7591 registration endpoint.
func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "the body is not a JSON object")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.LastRegistration = req
	uris := stringList(req["redirect_uris"])
	if len(uris) == 0 {
		oauthError(w, http.StatusBadRequest, "invalid_redirect_uri", "redirect_uris is required")
		return
	}
	for _, u := range uris {
		if p, err := url.Parse(u); err != nil || !p.IsAbs() || p.Fragment != "" {
			oauthError(w, http.StatusBadRequest, "invalid_redirect_uri", "each redirect URI must be absolute, without a fragment")
			return
		}
	}
	method, _ := req["token_endpoint_auth_method"].(string)
	if method == "" {
		method = "client_secret_basic" // RFC 7591 §2
	}
	if !slices.Contains([]string{"none", "client_secret_post", "client_secret_basic"}, method) {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "unsupported token_endpoint_auth_method")
		return
	}
	if s.opts.ChangeRedirectOnRegister {
		uris = []string{attacker + "/callback"}
	}
	cl := &client{id: rand.Text(), authMethod: method, redirectURIs: uris}
	if method != "none" {
		cl.secret = rand.Text()
	}
	s.clients[cl.id] = cl
	s.stats.Registrations++
	resp := map[string]any{
		"client_id":                  cl.id,
		"client_id_issued_at":        time.Now().Unix(),
		"redirect_uris":              uris,
		"token_endpoint_auth_method": method,
	}
	for _, k := range []string{"grant_types", "response_types", "client_name", "scope", "application_type"} {
		if v, ok := req[k]; ok {
			resp[k] = v
		}
	}
	if cl.secret != "" {
		resp["client_secret"] = cl.secret
		resp["client_secret_expires_at"] = 0
	}
	if s.opts.EditRegistrationResponse != nil {
		s.opts.EditRegistrationResponse(resp)
	}
	writeJSON(w, http.StatusCreated, resp)
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func mustPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Path
}

// resourceMetadataPath is where RFC 9728 puts the metadata of resource:
// the well-known prefix inserted before its path.
func resourceMetadataPath(resource string) string {
	return "/.well-known/oauth-protected-resource" + strings.TrimSuffix(mustPath(resource), "/")
}

// learnClient reads the metadata document of a client_id that is a URL the
// server does not know yet (Options.ClientMetadataDocuments), and checks it
// as the draft asks: the document names the same client_id, it is a public
// client, and it lists its redirect URIs.
func (s *Server) learnClient(id string) error {
	if !s.opts.ClientMetadataDocuments || !(strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://")) {
		return nil
	}
	s.mu.Lock()
	known := s.clients[id] != nil
	s.mu.Unlock()
	if known {
		return nil
	}
	res, err := http.Get(id)
	if err != nil {
		return fmt.Errorf("fetching the client metadata document: %w", err)
	}
	defer res.Body.Close()
	var doc struct {
		ClientID     string   `json:"client_id"`
		RedirectURIs []string `json:"redirect_uris"`
		AuthMethod   string   `json:"token_endpoint_auth_method"`
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		return fmt.Errorf("the client metadata document answered %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		return fmt.Errorf("the client metadata document: %w", err)
	}
	if doc.ClientID != id || len(doc.RedirectURIs) == 0 || doc.AuthMethod != "none" {
		return fmt.Errorf("the client metadata document does not describe the public client %s: %+v", id, doc)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.MetadataFetches++
	s.clients[id] = &client{id: id, redirectURIs: doc.RedirectURIs}
	return nil
}
