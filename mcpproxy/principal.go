package mcpproxy

import (
	"context"
	"fmt"
	"regexp"
)

// PrincipalKind says how a principal signed in.
type PrincipalKind string

const (
	// KindUser is a person signed in through Access or another OIDC issuer.
	KindUser PrincipalKind = "user"
	// KindService is a machine signed in with an Access service token.
	KindService PrincipalKind = "service"
	// KindLocal is the local administrator of a loopback-only gateway.
	KindLocal PrincipalKind = "local"
)

// Principal is the verified identity behind a request. It is built only from
// verified token claims (or the local-administrator mode), never from plain
// request headers.
type Principal struct {
	// ID is the stable account id: the token's sub, else email, else the
	// service token's common name.
	ID     string        `json:"id"`
	Email  string        `json:"email"`
	Name   string        `json:"name"`
	Groups []string      `json:"groups,omitempty"`
	Kind   PrincipalKind `json:"kind"`
}

// LocalAdmin is the principal of every request in local-administrator mode.
var LocalAdmin = Principal{ID: "local", Email: "admin@localhost", Name: "Local administrator", Kind: KindLocal}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok && p.ID != ""
}

// Organization is the single tenant every principal belongs to.
type Organization struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
}

// DefaultOrganization is used when none is configured.
var DefaultOrganization = Organization{ID: "default", Name: "Default", Slug: "default"}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,46}[a-z0-9]$`)

// reservedSlugs are path segments the gateway serves itself.
var reservedSlugs = map[string]bool{"api": true, "mcp": true, "resume": true, "integrations": true, "tools": true,
	"policies": true, "approvals": true, "activity": true, "account": true, "assets": true, "well-known": true}

// Validate reports a configuration error in sentences that name the field.
func (o Organization) Validate() error {
	if o.ID == "" {
		return fmt.Errorf("organization id must not be empty")
	}
	if !slugPattern.MatchString(o.Slug) {
		return fmt.Errorf("organization slug %q must be 2–48 characters of a-z, 0-9 and '-'", o.Slug)
	}
	if reservedSlugs[o.Slug] {
		return fmt.Errorf("organization slug %q is reserved; choose another", o.Slug)
	}
	return nil
}
