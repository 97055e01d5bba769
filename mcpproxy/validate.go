package mcpproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var printer = message.NewPrinter(language.English)

// argValidator checks call arguments against a tool's input schema, compiled
// once per tool. Remote references are never fetched.
type argValidator struct {
	once   sync.Once
	schema *jsonschema.Schema
	err    error
}

// validationIssue is one reason arguments do not match.
type validationIssue struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

var validators sync.Map // *toolEntry → *argValidator

func validatorFor(e *toolEntry) *argValidator {
	v, _ := validators.LoadOrStore(e, &argValidator{})
	av := v.(*argValidator)
	av.once.Do(func() { av.schema, av.err = compileSchema(e.Tool.InputSchema, e.Defs) })
	return av
}

// forgetValidators drops compiled schemas of replaced entries.
func forgetValidators(entries []*toolEntry) {
	for _, e := range entries {
		validators.Delete(e)
	}
}

func compileSchema(raw json.RawMessage, defs map[string]json.RawMessage) (*jsonschema.Schema, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("input schema is not JSON: %w", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		if b, ok := doc.(bool); ok && b {
			return nil, nil
		}
		return nil, errors.New("input schema is not an object")
	}
	if len(defs) > 0 {
		// Only the definitions this schema reaches: compiling all of a large
		// description's (GitHub's has 616) into every tool costs seconds.
		merged := map[string]any{}
		for name, d := range reachableDefs(raw, defs) {
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(d))
			if err == nil {
				merged[name] = v
			}
		}
		if own, ok := obj["$defs"].(map[string]any); ok {
			for k, v := range own {
				merged[k] = v
			}
		}
		obj["$defs"] = merged
	}
	// Tool schemas declare no $schema or an older draft; validate with 2020-12
	// semantics either way, without fetching anything.
	delete(obj, "$schema")
	delete(obj, "$id")
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(jsonschema.SchemeURLLoader{})
	if err := c.AddResource("urn:executor:tool-input", obj); err != nil {
		return nil, err
	}
	return c.Compile("urn:executor:tool-input")
}

// validateArgs returns the issues that make args not match e's input schema;
// none when the schema could not be compiled (the upstream decides then).
func validateArgs(e *toolEntry, args json.RawMessage) []validationIssue {
	av := validatorFor(e)
	if av.schema == nil {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(args))
	if err != nil {
		return []validationIssue{{Path: "", Message: "arguments are not valid JSON"}}
	}
	err = av.schema.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []validationIssue{{Message: err.Error()}}
	}
	var issues []validationIssue
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			issues = append(issues, validationIssue{Path: "/" + strings.Join(e.InstanceLocation, "/"), Message: e.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	if len(issues) > 20 {
		issues = issues[:20]
	}
	return issues
}

// defRef finds "#/$defs/<name>" references.
var defRef = regexp.MustCompile(`"#/\$defs/([^"]+)"`)

// reachableDefs returns the definitions raw references, transitively.
func reachableDefs(raw json.RawMessage, defs map[string]json.RawMessage) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	queue := [][]byte{raw}
	for len(queue) > 0 {
		b := queue[0]
		queue = queue[1:]
		for _, m := range defRef.FindAllSubmatch(b, -1) {
			name := strings.ReplaceAll(strings.ReplaceAll(string(m[1]), "~1", "/"), "~0", "~")
			if _, seen := out[name]; seen {
				continue
			}
			if d, ok := defs[name]; ok {
				out[name] = d
				queue = append(queue, d)
			}
		}
	}
	return out
}
