// Package tsschema renders JSON Schema as TypeScript type expressions, for
// tools.describe.tool: an agent in code mode reads a tool's input and output
// shapes (`{ petId: string; verbose?: boolean; }`) and the named definitions
// they refer to, and writes its code against them.
//
// The schemas come from OpenAPI 3.0 and 3.1 documents, upstream MCP servers
// and GraphQL introspection, so the renderer accepts anything: what it cannot
// express becomes `unknown`, never an error. Output is one line per type,
// valid TypeScript, and deterministic: the same schemas give byte-identical
// text, with properties in the order the JSON gives them. Work and output are
// bounded per call (see maxDepth, maxOutput and maxNodes), so a hostile or
// huge schema costs little and yields a shape cut short, not a blow-up.
package tsschema

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/valyala/fastjson"
)

// Renderer renders schemas that share one set of named definitions, such as
// the components of one OpenAPI document. It remembers which definitions the
// rendered types refer to, so that Definitions can list exactly those.
//
// The zero Renderer has no shared definitions and is ready to use. A Renderer
// is not safe for concurrent use.
type Renderer struct {
	defs     map[string]*definition // by key: the name, or name+"\x00"+n for a shadowing local one
	byName   map[string][]string    // name → keys of the definitions registered under it
	idents   map[string]string      // key → identifier
	taken    map[string]bool        // identifiers handed out
	used     map[string]bool        // keys the rendered types refer to
	queue    []string               // the same keys, in the order first referred to
	rendered map[string]string      // key → type expression
}

// definition is one named schema.
type definition struct {
	raw   json.RawMessage // the schema as given; decoded on first use
	node  *value          // decoded schema; nil until decoded, or if raw is not JSON
	ready bool            // node is as decoded as it will get
	canon string          // compact form, for telling equal local definitions apart
	scope *scope          // how refs inside resolve; nil for shared definitions
}

// scope says how refs inside one schema given to Type resolve: to its own
// local definitions first, then to the shared ones.
type scope struct {
	local map[string]string // name → key
	root  string            // key that "#" refers to, or ""
}

// NewRenderer takes the shared definitions: name → JSON Schema. Refs of the
// forms "#/$defs/X", "#/definitions/X" and "#/components/schemas/X" all
// resolve to X in defs. The map is copied, but the schemas are decoded only
// when first reached, so they must not be modified afterwards.
func NewRenderer(defs map[string]json.RawMessage) *Renderer {
	r := &Renderer{}
	r.init()
	names := make([]string, 0, len(defs))
	for name := range defs {
		names = append(names, name)
	}
	// Sorted, so that colliding names are numbered the same way every time.
	slices.Sort(names)
	for _, name := range names {
		r.defs[name] = &definition{raw: defs[name]}
		r.byName[name] = []string{name}
		r.ident(name)
	}
	return r
}

func (r *Renderer) init() {
	if r.defs != nil {
		return
	}
	r.defs = map[string]*definition{}
	r.byName = map[string][]string{}
	r.idents = map[string]string{}
	r.taken = map[string]bool{}
	r.used = map[string]bool{}
	r.rendered = map[string]string{}
}

// Type renders one schema as a TypeScript type expression, e.g.
// `{ petId: string; verbose?: boolean; }`. Named refs render as the
// (sanitised) definition name and are recorded as used; refs that name no
// definition render as `unknown`, and so does anything that is not JSON
// (strings are read leniently: a control character or an unknown escape in
// one is taken as it stands).
//
// Local definitions of the schema ($defs or definitions at its top) join the
// renderer's definitions. One with the name and content of a definition
// already known is that definition; one whose name is taken by a different
// schema gets its own, numbered identifier (Pet2).
func (r *Renderer) Type(schema json.RawMessage) string {
	return r.render("", schema)
}

// TypeNamed is Type for a schema that refers to itself with `{"$ref": "#"}`
// (a tree whose children are trees): such refs render as the identifier of
// name, and the schema joins the definitions under name. Type renders them as
// `unknown`.
func (r *Renderer) TypeNamed(name string, schema json.RawMessage) string {
	return r.render(name, schema)
}

func (r *Renderer) render(rootName string, schema json.RawMessage) string {
	r.init()
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := decodeSchema(p, schema)
	if err != nil {
		return unknownT.text
	}
	sc := &scope{}
	if rootName != "" {
		sc.root = r.register(rootName, compact(schema), v, sc)
	}
	for _, section := range []string{"$defs", "definitions"} {
		local := v.get(section)
		if !local.isObject() {
			continue
		}
		if sc.local == nil {
			sc.local = map[string]string{}
		}
		names, vals := local.members()
		for i, name := range names {
			if _, dup := sc.local[name]; !dup { // $defs wins over definitions
				sc.local[name] = r.register(name, vals[i].str, vals[i], sc) // kindLazy: str is the JSON, compact
			}
		}
	}
	w := walker{r: r, scope: sc}
	return w.schema(v, 0).text
}

// register adds a local definition, whose compact JSON is canon, and returns
// its key. A definition with the same name and content is reused, so
// rendering many tools whose schemas repeat the same $defs does not multiply
// them.
func (r *Renderer) register(name, canon string, v *value, sc *scope) string {
	for _, key := range r.byName[name] {
		if r.defs[key].canonical() == canon {
			return key
		}
	}
	key := name
	for n := len(r.byName[name]) + 1; r.defs[key] != nil; n++ {
		key = name + "\x00" + strconv.Itoa(n)
	}
	d := &definition{canon: canon, scope: sc}
	if v.kind == kindLazy {
		d.raw = json.RawMessage(v.str) // decoded when first rendered
	} else {
		d.node, d.ready = v, true
	}
	r.defs[key] = d
	r.byName[name] = append(r.byName[name], key)
	return key
}

// canonical returns the compact form of the definition's schema.
func (d *definition) canonical() string {
	if d.canon == "" {
		d.canon = compact(d.raw)
	}
	return d.canon
}

// compact returns raw without insignificant white space, or raw itself if it
// is not JSON that encoding/json accepts.
func compact(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(bytes.TrimSpace(raw))
	}
	return b.String()
}

// Definitions returns TypeScript for every definition reached, directly or
// through other definitions, by the Type calls so far: identifier → type
// expression, e.g. "Pet" → "{ id: string; name: string; tag?: string; }".
// Each definition is rendered once, with the same limits as one Type call;
// the map is the caller's to keep.
func (r *Renderer) Definitions() map[string]string {
	r.init()
	p := parsers.Get()
	defer parsers.Put(p)
	// Rendering a definition may reach more; they join the queue.
	for i := 0; i < len(r.queue); i++ {
		if key := r.queue[i]; r.rendered[key] == "" {
			r.rendered[key] = r.renderDefinition(p, key)
		}
	}
	out := make(map[string]string, len(r.queue))
	for _, key := range r.queue {
		out[r.ident(key)] = r.rendered[key]
	}
	return out
}

func (r *Renderer) renderDefinition(p *fastjson.Parser, key string) string {
	d := r.defs[key]
	if !d.ready {
		d.node, _ = decode(p, d.raw)
		d.ready = true
	}
	if d.node == nil {
		return unknownT.text
	}
	sc := d.scope
	if sc == nil {
		sc = &scope{}
	}
	w := walker{r: r, scope: sc}
	return w.schema(d.node, 0).text
}
