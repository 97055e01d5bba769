package openapi

import (
	"encoding/json"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/valyala/fastjson"
)

// operation is one API operation and, once built, its tool.
type operation struct {
	method      string // upper-case
	path        string
	operationID string
	summary     string
	description string
	tags        []string
	deprecated  bool
	toolPath    string // x-executor-toolPath
	name        string

	// Parts of the JSON tree, used while building the tool only.
	params  []*param
	body    *fastjson.Value // the request body object
	bodyReq bool
	bodyDoc string
	resp    *fastjson.Value // the success response object
	servers []serverMeta

	tool integration.Tool
}

type param struct {
	meta   paramMeta
	schema *fastjson.Value
	desc   string
	depr   bool
}

// opMeta is what Call needs to perform an operation: it is the tool's Meta,
// so the document is not needed at call time.
type opMeta struct {
	Method  string       `json:"method"`
	Path    string       `json:"path"`
	Params  []paramMeta  `json:"params,omitempty"`
	Body    *bodyMeta    `json:"body,omitempty"`
	Servers []serverMeta `json:"servers,omitempty"`
	Accept  string       `json:"accept,omitempty"`
}

type paramMeta struct {
	Name string `json:"name"`
	In   string `json:"in"`
	// Key is the input property when it is not Name (two parameters of the
	// same name in different places).
	Key           string `json:"key,omitempty"`
	Required      bool   `json:"required,omitempty"`
	Style         string `json:"style"`
	Explode       bool   `json:"explode,omitempty"`
	AllowReserved bool   `json:"allowReserved,omitempty"`
	// ContentType is set for a parameter with `content` (serialised as JSON).
	ContentType string `json:"contentType,omitempty"`
}

func (p paramMeta) key() string {
	if p.Key != "" {
		return p.Key
	}
	return p.Name
}

type bodyMeta struct {
	Required bool     `json:"required,omitempty"`
	Types    []string `json:"types"`
}

type serverMeta struct {
	URL       string               `json:"url"`
	Variables map[string]serverVar `json:"variables,omitempty"`
}

type serverVar struct {
	Default string   `json:"default"`
	Enum    []string `json:"enum,omitempty"`
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true}

// ignoredHeaders are header parameters never sent from arguments: OpenAPI
// says Accept, Content-Type and Authorization definitions are ignored, and
// the others would let arguments change how or where the request goes.
var ignoredHeaders = map[string]bool{"accept": true, "content-type": true, "authorization": true, "host": true, "content-length": true, "transfer-encoding": true, "connection": true, "cookie": true}

// collectOperations lists the operations in document order.
func collectOperations(src *source, kdoc *openapi3.T) []*operation {
	var ops []*operation
	src.root.GetObject("paths").Visit(func(k []byte, rawItem *fastjson.Value) {
		path := string(k)
		if !strings.HasPrefix(path, "/") || kdoc.Paths == nil {
			return
		}
		kItem := kdoc.Paths.Value(path)
		item := src.deref(rawItem)
		if kItem == nil || item == nil || item.Type() != fastjson.TypeObject {
			return
		}
		item.GetObject().Visit(func(mk []byte, rawOp *fastjson.Value) {
			method := string(mk)
			if !httpMethods[method] {
				return
			}
			kOp := kItem.GetOperation(strings.ToUpper(method))
			if kOp == nil || rawOp.Type() != fastjson.TypeObject {
				return
			}
			op := &operation{
				method: strings.ToUpper(method), path: path, operationID: kOp.OperationID,
				summary: strings.TrimSpace(kOp.Summary), description: strings.TrimSpace(kOp.Description),
				tags: kOp.Tags, deprecated: kOp.Deprecated,
			}
			if tp, ok := kOp.Extensions["x-executor-toolPath"].(string); ok {
				op.toolPath = tp
			}
			op.params = collectParams(src, kItem.Parameters, item.GetArray("parameters"), kOp.Parameters, rawOp.GetArray("parameters"), path)
			if kOp.RequestBody != nil && kOp.RequestBody.Value != nil {
				op.body = src.deref(rawOp.Get("requestBody"))
				op.bodyReq = kOp.RequestBody.Value.Required
				op.bodyDoc = strings.TrimSpace(kOp.RequestBody.Value.Description)
			}
			op.resp = successResponse(src, rawOp.Get("responses"))
			servers := kdoc.Servers
			if len(kItem.Servers) > 0 {
				servers = kItem.Servers
			}
			if kOp.Servers != nil && len(*kOp.Servers) > 0 {
				servers = *kOp.Servers
			}
			op.servers = serverMetas(servers)
			ops = append(ops, op)
		})
	})
	return ops
}

