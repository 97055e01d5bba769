package openapi

import (
	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// AuthMethod and Placement are the gateway's shapes for detected
// authentication templates.
type (
	AuthMethod = integration.AuthMethod
	Placement  = integration.Placement
	OAuthFlow  = integration.OAuthFlow
)

// AuthMethods returns the authentication templates the document's security
// schemes suggest, "none" first:
//
//   - http bearer: an API key sent as `Authorization: Bearer <key>`;
//   - http basic: `Authorization: Basic <key>` (the user pastes the base64
//     credential);
//   - apiKey in a header or the query: that header or query parameter;
//   - apiKey in a cookie: described only (no placement);
//   - oauth2 with an authorizationCode or clientCredentials flow: an
//     "oauth-<scheme>" template (implicit and password flows are ignored).
//
// API-key templates are named apikey-0, apikey-1… in document order.
func (d *Document) AuthMethods() []AuthMethod {
	out := make([]AuthMethod, len(d.auth))
	copy(out, d.auth)
	return out
}

func detectAuth(schemes []SecurityScheme, servers []string) []AuthMethod {
	methods := []AuthMethod{{Template: "none", Kind: "none", Label: "No authentication"}}
	n := 0
	addKey := func(label string, pl []Placement) {
		for _, m := range methods {
			if m.Kind == "apikey" && samePlacements(m.Placements, pl) && (len(pl) > 0 || m.Label == label) {
				return
			}
		}
		methods = append(methods, AuthMethod{Template: "apikey-" + strconv.Itoa(n), Kind: "apikey", Label: label, Placements: pl})
		n++
	}
	base := firstAbsolute(servers)
	for _, s := range schemes {
		switch s.Type {
		case "http":
			switch s.Scheme {
			case "bearer":
				addKey("Bearer token (Authorization)", []Placement{{Carrier: "header", Name: "Authorization", Prefix: "Bearer "}})
			case "basic":
				addKey("Basic credential (Authorization)", []Placement{{Carrier: "header", Name: "Authorization", Prefix: "Basic "}})
			}
		case "apiKey":
			switch s.In {
			case "header":
				addKey("API key ("+s.ParameterName+")", []Placement{{Carrier: "header", Name: s.ParameterName}})
			case "query":
				addKey("API key (query parameter "+s.ParameterName+")", []Placement{{Carrier: "query", Name: s.ParameterName}})
			case "cookie":
				addKey("API key (cookie "+s.ParameterName+"; add it as a header manually)", nil)
			}
		case "oauth2":
			if s.flows == nil {
				continue
			}
			flow, grant := s.flows.AuthorizationCode, "authorization_code"
			if flow == nil {
				flow, grant = s.flows.ClientCredentials, "client_credentials"
			}
			if flow == nil || flow.TokenURL == "" {
				continue
			}
			of := &OAuthFlow{Grant: grant, TokenURL: resolveAgainst(base, flow.TokenURL)}
			if grant == "authorization_code" {
				of.AuthorizationURL = resolveAgainst(base, flow.AuthorizationURL)
			}
			for scope := range flow.Scopes {
				of.Scopes = append(of.Scopes, scope)
			}
			sort.Strings(of.Scopes)
			label := "OAuth 2 (" + s.Name + ")"
			if grant == "client_credentials" {
				label = "OAuth 2 client credentials (" + s.Name + ")"
			}
			methods = append(methods, AuthMethod{Template: "oauth-" + s.Name, Kind: "oauth", Label: label, OAuth: of})
		}
	}
	return methods
}

func samePlacements(a, b []Placement) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func firstAbsolute(servers []string) *url.URL {
	for _, s := range servers {
		if u, err := url.Parse(s); err == nil && u.IsAbs() && !strings.Contains(u.Host, "{") {
			return u
		}
	}
	return nil
}

// resolveAgainst makes a relative OAuth URL absolute against the API's
// first server.
func resolveAgainst(base *url.URL, ref string) string {
	if ref == "" || base == nil {
		return ref
	}
	u, err := url.Parse(ref)
	if err != nil || u.IsAbs() {
		return ref
	}
	return base.ResolveReference(u).String()
}
