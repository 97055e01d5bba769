package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/valyala/fastjson"
	"go.yaml.in/yaml/v4"
)

// source is a document read into an ordered JSON tree. kin-openapi's model
// loses the order of paths, media types and responses (they are Go maps),
// and the order decides defaults ("the first media type") and which of two
// colliding tool names is which; schemas are also converted from this tree,
// not from kin-openapi's Schema values (see decode).
//
// A source is used by one goroutine: fastjson values are not safe for
// concurrent reads.
type source struct {
	parser fastjson.Parser
	root   *fastjson.Value
	// schemas indexes components.schemas by name: fastjson looks keys up by
	// scanning, and large documents have thousands of schemas.
	schemas map[string]*fastjson.Value
}

// newSource parses JSON text.
func newSource(js []byte) (*source, error) {
	s := &source{}
	root, err := s.parser.ParseBytes(js)
	if err != nil {
		return nil, fmt.Errorf("the document is not valid JSON or YAML: %v", err)
	}
	if root.Type() != fastjson.TypeObject {
		return nil, errors.New("not an OpenAPI document: the top level is not an object")
	}
	s.root = root
	s.schemas = map[string]*fastjson.Value{}
	s.root.GetObject("components", "schemas").Visit(func(k []byte, v *fastjson.Value) {
		if _, dup := s.schemas[string(k)]; !dup {
			s.schemas[string(k)] = v
		}
	})
	return s, nil
}

// toJSON returns data as JSON text, converting YAML.
func toJSON(data []byte) ([]byte, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("the document is empty")
	}
	if trimmed[0] == '{' {
		return trimmed, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("the document is not valid JSON or YAML: %v", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, errors.New("the document is empty")
	}
	w := yamlWriter{budget: 8 << 20}
	if err := w.value(doc.Content[0], 0); err != nil {
		return nil, err
	}
	return w.out, nil
}

// yamlWriter writes a YAML node tree as JSON. Aliases are expanded, so budget
// bounds how many values may be written (a "billion laughs" document).
type yamlWriter struct {
	out    []byte
	budget int
}

func (w *yamlWriter) value(n *yaml.Node, depth int) error {
	w.budget--
	if w.budget < 0 {
		return errors.New("the YAML document expands to too many values (aliases)")
	}
	if depth > fastjson.MaxDepth {
		return errors.New("the YAML document is nested too deeply")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			w.out = append(w.out, "null"...)
			return nil
		}
		return w.value(n.Content[0], depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return errors.New("the YAML document has an alias to nothing")
		}
		return w.value(n.Alias, depth+1)
	case yaml.SequenceNode:
		w.out = append(w.out, '[')
		for i, c := range n.Content {
			if i > 0 {
				w.out = append(w.out, ',')
			}
			if err := w.value(c, depth+1); err != nil {
				return err
			}
		}
		w.out = append(w.out, ']')
		return nil
	case yaml.MappingNode:
		w.out = append(w.out, '{')
		seen := map[string]bool{}
		if err := w.pairs(n, depth, seen); err != nil {
			return err
		}
		w.out = append(w.out, '}')
		return nil
	case yaml.ScalarNode:
		return w.scalar(n)
	}
	return fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// pairs writes a mapping's members; merge keys (<<) add the members of the
// merged mappings that the mapping does not set itself.
func (w *yamlWriter) pairs(n *yaml.Node, depth int, seen map[string]bool) error {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: a mapping key is not a scalar, which JSON cannot represent", k.Line)
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		if len(seen) > 1 {
			w.out = append(w.out, ',')
		}
		w.out = appendString(w.out, k.Value)
		w.out = append(w.out, ':')
		if err := w.value(v, depth+1); err != nil {
			return err
		}
	}
	for _, m := range merges {
		if m.Kind == yaml.AliasNode && m.Alias != nil {
			m = m.Alias
		}
		list := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			list = m.Content
		}
		for _, item := range list {
			if item.Kind == yaml.AliasNode && item.Alias != nil {
				item = item.Alias
			}
			if item.Kind != yaml.MappingNode {
				return fmt.Errorf("line %d: a merge key (<<) must merge mappings", m.Line)
			}
			if err := w.pairs(item, depth+1, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *yamlWriter) scalar(n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!null":
		w.out = append(w.out, "null"...)
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			w.out = appendString(w.out, n.Value)
			return nil
		}
		w.out = strconv.AppendBool(w.out, b)
	case "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			w.out = appendString(w.out, n.Value)
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			w.out = appendString(w.out, n.Value)
			return nil
		}
		w.out = append(w.out, b...)
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			w.out = appendString(w.out, n.Value)
			return nil
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("line %d: %s has no JSON representation", n.Line, n.Value)
		}
		w.out = strconv.AppendFloat(w.out, f, 'g', -1, 64)
	default: // strings, timestamps, binary and application tags stay text
		w.out = appendString(w.out, n.Value)
	}
	return nil
}

