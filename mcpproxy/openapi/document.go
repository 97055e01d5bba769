// Package openapi is the "openapi" integration kind: it turns an OpenAPI
// description (3.0, 3.1, or Swagger 2.0 converted to 3.0) into one tool per
// operation, and performs a call of such a tool as an HTTP request to the
// API.
//
// The behaviour follows the reference product: tool names
// `<group>.<leaf>` (see naming.go), a flat input object with one property
// per parameter plus `body`, writes (POST, PUT, PATCH, DELETE) requiring
// approval by default, and the `{ok, data, http}` / `{ok:false, error}`
// result union.
//
// Documents are read with kin-openapi, which checks their structure and
// resolves their references; references to other files or URLs are
// refused, never fetched. Schemas are converted to JSON Schema 2020-12 from
// the document's JSON tree, shared component schemas becoming `$defs`.
package openapi

import (
	"encoding/json"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/valyala/fastjson"
)

// Document is a parsed, validated OpenAPI description, with the tools its
// operations become. It holds no reference to the document text and is safe
// for concurrent use.
type Document struct {
	title   string
	version string
	servers []string
	tags    []string
	ops     []*operation
	defs    map[string]json.RawMessage
	schemes []SecurityScheme
	auth    []AuthMethod
}

// Parse reads an OpenAPI description: JSON or YAML, OpenAPI 3.0 or 3.1, or
// Swagger 2.0 (converted to OpenAPI 3.0). Errors are sentences naming the
// problem. References to other files or URLs are refused, never fetched.
// data is only read, never modified.
func Parse(data []byte) (*Document, error) {
	js, err := toJSON(data)
	if err != nil {
		return nil, err
	}
	src, err := newSource(js)
	if err != nil {
		return nil, err
	}
	version, err := src.version()
	if err != nil {
		return nil, err
	}
	if version == "2.0" {
		if _, err := src.checkRefs(); err != nil {
			return nil, err
		}
		if js, err = convertSwagger(js); err != nil {
			return nil, err
		}
		if src, err = newSource(js); err != nil {
			return nil, err
		}
		version = "3.0"
	}
	deep, err := src.checkRefs()
	if err != nil {
		return nil, err
	}
	kdoc, err := src.decode(deep)
	if err != nil {
		return nil, err
	}
	return build(src, kdoc, version == "3.0")
}

// build collects the operations and converts their schemas.
func build(src *source, kdoc *openapi3.T, v30 bool) (*Document, error) {
	d := &Document{}
	if kdoc.Info != nil {
		d.title = kdoc.Info.Title
		d.version = kdoc.Info.Version
	}
	for _, s := range kdoc.Servers {
		if s != nil {
			d.servers = append(d.servers, s.URL)
		}
	}
	for _, t := range kdoc.Tags {
		if t != nil && !contains(d.tags, t.Name) {
			d.tags = append(d.tags, t.Name)
		}
	}
	d.ops = collectOperations(src, kdoc)
	for _, op := range d.ops {
		for _, t := range op.tags {
			if !contains(d.tags, t) {
				d.tags = append(d.tags, t)
			}
		}
	}
	nameTools(d.ops)
	conv := newSchemas(src, v30)
	for _, op := range d.ops {
		op.buildTool(conv)
	}
	d.defs = conv.drain()
	if src.partErr != nil {
		return nil, src.partErr
	}
	if conv.err != nil {
		return nil, conv.err
	}
	d.schemes = securitySchemes(src, kdoc)
	d.auth = detectAuth(d.schemes, d.servers)
	return d, nil
}

// Catalog returns one tool per operation, and the shared schema
// definitions they reference as "#/$defs/<Name>".
func (d *Document) Catalog() (*integration.Catalog, error) {
	cat := &integration.Catalog{Tools: make([]integration.Tool, len(d.ops))}
	for i, op := range d.ops {
		cat.Tools[i] = op.tool
	}
	if len(d.defs) > 0 {
		cat.Definitions = make(map[string]json.RawMessage, len(d.defs))
		for k, v := range d.defs {
			cat.Definitions[k] = v
		}
	}
	return cat, nil
}

// Preview summarises a document for the "add an API" screen, before it is
// added.
type Preview struct {
	Title          string             `json:"title"`
	Version        string             `json:"version"`
	Servers        []string           `json:"servers"`
	OperationCount int                `json:"operationCount"`
	Operations     []PreviewOperation `json:"operations"`
	Tags           []string           `json:"tags"`
	// SecuritySchemes are the document's declared schemes, in order.
	SecuritySchemes []SecurityScheme `json:"securitySchemes"`
	// AuthStrategies are the authentication templates detected from them
	// (AuthMethods), "none" first.
	AuthStrategies []AuthMethod `json:"authStrategies"`
	// HeaderPresets are the headers the API-key templates send.
	HeaderPresets []HeaderPreset `json:"headerPresets"`
	// OAuth2Presets are the OAuth 2 flows the OAuth templates use.
	OAuth2Presets []OAuth2Preset `json:"oauth2Presets"`
}

