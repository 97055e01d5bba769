package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Endpoints is what discovery (or a configured template) says about an
// authorization server and the resource it protects. The JSON names match
// the console's probe response.
type Endpoints struct {
	// Issuer is the authorization server's issuer identifier. Discovery
	// fills it; for a configured template it may be empty, which turns off
	// the RFC 9207 iss check in CallbackCheck.
	Issuer           string `json:"issuer,omitempty"`
	AuthorizationURL string `json:"authorizationUrl"`
	TokenURL         string `json:"tokenUrl"`
	// RegistrationURL is the RFC 7591 registration endpoint, "" when the
	// server offers none.
	RegistrationURL string `json:"registrationEndpoint,omitempty"`
	// Resource is the protected resource (RFC 8707 resource indicator) sent
	// on the authorization, token and refresh requests; "" sends none.
	Resource string `json:"resource,omitempty"`
	// ScopesSupported comes from the protected-resource metadata, else from
	// the authorization server's.
	ScopesSupported          []string `json:"scopesSupported,omitempty"`
	TokenEndpointAuthMethods []string `json:"tokenEndpointAuthMethodsSupported,omitempty"`
	CodeChallengeMethods     []string `json:"codeChallengeMethodsSupported,omitempty"`
	// IssParameterSupported is the server's
	// authorization_response_iss_parameter_supported (RFC 9207): when set,
	// CallbackCheck requires iss on the redirect back.
	IssParameterSupported bool `json:"authorizationResponseIssParameterSupported,omitempty"`
	// ClientIDMetadataDocuments is the server's
	// client_id_metadata_document_supported: it takes an https URL as a
	// client_id and reads the client's metadata from it (CIMD), with no
	// registration.
	ClientIDMetadataDocuments bool `json:"clientIdMetadataDocumentSupported,omitempty"`
}

// DiscoverOptions adjust Discover. The zero value is the production policy.
type DiscoverOptions struct {
	// AllowHTTPLoopback accepts plain-http URLs whose host is loopback
	// (localhost, 127.0.0.0/8, ::1), for local development and tests.
	// Everything else must be https.
	AllowHTTPLoopback bool
}

// resourceMetadata is the part of an RFC 9728 document the gateway uses.
type resourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
}

// serverMetadata is the part of an RFC 8414 (or OpenID Connect discovery)
// document the gateway uses.
type serverMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	RegistrationEndpoint                       string   `json:"registration_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported"`
}

// Discover finds the authorization server for a protected resource, such as
// an upstream MCP endpoint, from its URL and, optionally, the
// WWW-Authenticate header of its 401 (all values joined with ", ").
//
// Protected-resource metadata (RFC 9728) is read from the challenge's
// resource_metadata URL when there is one, else from
// /.well-known/oauth-protected-resource/<path>, then from the root
// /.well-known/oauth-protected-resource. Its resource must equal resourceURL
// (G1); a root document may instead name the origin, which is the identifier
// its well-known URL was built from (RFC 9728 §3.3). Endpoints.Resource is the
// value the document declared. A server without any such document is treated
// as its own authorization server (the MCP 2025-03-26 rule), with resourceURL
// as the resource.
//
// The first listed authorization server's metadata is read from the RFC 8414
// location with the issuer's path inserted, then from OpenID Connect
// discovery (inserted, then appended). The document must name that server
// as its issuer (G2), use https endpoints (G4; http only on loopback with
// opts.AllowHTTPLoopback) and list S256 in code_challenge_methods_supported
// (G3). A document that fails a check ends discovery: it is never skipped in
// favour of the next location.
//
// Every request goes through client, which should be the egress client.
func Discover(ctx context.Context, client *http.Client, resourceURL, wwwAuthenticate string, opts DiscoverOptions) (*Endpoints, error) {
	if client == nil {
		return nil, errNoClient
	}
	ru, err := checkEndpoint("resource URL", resourceURL, opts.AllowHTTPLoopback)
	if err != nil {
		return nil, fmt.Errorf("discovering OAuth: %w", err)
	}
	where := quote(origin(ru) + ru.EscapedPath())
	prm, err := fetchResourceMetadata(ctx, client, ru, ParseWWWAuthenticate(wwwAuthenticate)["resource_metadata"], opts)
	if err != nil {
		return nil, fmt.Errorf("discovering OAuth for %s: %w", where, err)
	}
	issuer, resource := origin(ru), resourceURL
	if prm != nil {
		issuer, resource = prm.AuthorizationServers[0], prm.Resource
	}
	ep, err := fetchServerMetadata(ctx, client, issuer, opts)
	if err != nil && prm == nil {
		return nil, fmt.Errorf("discovering OAuth for %s: it publishes no protected-resource metadata (RFC 9728), so its origin was tried as the authorization server: %w", where, err)
	}
	if err != nil {
		return nil, fmt.Errorf("discovering OAuth for %s: %w", where, err)
	}
	ep.Resource = resource
	if prm != nil && len(prm.ScopesSupported) > 0 {
		ep.ScopesSupported = prm.ScopesSupported
	}
	return ep, nil
}

