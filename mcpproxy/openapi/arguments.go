package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/valyala/fastjson"
)

// callArgs are a call's arguments sorted into the operation's parts.
type callArgs struct {
	parser      fastjson.Parser
	params      []*fastjson.Value // by index of opMeta.Params; nil when absent
	body        *fastjson.Value
	bodyBase64  *fastjson.Value
	contentType string
	server      *fastjson.Value
}

// containers are the argument keys that may hold parameters by location,
// as the reference product accepts them.
var containers = map[string][]string{
	"path": {"path"}, "pathParams": {"path"}, "params": {"path", "query"},
	"query": {"query"}, "queryParams": {"query"},
	"headers": {"header"}, "header": {"header"},
	"cookies": {"cookie"}, "cookie": {"cookie"},
}

// properties lists the input properties of an operation, in schema order:
// what "This operation accepts" names.
func (m *opMeta) properties() []string {
	var out []string
	for _, p := range m.Params {
		out = append(out, p.key())
	}
	hasBody, hasBinary := m.bodyProps()
	if hasBody {
		out = append(out, "body")
	}
	if hasBinary {
		out = append(out, "bodyBase64")
	}
	if m.Body != nil && len(m.Body.Types) > 1 {
		out = append(out, "contentType")
	}
	if m.hasServerChoice() {
		out = append(out, "server")
	}
	return out
}

func (m *opMeta) bodyProps() (body, binary bool) {
	if m.Body == nil {
		return false, false
	}
	for _, mt := range m.Body.Types {
		if classify(mt) == mediaBinary {
			binary = true
		} else {
			body = true
		}
	}
	return body, binary
}

func (m *opMeta) hasServerChoice() bool {
	if len(m.Servers) > 1 {
		return true
	}
	for _, s := range m.Servers {
		if len(s.Variables) > 0 {
			return true
		}
	}
	return false
}

// readArgs sorts arguments into parameters, body and server choice. They
// may be flat (the input schema's shape) or nested in containers
// (`path`, `query`, `headers`, `cookies`…), with `input` an alias of
// `body`; any other key is refused, naming what the operation accepts.
func readArgs(m *opMeta, raw []byte) (*callArgs, *integration.Result) {
	a := &callArgs{params: make([]*fastjson.Value, len(m.Params))}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	root, err := a.parser.ParseBytes(raw)
	if err != nil || root.Type() != fastjson.TypeObject {
		return nil, invalidArgs("Tool arguments must be a JSON object.")
	}
	props := m.properties()
	isProp := map[string]bool{}
	for _, p := range props {
		isProp[p] = true
	}
	hasBody, hasBinary := m.bodyProps()
	var unknown []string
	find := func(in []string, name string) int {
		for i, p := range m.Params {
			if !contains(in, p.In) {
				continue
			}
			if p.Name == name || p.In == "header" && strings.EqualFold(p.Name, name) {
				return i
			}
		}
		return -1
	}
	var nested [][2]any // container values, applied after flat ones
	root.GetObject().Visit(func(k []byte, v *fastjson.Value) {
		key := string(k)
		if v.Type() == fastjson.TypeNull {
			return
		}
		for i, p := range m.Params {
			if p.key() == key {
				a.params[i] = v
				return
			}
		}
		switch {
		case key == "body" && isProp["body"], key == "input" && hasBody && !isProp["input"]:
			a.body = v
		case key == "bodyBase64" && hasBinary:
			a.bodyBase64 = v
		case key == "contentType" && isProp["contentType"]:
			a.contentType = string(v.GetStringBytes())
		case key == "server" && isProp["server"]:
			a.server = v
		case containers[key] != nil && v.Type() == fastjson.TypeObject:
			nested = append(nested, [2]any{key, v})
		default:
			unknown = append(unknown, key)
		}
	})
	for _, n := range nested {
		key, v := n[0].(string), n[1].(*fastjson.Value)
		v.GetObject().Visit(func(k []byte, pv *fastjson.Value) {
			i := find(containers[key], string(k))
			if i < 0 {
				unknown = append(unknown, key+"."+string(k))
				return
			}
			if a.params[i] == nil && pv.Type() != fastjson.TypeNull {
				a.params[i] = pv
			}
		})
	}
	if len(unknown) > 0 {
		return nil, invalidArgs(unknownMessage(unknown, props))
	}
	var missing []string
	for i, p := range m.Params {
		if p.Required && a.params[i] == nil {
			missing = append(missing, `"`+p.key()+`"`)
		}
	}
	if len(missing) == 1 {
		return nil, invalidArgs("Missing required parameter " + missing[0] + ".")
	} else if len(missing) > 1 {
		return nil, invalidArgs("Missing required parameters " + strings.Join(missing, ", ") + ".")
	}
	if m.Body != nil && m.Body.Required && a.body == nil && a.bodyBase64 == nil {
		return nil, invalidArgs("Missing required request body")
	}
	return a, nil
}

// unknownMessage is the reference product's pre-flight message:
// `Unknown argument "x". This operation accepts: a, b, c`.
func unknownMessage(unknown, props []string) string {
	sort.Strings(unknown)
	quoted := make([]string, len(unknown))
	for i, u := range unknown {
		quoted[i] = `"` + u + `"`
	}
	msg := "Unknown argument " + quoted[0] + "."
	if len(quoted) > 1 {
		msg = "Unknown arguments " + strings.Join(quoted, ", ") + "."
	}
	if len(props) == 0 {
		return msg + " This operation accepts no arguments."
	}
	return msg + " This operation accepts: " + strings.Join(props, ", ")
}

func invalidArgs(msg string) *integration.Result {
	return integration.Fail("invalid_tool_arguments", msg)
}

// FlattenArgs rewrites call arguments into the flat shape of the tool's
// input schema: parameters given in containers (`path`, `query`,
// `headers`, `cookies`…) move to the top level and `input` becomes `body`.
// Unknown arguments give the reference product's pre-flight Result
// (`Unknown argument "x". This operation accepts: …`). The gateway can call
// it before validating arguments against the schema, whose
// additionalProperties:false would otherwise refuse the containers that
// Call accepts.
func (Kind) FlattenArgs(tool *integration.Tool, args json.RawMessage) (json.RawMessage, *integration.Result, error) {
	var meta opMeta
	if err := json.Unmarshal(tool.Meta, &meta); err != nil || meta.Method == "" {
		return nil, nil, fmt.Errorf("openapi: tool %q carries no operation", tool.Name)
	}
	a, res := readArgs(&meta, args)
	if res != nil {
		return nil, res, nil
	}
	out := []byte{'{'}
	add := func(key string, v *fastjson.Value) {
		if v == nil {
			return
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = appendString(out, key)
		out = append(out, ':')
		out = v.MarshalTo(out)
	}
	for i, p := range meta.Params {
		add(p.key(), a.params[i])
	}
	add("body", a.body)
	add("bodyBase64", a.bodyBase64)
	if a.contentType != "" {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = appendString(append(out, `"contentType":`...), a.contentType)
	}
	add("server", a.server)
	return append(out, '}'), nil, nil
}
