package graphql

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func mustParse(t testing.TB, sdl string) *Schema {
	t.Helper()
	s, err := ParseSchema([]byte(sdl))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCatalogJSON(t testing.TB, s *Schema) string {
	t.Helper()
	cat, err := s.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(cat, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSDLAndIntrospectionGiveTheSameCatalog(t *testing.T) {
	ts := newTestServer(t)
	fromSDL := mustCatalogJSON(t, mustParse(t, testSDL))

	live, err := Introspect(context.Background(), ts.Client(), ts.URL+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := ts.introspectionJSON(t)
	var data struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	roundTrip := mustParse(t, live.SDL())

	for name, s := range map[string]*Schema{
		"introspected live":             live,
		"introspection response":        mustParse(t, string(raw)),
		"introspection data":            mustParse(t, string(data.Data)),
		"SDL written for introspection": roundTrip,
	} {
		if got := mustCatalogJSON(t, s); got != fromSDL {
			t.Errorf("%s: catalog differs from the SDL's:\n%s", name, diffLines(fromSDL, got))
		}
	}
}

// diffLines shows the first differing line of two texts, with context.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + itoa(i+1) + ":\nwant: " + wl + "\ngot:  " + gl
		}
	}
	return "(equal)"
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestCatalogListsOneToolPerRootFieldSortedByName(t *testing.T) {
	cat, err := mustParse(t, testSDL).Catalog()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tool := range cat.Tools {
		got = append(got, tool.Name)
	}
	want := "mutation.createUser query.flaky query.hello query.node query.oldHello query.search query.treeSum query.user query.users"
	if strings.Join(got, " ") != want {
		t.Errorf("tools = %v\nwant %s", got, want)
	}
}

func TestCatalogMarksMutationsForApprovalAndQueriesNot(t *testing.T) {
	cat, err := mustParse(t, testSDL).Catalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range cat.Tools {
		isMutation := strings.HasPrefix(tool.Name, "mutation.")
		if tool.RequiresApproval != isMutation {
			t.Errorf("%s: RequiresApproval = %v", tool.Name, tool.RequiresApproval)
		}
		if want := map[bool]string{true: "mutation " + strings.TrimPrefix(tool.Name, "mutation.")}[isMutation]; tool.ApprovalDescription != want {
			t.Errorf("%s: ApprovalDescription = %q, want %q", tool.Name, tool.ApprovalDescription, want)
		}
	}
}

func TestCatalogSchemas(t *testing.T) {
	cat, err := mustParse(t, testSDL).Catalog()
	if err != nil {
		t.Fatal(err)
	}
	tools := map[string]string{}
	for _, tool := range cat.Tools {
		tools[tool.Name+" input"] = string(tool.InputSchema)
		tools[tool.Name+" output"] = string(tool.OutputSchema)
		tools[tool.Name+" description"] = tool.Description
	}
	for _, tc := range []struct{ name, got, want string }{
		{"arguments map to JSON types; non-null ones are required, nullable ones accept null",
			tools["query.users input"],
			`{"type":"object","properties":{"first":{"type":"integer"},"names":{"type":["array","null"],"items":{"type":"string"}},` +
				`"role":{"anyOf":[{"$ref":"#/$defs/Role"},{"type":"null"}]},` +
				`"select":{"type":"string","description":"GraphQL selection set for the result, e.g. ` + "`{ id name owner { login } }`" +
				` (the braces are optional). Default: ` + "`{ id name age role createdAt score admin }`" + ` (the scalar and enum fields of User)."}},` +
				`"required":["first"],"additionalProperties":false}`},
		{"an argument with a default is optional and shows the default",
			tools["query.hello input"],
			`{"type":"object","properties":{"name":{"type":["string","null"],"default":"world"}},"additionalProperties":false}`},
		{"a scalar result takes no select",
			tools["query.treeSum input"],
			`{"type":"object","properties":{"tree":{"$ref":"#/$defs/TreeInput"}},"required":["tree"],"additionalProperties":false}`},
		{"a recursive input type refers to itself",
			string(cat.Definitions["TreeInput"]),
			`{"type":"object","properties":{"value":{"type":"integer"},"children":{"type":["array","null"],"items":{"$ref":"#/$defs/TreeInput"}}},"required":["value"],"additionalProperties":false}`},
		{"an input object keeps its description and field defaults",
			string(cat.Definitions["CreateUserInput"]),
			`{"type":"object","properties":{"name":{"type":"string"},"age":{"type":["integer","null"]},"role":{"anyOf":[{"$ref":"#/$defs/Role"},{"type":"null"}],"default":"MEMBER"}},"required":["name"],"additionalProperties":false}`},
		{"an enum is a string enum definition",
			string(cat.Definitions["Role"]),
			`{"type":"string","description":"What a user may do.","enum":["ADMIN","MEMBER","GUEST"]}`},
		{"the output is the default selection: scalar and enum fields without required arguments or deprecation",
			tools["query.user output"],
			`{"type":["object","null"],"description":"Someone with an account.\n\nUser with the default selection; pass a selection set to get other fields.",` +
				`"properties":{"id":{"type":"string"},"name":{"type":"string","description":"Display name."},"age":{"type":["integer","null"]},` +
				`"role":{"$ref":"#/$defs/Role"},"createdAt":{"description":"GraphQL scalar Time: An RFC 3339 time."},"score":{"type":["number","null"]},` +
				`"admin":{"type":"boolean"}},"required":["id","name","role","admin"]}`},
		{"a list result is an array",
			tools["query.search output"][:len(`{"type":"array","items":{"type":"object"`)],
			`{"type":"array","items":{"type":"object"`},
		{"an interface result names its possible types",
			tools["query.node output"],
			`{"type":["object","null"],"description":"Node with the default selection; pass a selection set to get other fields.",` +
				`"properties":{"__typename":{"type":"string","enum":["User"]},"id":{"type":"string"}},"required":["__typename","id"]}`},
		{"a field without a description says what it is",
			tools["query.search description"], "GraphQL query search"},
		{"a deprecated field says so",
			tools["query.oldHello description"], "GraphQL query oldHello\n\nDeprecated: Use hello."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("\n got %s\nwant %s", tc.got, tc.want)
			}
		})
	}
	if _, ok := cat.Definitions["User"]; ok {
		t.Error("output objects are inlined, not definitions")
	}
}

