// Package graphql is the GraphQL integration kind: every root Query field of
// an endpoint's schema becomes a tool `query.<field>`, every Mutation field a
// tool `mutation.<field>` that needs approval by default. A call sends one
// operation for that field, with the tool's arguments as typed variables and
// either the default selection (the scalar and enum fields of the result) or
// the caller's `select`, which is checked against the schema before anything
// is sent.
//
// Schemas come from SDL text or from an introspection result (the endpoint's
// own, or one pasted by a user); both are loaded and validated by gqlparser.
package graphql

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// Schema is a validated GraphQL schema. It is immutable and safe for
// concurrent use.
type Schema struct {
	ast *ast.Schema
	sdl string
}

// ParseSchema reads a schema from SDL text or from an introspection result
// in JSON, either a whole response ({"data":{"__schema":…}}) or its data
// ({"__schema":…}).
func ParseSchema(data []byte) (*Schema, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	text := strings.TrimSpace(string(data))
	if text == "" {
		return nil, errors.New("the GraphQL schema is empty: give SDL text or an introspection result")
	}
	// SDL never starts with "{"; a JSON document always does.
	if text[0] == '{' {
		return parseIntrospection([]byte(text))
	}
	return parseSDL(text)
}

// parseSDL loads SDL text, which is kept as the schema's SDL.
func parseSDL(text string) (*Schema, error) {
	doc, err := parser.ParseSchemas(validator.Prelude, &ast.Source{Name: "schema.graphql", Input: text})
	if err != nil {
		return nil, fmt.Errorf("the GraphQL schema is not valid: %w", err)
	}
	dropRepeatedFields(doc)
	s, err := validator.ValidateSchemaDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("the GraphQL schema is not valid: %w", err)
	}
	if s.Query == nil {
		return nil, errors.New("the GraphQL schema has no query type: declare `type Query` or a `schema { query: … }` block")
	}
	return &Schema{ast: s, sdl: text}, nil
}

// dropRepeatedFields removes a field declared again, with the same type, in
// the same definition: published schemas have such slips (GitHub's SDL does),
// and the repetition changes nothing. A field declared again with another
// type is left for validation to reject.
func dropRepeatedFields(doc *ast.SchemaDocument) {
	for _, defs := range []ast.DefinitionList{doc.Definitions, doc.Extensions} {
		for _, def := range defs {
			seen := map[string]*ast.FieldDefinition{}
			kept := def.Fields[:0]
			for _, f := range def.Fields {
				if first := seen[f.Name]; first != nil && first.Type.String() == f.Type.String() {
					continue
				}
				if seen[f.Name] == nil {
					seen[f.Name] = f
				}
				kept = append(kept, f)
			}
			def.Fields = kept
		}
	}
}

// SDL returns the schema as SDL text: the text it was parsed from, or the SDL
// written for an introspection result. ParseSchema(SDL()) gives the same
// schema, so an integration can store it and calls need not introspect again.
func (s *Schema) SDL() string {
	if s.sdl != "" {
		return s.sdl
	}
	var b strings.Builder
	formatter.NewFormatter(&b).FormatSchema(s.ast)
	return b.String()
}

// AST returns the gqlparser schema. It must not be modified.
func (s *Schema) AST() *ast.Schema { return s.ast }

// Summary is what a preview of a schema shows before it is added.
type Summary struct {
	// QueryCount is the number of root Query fields (query tools).
	QueryCount int `json:"queryCount"`
	// MutationCount is the number of root Mutation fields (mutation tools).
	MutationCount int `json:"mutationCount"`
	// Types is the number of named types the schema defines, not counting
	// the built-in scalars and the introspection types.
	Types int `json:"types"`
}

// Summary counts the schema's operations and types.
func (s *Schema) Summary() Summary {
	var sum Summary
	sum.QueryCount = len(rootFields(s.ast.Query))
	sum.MutationCount = len(rootFields(s.ast.Mutation))
	for _, def := range s.ast.Types {
		if !def.BuiltIn && !strings.HasPrefix(def.Name, "__") {
			sum.Types++
		}
	}
	return sum
}

// rootFields lists the fields of a root type that become tools: all but the
// introspection fields gqlparser adds to Query.
func rootFields(def *ast.Definition) ast.FieldList {
	if def == nil {
		return nil
	}
	var out ast.FieldList
	for _, f := range def.Fields {
		if !strings.HasPrefix(f.Name, "__") {
			out = append(out, f)
		}
	}
	return out
}

// builtins are the names of the types and directives every schema has
// implicitly; an introspection result lists them, SDL must not declare them.
var builtins = sync.OnceValue(func() map[string]bool {
	doc := validator.PreludeDocument()
	names := map[string]bool{}
	for _, d := range doc.Definitions {
		names[d.Name] = true
	}
	for _, d := range doc.Directives {
		names["@"+d.Name] = true
	}
	return names
})
