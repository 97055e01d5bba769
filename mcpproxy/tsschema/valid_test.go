package tsschema

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/evanw/esbuild/pkg/api"
)

// checkTypeScript parses `type <name> = <expr>;` as TypeScript and fails the
// test unless it parses and is nothing but a type: with the types stripped no
// code may be left, or the expression smuggled a statement in.
func checkTypeScript(t testing.TB, name, expr string) {
	t.Helper()
	if strings.ContainsAny(expr, "\n\r") {
		t.Errorf("type %s spans lines: %q", name, expr)
	}
	src := "type " + name + " = " + expr + ";\n"
	res := api.Transform(src, api.TransformOptions{Loader: api.LoaderTS, Sourcefile: "shape.ts", LogLevel: api.LogLevelSilent})
	for _, m := range res.Errors {
		col := 0
		if m.Location != nil {
			col = m.Location.Column
		}
		t.Errorf("not TypeScript: %s at column %d of\n%.2000s", m.Text, col, src)
	}
	if len(res.Errors) == 0 && strings.TrimSpace(string(res.Code)) != "" {
		t.Errorf("more than a type: %q is left of\n%.2000s", res.Code, src)
	}
}

// randomSchema builds a schema from the keywords the renderer knows, with
// awkward names and values, so that every path gets combined with the others.
func randomSchema(rng *rand.Rand, depth int) string {
	names := []string{"a", "id", "x-rate", "2xx", "", "héllo", "q\"uote", "back\\slash", "new\nline", "$ok", "default", "\u2028", "a b", "__proto__", "constructor", "new", "get", "readonly"}
	literals := []string{`"s"`, `""`, `"\"q\""`, `"\u2029"`, `0`, `-1`, `1.5e-3`, `-0`, `true`, `false`, `null`, `{}`, `[]`, `{"k":[1,{"z":null}]}`, `["a",-2]`, `1e400`}
	refs := []string{"#/$defs/Pet", "#/definitions/Pet", "#/components/schemas/Pet", "#/$defs/pet-store.Pet v2", "#/$defs/Nope", "#", "#/$defs/Local", "http://x/y#/$defs/Pet", "#/$defs/Pet/properties/id"}
	types := []string{`"string"`, `"integer"`, `"number"`, `"boolean"`, `"null"`, `"object"`, `"array"`, `"file"`, `["string","null"]`, `["object","array","null"]`, `[]`}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	sub := func() string { return randomSchema(rng, depth+1) }
	list := func(n int, f func() string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f()
		}
		return strings.Join(parts, ",")
	}
	if depth >= 4 || rng.IntN(4) < depth {
		return pick([]string{`{}`, `true`, `false`, `{"type":"string"}`, `{"type":"integer"}`, `{"$ref":"#/$defs/Pet"}`})
	}
	var kv []string
	add := func(k, v string) { kv = append(kv, fmt.Sprintf("%q:%s", k, v)) }
	for range 1 + rng.IntN(4) {
		switch rng.IntN(16) {
		case 0, 1:
			add("type", pick(types))
		case 2, 3:
			add("properties", "{"+list(rng.IntN(4), func() string { return fmt.Sprintf("%q:%s", pick(names), sub()) })+"}")
		case 4:
			add("required", "["+list(rng.IntN(3), func() string { return fmt.Sprintf("%q", pick(names)) })+"]")
		case 5:
			add("additionalProperties", pick([]string{"true", "false", sub()}))
		case 6:
			add("items", pick([]string{sub(), "false", "[" + list(rng.IntN(3), sub) + "]"}))
		case 7:
			add("prefixItems", "["+list(rng.IntN(3), sub)+"]")
		case 8:
			add("enum", "["+list(rng.IntN(5), func() string { return pick(literals) })+"]")
		case 9:
			add("const", pick(literals))
		case 10:
			add("anyOf", "["+list(rng.IntN(4), sub)+"]")
		case 11:
			add("oneOf", "["+list(rng.IntN(4), sub)+"]")
		case 12:
			add("allOf", "["+list(rng.IntN(4), sub)+"]")
		case 13:
			add("$ref", fmt.Sprintf("%q", pick(refs)))
		case 14:
			add("nullable", pick([]string{"true", "false"}))
		case 15:
			add("patternProperties", "{"+list(rng.IntN(3), func() string { return fmt.Sprintf("%q:%s", pick(names), sub()) })+"}")
		}
	}
	if depth == 0 && rng.IntN(3) == 0 {
		add("$defs", `{"Local":`+sub()+`,"Pet":{"type":"string"}}`)
	}
	return "{" + strings.Join(kv, ",") + "}"
}

