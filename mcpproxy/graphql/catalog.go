package graphql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/vektah/gqlparser/v2/ast"
)

// toolMeta is what Call needs to build a tool's operation, kept in
// integration.Tool.Meta.
type toolMeta struct {
	// Operation is "query" or "mutation".
	Operation string `json:"operation"`
	// Field is the root field the tool calls.
	Field string `json:"field"`
	// Arguments are the field's arguments with their GraphQL types as SDL
	// ("ID!", "[String!]"), in declaration order.
	Arguments []argumentMeta `json:"arguments,omitempty"`
	// Selection is the default selection set ("{ id name }"), empty when
	// the field returns a scalar or enum.
	Selection string `json:"selection,omitempty"`
	// SelectArgument is the name of the tool argument that carries a
	// selection set: "select", unless the field has an argument of that name.
	SelectArgument string `json:"selectArgument,omitempty"`
}

type argumentMeta struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Catalog lists one tool per root Query field (`query.<field>`) and per
// Mutation field (`mutation.<field>`), sorted by name. Input objects and
// enums are shared definitions that the tools' schemas reference as
// "#/$defs/<TypeName>". Subscriptions are not tools.
func (s *Schema) Catalog() (*integration.Catalog, error) {
	b := &catalogBuilder{schema: s.ast, defs: map[string]json.RawMessage{}, building: map[string]bool{}}
	var tools []integration.Tool
	for _, root := range []struct {
		op  string
		def *ast.Definition
	}{{"query", s.ast.Query}, {"mutation", s.ast.Mutation}} {
		for _, f := range rootFields(root.def) {
			t, err := b.tool(root.op, f)
			if err != nil {
				return nil, fmt.Errorf("building the tool for %s %s: %w", root.op, f.Name, err)
			}
			tools = append(tools, t)
		}
	}
	sort.Slice(tools, func(i, j int) bool { return tools[i].Name < tools[j].Name })
	cat := &integration.Catalog{Tools: tools}
	if len(b.defs) > 0 {
		cat.Definitions = b.defs
	}
	return cat, nil
}

// catalogBuilder turns GraphQL types into JSON Schema, collecting the named
// definitions the schemas refer to.
type catalogBuilder struct {
	schema   *ast.Schema
	defs     map[string]json.RawMessage
	building map[string]bool // definitions under construction, for recursive input types
}

func (b *catalogBuilder) tool(op string, f *ast.FieldDefinition) (integration.Tool, error) {
	meta := toolMeta{Operation: op, Field: f.Name}
	props := &object{}
	var required []string
	for _, a := range f.Arguments {
		meta.Arguments = append(meta.Arguments, argumentMeta{Name: a.Name, Type: a.Type.String()})
		s, err := b.input(a.Type)
		if err != nil {
			return integration.Tool{}, fmt.Errorf("argument %s: %w", a.Name, err)
		}
		s = annotate(s, a.Description, a.DefaultValue, a.Directives)
		props.set(a.Name, s)
		if a.Type.NonNull && a.DefaultValue == nil {
			required = append(required, a.Name)
		}
	}
	ret := b.schema.Types[f.Type.Name()]
	if ret == nil {
		return integration.Tool{}, fmt.Errorf("the result type %s is not defined", f.Type.Name())
	}
	if !ret.IsLeafType() {
		meta.Selection = b.defaultSelection(ret)
		meta.SelectArgument = "select"
		if f.Arguments.ForName("select") != nil {
			meta.SelectArgument = "selection"
			for i := 2; f.Arguments.ForName(meta.SelectArgument) != nil; i++ {
				meta.SelectArgument = fmt.Sprintf("select%d", i)
			}
		}
		props.set(meta.SelectArgument, (&object{}).
			set("type", "string").
			set("description", "GraphQL selection set for the result, e.g. `{ id name owner { login } }` (the braces are optional). "+
				"Default: `"+meta.Selection+"` (the scalar and enum fields of "+ret.Name+")."))
	}
	in := (&object{}).set("type", "object").set("properties", props)
	if len(required) > 0 {
		in.set("required", required)
	}
	in.set("additionalProperties", false)
	out, err := b.output(f.Type, ret)
	if err != nil {
		return integration.Tool{}, fmt.Errorf("result: %w", err)
	}

	t := integration.Tool{Name: op + "." + f.Name}
	t.Description = strings.TrimSpace(f.Description)
	if t.Description == "" {
		t.Description = "GraphQL " + op + " " + f.Name
	}
	if reason, ok := deprecation(f.Directives); ok {
		t.Description += "\n\nDeprecated: " + reason
	}
	if op == "mutation" {
		t.RequiresApproval = true
		t.ApprovalDescription = "mutation " + f.Name
	}
	if t.InputSchema, err = json.Marshal(in); err != nil {
		return integration.Tool{}, err
	}
	if t.OutputSchema, err = json.Marshal(out); err != nil {
		return integration.Tool{}, err
	}
	if t.Meta, err = json.Marshal(meta); err != nil {
		return integration.Tool{}, err
	}
	return t, nil
}