// collectParams merges path-item and operation parameters (the operation's
// replace the path item's of the same name and location), adds a string
// parameter for any template variable left undeclared, and drops path
// parameters the template does not use.
func collectParams(src *source, kItem openapi3.Parameters, rawItem []*fastjson.Value, kOp openapi3.Parameters, rawOp []*fastjson.Value, path string) []*param {
	var out []*param
	add := func(k openapi3.Parameters, raw []*fastjson.Value) {
		for i, ref := range k {
			if ref == nil || ref.Value == nil || i >= len(raw) {
				continue
			}
			kp := ref.Value
			in := kp.In
			if in != "path" && in != "query" && in != "header" && in != "cookie" {
				continue
			}
			if in == "header" && ignoredHeaders[strings.ToLower(kp.Name)] {
				continue
			}
			if in == "path" && !strings.Contains(path, "{"+kp.Name+"}") {
				continue
			}
			p := &param{desc: strings.TrimSpace(kp.Description), depr: kp.Deprecated}
			p.meta = paramMeta{Name: kp.Name, In: in, Required: kp.Required || in == "path", AllowReserved: kp.AllowReserved}
			if sm, err := kp.SerializationMethod(); err == nil {
				p.meta.Style, p.meta.Explode = sm.Style, sm.Explode
			}
			rawParam := src.deref(raw[i])
			p.schema = rawParam.Get("schema")
			if p.schema == nil {
				if content := rawParam.GetObject("content"); content != nil {
					content.Visit(func(mt []byte, m *fastjson.Value) {
						if p.meta.ContentType == "" {
							p.meta.ContentType = string(mt)
							p.schema = src.deref(m).Get("schema")
						}
					})
				}
			}
			replaced := false
			for j, o := range out {
				if o.meta.In == in && (o.meta.Name == kp.Name || in == "header" && strings.EqualFold(o.meta.Name, kp.Name)) {
					out[j], replaced = p, true
				}
			}
			if !replaced {
				out = append(out, p)
			}
		}
	}
	add(kItem, rawItem)
	add(kOp, rawOp)
	for _, name := range templateVars(path) {
		found := false
		for _, p := range out {
			found = found || (p.meta.In == "path" && p.meta.Name == name)
		}
		if !found {
			out = append(out, &param{meta: paramMeta{Name: name, In: "path", Required: true, Style: "simple"}})
		}
	}
	return out
}

// templateVars lists the {names} of a path template.
func templateVars(path string) []string {
	var out []string
	for {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(path[i:], '}')
		if j < 0 {
			return out
		}
		out = append(out, path[i+1:i+j])
		path = path[i+j+1:]
	}
}

// successResponse picks the response whose schema is the tool's output:
// 200, 201, the first other 2xx, else default.
func successResponse(src *source, responses *fastjson.Value) *fastjson.Value {
	o := responses.GetObject()
	if o == nil {
		return nil
	}
	for _, code := range []string{"200", "201"} {
		if r := o.Get(code); r != nil {
			return src.deref(r)
		}
	}
	var found *fastjson.Value
	o.Visit(func(k []byte, r *fastjson.Value) {
		if found == nil && len(k) == 3 && k[0] == '2' {
			found = src.deref(r)
		}
	})
	if found == nil {
		if r := o.Get("default"); r != nil {
			found = src.deref(r)
		}
	}
	return found
}

func serverMetas(servers openapi3.Servers) []serverMeta {
	var out []serverMeta
	for _, s := range servers {
		if s == nil {
			continue
		}
		sm := serverMeta{URL: s.URL}
		for name, v := range s.Variables {
			if v == nil {
				continue
			}
			if sm.Variables == nil {
				sm.Variables = map[string]serverVar{}
			}
			sm.Variables[name] = serverVar{Default: v.Default, Enum: v.Enum}
		}
		out = append(out, sm)
	}
	return out
}

