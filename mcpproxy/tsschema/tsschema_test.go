package tsschema

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// petDefs are the components of the reference Pets API (OpenAPI 3.0.3).
var petDefs = map[string]json.RawMessage{
	"NewPet": json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"tag":{"type":"string"}},"required":["name"]}`),
	"Pet":    json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"},"name":{"type":"string"},"tag":{"type":"string"}},"required":["id","name"]}`),
}

// typeCases pin one rendering rule each; valid_test.go also feeds every
// output to a TypeScript parser.
var typeCases = []struct {
	name   string
	defs   map[string]json.RawMessage
	schema string
	want   string
}{
	// The reference examples.
	{name: "getPet input marks only optional keys with ?",
		schema: `{"type":"object","properties":{"petId":{"type":"string"},"verbose":{"type":"boolean"}},"required":["petId"],"additionalProperties":false}`,
		want:   `{ petId: string; verbose?: boolean; }`},
	{name: "createPet input refers to NewPet by name", defs: petDefs,
		schema: `{"type":"object","properties":{"body":{"$ref":"#/components/schemas/NewPet"}},"required":["body"]}`,
		want:   `{ body: NewPet; }`},

	// Type keywords.
	{name: "string", schema: `{"type":"string"}`, want: `string`},
	{name: "integer is number", schema: `{"type":"integer","format":"int64"}`, want: `number`},
	{name: "number", schema: `{"type":"number"}`, want: `number`},
	{name: "boolean", schema: `{"type":"boolean"}`, want: `boolean`},
	{name: "null", schema: `{"type":"null"}`, want: `null`},
	{name: "binary string stays string", schema: `{"type":"string","format":"binary"}`, want: `string`},
	{name: "unknown type name is unknown", schema: `{"type":"file"}`, want: `unknown`},
	{name: "type list is a union", schema: `{"type":["string","null"]}`, want: `string | null`},
	{name: "type list drops repeats", schema: `{"type":["integer","number","integer"]}`, want: `number`},
	{name: "nullable adds null", schema: `{"type":"string","nullable":true}`, want: `string | null`},
	{name: "nullable false adds nothing", schema: `{"type":"string","nullable":false}`, want: `string`},
	{name: "swagger x-nullable adds null", schema: `{"type":"integer","x-nullable":true}`, want: `number | null`},
	{name: "nullable does not repeat null", schema: `{"type":["string","null"],"nullable":true}`, want: `string | null`},
	{name: "nullable object", schema: `{"type":"object","properties":{"a":{"type":"string"}},"nullable":true}`,
		want: `{ a?: string; } | null`},
	{name: "empty schema is unknown", schema: `{}`, want: `unknown`},
	{name: "true is unknown", schema: `true`, want: `unknown`},
	{name: "false is never", schema: `false`, want: `never`},
	{name: "description only is unknown", schema: `{"description":"anything at all"}`, want: `unknown`},
	{name: "not JSON is unknown", schema: `{"type":`, want: `unknown`},
	{name: "a JSON string is not a schema", schema: `"string"`, want: `unknown`},
	{name: "a number that is not JSON is not JSON", schema: `{"const":01}`, want: `unknown`},
	{name: "nan is not JSON", schema: `{"enum":["a",nan]}`, want: `unknown`},

	// Objects.
	{name: "properties without type make an object",
		schema: `{"properties":{"a":{"type":"number"}}}`, want: `{ a?: number; }`},
	{name: "properties keep the order of the JSON",
		schema: `{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"string"},"mid":{"type":"string"}}}`,
		want:   `{ zeta?: string; alpha?: string; mid?: string; }`},
	{name: "descriptions are not emitted",
		schema: `{"type":"object","description":"A pet.","properties":{"id":{"type":"string","description":"The id."}},"required":["id"]}`,
		want:   `{ id: string; }`},
	{name: "object without properties is a record of unknown", schema: `{"type":"object"}`, want: `Record<string, unknown>`},
	{name: "additionalProperties true without properties is a record of unknown",
		schema: `{"type":"object","additionalProperties":true}`, want: `Record<string, unknown>`},
	{name: "additionalProperties false without properties is a record of never",
		schema: `{"type":"object","additionalProperties":false}`, want: `Record<string, never>`},
	{name: "additionalProperties schema without properties is a record of it",
		schema: `{"type":"object","additionalProperties":{"type":"integer"}}`, want: `Record<string, number>`},
	{name: "additionalProperties schema alone implies an object",
		schema: `{"additionalProperties":{"type":"string"}}`, want: `Record<string, string>`},
	{name: "additionalProperties schema with properties adds an index signature",
		schema: `{"type":"object","properties":{"a":{"type":"number"}},"required":["a"],"additionalProperties":{"type":"number"}}`,
		want:   `{ a: number; [key: string]: number; }`},
	{name: "index signature widens to unknown when a property has another type",
		schema: `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"number"}}`,
		want:   `{ a?: string; [key: string]: unknown; }`},
	{name: "index signature keeps its type when it covers every property",
		schema: `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":["number","string"]}},"additionalProperties":{"type":["string","number","null"]}}`,
		want:   `{ a?: string; b?: number | string; [key: string]: string | number | null; }`},
	{name: "patternProperties become the index signature",
		schema: `{"type":"object","patternProperties":{"^x-":{"type":"string"},"^y-":{"type":"number"}}}`,
		want:   `Record<string, string | number>`},
	{name: "keys that are not identifiers are quoted",
		schema: `{"type":"object","properties":{"x-rate":{"type":"number"},"$ok":{"type":"number"},"_ok2":{"type":"number"},"2xx":{"type":"number"},"":{"type":"number"},"a b":{"type":"number"},"q\"uote":{"type":"number"},"héllo":{"type":"number"},"line\u2028sep":{"type":"number"}},"required":["x-rate"]}`,
		want:   `{ "x-rate": number; $ok?: number; _ok2?: number; "2xx"?: number; ""?: number; "a b"?: number; "q\"uote"?: number; "héllo"?: number; "line\u2028sep"?: number; }`},
	{name: "reserved words are fine as property names",
		schema: `{"type":"object","properties":{"default":{"type":"string"},"class":{"type":"string"}},"required":["default","class"]}`,
		want:   `{ default: string; class: string; }`},
	{name: "required key without a declaration is unknown",
		schema: `{"type":"object","properties":{"a":{"type":"string"}},"required":["b","a","b"]}`,
		want:   `{ a: string; b: unknown; }`},
	{name: "required keys alone make an object", schema: `{"required":["id"]}`, want: `{ id: unknown; }`},
	{name: "required key without a declaration takes the additionalProperties type",
		schema: `{"type":"object","required":["k"],"additionalProperties":{"type":"string"}}`,
		want:   `{ k: string; [key: string]: string; }`},
	{name: "repeated property keeps its first place and last schema",
		schema: `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"},"a":{"type":"number"}}}`,
		want:   `{ a?: number; b?: string; }`},

	// Arrays.
	{name: "array of strings", schema: `{"type":"array","items":{"type":"string"}}`, want: `string[]`},
	{name: "array of arrays", schema: `{"type":"array","items":{"type":"array","items":{"type":"number"}}}`, want: `number[][]`},
	{name: "array without items is unknown[]", schema: `{"type":"array"}`, want: `unknown[]`},
	{name: "items without type make an array", schema: `{"items":{"type":"boolean"}}`, want: `boolean[]`},
	{name: "array of a union is parenthesised", schema: `{"type":"array","items":{"type":["string","number"]}}`, want: `(string | number)[]`},
	{name: "array of an intersection is parenthesised", defs: petDefs,
		schema: `{"type":"array","items":{"allOf":[{"$ref":"#/components/schemas/Pet"},{"$ref":"#/components/schemas/NewPet"}]}}`,
		want:   `(Pet & NewPet)[]`},
	{name: "array of a negative literal is parenthesised", schema: `{"type":"array","items":{"const":-1}}`, want: `(-1)[]`},
	{name: "array of objects", schema: `{"type":"array","items":{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]}}`,
		want: `{ id: string; }[]`},
	{name: "array of nullable strings", schema: `{"type":"array","items":{"type":"string","nullable":true}}`, want: `(string | null)[]`},
	{name: "items false is an array of nothing", schema: `{"type":"array","items":false}`, want: `never[]`},
	{name: "prefixItems is a tuple", schema: `{"type":"array","prefixItems":[{"type":"string"},{"type":"number"}]}`, want: `[string, number]`},
	{name: "prefixItems with items is a tuple with a rest",
		schema: `{"type":"array","prefixItems":[{"type":"string"}],"items":{"type":["number","null"]}}`, want: `[string, ...(number | null)[]]`},
	{name: "prefixItems with items false is a closed tuple",
		schema: `{"type":"array","prefixItems":[{"type":"string"}],"items":false}`, want: `[string]`},
	{name: "items array is a tuple", schema: `{"type":"array","items":[{"type":"boolean"},{"type":"null"}]}`, want: `[boolean, null]`},
	{name: "items array with additionalItems has a rest",
		schema: `{"type":"array","items":[{"type":"boolean"}],"additionalItems":{"type":"string"}}`, want: `[boolean, ...string[]]`},
	{name: "empty tuple", schema: `{"type":"array","prefixItems":[]}`, want: `[]`},

	// Literals.
	{name: "enum of strings is a union of literals", schema: `{"type":"string","enum":["a","b"]}`, want: `"a" | "b"`},
	{name: "enum mixes kinds", schema: `{"enum":["a",1,-2.5e3,true,null]}`, want: `"a" | 1 | -2.5e3 | true | null`},
	{name: "enum drops repeats", schema: `{"enum":["a","b","a"]}`, want: `"a" | "b"`},
	{name: "enum escapes strings", schema: `{"enum":["say \"hi\"","a\\b","tab\there","\u0001"]}`,
		want: `"say \"hi\"" | "a\\b" | "tab\there" | "\u0001"`},
	{name: "empty enum is never", schema: `{"enum":[]}`, want: `never`},
	{name: "nullable enum", schema: `{"type":"string","enum":["on","off"],"nullable":true}`, want: `"on" | "off" | null`},
	{name: "enum with null and nullable has one null", schema: `{"enum":["x",null],"nullable":true}`, want: `"x" | null`},
	{name: "const string", schema: `{"const":"fixed"}`, want: `"fixed"`},
	{name: "const null", schema: `{"const":null}`, want: `null`},
	{name: "const object", schema: `{"const":{"a":1,"b-c":[true,"x"],"d":{}}}`, want: `{ a: 1; "b-c": [true, "x"]; d: {}; }`},
	{name: "enum of objects", schema: `{"enum":[{"k":"v"},[]]}`, want: `{ k: "v"; } | []`},

	// Combinators.
	{name: "anyOf is a union", schema: `{"anyOf":[{"type":"string"},{"type":"number"}]}`, want: `string | number`},
	{name: "oneOf is a union", schema: `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, want: `string | number`},
	{name: "union drops repeats", schema: `{"oneOf":[{"type":"integer"},{"type":"number"},{"type":["number","string"]}]}`, want: `number | string`},
	{name: "union with unknown is unknown", schema: `{"anyOf":[{"type":"string"},{}]}`, want: `unknown`},
	{name: "union drops never", schema: `{"anyOf":[{"type":"string"},false]}`, want: `string`},
	{name: "allOf of plain objects merges into one object",
		schema: `{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"b":{"type":"number"}},"required":["b"]}]}`,
		want:   `{ a: string; b: number; }`},
	{name: "allOf merge takes required from any member",
		schema: `{"allOf":[{"type":"object","properties":{"a":{"type":"string"}}},{"type":"object","required":["a"]}]}`,
		want:   `{ a: string; }`},
	{name: "allOf with a ref is an intersection", defs: petDefs,
		schema: `{"allOf":[{"$ref":"#/components/schemas/Pet"},{"type":"object","properties":{"age":{"type":"integer"}}}]}`,
		want:   `Pet & { age?: number; }`},
	{name: "allOf with a repeated property is an intersection",
		schema: `{"allOf":[{"type":"object","properties":{"a":{"type":"string"}}},{"type":"object","properties":{"a":{"type":"string","enum":["x"]}}}]}`,
		want:   `{ a?: string; } & { a?: "x"; }`},
	{name: "allOf with one member is that member", defs: petDefs,
		schema: `{"allOf":[{"$ref":"#/components/schemas/Pet"}],"nullable":true}`, want: `Pet | null`},
	{name: "union inside an intersection is parenthesised", defs: petDefs,
		schema: `{"allOf":[{"$ref":"#/components/schemas/Pet"},{"oneOf":[{"$ref":"#/components/schemas/NewPet"},{"type":"null"}]}]}`,
		want:   `Pet & (NewPet | null)`},
	{name: "type and oneOf constrain the same value",
		schema: `{"type":"object","properties":{"a":{"type":"string"}},"oneOf":[{"required":["a"]},{"required":["b"]}]}`,
		want:   `{ a?: string; } & ({ a: unknown; } | { b: unknown; })`},
	{name: "type with unconstraining oneOf is just the type",
		schema: `{"type":"string","oneOf":[{"format":"date"},{"format":"email"}]}`, want: `string`},

	// Refs.
	{name: "$defs ref", defs: petDefs, schema: `{"$ref":"#/$defs/Pet"}`, want: `Pet`},
	{name: "definitions ref", defs: petDefs, schema: `{"$ref":"#/definitions/Pet"}`, want: `Pet`},
	{name: "components ref", defs: petDefs, schema: `{"$ref":"#/components/schemas/Pet"}`, want: `Pet`},
	{name: "ref name is sanitised", defs: map[string]json.RawMessage{"pet-store.Pet v2": json.RawMessage(`{"type":"string"}`)},
		schema: `{"$ref":"#/$defs/pet-store.Pet v2"}`, want: `PetStorePetV2`},
	{name: "ref with pointer escapes", defs: map[string]json.RawMessage{"a/b~c": json.RawMessage(`{}`)},
		schema: `{"$ref":"#/$defs/a~1b~0c"}`, want: `ABC`},
	{name: "ref with percent escapes", defs: map[string]json.RawMessage{"My Pet": json.RawMessage(`{}`)},
		schema: `{"$ref":"#/components/schemas/My%20Pet"}`, want: `MyPet`},
	{name: "ref to an unknown name is unknown", defs: petDefs, schema: `{"$ref":"#/$defs/Nope"}`, want: `unknown`},
	{name: "ref into a definition is unknown", defs: petDefs, schema: `{"$ref":"#/$defs/Pet/properties/id"}`, want: `unknown`},
	{name: "ref to another document is unknown", defs: petDefs, schema: `{"$ref":"other.json#/$defs/Pet"}`, want: `unknown`},
	{name: "ref to the root without a name is unknown", schema: `{"type":"array","items":{"$ref":"#"}}`, want: `unknown[]`},
	{name: "ref that is not a string is ignored", schema: `{"$ref":7,"type":"string"}`, want: `string`},
	{name: "nullable ref", defs: petDefs, schema: `{"$ref":"#/components/schemas/Pet","nullable":true}`, want: `Pet | null`},
	{name: "local $defs resolve",
		schema: `{"type":"object","properties":{"n":{"$ref":"#/$defs/Node"}},"$defs":{"Node":{"type":"string"}}}`,
		want:   `{ n?: Node; }`},
}

func TestType(t *testing.T) {
	for _, tc := range typeCases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRenderer(tc.defs)
			if got := r.Type(json.RawMessage(tc.schema)); got != tc.want {
				t.Errorf("Type(%s)\n got  %s\n want %s", tc.schema, got, tc.want)
			}
		})
	}
}

func TestEnumOverFiftyValuesEndsWithTheBaseType(t *testing.T) {
	var vals, lits []string
	for i := range 80 {
		vals = append(vals, fmt.Sprintf(`"v%d"`, i))
		if i < maxEnum {
			lits = append(lits, fmt.Sprintf(`"v%d"`, i))
		}
	}
	tests := []struct {
		name, schema, want string
	}{
		{"typed", `{"type":"string","enum":[` + strings.Join(vals, ",") + `]}`, strings.Join(lits, " | ") + " | string"},
		{"untyped", `{"enum":[` + strings.Join(vals, ",") + `,1,null]}`, strings.Join(lits, " | ") + " | string | number | null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewRenderer(nil).Type(json.RawMessage(tc.schema)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDefinitions(t *testing.T) {
	tests := []struct {
		name    string
		defs    map[string]json.RawMessage
		schemas []string
		want    map[string]string
	}{
		{name: "createPet reaches NewPet and nothing else", defs: petDefs,
			schemas: []string{`{"type":"object","properties":{"body":{"$ref":"#/components/schemas/NewPet"}},"required":["body"]}`},
			want:    map[string]string{"NewPet": `{ name: string; tag?: string; }`}},
		{name: "getPet output reaches Pet", defs: petDefs,
			schemas: []string{`{"$ref":"#/components/schemas/Pet"}`},
			want:    map[string]string{"Pet": `{ id: string; name: string; tag?: string; }`}},
		{name: "no refs, no definitions", defs: petDefs, schemas: []string{`{"type":"string"}`}, want: map[string]string{}},
		{name: "definitions are reached transitively",
			defs: map[string]json.RawMessage{
				"Order": json.RawMessage(`{"type":"object","properties":{"lines":{"type":"array","items":{"$ref":"#/$defs/Line"}}},"required":["lines"]}`),
				"Line":  json.RawMessage(`{"type":"object","properties":{"sku":{"$ref":"#/$defs/Sku"}}}`),
				"Sku":   json.RawMessage(`{"type":"string"}`),
				"Other": json.RawMessage(`{"type":"string"}`),
			},
			schemas: []string{`{"$ref":"#/$defs/Order"}`},
			want:    map[string]string{"Order": `{ lines: Line[]; }`, "Line": `{ sku?: Sku; }`, "Sku": `string`}},
		{name: "circular definitions are named, not expanded",
			defs: map[string]json.RawMessage{
				"A": json.RawMessage(`{"type":"object","properties":{"b":{"$ref":"#/definitions/B"}}}`),
				"B": json.RawMessage(`{"type":"object","properties":{"a":{"$ref":"#/definitions/A"}}}`),
			},
			schemas: []string{`{"$ref":"#/definitions/A"}`},
			want:    map[string]string{"A": `{ b?: B; }`, "B": `{ a?: A; }`}},
		{name: "a definition that refers to itself",
			defs:    map[string]json.RawMessage{"Tree": json.RawMessage(`{"type":"object","properties":{"children":{"type":"array","items":{"$ref":"#/$defs/Tree"}}}}`)},
			schemas: []string{`{"$ref":"#/$defs/Tree"}`},
			want:    map[string]string{"Tree": `{ children?: Tree[]; }`}},
		{name: "unknown refs are not definitions", defs: petDefs,
			schemas: []string{`{"$ref":"#/$defs/Missing"}`}, want: map[string]string{}},
		{name: "definitions that are not JSON render as unknown",
			defs:    map[string]json.RawMessage{"Bad": json.RawMessage(`{nope`)},
			schemas: []string{`{"$ref":"#/$defs/Bad"}`}, want: map[string]string{"Bad": `unknown`}},
		{name: "local $defs join the definitions",
			schemas: []string{`{"$ref":"#/$defs/Node","$defs":{"Node":{"type":"object","properties":{"next":{"$ref":"#/$defs/Node"}}},"Unused":{"type":"string"}}}`},
			want:    map[string]string{"Node": `{ next?: Node; }`}},
		{name: "local definitions (draft 7) join the definitions",
			schemas: []string{`{"type":"object","properties":{"p":{"$ref":"#/definitions/P"}},"definitions":{"P":{"type":"integer"}}}`},
			want:    map[string]string{"P": `number`}},
		{name: "local $defs equal to a shared one are that one", defs: petDefs,
			schemas: []string{`{"$ref":"#/$defs/Pet","$defs":{"Pet":` + string(petDefs["Pet"]) + `}}`},
			want:    map[string]string{"Pet": `{ id: string; name: string; tag?: string; }`}},
		{name: "local $defs that differ from a shared one get their own name", defs: petDefs,
			schemas: []string{
				`{"type":"object","properties":{"mine":{"$ref":"#/$defs/Pet"},"shared":{"$ref":"#/$defs/NewPet"}},"$defs":{"Pet":{"type":"string"}}}`,
				`{"$ref":"#/$defs/Pet"}`,
			},
			want: map[string]string{"Pet2": `string`, "Pet": `{ id: string; name: string; tag?: string; }`, "NewPet": `{ name: string; tag?: string; }`}},
		{name: "the same local $defs in many schemas are one definition",
			schemas: []string{
				`{"$ref":"#/$defs/Id","$defs":{"Id":{"type":"string"}}}`,
				`{"$ref":"#/$defs/Id","$defs":{"Id":{ "type" : "string" }}}`,
			},
			want: map[string]string{"Id": `string`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRenderer(tc.defs)
			for _, s := range tc.schemas {
				r.Type(json.RawMessage(s))
			}
			if got := r.Definitions(); !maps.Equal(got, tc.want) {
				t.Errorf("Definitions()\n got  %v\n want %v", got, tc.want)
			}
		})
	}
}

func TestLocalDefinitionThatShadowsASharedOneIsUsedInsideItsSchema(t *testing.T) {
	r := NewRenderer(petDefs)
	got := r.Type(json.RawMessage(`{"type":"object","properties":{"mine":{"$ref":"#/$defs/Pet"},"shared":{"$ref":"#/$defs/NewPet"}},"$defs":{"Pet":{"type":"string"}}}`))
	if want := `{ mine?: Pet2; shared?: NewPet; }`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := r.Type(json.RawMessage(`{"$ref":"#/$defs/Pet"}`)); got != "Pet" {
		t.Errorf("outside the schema that shadows it, Pet is the shared one; got %s", got)
	}
}

func TestTypeNamedLetsTheRootReferToItself(t *testing.T) {
	r := NewRenderer(nil)
	schema := json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#"}}},"required":["name"]}`)
	want := `{ name: string; children?: TreeNode[]; }`
	if got := r.TypeNamed("tree node", schema); got != want {
		t.Errorf("TypeNamed = %s, want %s", got, want)
	}
	if got, want := r.Definitions(), map[string]string{"TreeNode": want}; !maps.Equal(got, want) {
		t.Errorf("Definitions = %v, want %v", got, want)
	}

	plain := NewRenderer(nil)
	if got := plain.TypeNamed("Leaf", json.RawMessage(`{"type":"string"}`)); got != "string" {
		t.Errorf("TypeNamed without self refs = %s", got)
	}
	if got := plain.Definitions(); len(got) != 0 {
		t.Errorf("a root that never refers to itself is not a definition: %v", got)
	}
}