// input is the JSON Schema of a GraphQL input type.
func (b *catalogBuilder) input(t *ast.Type) (*object, error) {
	var s *object
	if t.Elem != nil {
		items, err := b.input(t.Elem)
		if err != nil {
			return nil, err
		}
		s = (&object{}).set("type", "array").set("items", items)
	} else {
		def := b.schema.Types[t.NamedType]
		if def == nil {
			return nil, fmt.Errorf("the type %s is not defined", t.NamedType)
		}
		switch def.Kind {
		case ast.Scalar:
			s = scalar(def)
		case ast.Enum, ast.InputObject:
			if err := b.define(def); err != nil {
				return nil, err
			}
			s = ref(def.Name)
		default:
			return nil, fmt.Errorf("%s is a %s, not an input type", def.Name, strings.ToLower(string(def.Kind)))
		}
	}
	if !t.NonNull {
		s = nullable(s)
	}
	return s, nil
}

// define adds the definition of an enum or input object, once; a recursive
// input type finds itself under construction and just refers to itself.
func (b *catalogBuilder) define(def *ast.Definition) error {
	if _, done := b.defs[def.Name]; done || b.building[def.Name] {
		return nil
	}
	b.building[def.Name] = true
	defer delete(b.building, def.Name)
	s := &object{}
	if def.Kind == ast.Enum {
		s.set("type", "string")
	} else {
		s.set("type", "object")
	}
	if d := strings.TrimSpace(def.Description); d != "" {
		s.set("description", d)
	}
	switch def.Kind {
	case ast.Enum:
		values := make([]string, 0, len(def.EnumValues))
		for _, v := range def.EnumValues {
			values = append(values, v.Name)
		}
		s.set("enum", values)
	case ast.InputObject:
		props := &object{}
		var required []string
		for _, f := range def.Fields {
			fs, err := b.input(f.Type)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", def.Name, f.Name, err)
			}
			props.set(f.Name, annotate(fs, f.Description, f.DefaultValue, f.Directives))
			if f.Type.NonNull && f.DefaultValue == nil {
				required = append(required, f.Name)
			}
		}
		s.set("properties", props)
		if len(required) > 0 {
			s.set("required", required)
		}
		s.set("additionalProperties", false)
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	b.defs[def.Name] = raw
	return nil
}

// output is the JSON Schema of a field's result with the default selection.
func (b *catalogBuilder) output(t *ast.Type, named *ast.Definition) (*object, error) {
	var s *object
	if t.Elem != nil {
		items, err := b.output(t.Elem, named)
		if err != nil {
			return nil, err
		}
		s = (&object{}).set("type", "array").set("items", items)
	} else {
		switch named.Kind {
		case ast.Scalar:
			s = scalar(named)
		case ast.Enum:
			if err := b.define(named); err != nil {
				return nil, err
			}
			s = ref(named.Name)
		default:
			var err error
			if s, err = b.selected(named); err != nil {
				return nil, err
			}
		}
	}
	if !t.NonNull {
		s = nullable(s)
	}
	return s, nil
}

// selected is the shape of an object, interface or union with its default
// selection: the fields defaultSelection picks.
func (b *catalogBuilder) selected(def *ast.Definition) (*object, error) {
	props := &object{}
	var required []string
	if def.IsAbstractType() {
		typename := (&object{}).set("type", "string")
		if names := b.possibleTypes(def); len(names) > 0 {
			typename.set("enum", names)
		}
		props.set("__typename", typename)
		required = append(required, "__typename")
	}
	leaves := b.leaves(def)
	for _, f := range leaves {
		named := b.schema.Types[f.Type.Name()]
		fs, err := b.output(f.Type, named)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", def.Name, f.Name, err)
		}
		props.set(f.Name, annotate(fs, f.Description, nil, nil))
		if f.Type.NonNull {
			required = append(required, f.Name)
		}
	}
	if len(leaves) == 0 && !def.IsAbstractType() {
		props.set("__typename", (&object{}).set("type", "string").set("const", def.Name))
		required = append(required, "__typename")
	}
	s := (&object{}).set("type", "object")
	desc := strings.TrimSpace(def.Description)
	if desc != "" {
		desc += "\n\n"
	}
	s.set("description", desc+def.Name+" with the default selection; pass a selection set to get other fields.")
	s.set("properties", props)
	if len(required) > 0 {
		s.set("required", required)
	}
	return s, nil
}