// version reports which specification the document follows.
func (s *source) version() (major string, err error) {
	if v := s.root.Get("openapi"); v != nil {
		str, _ := v.StringBytes()
		ver := string(str)
		switch {
		case v.Type() != fastjson.TypeString:
			return "", errors.New("the openapi field must be a string such as \"3.0.3\"")
		case strings.HasPrefix(ver, "3.0"):
			return "3.0", nil
		case strings.HasPrefix(ver, "3.1"), strings.HasPrefix(ver, "3.2"):
			return "3.1", nil
		}
		return "", fmt.Errorf("OpenAPI version %q is not supported; use 3.0, 3.1 or Swagger 2.0", ver)
	}
	if v := s.root.Get("swagger"); v != nil {
		str, _ := v.StringBytes()
		if string(str) == "2.0" || (v.Type() == fastjson.TypeNumber && v.GetFloat64() == 2) {
			return "2.0", nil
		}
		return "", fmt.Errorf("Swagger version %s is not supported; only 2.0 is", v.String())
	}
	return "", errors.New("not an OpenAPI document: no openapi or swagger field")
}

// convertSwagger converts a Swagger 2.0 document to OpenAPI 3.0 JSON.
func convertSwagger(js []byte) ([]byte, error) {
	var d2 openapi2.T
	if err := json.Unmarshal(js, &d2); err != nil {
		return nil, fmt.Errorf("the Swagger 2.0 document is invalid: %v", err)
	}
	d3, err := openapi2conv.ToV3(&d2)
	if err != nil {
		return nil, fmt.Errorf("the Swagger 2.0 document could not be converted to OpenAPI 3: %v", err)
	}
	out, err := json.Marshal(d3)
	if err != nil {
		return nil, fmt.Errorf("the Swagger 2.0 document could not be converted to OpenAPI 3: %v", err)
	}
	return out, nil
}

// literalKeys hold data, not OpenAPI objects: a "$ref" inside them is not a
// reference.
var literalKeys = map[string]bool{"example": true, "default": true, "enum": true, "const": true, "value": true}

// checkRefs refuses references to other files or URLs (they are never
// fetched) and references to nothing. It returns the places that references
// point inside of, which decode must keep whole.
func (s *source) checkRefs() (deep map[string]bool, err error) {
	deep = map[string]bool{}
	var walk func(v *fastjson.Value, depth int)
	walk = func(v *fastjson.Value, depth int) {
		if err != nil {
			return
		}
		switch v.Type() {
		case fastjson.TypeArray:
			for _, c := range v.GetArray() {
				walk(c, depth+1)
			}
		case fastjson.TypeObject:
			v.GetObject().Visit(func(k []byte, c *fastjson.Value) {
				key := string(k)
				switch {
				case err != nil:
				case key == "$ref" && c.Type() == fastjson.TypeString:
					ref := string(c.GetStringBytes())
					tokens, ok := refTokens(ref)
					if !ok {
						err = fmt.Errorf("the document refers to another file or URL (%q); bundle it into a single document — external references are never fetched", ref)
						return
					}
					if s.lookup(tokens) == nil {
						err = fmt.Errorf("the document refers to %q, which does not exist in it", ref)
						return
					}
					switch {
					case len(tokens) > 3 && tokens[0] == "components":
						deep[tokens[1]+"/"+tokens[2]] = true
					case len(tokens) > 0 && tokens[0] != "components":
						deep[tokens[0]] = true
					}
				case literalKeys[key], strings.HasPrefix(key, "x-"):
				case key == "examples" && c.Type() == fastjson.TypeArray:
				default:
					walk(c, depth+1)
				}
			})
		}
	}
	walk(s.root, 0)
	return deep, err
}