// mediaKind classifies a media type for request and response bodies.
type mediaKind int

const (
	mediaBinary mediaKind = iota
	mediaJSON
	mediaForm
	mediaMultipart
	mediaText
)

func classify(mt string) mediaKind {
	mt = strings.ToLower(strings.TrimSpace(mt))
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	switch {
	case mt == "application/json", mt == "text/json", strings.HasSuffix(mt, "+json"), mt == "*/*", mt == "application/*":
		return mediaJSON
	case mt == "application/x-www-form-urlencoded":
		return mediaForm
	case strings.HasPrefix(mt, "multipart/"):
		return mediaMultipart
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "/xml"), strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript", mt == "application/yaml", mt == "application/x-yaml",
		mt == "application/graphql", mt == "application/x-ndjson", mt == "application/jsonl", mt == "application/json-seq":
		return mediaText
	}
	return mediaBinary
}

// buildTool converts the operation's schemas and writes its tool.
func (op *operation) buildTool(conv *schemas) {
	meta := opMeta{Method: op.method, Path: op.path, Servers: op.servers}
	var props []prop
	var required []string
	taken := map[string]bool{}

	// Body properties first claim their names: a parameter called "body"
	// is renamed, not the body.
	var bodyTypes []string
	var bodyProps []prop
	if op.body != nil {
		op.body.GetObject("content").Visit(func(mt []byte, _ *fastjson.Value) {
			bodyTypes = append(bodyTypes, string(mt))
		})
	}
	if len(bodyTypes) > 0 {
		meta.Body = &bodyMeta{Required: op.bodyReq, Types: bodyTypes}
		var first string
		hasBinary := false
		for _, mt := range bodyTypes {
			if classify(mt) == mediaBinary {
				hasBinary = true
			} else if first == "" {
				first = mt
			}
		}
		if first != "" {
			var schema []byte
			if k := classify(first); k == mediaText {
				schema = []byte(`{"type":"string"}`)
			} else {
				media := op.body.Get("content", first)
				if media != nil {
					media = conv.src.deref(media)
				}
				raw := media.Get("schema")
				schema = conv.convert(nil, raw, 0)
			}
			if op.bodyDoc != "" {
				schema = withDescription(schema, op.bodyDoc)
			}
			bodyProps = append(bodyProps, prop{"body", schema})
			if op.bodyReq && !hasBinary {
				required = append(required, "body")
			}
		}
		if hasBinary {
			bodyProps = append(bodyProps, prop{"bodyBase64", []byte(`{"type":"string","contentEncoding":"base64","description":"The request body, base64-encoded."}`)})
			if op.bodyReq && first == "" {
				required = append(required, "bodyBase64")
			}
		}
		if len(bodyTypes) > 1 {
			s := []byte(`{"type":"string","description":"The request body's media type.","enum":`)
			s = appendStrings(s, bodyTypes)
			s = append(s, `,"default":`...)
			s = appendString(s, bodyTypes[0])
			bodyProps = append(bodyProps, prop{"contentType", append(s, '}')})
		}
		for _, p := range bodyProps {
			taken[p.name] = true
		}
	}
	serverProp := serverSchema(op.servers)
	if serverProp != nil {
		taken["server"] = true
	}

	for _, p := range op.params {
		key := p.meta.Name
		for taken[key] {
			key = p.meta.In + "_" + key
		}
		taken[key] = true
		if key != p.meta.Name {
			p.meta.Key = key
		}
		var schema []byte
		if p.schema == nil {
			schema = []byte(`{"type":"string"}`)
		} else {
			schema = conv.convert(nil, p.schema, 0)
		}
		if p.desc != "" && (p.schema == nil || p.schema.Get("description") == nil) {
			schema = withDescription(schema, p.desc)
		}
		props = append(props, prop{key, schema})
		if p.meta.Required {
			required = append(required, key)
		}
		meta.Params = append(meta.Params, p.meta)
	}
	props = append(props, bodyProps...)
	if serverProp != nil {
		props = append(props, prop{"server", serverProp})
	}

	in := []byte(`{"type":"object","properties":{`)
	for i, p := range props {
		if i > 0 {
			in = append(in, ',')
		}
		in = appendString(in, p.name)
		in = append(in, ':')
		in = append(in, p.schema...)
	}
	in = append(in, '}')
	if len(required) > 0 {
		in = append(in, `,"required":`...)
		in = appendStrings(in, required)
	}
	in = append(in, `,"additionalProperties":false}`...)

	var out []byte
	if op.resp != nil {
		var accept []string
		op.resp.GetObject("content").Visit(func(mt []byte, media *fastjson.Value) {
			accept = append(accept, string(mt))
			if out == nil && classify(string(mt)) == mediaJSON && !strings.Contains(string(mt), "*") {
				if s := conv.src.deref(media).Get("schema"); s != nil {
					out = conv.convert(nil, s, 0)
				}
			}
		})
		meta.Accept = strings.Join(accept, ", ")
	}

	metaJSON, _ := json.Marshal(meta)
	op.tool = integration.Tool{
		Name:        op.name,
		Description: op.toolDescription(),
		InputSchema: in,
		Meta:        metaJSON,
	}
	if out != nil {
		op.tool.OutputSchema = out
	}
	switch op.method {
	case "POST", "PUT", "PATCH", "DELETE":
		op.tool.RequiresApproval = true
		op.tool.ApprovalDescription = op.method + " " + op.path
	}
	// The JSON tree is not kept past Parse.
	op.params, op.body, op.resp = nil, nil, nil
}

