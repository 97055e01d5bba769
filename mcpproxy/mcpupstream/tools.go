package mcpupstream

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// upstreamTool is one entry of an upstream tools/list, kept as sent.
type upstreamTool struct {
	Name         string          `json:"name"`
	Title        string          `json:"title,omitempty"`
	Description  *string         `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"inputSchema,omitempty"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	Annotations  json.RawMessage `json:"annotations,omitempty"`
}

// toolAnnotations are the hints we read; the rest is stamped as sent.
type toolAnnotations struct {
	Title           string `json:"title,omitempty"`
	DestructiveHint *bool  `json:"destructiveHint,omitempty"`
}

// ToolMeta is what Produce stamps on each tool's Meta: the upstream's own
// name, which Call sends on the wire, and the upstream's title and
// annotations for display.
type ToolMeta struct {
	OriginalName string          `json:"originalName"`
	Title        string          `json:"title,omitempty"`
	Annotations  json.RawMessage `json:"annotations,omitempty"`
}

// sanitizeName turns an upstream tool name into ours: lower case, every run
// of characters other than a-z and 0-9 becomes one "_", no "_" at either
// end, and "tool" if nothing is left.
func sanitizeName(name string) string {
	var b strings.Builder
	pending := false
	for _, r := range strings.ToLower(strings.TrimSpace(name)) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if pending && b.Len() > 0 {
				b.WriteByte('_')
			}
			pending = false
			b.WriteRune(r)
			continue
		}
		pending = true
	}
	if b.Len() == 0 {
		return "tool"
	}
	return b.String()
}

// assignNames gives every original name a unique sanitised name. A name
// already in sanitised form keeps it; the others take their sanitised form,
// or the first free suffix (_2, _3, …), in byte order of the originals — so
// a server that reorders its list does not swap which tool a policy names.
func assignNames(originals []string) map[string]string {
	sorted := append([]string(nil), originals...)
	sort.Strings(sorted)
	out := make(map[string]string, len(sorted))
	taken := map[string]bool{}
	for _, o := range sorted {
		if base := sanitizeName(o); base == o && !taken[base] {
			out[o], taken[base] = base, true
		}
	}
	for _, o := range sorted {
		if _, done := out[o]; done {
			continue
		}
		base := sanitizeName(o)
		name := base
		for n := 2; taken[name]; n++ {
			name = base + "_" + strconv.Itoa(n)
		}
		out[o], taken[name] = name, true
	}
	return out
}

// buildCatalog turns an upstream tool list into the connection's catalog, in
// the upstream's order. Tools with an empty name, and repeats of a name, are
// dropped: they cannot be called unambiguously.
func buildCatalog(tools []upstreamTool) (*integration.Catalog, map[string]string) {
	seen := map[string]bool{}
	var kept []upstreamTool
	var originals []string
	for _, t := range tools {
		if strings.TrimSpace(t.Name) == "" || seen[t.Name] {
			continue
		}
		seen[t.Name] = true
		kept = append(kept, t)
		originals = append(originals, t.Name)
	}
	names := assignNames(originals)
	cat := &integration.Catalog{Tools: make([]integration.Tool, 0, len(kept))}
	byName := make(map[string]string, len(kept))
	for _, t := range kept {
		var ann toolAnnotations
		if len(t.Annotations) > 0 {
			_ = json.Unmarshal(t.Annotations, &ann) // hints are advisory; bad ones are ignored
		}
		title := t.Title
		if title == "" {
			title = ann.Title
		}
		desc := "MCP tool: " + t.Name
		if t.Description != nil && strings.TrimSpace(*t.Description) != "" {
			desc = *t.Description
		}
		meta, _ := json.Marshal(ToolMeta{OriginalName: t.Name, Title: title, Annotations: nullToNil(t.Annotations)})
		tool := integration.Tool{
			Name:         names[t.Name],
			Description:  desc,
			InputSchema:  inputSchema(t.InputSchema),
			OutputSchema: outputSchema(t.OutputSchema),
			Meta:         meta,
		}
		// Only an explicit destructiveHint asks for approval (readOnlyHint is
		// not a promise the gateway relies on).
		if ann.DestructiveHint != nil && *ann.DestructiveHint {
			tool.RequiresApproval = true
			tool.ApprovalDescription = t.Name
			if title != "" {
				tool.ApprovalDescription = title
			}
		}
		cat.Tools = append(cat.Tools, tool)
		byName[tool.Name] = t.Name
	}
	return cat, byName
}

func nullToNil(raw json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	return raw
}

// inputSchema is the upstream's schema as sent, or an open object.
func inputSchema(raw json.RawMessage) json.RawMessage {
	if raw = nullToNil(raw); raw == nil || raw[0] != '{' {
		return json.RawMessage(`{"type":"object"}`)
	}
	return raw
}

// outputSchema describes what Call returns as data: the CallToolResult the
// upstream sent. Its structuredContent follows the upstream's outputSchema
// when there is one; the upstream's definitions move to the top so that its
// "#/$defs/…" references still resolve. A schema with other local references
// (into itself) cannot be moved and is left out.
func outputSchema(raw json.RawMessage) json.RawMessage {
	structured := json.RawMessage(`{"type":"object","additionalProperties":{}}`)
	var defs map[string]json.RawMessage
	if raw = nullToNil(raw); raw != nil {
		var schema map[string]json.RawMessage
		if json.Unmarshal(raw, &schema) == nil && movableRefs(raw) {
			for _, section := range []string{"$defs", "definitions"} {
				var d map[string]json.RawMessage
				if json.Unmarshal(schema[section], &d) != nil {
					continue
				}
				if defs == nil {
					defs = map[string]json.RawMessage{}
				}
				for name, s := range d {
					if _, dup := defs[name]; !dup || section == "$defs" {
						defs[name] = s
					}
				}
				delete(schema, section)
			}
			structured = raw
			if defs != nil {
				structured, _ = json.Marshal(schema)
				// Both spellings of the reference resolve after the move.
				defsJSON, _ := json.Marshal(defs)
				out := `{"type":"object","properties":{"content":{"type":"array","items":{"type":"object","additionalProperties":{}}},` +
					`"structuredContent":` + string(structured) + `,"isError":{"type":"boolean"}},"required":["content"],` +
					`"$defs":` + string(defsJSON) + `,"definitions":` + string(defsJSON) + `}`
				return json.RawMessage(out)
			}
		}
	}
	return json.RawMessage(`{"type":"object","properties":{"content":{"type":"array","items":{"type":"object","additionalProperties":{}}},` +
		`"structuredContent":` + string(structured) + `,"isError":{"type":"boolean"}},"required":["content"]}`)
}

// movableRefs reports whether every local $ref in the schema points into its
// definitions, so that the schema can be nested in another document.
func movableRefs(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	ok := true
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, isStr := x["$ref"].(string); isStr && strings.HasPrefix(ref, "#") &&
				!strings.HasPrefix(ref, "#/$defs/") && !strings.HasPrefix(ref, "#/definitions/") {
				ok = false
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return ok
}

// originalName is the name Call sends upstream for tool: the one stamped by
// Produce, else the last listing's, else the tool's own name.
func (k *Kind) originalName(tool *integration.Tool, listed map[string]string) string {
	if len(tool.Meta) > 0 {
		k.cfgMu.Lock()
		name, ok := k.metaNames[string(tool.Meta)]
		k.cfgMu.Unlock()
		if !ok {
			var m ToolMeta
			if json.Unmarshal(tool.Meta, &m) == nil {
				name = m.OriginalName
			}
			k.cfgMu.Lock()
			if len(k.metaNames) >= maxMetaNames {
				clear(k.metaNames)
			}
			k.metaNames[string(tool.Meta)] = name
			k.cfgMu.Unlock()
		}
		if name != "" {
			return name
		}
	}
	if o, ok := listed[tool.Name]; ok {
		return o
	}
	return tool.Name
}

// maxMetaNames bounds the cache of original names read from tools' Meta.
const maxMetaNames = 4096
