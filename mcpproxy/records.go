package mcpproxy

import (
	"encoding/json"
	"fmt"
	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"regexp"
	"strings"
	"time"
)

// Owners of connections and policies.
const (
	OwnerOrg  = "org"
	OwnerUser = "user"
)

// subjectFor is whose connections owner names for p: p's own for "user",
// nobody's ("") for "org".
func (p Principal) subjectFor(owner string) string {
	if owner == OwnerUser {
		return p.ID
	}
	return ""
}

// Integration is a catalog entry shared by the whole organization: an
// OpenAPI description, an upstream MCP server or a GraphQL endpoint. It gives
// no access by itself; connections do.
type Integration struct {
	Slug        string          `json:"slug"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Kind        string          `json:"kind"`
	Config      json.RawMessage `json:"config,omitempty"`
	AuthMethods []AuthMethod    `json:"authMethods"`
	DisplayURL  string          `json:"displayUrl,omitempty"`
	// Source is "api" for integrations added at run time, "caddyfile" for
	// those declared in the configuration (which a reload re-applies).
	Source string `json:"source,omitempty"`
	// DeclaredHash identifies the configuration a declared integration was
	// built from, so a reload with the same configuration changes nothing.
	DeclaredHash string    `json:"declaredHash,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// AuthMethod, PlacementSpec and OAuthSpec are the integration package's
// shapes, stored with the integration.
type (
	AuthMethod    = integration.AuthMethod
	PlacementSpec = integration.Placement
	OAuthSpec     = integration.OAuthFlow
)

// Connection turns an integration into tools for its owner: the whole
// organization ("org") or one principal ("user").
type Connection struct {
	Owner         string    `json:"owner"`
	Subject       string    `json:"subject,omitempty"`
	Integration   string    `json:"integration"`
	Name          string    `json:"name"`
	Template      string    `json:"template"`
	Description   string    `json:"description,omitempty"`
	IdentityLabel string    `json:"identityLabel,omitempty"`
	ExpiresAt     time.Time `json:"expiresAt,omitzero"`
	ToolsSyncedAt time.Time `json:"toolsSyncedAt,omitzero"`
	// OAuth connection state (never the tokens themselves).
	OAuthClient string    `json:"oauthClient,omitempty"`
	OAuthScope  string    `json:"oauthScope,omitempty"`
	Source      string    `json:"source,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Address is `tools.<integration>.<owner>.<connection>`.
func (c *Connection) Address() string {
	return "tools." + c.Integration + "." + c.Owner + "." + c.Name
}

// key is the connection's store key: owner/subject/integration/name.
func (c *Connection) key() string { return connectionKey(c.Owner, c.Subject, c.Integration, c.Name) }

func connectionKey(owner, subject, integration, name string) string {
	return owner + "/" + subject + "/" + integration + "/" + name
}

// namePattern is what an integration slug or connection name may be: a path
// segment of a tool address, so no dots.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// validName reports a problem with a slug or connection name, naming the field.
func validName(field, v string) error {
	if !namePattern.MatchString(v) {
		return fmt.Errorf("%s %q must be 1–63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit", field, v)
	}
	if field == "slug" && (v == "executor" || v == "search" || v == "describe") {
		return fmt.Errorf("slug %q is reserved", v)
	}
	return nil
}

// validOwner reports an owner that is neither org nor user.
func validOwner(owner string) error {
	if owner != OwnerOrg && owner != OwnerUser {
		return fmt.Errorf("owner %q must be \"org\" or \"user\"", owner)
	}
	return nil
}

// Slugify turns a title into a slug candidate.
func Slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
		if b.Len() >= 40 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

// authMethod returns the method with template, if the integration has it.
func (in *Integration) authMethod(template string) *AuthMethod {
	for i := range in.AuthMethods {
		if in.AuthMethods[i].Template == template {
			return &in.AuthMethods[i]
		}
	}
	if template == "none" {
		return &AuthMethod{Template: "none", Kind: "none"}
	}
	return nil
}
