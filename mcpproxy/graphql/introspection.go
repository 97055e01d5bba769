package graphql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/vektah/gqlparser/v2/ast"
)

// introspectionQuery is graphql-js's getIntrospectionQuery() with its default
// options: it asks nothing that servers of older spec editions reject
// (specifiedByURL, isRepeatable, deprecated arguments).
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}`

// Introspect asks endpoint for its schema with the standard introspection
// query, sending headers with the request. client must be the gateway's
// egress-guarded client. The result is capped at 16 MiB.
//
// The error says what went wrong in words a user can act on: the HTTP status
// the endpoint answered, the GraphQL errors it returned, or that it has
// introspection disabled (then the schema can be given as SDL instead).
func Introspect(ctx context.Context, client *http.Client, endpoint string, headers map[string]string) (*Schema, error) {
	return introspect(ctx, client, endpoint, nil, headers, integration.Credential{},
		timeouts{integration.ResponseHeadersTimeout, integration.ResponseBodyTimeout, maxIntrospectionBytes})
}

// introspect is Introspect with query parameters and a credential, applied
// last; credential values never appear in the error.
func introspect(ctx context.Context, client *http.Client, endpoint string, query, headers map[string]string, cred integration.Credential, t timeouts) (*Schema, error) {
	body, _ := json.Marshal(map[string]string{"query": introspectionQuery, "operationName": "IntrospectionQuery"})
	req, err := newRequest(ctx, endpoint, query, headers, body)
	if err != nil {
		return nil, err
	}
	cred.Apply(req)
	label := endpointLabel(req.URL)
	secrets := cred.Secrets()
	t.maxBytes = maxIntrospectionBytes
	ex, err := send(ctx, client, req, t)
	if err != nil {
		var f *failure
		if errors.As(err, &f) {
			return nil, fmt.Errorf("introspecting %s: %s", label, redact(f.Message, secrets))
		}
		return nil, fmt.Errorf("introspecting %s: %w", label, err)
	}
	var doc introspectionDocument
	jsonErr := json.Unmarshal(ex.body, &doc)
	firstError := ""
	if jsonErr == nil && len(doc.Errors) > 0 {
		firstError = redact(doc.Errors[0].Message, secrets)
	}
	if !ex.ok() {
		msg := fmt.Sprintf("introspecting %s: the endpoint answered HTTP %d %s", label, ex.status, http.StatusText(ex.status))
		switch {
		case firstError != "":
			msg += ": " + firstError
		case len(ex.body) > 0:
			msg += ": " + redact(excerpt(ex.body), secrets)
		}
		if ex.status == http.StatusUnauthorized || ex.status == http.StatusForbidden {
			msg += " (check the credential or headers the endpoint needs)"
		}
		return nil, errors.New(msg)
	}
	if jsonErr != nil {
		return nil, fmt.Errorf("introspecting %s: the endpoint answered HTTP %d with a body that is not JSON: %s", label, ex.status, redact(excerpt(ex.body), secrets))
	}
	if doc.Data == nil || doc.Data.Schema == nil {
		reason := "it returned no schema"
		if firstError != "" {
			reason = "it answered: " + firstError
		}
		return nil, fmt.Errorf("introspecting %s: %s. The endpoint may have introspection disabled; give its schema as SDL or an introspection result instead", label, reason)
	}
	return fromIntrospection(doc.Data.Schema)
}

// parseIntrospection reads an introspection result document.
func parseIntrospection(data []byte) (*Schema, error) {
	var doc introspectionDocument
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("the GraphQL schema looks like JSON but is not an introspection result: %w", err)
	}
	is := doc.Schema
	if doc.Data != nil && doc.Data.Schema != nil {
		is = doc.Data.Schema
	}
	if is == nil {
		if len(doc.Errors) > 0 {
			return nil, fmt.Errorf("the introspection result carries no schema, only errors: %s", doc.Errors[0].Message)
		}
		return nil, errors.New(`the JSON document is not an introspection result: expected {"data":{"__schema":…}} or {"__schema":…}`)
	}
	return fromIntrospection(is)
}

// fromIntrospection writes SDL for an introspection result and loads it, so
// both sources of a schema go through the same parser and validation.
func fromIntrospection(is *introspectionSchema) (*Schema, error) {
	sdl, err := is.sdl()
	if err != nil {
		return nil, fmt.Errorf("the introspection result is not usable: %w", err)
	}
	s, err := parseSDL(sdl)
	if err != nil {
		return nil, fmt.Errorf("the introspection result does not describe a valid schema: %w", err)
	}
	return s, nil
}

// The shapes of an introspection result (the GraphQL spec's __Schema).
type (
	// introspectionDocument is a response to the introspection query, or
	// just its data.
	introspectionDocument struct {
		Data *struct {
			Schema *introspectionSchema `json:"__schema"`
		} `json:"data"`
		Schema *introspectionSchema `json:"__schema"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	introspectionSchema struct {
		QueryType        *typeName        `json:"queryType"`
		MutationType     *typeName        `json:"mutationType"`
		SubscriptionType *typeName        `json:"subscriptionType"`
		Types            []introspectType `json:"types"`
		Directives       []introspectDir  `json:"directives"`
	}
	typeName struct {
		Name string `json:"name"`
	}
	introspectType struct {
		Kind          string            `json:"kind"`
		Name          string            `json:"name"`
		Description   *string           `json:"description"`
		Fields        []introspectField `json:"fields"`
		InputFields   []introspectInput `json:"inputFields"`
		Interfaces    []typeRef         `json:"interfaces"`
		EnumValues    []introspectEnum  `json:"enumValues"`
		PossibleTypes []typeRef         `json:"possibleTypes"`
	}
	introspectField struct {
		Name              string            `json:"name"`
		Description       *string           `json:"description"`
		Args              []introspectInput `json:"args"`
		Type              typeRef           `json:"type"`
		IsDeprecated      bool              `json:"isDeprecated"`
		DeprecationReason *string           `json:"deprecationReason"`
	}
	introspectInput struct {
		Name              string  `json:"name"`
		Description       *string `json:"description"`
		Type              typeRef `json:"type"`
		DefaultValue      *string `json:"defaultValue"`
		IsDeprecated      bool    `json:"isDeprecated"`
		DeprecationReason *string `json:"deprecationReason"`
	}
	introspectEnum struct {
		Name              string  `json:"name"`
		Description       *string `json:"description"`
		IsDeprecated      bool    `json:"isDeprecated"`
		DeprecationReason *string `json:"deprecationReason"`
	}
	introspectDir struct {
		Name        string            `json:"name"`
		Description *string           `json:"description"`
		Locations   []string          `json:"locations"`
		Args        []introspectInput `json:"args"`
	}
	typeRef struct {
		Kind   string   `json:"kind"`
		Name   *string  `json:"name"`
		OfType *typeRef `json:"ofType"`
	}
)