func TestCatalogDefaultSelections(t *testing.T) {
	s := mustParse(t, `
type Query {
  pets: [Pet!]!
  box: Box
  items(select: String): [Item]
}
union Pet = Cat | Dog
type Cat { meows: Boolean }
type Dog { barks: Boolean }
type Box { inner: Box }
type Item { id: ID! }
`)
	cat, err := s.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]toolMeta{}
	for _, tool := range cat.Tools {
		var m toolMeta
		if err := json.Unmarshal(tool.Meta, &m); err != nil {
			t.Fatal(err)
		}
		meta[tool.Name] = m
	}
	for _, tc := range []struct{ name, tool, want, argument string }{
		{"a union selects __typename", "query.pets", "{ __typename }", "select"},
		{"an object without scalar fields selects __typename", "query.box", "{ __typename }", "select"},
		{"an argument named select moves the selection to another name", "query.items", "{ id }", "selection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m := meta[tc.tool]; m.Selection != tc.want || m.SelectArgument != tc.argument {
				t.Errorf("selection %q in %q, want %q in %q", m.Selection, m.SelectArgument, tc.want, tc.argument)
			}
		})
	}
}

func TestCatalogIsDeterministic(t *testing.T) {
	s := mustParse(t, testSDL)
	first := mustCatalogJSON(t, s)
	for range 20 {
		if got := mustCatalogJSON(t, mustParse(t, testSDL)); got != first {
			t.Fatalf("catalogs differ:\n%s", diffLines(first, got))
		}
	}
}

func TestSummaryCountsOperationsAndTypes(t *testing.T) {
	got := mustParse(t, testSDL).Summary()
	// Query, Mutation, Role, Node, User, Org, Flaky, UserFilter, TreeInput, CreateUserInput, Time.
	if want := (Summary{QueryCount: 8, MutationCount: 1, Types: 11}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseSchemaRejectsWhatIsNotASchema(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"empty", "  \n", "the GraphQL schema is empty"},
		{"SDL with a syntax error", "type Query { a: }", "the GraphQL schema is not valid"},
		{"SDL referring to an unknown type", "type Query { a: Missing }", "Missing"},
		{"SDL without a query type", "type Thing { a: Int }", "has no query type"},
		{"SDL declaring a field twice with different types", "type Query { a: Int a: String }", "can only be defined once"},
		{"JSON that is not an introspection result", `{"hello":"world"}`, "not an introspection result"},
		{"an introspection response with only errors", `{"errors":[{"message":"introspection is off"}]}`, "introspection is off"},
		{"broken JSON", `{"data":`, "looks like JSON"},
		{"an introspection result with a name that is not a GraphQL name",
			`{"__schema":{"queryType":{"name":"Query"},"types":[{"kind":"OBJECT","name":"Query","fields":[{"name":"a b","args":[],"type":{"kind":"SCALAR","name":"Int"}}]}]}}`,
			`"a b" is not a GraphQL name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSchema([]byte(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestParseSchemaForgivesAFieldDeclaredTwiceTheSameWay(t *testing.T) {
	// GitHub's published SDL has such repetitions.
	s := mustParse(t, "type Query { a: Int b: String a: Int }")
	if got := len(rootFields(s.AST().Query)); got != 2 {
		t.Errorf("%d root fields, want 2", got)
	}
}

func TestIntrospectSaysWhyItFailed(t *testing.T) {
	ts := newTestServer(t)
	html := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>hello</html>")
	}))
	for _, tc := range []struct{ name, endpoint, want string }{
		{"introspection disabled", ts.URL + "/nointrospection", "may have introspection disabled; give its schema as SDL"},
		{"HTTP 401", ts.URL + "/status/401", "answered HTTP 401 Unauthorized: who are you? (check the credential"},
		{"HTTP 500", ts.URL + "/status/500", "answered HTTP 500 Internal Server Error: upstream exploded"},
		{"not JSON", html, "a body that is not JSON: <html>hello</html>"},
		{"nobody listening", closedURL(t), "Could not reach the GraphQL endpoint"},
		{"not an http URL", "ftp://example.com/graphql", "is not an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Introspect(context.Background(), ts.Client(), tc.endpoint, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestIntrospectSendsTheHeadersItIsGiven(t *testing.T) {
	ts := newTestServer(t)
	if _, err := Introspect(context.Background(), ts.Client(), ts.URL+"/graphql", map[string]string{"Authorization": "Bearer x"}); err != nil {
		t.Fatal(err)
	}
	if got := ts.last(t).header.Get("Authorization"); got != "Bearer x" {
		t.Errorf("Authorization = %q", got)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "endpoint: "},
		{Config{Endpoint: "/graphql"}, "endpoint: "},
		{Config{Endpoint: "https://api.example.com/graphql", SDL: "type Query {"}, "sdl: "},
		{Config{Endpoint: "https://api.example.com/graphql", SDL: testSDL}, ""},
	} {
		err := tc.cfg.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("%+v: err = %v, want prefix %q", tc.cfg, err, tc.want)
		}
	}
}
