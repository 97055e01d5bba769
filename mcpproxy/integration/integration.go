// Package integration defines what an integration kind (OpenAPI, upstream
// MCP, GraphQL) provides to the gateway: the tools a connection produces and
// how one call is performed. Kinds live in sibling packages and know nothing
// about policies, sessions or the sandbox; mcpproxy calls them only from its
// single Invoke path, after the policy decision.
package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Kind is one type of integration.
type Kind interface {
	// Name is the kind's id: "openapi", "mcp", "graphql".
	Name() string
	// Produce lists the tools a connection gives access to. It may contact
	// the upstream (MCP tools/list, GraphQL introspection) through c.HTTP.
	Produce(ctx context.Context, c *Connection) (*Catalog, error)
	// Call performs one call of tool with args (already validated against the
	// tool's input schema). Expected failures (HTTP errors, upstream tool
	// errors) are a Result with OK false; err is for defects only, and its
	// text is never shown to the agent.
	Call(ctx context.Context, c *Connection, tool *Tool, args json.RawMessage) (*Result, error)
}

// Connection is everything a kind needs to act for one connection: the
// integration's configuration, who owns the connection, its resolved
// credential, and the egress-guarded HTTP client to use.
type Connection struct {
	// Key identifies the connection for as long as it exists, e.g. for a
	// kind to pool one upstream client per connection.
	Key         string
	Integration string          // slug
	Config      json.RawMessage // the integration's kind-specific configuration
	Owner       string          // "org" or "user"
	Subject     string          // the owning principal for user connections
	Name        string
	Credential  Credential
	// Base is the catalog the kind built when the integration was added
	// (OpenAPI operations, a GraphQL schema), if it built one.
	Base *Catalog
	// ToolsChanged, when set, is called by a kind that learns the upstream's
	// tools changed (an MCP notifications/tools/list_changed); the gateway
	// then produces the connection's tools again.
	ToolsChanged func()
	// HTTP is the only client a kind may use to reach upstreams: it refuses
	// private and metadata addresses unless the operator allows them,
	// re-validates redirects and caps responses.
	HTTP *http.Client
}

// Credential is a connection's secret material, resolved for one call.
type Credential struct {
	// Values holds the named inputs of an API-key template (variable → value).
	Values map[string]string
	// Placements says where values go (headers, query parameters).
	Placements []Placement
	// AccessToken is an OAuth access token, sent as `Authorization: Bearer`.
	AccessToken string
}

// Placement renders one credential variable into a request.
type Placement struct {
	Carrier  string `json:"carrier"`            // "header" or "query"
	Name     string `json:"name"`               // header or parameter name
	Prefix   string `json:"prefix,omitempty"`   // e.g. "Bearer "
	Variable string `json:"variable,omitempty"` // default "token"
	Literal  string `json:"literal,omitempty"`  // a fixed value instead of a variable
}

// AuthMethod is one way to authenticate to an integration, offered as a
// template when a connection is created. A kind detects them (OpenAPI
// security schemes) or the gateway declares them (MCP and GraphQL).
type AuthMethod struct {
	Template string `json:"template"` // "none", "apikey-<n>", "oauth-<scheme>"
	Kind     string `json:"kind"`     // "none", "apikey", "oauth"
	Label    string `json:"label,omitempty"`
	// Placements say where API-key variables go; empty for a scheme that is
	// only described (an API key in a cookie).
	Placements []Placement `json:"placements,omitempty"`
	OAuth      *OAuthFlow  `json:"oauth,omitempty"`
}

// OAuthFlow is the OAuth 2 flow of an "oauth" template.
type OAuthFlow struct {
	Grant            string   `json:"grant"` // "authorization_code" or "client_credentials"
	AuthorizationURL string   `json:"authorizationUrl,omitempty"`
	TokenURL         string   `json:"tokenUrl,omitempty"`
	Scopes           []string `json:"scopes,omitempty"`
	// Resource is the protected resource; with Discovery the endpoints are
	// found from it (RFC 9728, RFC 8414) when connecting.
	Resource  string `json:"resource,omitempty"`
	Discovery bool   `json:"discovery,omitempty"`
}

// VariableName is the credential variable a placement renders ("token" by
// default).
func (p Placement) VariableName() string {
	if p.Variable == "" {
		return "token"
	}
	return p.Variable
}