type prop struct {
	name   string
	schema []byte
}

const maxDescription = 2000

// toolDescription is the summary, else the description (capped), else
// "<METHOD> <path>".
func (op *operation) toolDescription() string {
	d := op.summary
	if d == "" {
		d = op.description
	}
	if d == "" {
		return op.method + " " + op.path
	}
	if len(d) > maxDescription {
		cut := maxDescription
		for cut > 0 && !utf8.RuneStart(d[cut]) {
			cut--
		}
		d = strings.TrimSpace(d[:cut]) + "…"
	}
	return d
}

// withDescription adds a description to a converted schema.
func withDescription(schema []byte, desc string) []byte {
	s := strings.TrimSpace(string(schema))
	if s == "true" || s == "{}" {
		return append(appendString([]byte(`{"description":`), desc), '}')
	}
	if !strings.HasPrefix(s, "{") {
		return schema
	}
	out := appendString([]byte(`{"description":`), desc)
	out = append(out, ',')
	return append(out, s[1:]...)
}

// serverSchema is the optional `server` argument, offered when there is a
// choice: several servers or server variables.
func serverSchema(servers []serverMeta) []byte {
	vars := map[string]serverVar{}
	for _, s := range servers {
		for name, v := range s.Variables {
			if _, ok := vars[name]; !ok {
				vars[name] = v
			}
		}
	}
	if len(servers) < 2 && len(vars) == 0 {
		return nil
	}
	s := []byte(`{"type":"object","description":"Which of the API's servers to call, and its variables; the default is the first server with default variables.","properties":{"url":{"type":"string","enum":`)
	urls := make([]string, len(servers))
	for i, sv := range servers {
		urls[i] = sv.URL
	}
	s = appendStrings(s, urls)
	s = append(s, '}')
	if len(vars) > 0 {
		s = append(s, `,"variables":{"type":"object","properties":{`...)
		names := make([]string, 0, len(vars))
		for n := range vars {
			names = append(names, n)
		}
		sort.Strings(names)
		for i, n := range names {
			if i > 0 {
				s = append(s, ',')
			}
			s = appendString(s, n)
			s = append(s, `:{"type":"string"`...)
			if v := vars[n]; len(v.Enum) > 0 {
				s = append(s, `,"enum":`...)
				s = appendStrings(s, v.Enum)
			}
			if v := vars[n]; v.Default != "" {
				s = append(s, `,"default":`...)
				s = appendString(s, v.Default)
			}
			s = append(s, '}')
		}
		s = append(s, `},"additionalProperties":false}`...)
	}
	return append(s, `},"additionalProperties":false}`...)
}
