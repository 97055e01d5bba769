package openapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// mustParse parses a document or fails the test.
func mustParse(t testing.TB, doc string) *Document {
	t.Helper()
	d, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

func mustCatalog(t testing.TB, doc string) *integration.Catalog {
	t.Helper()
	cat, err := mustParse(t, doc).Catalog()
	if err != nil {
		t.Fatalf("Catalog: %v", err)
	}
	return cat
}

func toolNamed(t testing.TB, cat *integration.Catalog, name string) *integration.Tool {
	t.Helper()
	for i := range cat.Tools {
		if cat.Tools[i].Name == name {
			return &cat.Tools[i]
		}
	}
	var names []string
	for _, tool := range cat.Tools {
		names = append(names, tool.Name)
	}
	t.Fatalf("no tool %q; tools: %s", name, strings.Join(names, ", "))
	return nil
}

// compileInput compiles a tool's input schema the way the gateway does
// (mcpproxy/validate.go): definitions merged into $defs, 2020-12, no
// remote loading.
func compileInput(t testing.TB, tool *integration.Tool, defs map[string]json.RawMessage) *jsonschema.Schema {
	t.Helper()
	s, err := compileWithDefs(tool.InputSchema, defs)
	if err != nil {
		t.Fatalf("tool %s: input schema does not compile: %v\n%s", tool.Name, err, tool.InputSchema)
	}
	return s
}

func compileWithDefs(raw json.RawMessage, defs map[string]json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	obj := doc.(map[string]any)
	merged := map[string]any{}
	for name, d := range defs {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(d))
		if err != nil {
			return nil, err
		}
		merged[name] = v
	}
	obj["$defs"] = merged
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(jsonschema.SchemeURLLoader{})
	if err := c.AddResource("urn:executor:tool-input", obj); err != nil {
		return nil, err
	}
	return c.Compile("urn:executor:tool-input")
}

func validates(s *jsonschema.Schema, instance string) error {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(instance))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// compact re-encodes JSON without spaces, for comparisons.
func compact(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return b.String()
}