// refTokens splits a local reference ("#/components/schemas/Pet") into
// unescaped JSON Pointer tokens; ok is false for a reference to another
// document.
func refTokens(ref string) (tokens []string, ok bool) {
	frag, found := strings.CutPrefix(ref, "#")
	if !found {
		return nil, false
	}
	if unescaped, err := url.PathUnescape(frag); err == nil {
		frag = unescaped
	}
	if frag == "" {
		return []string{}, true
	}
	if frag[0] != '/' {
		return nil, true // a plain-name fragment (an $anchor): resolves to nothing
	}
	parts := strings.Split(frag[1:], "/")
	for i, p := range parts {
		if strings.Contains(p, "~") {
			p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		}
		parts[i] = p
	}
	return parts, true
}

// lookup resolves JSON Pointer tokens in the document.
func (s *source) lookup(tokens []string) *fastjson.Value {
	if tokens == nil {
		return nil
	}
	if len(tokens) >= 3 && tokens[0] == "components" && tokens[1] == "schemas" {
		v := s.schemas[tokens[2]]
		if v == nil {
			return nil
		}
		return v.Get(tokens[3:]...)
	}
	return s.root.Get(tokens...)
}

// deref follows $ref until it reaches an object that is not a reference.
func (s *source) deref(v *fastjson.Value) *fastjson.Value {
	for range 32 {
		if v == nil || v.Type() != fastjson.TypeObject {
			return v
		}
		r := v.Get("$ref")
		if r == nil || r.Type() != fastjson.TypeString {
			return v
		}
		tokens, _ := refTokens(string(r.GetStringBytes()))
		v = s.lookup(tokens)
	}
	return nil
}

// decode reads the document into kin-openapi's model, which checks its
// structure and resolves its references. Component schemas and examples
// are left out (replaced by empty placeholders) unless a reference points
// inside them, as are top-level extensions: they are most of a large
// document (GitHub's description is 13 MB), kin-openapi decodes each schema
// more than once, and the catalog converts schemas from the JSON tree
// instead.
func (s *source) decode(deep map[string]bool) (*openapi3.T, error) {
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	s.root.GetObject().Visit(func(k []byte, v *fastjson.Value) {
		key := string(k)
		if (strings.HasPrefix(key, "x-") || key == "webhooks") && !deep[key] {
			return
		}
		var n *yaml.Node
		if key == "components" && v.Type() == fastjson.TypeObject {
			n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			v.GetObject().Visit(func(k2 []byte, c *fastjson.Value) {
				section := string(k2)
				var sn *yaml.Node
				if (section == "schemas" || section == "examples") && c.Type() == fastjson.TypeObject {
					sn = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
					c.GetObject().Visit(func(k3 []byte, item *fastjson.Value) {
						name := string(k3)
						var in *yaml.Node
						if deep[section+"/"+name] {
							in = toNode(item)
						} else {
							in = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
						}
						sn.Content = append(sn.Content, strNode(name), in)
					})
				} else {
					sn = toNode(c)
				}
				n.Content = append(n.Content, strNode(section), sn)
			})
		} else {
			n = toNode(v)
		}
		root.Content = append(root.Content, strNode(key), n)
	})
	doc := &openapi3.T{}
	if err := root.Decode(doc); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %v", err)
	}
	loader := openapi3.NewLoader()
	if err := loader.ResolveRefsIn(doc, nil); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %v", err)
	}
	return doc, nil
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// toNode builds the YAML node tree kin-openapi decodes from, with each
// scalar tagged by its JSON type.
func toNode(v *fastjson.Value) *yaml.Node {
	switch v.Type() {
	case fastjson.TypeObject:
		o := v.GetObject()
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: make([]*yaml.Node, 0, 2*o.Len())}
		o.Visit(func(k []byte, c *fastjson.Value) {
			n.Content = append(n.Content, strNode(string(k)), toNode(c))
		})
		return n
	case fastjson.TypeArray:
		a := v.GetArray()
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: make([]*yaml.Node, 0, len(a))}
		for _, c := range a {
			n.Content = append(n.Content, toNode(c))
		}
		return n
	case fastjson.TypeString:
		return strNode(string(v.GetStringBytes()))
	case fastjson.TypeNumber:
		text := string(v.MarshalTo(nil))
		tag := "!!float"
		if _, err := strconv.ParseInt(text, 10, 64); err == nil {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: text}
	case fastjson.TypeTrue:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"}
	case fastjson.TypeFalse:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

// str returns the string at key, or "".
func str(v *fastjson.Value, key string) string {
	if v == nil {
		return ""
	}
	return string(v.GetStringBytes(key))
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