var validityDefs = map[string]json.RawMessage{
	"Pet":              petDefs["Pet"],
	"NewPet":           petDefs["NewPet"],
	"pet-store.Pet v2": json.RawMessage(`{"type":"object","properties":{"friend":{"$ref":"#/$defs/pet-store.Pet v2"},"pet":{"$ref":"#/$defs/Pet"}}}`),
	"Record":           json.RawMessage(`{"type":"object","additionalProperties":{"type":"string"}}`),
	"string":           json.RawMessage(`{"enum":["a","b"]}`),
	"2fa":              json.RawMessage(`{"type":"integer"}`),
	"":                 json.RawMessage(`{"type":"null"}`),
}

func TestOutputIsValidTypeScript(t *testing.T) {
	var snippets []string
	for _, tc := range typeCases {
		r := NewRenderer(tc.defs)
		snippets = append(snippets, r.Type(json.RawMessage(tc.schema)))
		for _, def := range r.Definitions() {
			snippets = append(snippets, def)
		}
	}
	for _, tc := range hostileSchemas() {
		snippets = append(snippets, NewRenderer(nil).Type(json.RawMessage(tc.schema)))
	}
	rng := rand.New(rand.NewPCG(1, 2)) // fixed: the same snippets every run
	r := NewRenderer(validityDefs)
	for range 300 {
		schema := randomSchema(rng, 0)
		if !json.Valid([]byte(schema)) {
			t.Fatalf("generator made invalid JSON: %s", schema)
		}
		snippets = append(snippets, r.Type(json.RawMessage(schema)), r.TypeNamed("Root", json.RawMessage(schema)))
	}
	defs := r.Definitions()
	if len(snippets) < 300 || len(defs) < 5 {
		t.Fatalf("too few snippets to mean much: %d types, %d definitions", len(snippets), len(defs))
	}
	for i, s := range snippets {
		checkTypeScript(t, fmt.Sprintf("T_%d", i), s)
	}
	for name, s := range defs {
		if reserved[name] {
			t.Errorf("definition named with a reserved word: %s", name)
		}
		checkTypeScript(t, name, s)
	}
}

// TestCheckerCatchesBrokenTypeScript shows that checkTypeScript is not a
// rubber stamp.
func TestCheckerCatchesBrokenTypeScript(t *testing.T) {
	for _, bad := range []string{`{ a: string`, `"unterminated`, `string | `, `-1[]x`, `string; console.log(1)`, "string\n"} {
		ft := &fakeT{}
		checkTypeScript(ft, "T", bad)
		if !ft.failed {
			t.Errorf("checkTypeScript accepted %q", bad)
		}
	}
}

type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }

func FuzzType(f *testing.F) {
	for _, tc := range typeCases {
		f.Add([]byte(tc.schema), "Pet")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		f.Add([]byte(randomSchema(rng, 0)), "pet-store.Pet v2")
	}
	f.Add([]byte(`{"$ref":"#"}`), "string")
	f.Add([]byte(`{"$defs":{"a/b":{"$ref":"#/$defs/a~1b"}},"$ref":"#/$defs/a~1b"}`), "")
	f.Fuzz(func(t *testing.T, schema []byte, name string) {
		defs := map[string]json.RawMessage{name: schema}
		for k, v := range validityDefs {
			defs[k] = v
		}
		r := NewRenderer(defs)
		outs := []string{
			r.Type(schema),
			r.TypeNamed(name, schema),
			r.Type(json.RawMessage(`{"$ref":` + mustJSON(t, "#/$defs/"+name) + `}`)),
		}
		for _, out := range outs {
			if len(out) > maxOutput+4096 {
				t.Fatalf("output of %d bytes", len(out))
			}
			checkTypeScript(t, "T", out)
		}
		for id, def := range r.Definitions() {
			if reserved[id] {
				t.Errorf("reserved identifier %q", id)
			}
			checkTypeScript(t, id, def)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