func TestIdentifier(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"words become PascalCase", "pet-store.Pet v2", "PetStorePetV2"},
		{"camelCase keeps its humps", "newPet", "NewPet"},
		{"snake_case", "new_pet_request", "NewPetRequest"},
		{"already an identifier", "Pet", "Pet"},
		{"leading digit gets an underscore", "2fa", "_2Fa"},
		{"digits end a word", "v2beta1", "V2Beta1"},
		{"reserved words are capitalised away", "string", "String"},
		{"reserved words that stay reserved get a suffix", "Record", "Record2"},
		{"the names describe adds are kept free", "ToolError", "ToolError2"},
		{"letters of long-standing scripts are kept", "café_menü", "CaféMenü"},
		{"CJK is kept", "宠物", "宠物"},
		{"emoji and other symbols are dropped", "pet🐶name™", "PetName"},
		{"letters newer than old parsers are dropped", "a\U0001E290b", "AB"},
		{"nothing usable", "--- ...", "Type"},
		{"empty", "", "Type"},
		{"GraphQL style", "Query.user.Input", "QueryUserInput"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewRenderer(nil).Identifier(tc.in); got != tc.want {
				t.Errorf("Identifier(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestIdentifierCollisionsAreNumberedInSortedOrder(t *testing.T) {
	defs := map[string]json.RawMessage{
		"pet": json.RawMessage(`{}`), "Pet": json.RawMessage(`{}`), "pet.": json.RawMessage(`{}`), "Pet2": json.RawMessage(`{}`),
	}
	// Sorted: "Pet", "Pet2", "pet", "pet." — so "pet" cannot take "Pet2".
	want := map[string]string{"Pet": "Pet", "Pet2": "Pet2", "pet": "Pet3", "pet.": "Pet4"}
	for range 5 { // map order must not matter
		r := NewRenderer(defs)
		for name, id := range want {
			if got := r.Identifier(name); got != id {
				t.Fatalf("Identifier(%q) = %q, want %q", name, got, id)
			}
		}
	}
	r := NewRenderer(defs)
	if a, b := r.Identifier("PET"), r.Identifier("PET"); a != "PET" || a != b {
		t.Errorf("a new name gets a free identifier and keeps it: %q, %q", a, b)
	}
	if got := r.Identifier("p-e-t"); got != "PET2" {
		t.Errorf("Identifier(p-e-t) = %q, want PET2", got)
	}
}

func TestIdentifierIsCappedInLength(t *testing.T) {
	r := NewRenderer(nil)
	long := strings.Repeat("a", 10_000)
	a := r.Identifier(long)
	b := r.Identifier(long + "b")
	if len(a) > maxIdentifier+4 || len(b) > maxIdentifier+4 {
		t.Fatalf("identifiers too long: %d, %d", len(a), len(b))
	}
	if a == b {
		t.Errorf("names that are cut to the same identifier must still differ: %q", a)
	}
}

func TestRenderingIsDeterministic(t *testing.T) {
	defs := map[string]json.RawMessage{}
	for i := range 40 {
		defs[fmt.Sprintf("def-%d", i)] = json.RawMessage(fmt.Sprintf(
			`{"type":"object","properties":{"z%d":{"$ref":"#/$defs/def-%d"},"a":{"enum":["q","p"]},"m":{"anyOf":[{"type":"integer"},{"type":"string"}]}}}`, i, (i+1)%40))
	}
	schema := json.RawMessage(`{"type":"object","properties":{"zz":{"$ref":"#/$defs/def-0"},"aa":{"type":"string"},"mm":{"$ref":"#/$defs/def 7"}}}`)
	render := func() (string, map[string]string) {
		r := NewRenderer(defs)
		return r.Type(schema), r.Definitions()
	}
	t1, d1 := render()
	if want := `{ zz?: Def0; aa?: string; mm?: unknown; }`; t1 != want {
		t.Fatalf("got %s, want %s", t1, want)
	}
	if len(d1) != 40 {
		t.Fatalf("want all 40 definitions reached through the cycle, got %d", len(d1))
	}
	for range 20 {
		t2, d2 := render()
		if t1 != t2 || !maps.Equal(d1, d2) {
			t.Fatalf("second rendering differs:\n%s\n%s", t1, t2)
		}
	}
	if got := d1["Def3"]; got != `{ z3?: Def4; a?: "q" | "p"; m?: number | string; }` {
		t.Errorf("Def3 = %s", got)
	}
}

func TestSchemaBuffersMayBeReusedAfterType(t *testing.T) {
	r := NewRenderer(nil)
	buf := []byte(`{"$ref":"#/$defs/Item","$defs":{"Item":{"type":"string"}}}`)
	if got := r.Type(buf); got != "Item" {
		t.Fatalf("got %s", got)
	}
	for i := range buf {
		buf[i] = ' ' // the caller reuses its buffer
	}
	if got := r.Definitions(); got["Item"] != "string" {
		t.Errorf("Definitions read the reused buffer: %v", got)
	}
}

func TestZeroRendererIsUsable(t *testing.T) {
	var r Renderer
	if got := r.Type(json.RawMessage(`{"$ref":"#/$defs/X","$defs":{"X":{"type":"string"}}}`)); got != "X" {
		t.Errorf("got %s", got)
	}
	if got := r.Definitions(); !maps.Equal(got, map[string]string{"X": "string"}) {
		t.Errorf("got %v", got)
	}
	if got := slices.Sorted(maps.Keys((&Renderer{}).Definitions())); len(got) != 0 {
		t.Errorf("got %v", got)
	}
}