// fetchResourceMetadata returns the protected-resource metadata, or nil
// when the resource publishes none at the well-known locations.
func fetchResourceMetadata(ctx context.Context, client *http.Client, ru *url.URL, fromChallenge string, opts DiscoverOptions) (*resourceMetadata, error) {
	type location struct {
		url    string
		accept []string // resource values that are valid for a document found there
	}
	resourceURL := ru.String()
	var locations []location
	if fromChallenge != "" {
		if _, err := checkEndpoint("resource_metadata URL from the WWW-Authenticate challenge", fromChallenge, opts.AllowHTTPLoopback); err != nil {
			return nil, err
		}
		locations = []location{{fromChallenge, []string{resourceURL}}}
	} else {
		base := origin(ru) + "/.well-known/oauth-protected-resource"
		if p := strings.TrimSuffix(ru.EscapedPath(), "/"); p != "" {
			locations = append(locations, location{base + p, []string{resourceURL}})
		}
		locations = append(locations, location{base, []string{resourceURL, origin(ru)}})
	}
	var misses []string
	for _, loc := range locations {
		var md resourceMetadata
		err := getJSON(ctx, client, loc.url, &md)
		var miss *fetchError
		if errors.As(err, &miss) {
			misses = append(misses, miss.msg)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("fetching protected-resource metadata: %w", err)
		}
		if !slices.ContainsFunc(loc.accept, func(want string) bool { return sameURL(md.Resource, want) }) {
			return nil, fmt.Errorf("the protected-resource metadata at %s is for the resource %s, not %s; refusing it (RFC 9728 §3.3: the server is misconfigured or speaking for another). Fix the server's metadata, or configure the OAuth endpoints by hand",
				quote(loc.url), quote(md.Resource), quote(resourceURL))
		}
		if len(md.AuthorizationServers) == 0 || md.AuthorizationServers[0] == "" {
			return nil, fmt.Errorf("the protected-resource metadata at %s names no authorization server; configure the OAuth endpoints by hand", quote(loc.url))
		}
		return &md, nil
	}
	if fromChallenge != "" {
		return nil, fmt.Errorf("no protected-resource metadata at the challenge's resource_metadata URL: %s", strings.Join(misses, "; "))
	}
	return nil, nil
}

// fetchServerMetadata reads and checks the metadata of the authorization
// server whose issuer identifier is issuer.
func fetchServerMetadata(ctx context.Context, client *http.Client, issuer string, opts DiscoverOptions) (*Endpoints, error) {
	iu, err := checkEndpoint("authorization server", issuer, opts.AllowHTTPLoopback)
	if err != nil {
		return nil, err
	}
	if iu.RawQuery != "" {
		return nil, fmt.Errorf("the authorization server %s has a query; an issuer cannot (RFC 8414 §2)", quote(issuer))
	}
	o, p := origin(iu), strings.TrimSuffix(iu.EscapedPath(), "/")
	locations := []string{
		o + "/.well-known/oauth-authorization-server" + p,
		o + "/.well-known/openid-configuration" + p,
	}
	if p != "" {
		locations = append(locations, o+p+"/.well-known/openid-configuration")
	}
	var misses []string
	for _, loc := range locations {
		var md serverMetadata
		err := getJSON(ctx, client, loc, &md)
		var miss *fetchError
		if errors.As(err, &miss) {
			misses = append(misses, miss.msg)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("fetching authorization server metadata: %w", err)
		}
		if err := md.check(issuer, loc, opts); err != nil {
			return nil, err
		}
		return &Endpoints{
			Issuer:                    md.Issuer,
			AuthorizationURL:          md.AuthorizationEndpoint,
			TokenURL:                  md.TokenEndpoint,
			RegistrationURL:           md.RegistrationEndpoint,
			ScopesSupported:           md.ScopesSupported,
			TokenEndpointAuthMethods:  md.TokenEndpointAuthMethodsSupported,
			CodeChallengeMethods:      md.CodeChallengeMethodsSupported,
			IssParameterSupported:     md.AuthorizationResponseIssParameterSupported,
			ClientIDMetadataDocuments: md.ClientIDMetadataDocumentSupported,
		}, nil
	}
	return nil, fmt.Errorf("the authorization server %s publishes no metadata (%s); configure the OAuth endpoints by hand",
		quote(issuer), strings.Join(misses, "; "))
}

// check applies G2, G4 and G3 to a document fetched from loc for issuer.
func (md *serverMetadata) check(issuer, loc string, opts DiscoverOptions) error {
	if !sameURL(md.Issuer, issuer) {
		return fmt.Errorf("the authorization server metadata at %s names the issuer %s, not %s; refusing it (RFC 8414 §3.3: a mix-up defence)",
			quote(loc), quote(md.Issuer), quote(issuer))
	}
	if md.AuthorizationEndpoint == "" || md.TokenEndpoint == "" {
		return fmt.Errorf("the authorization server metadata at %s lacks an authorization or token endpoint; configure the OAuth endpoints by hand", quote(loc))
	}
	for _, e := range []struct{ name, url string }{
		{"authorization endpoint", md.AuthorizationEndpoint},
		{"token endpoint", md.TokenEndpoint},
		{"registration endpoint", md.RegistrationEndpoint},
	} {
		if e.url == "" {
			continue
		}
		if _, err := checkEndpoint(e.name, e.url, opts.AllowHTTPLoopback); err != nil {
			return fmt.Errorf("the authorization server metadata at %s is unsafe: %w", quote(loc), err)
		}
	}
	if !slices.Contains(md.CodeChallengeMethodsSupported, "S256") {
		return fmt.Errorf("the authorization server %s does not list S256 in code_challenge_methods_supported, so it may not enforce PKCE; refusing it (MCP requires S256)", quote(issuer))
	}
	return nil
}