// validName is the GraphQL Name production; names from an introspection
// result are checked before they are written into SDL.
var validName = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]*$`)

// sdlWriter accumulates SDL and the first problem found.
type sdlWriter struct {
	b   strings.Builder
	err error
}

func (w *sdlWriter) str(parts ...string) {
	for _, p := range parts {
		w.b.WriteString(p)
	}
}

func (w *sdlWriter) name(n string) string {
	if !validName.MatchString(n) && w.err == nil {
		w.err = fmt.Errorf("%q is not a GraphQL name", n)
	}
	return n
}

// description writes a description as a quoted string, escaped the way
// gqlparser prints string values.
func (w *sdlWriter) description(d *string, indent string) {
	if d != nil && *d != "" {
		w.str(indent, quote(*d), "\n")
	}
}

func quote(s string) string {
	return (&ast.Value{Kind: ast.StringValue, Raw: s}).String()
}

// typeRef renders a type reference: [Int!]!.
func (w *sdlWriter) typeRef(t *typeRef) string { return w.typeRefAt(t, 0) }

func (w *sdlWriter) typeRefAt(t *typeRef, depth int) string {
	if t == nil || depth > 32 {
		if w.err == nil {
			w.err = errors.New("a type reference is empty or nested too deeply")
		}
		return "Unknown"
	}
	switch t.Kind {
	case "NON_NULL":
		return w.typeRefAt(t.OfType, depth+1) + "!"
	case "LIST":
		return "[" + w.typeRefAt(t.OfType, depth+1) + "]"
	}
	if t.Name == nil {
		if w.err == nil {
			w.err = fmt.Errorf("a type reference of kind %q has no name", t.Kind)
		}
		return "Unknown"
	}
	return w.name(*t.Name)
}

func (w *sdlWriter) deprecated(is bool, reason *string) {
	if !is {
		return
	}
	if reason == nil {
		w.str(" @deprecated")
		return
	}
	w.str(" @deprecated(reason: ", quote(*reason), ")")
}

func (w *sdlWriter) inputValues(vals []introspectInput, indent string, inline bool) {
	for i, v := range vals {
		if inline {
			if i > 0 {
				w.str(", ")
			}
			if v.Description != nil && *v.Description != "" {
				w.str(quote(*v.Description), " ")
			}
		} else {
			w.description(v.Description, indent)
			w.str(indent)
		}
		w.str(w.name(v.Name), ": ", w.typeRef(&v.Type))
		if v.DefaultValue != nil {
			w.str(" = ", *v.DefaultValue)
		}
		w.deprecated(v.IsDeprecated, v.DeprecationReason)
		if !inline {
			w.str("\n")
		}
	}
}

func (w *sdlWriter) implements(ifaces []typeRef) {
	for i := range ifaces {
		if i == 0 {
			w.str(" implements ")
		} else {
			w.str(" & ")
		}
		w.str(w.typeRef(&ifaces[i]))
	}
}

// sdl writes the schema an introspection result describes, leaving out the
// built-in types and directives that every schema has.
func (is *introspectionSchema) sdl() (string, error) {
	if is.QueryType == nil || is.QueryType.Name == "" {
		return "", errors.New("it names no query type")
	}
	w := &sdlWriter{}
	known := builtins()
	w.str("schema {\n  query: ", w.name(is.QueryType.Name), "\n")
	if is.MutationType != nil && is.MutationType.Name != "" {
		w.str("  mutation: ", w.name(is.MutationType.Name), "\n")
	}
	if is.SubscriptionType != nil && is.SubscriptionType.Name != "" {
		w.str("  subscription: ", w.name(is.SubscriptionType.Name), "\n")
	}
	w.str("}\n")
	for _, d := range is.Directives {
		if known["@"+d.Name] {
			continue
		}
		w.str("\n")
		w.description(d.Description, "")
		w.str("directive @", w.name(d.Name))
		if len(d.Args) > 0 {
			w.str("(")
			w.inputValues(d.Args, "", true)
			w.str(")")
		}
		w.str(" on ")
		for i, l := range d.Locations {
			if i > 0 {
				w.str(" | ")
			}
			w.str(w.name(l))
		}
		w.str("\n")
	}
	for _, t := range is.Types {
		if known[t.Name] || strings.HasPrefix(t.Name, "__") {
			continue
		}
		w.str("\n")
		w.description(t.Description, "")
		switch t.Kind {
		case "SCALAR":
			w.str("scalar ", w.name(t.Name), "\n")
		case "OBJECT", "INTERFACE":
			keyword := "type "
			if t.Kind == "INTERFACE" {
				keyword = "interface "
			}
			w.str(keyword, w.name(t.Name))
			w.implements(t.Interfaces)
			w.str(" {\n")
			for _, f := range t.Fields {
				w.description(f.Description, "  ")
				w.str("  ", w.name(f.Name))
				if len(f.Args) > 0 {
					w.str("(")
					w.inputValues(f.Args, "", true)
					w.str(")")
				}
				w.str(": ", w.typeRef(&f.Type))
				w.deprecated(f.IsDeprecated, f.DeprecationReason)
				w.str("\n")
			}
			w.str("}\n")
		case "UNION":
			w.str("union ", w.name(t.Name), " = ")
			for i := range t.PossibleTypes {
				if i > 0 {
					w.str(" | ")
				}
				w.str(w.typeRef(&t.PossibleTypes[i]))
			}
			w.str("\n")
		case "ENUM":
			w.str("enum ", w.name(t.Name), " {\n")
			for _, v := range t.EnumValues {
				w.description(v.Description, "  ")
				w.str("  ", w.name(v.Name))
				w.deprecated(v.IsDeprecated, v.DeprecationReason)
				w.str("\n")
			}
			w.str("}\n")
		case "INPUT_OBJECT":
			w.str("input ", w.name(t.Name), " {\n")
			w.inputValues(t.InputFields, "  ", false)
			w.str("}\n")
		default:
			return "", fmt.Errorf("type %q has the unknown kind %q", t.Name, t.Kind)
		}
	}
	return w.b.String(), w.err
}