// leaves are the fields of a composite type selected by default: scalars and
// enums (or lists of them) that need no arguments and are not deprecated.
func (b *catalogBuilder) leaves(def *ast.Definition) ast.FieldList {
	var out ast.FieldList
	for _, f := range def.Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		named := b.schema.Types[f.Type.Name()]
		if named == nil || !named.IsLeafType() {
			continue
		}
		if _, dep := deprecation(f.Directives); dep {
			continue
		}
		needsArgs := false
		for _, a := range f.Arguments {
			if a.Type.NonNull && a.DefaultValue == nil {
				needsArgs = true
			}
		}
		if !needsArgs {
			out = append(out, f)
		}
	}
	return out
}

// defaultSelection is the selection set a call sends without `select`: the
// leaves, with __typename first for interfaces and unions, or __typename
// alone when there are no leaves.
func (b *catalogBuilder) defaultSelection(def *ast.Definition) string {
	var names []string
	if def.IsAbstractType() {
		names = append(names, "__typename")
	}
	for _, f := range b.leaves(def) {
		names = append(names, f.Name)
	}
	if len(names) == 0 {
		names = append(names, "__typename")
	}
	return "{ " + strings.Join(names, " ") + " }"
}

func (b *catalogBuilder) possibleTypes(def *ast.Definition) []string {
	var names []string
	for _, t := range b.schema.GetPossibleTypes(def) {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	return names
}

// scalar is the JSON Schema of a scalar: the built-in ones map to JSON
// types; a custom scalar's representation is the server's choice, so it
// accepts anything and says which scalar it is.
func scalar(def *ast.Definition) *object {
	switch def.Name {
	case "String", "ID":
		return (&object{}).set("type", "string")
	case "Int":
		return (&object{}).set("type", "integer")
	case "Float":
		return (&object{}).set("type", "number")
	case "Boolean":
		return (&object{}).set("type", "boolean")
	}
	desc := "GraphQL scalar " + def.Name
	if d := strings.TrimSpace(def.Description); d != "" {
		desc += ": " + d
	}
	return (&object{}).set("description", desc)
}

func ref(name string) *object {
	return (&object{}).set("$ref", "#/$defs/"+name)
}

// nullable lets a schema also accept null: a second JSON type, or an anyOf
// around a reference. A schema without a type accepts null already.
func nullable(s *object) *object {
	if t, ok := s.get("type").(string); ok {
		return s.set("type", []string{t, "null"})
	}
	if s.get("$ref") != nil {
		return (&object{}).set("anyOf", []any{s, (&object{}).set("type", "null")})
	}
	return s
}

// annotate adds what an argument or field declares about itself: its
// description, default value and deprecation.
func annotate(s *object, description string, def *ast.Value, directives ast.DirectiveList) *object {
	desc := strings.TrimSpace(description)
	if reason, ok := deprecation(directives); ok {
		if desc != "" {
			desc += "\n\n"
		}
		desc += "Deprecated: " + reason
	}
	if desc != "" {
		if own, ok := s.get("description").(string); ok && own != "" {
			desc += " (" + own + ")"
		}
		s.set("description", desc)
	}
	if def != nil {
		if v, err := def.Value(nil); err == nil {
			s.set("default", v)
		}
	}
	return s
}

// deprecation reports whether directives mark a field deprecated, and why.
func deprecation(directives ast.DirectiveList) (string, bool) {
	d := directives.ForName("deprecated")
	if d == nil {
		return "", false
	}
	if a := d.Arguments.ForName("reason"); a != nil && a.Value != nil && a.Value.Kind != ast.NullValue {
		return a.Value.Raw, true
	}
	return "No longer supported", true
}

// object is a JSON object that keeps its keys in the order they were set, so
// schemas list arguments and fields in the order the GraphQL schema declares
// them, and the same schema always gives the same bytes.
type object struct {
	keys []string
	vals map[string]any
}

func (o *object) set(key string, v any) *object {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
	return o
}

func (o *object) get(key string) any { return o.vals[key] }

// MarshalJSON writes the keys in order.
func (o *object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		vb, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", k, err)
		}
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