// PreviewOperation is one operation of a Preview.
type PreviewOperation struct {
	// OperationID is the declared operationId, else
	// `<method>_<path with non-alphanumerics as _>`.
	OperationID string   `json:"operationId"`
	Method      string   `json:"method"` // lower-case
	Path        string   `json:"path"`
	Summary     string   `json:"summary,omitempty"`
	Tags        []string `json:"tags"`
	Deprecated  bool     `json:"deprecated"`
	// Tool is the name the operation's tool gets.
	Tool string `json:"tool"`
}

// SecurityScheme is a security scheme a document declares.
type SecurityScheme struct {
	Name             string   `json:"name"`
	Type             string   `json:"type"`                   // apiKey, http, oauth2, openIdConnect, mutualTLS
	Scheme           string   `json:"scheme,omitempty"`       // http: bearer, basic…
	BearerFormat     string   `json:"bearerFormat,omitempty"` // http bearer
	In               string   `json:"in,omitempty"`           // apiKey: header, query, cookie
	ParameterName    string   `json:"parameterName,omitempty"`
	Description      string   `json:"description,omitempty"`
	Flows            []string `json:"flows,omitempty"` // oauth2: authorizationCode, clientCredentials, implicit, password
	OpenIDConnectURL string   `json:"openIdConnectUrl,omitempty"`

	flows *openapi3.OAuthFlows
}

// HeaderPreset is a header an API-key template fills.
type HeaderPreset struct {
	Template string `json:"template"`
	Name     string `json:"name"`
	Prefix   string `json:"prefix,omitempty"`
	Label    string `json:"label"`
}

// OAuth2Preset is an OAuth 2 flow an OAuth template uses.
type OAuth2Preset struct {
	Template         string   `json:"template"`
	SecurityScheme   string   `json:"securityScheme"`
	Grant            string   `json:"grant"`
	AuthorizationURL string   `json:"authorizationUrl,omitempty"`
	TokenURL         string   `json:"tokenUrl"`
	Scopes           []string `json:"scopes"`
}

// Preview summarises the document.
func (d *Document) Preview() Preview {
	p := Preview{
		Title:           d.title,
		Version:         d.version,
		Servers:         nonNil(d.servers),
		OperationCount:  len(d.ops),
		Operations:      make([]PreviewOperation, len(d.ops)),
		Tags:            nonNil(d.tags),
		SecuritySchemes: append([]SecurityScheme{}, d.schemes...),
		AuthStrategies:  d.AuthMethods(),
		HeaderPresets:   []HeaderPreset{},
		OAuth2Presets:   []OAuth2Preset{},
	}
	for i, op := range d.ops {
		id := op.operationID
		if id == "" {
			id = defaultOperationID(op.method, op.path)
		}
		p.Operations[i] = PreviewOperation{
			OperationID: id, Method: strings.ToLower(op.method), Path: op.path,
			Summary: op.summary, Tags: nonNil(op.tags), Deprecated: op.deprecated, Tool: op.name,
		}
	}
	for _, m := range d.auth {
		for _, pl := range m.Placements {
			if pl.Carrier == "header" {
				p.HeaderPresets = append(p.HeaderPresets, HeaderPreset{Template: m.Template, Name: pl.Name, Prefix: pl.Prefix, Label: m.Label})
			}
		}
		if m.OAuth != nil {
			p.OAuth2Presets = append(p.OAuth2Presets, OAuth2Preset{
				Template: m.Template, SecurityScheme: strings.TrimPrefix(m.Template, "oauth-"), Grant: m.OAuth.Grant,
				AuthorizationURL: m.OAuth.AuthorizationURL, TokenURL: m.OAuth.TokenURL, Scopes: nonNil(m.OAuth.Scopes),
			})
		}
	}
	return p
}

// Servers returns the document's server URLs, as written.
func (d *Document) Servers() []string { return append([]string(nil), d.servers...) }

// Title returns the document's info.title.
func (d *Document) Title() string { return d.title }

func defaultOperationID(method, path string) string {
	b := []byte(strings.ToLower(method) + "_" + path)
	for i := len(method) + 1; i < len(b); i++ {
		if !isAlnum(b[i]) {
			b[i] = '_'
		}
	}
	return string(b)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// securitySchemes lists the declared schemes in document order.
func securitySchemes(src *source, kdoc *openapi3.T) []SecurityScheme {
	if kdoc.Components == nil {
		return nil
	}
	var out []SecurityScheme
	src.root.GetObject("components", "securitySchemes").Visit(func(k []byte, _ *fastjson.Value) {
		ref := kdoc.Components.SecuritySchemes[string(k)]
		if ref == nil || ref.Value == nil {
			return
		}
		s := ref.Value
		ss := SecurityScheme{
			Name: string(k), Type: s.Type, Scheme: strings.ToLower(s.Scheme), BearerFormat: s.BearerFormat,
			Description: s.Description, OpenIDConnectURL: s.OpenIdConnectUrl, flows: s.Flows,
		}
		if s.Type == "apiKey" {
			ss.In, ss.ParameterName = s.In, s.Name
		}
		if f := s.Flows; f != nil {
			for _, fl := range []struct {
				name string
				flow *openapi3.OAuthFlow
			}{{"authorizationCode", f.AuthorizationCode}, {"clientCredentials", f.ClientCredentials}, {"implicit", f.Implicit}, {"password", f.Password}} {
				if fl.flow != nil {
					ss.Flows = append(ss.Flows, fl.name)
				}
			}
		}
		out = append(out, ss)
	})
	return out
}