// Apply sets the credential on an outgoing request.
func (c Credential) Apply(req *http.Request) {
	q := req.URL.Query()
	changedQuery := false
	for _, p := range c.Placements {
		v := p.Literal
		if v == "" {
			if v = c.Values[p.VariableName()]; v == "" {
				continue
			}
		}
		switch p.Carrier {
		case "query":
			q.Set(p.Name, p.Prefix+v)
			changedQuery = true
		default:
			req.Header.Set(p.Name, p.Prefix+v)
		}
	}
	if changedQuery {
		req.URL.RawQuery = q.Encode()
	}
	if c.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	}
}

// Secrets lists every secret value in the credential, so callers can redact
// them from anything shown to agents or logged.
func (c Credential) Secrets() []string {
	var out []string
	for _, v := range c.Values {
		if len(v) >= 4 {
			out = append(out, v)
		}
	}
	if c.AccessToken != "" {
		out = append(out, c.AccessToken)
	}
	return out
}

// Catalog is the tools one connection produces.
type Catalog struct {
	Tools []Tool `json:"tools"`
	// Definitions are named JSON Schemas that tool schemas reference with
	// "#/$defs/<name>"; describe renders them as TypeScript definitions.
	Definitions map[string]json.RawMessage `json:"definitions,omitempty"`
}

// Tool is one callable operation.
type Tool struct {
	// Name is unique within the connection; it may contain dots
	// ("pets.getPet", "query.hello").
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"inputSchema,omitempty"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	// RequiresApproval is the kind's default: writes need a human's approval
	// unless a policy says otherwise.
	RequiresApproval    bool   `json:"requiresApproval,omitempty"`
	ApprovalDescription string `json:"approvalDescription,omitempty"`
	// Meta is kind-specific (an OpenAPI operation, an MCP tool's original name).
	Meta json.RawMessage `json:"meta,omitempty"`
}

// Result is the outcome of one call. It becomes the sandbox's
// `{ok:true,data,http?}` or `{ok:false,error}`.
type Result struct {
	OK   bool
	Data any // a json.RawMessage passes upstream JSON through untouched
	HTTP *HTTPMeta
	// Error is set when OK is false.
	Error *ToolError
}

// MarshalJSON writes the union shape the sandbox sees: data is always
// present (null for an empty body) on success, error on failure.
func (r *Result) MarshalJSON() ([]byte, error) {
	if r.OK {
		return json.Marshal(struct {
			OK   bool      `json:"ok"`
			Data any       `json:"data"`
			HTTP *HTTPMeta `json:"http,omitempty"`
		}{true, r.Data, r.HTTP})
	}
	e := r.Error
	if e == nil {
		e = &ToolError{Code: "unknown_error", Message: "the call failed"}
	}
	return json.Marshal(struct {
		OK    bool       `json:"ok"`
		Error *ToolError `json:"error"`
	}{false, e})
}

// HTTPMeta is the upstream response's status and headers (lower-case names).
type HTTPMeta struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
}

// ToolError is an expected failure, shown to the agent as data.
type ToolError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Status    int    `json:"status,omitempty"`
	Details   any    `json:"details,omitempty"`
	Retryable bool   `json:"retryable,omitempty"`
}

// Fail returns a failed Result.
func Fail(code, message string) *Result {
	return &Result{Error: &ToolError{Code: code, Message: message}}
}

// Succeed returns a successful Result.
func Succeed(data any, meta *HTTPMeta) *Result {
	return &Result{OK: true, Data: data, HTTP: meta}
}

// Timeouts every kind applies to upstream HTTP calls (reference values).
const (
	ResponseHeadersTimeout = 110 * time.Second
	ResponseBodyTimeout    = 60 * time.Second
)

// Targeter is implemented by kinds that can say where a call would go
// before it is made: the method and URL of the request, or the server and
// tool, without the credential. A person deciding on the call sees it
// (security.md M7); "" when the kind cannot tell.
type Targeter interface {
	Target(c *Connection, tool *Tool, args json.RawMessage) string
}

// Closer is implemented by kinds that hold resources (pooled clients, child
// processes); the gateway closes them when it stops.
type Closer interface {
	Close() error
}

// Forgetter is implemented by kinds that pool per connection; the gateway
// calls Forget when a connection is removed or its credential changes.
type Forgetter interface {
	Forget(connectionKey string)
}

// Error lets a ToolError travel as an error (e.g. from a system tool).
func (e *ToolError) Error() string { return e.Code + ": " + e.Message }
