package tsschema

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// hostileSchemas are built, not stored: each is large or deep enough to hurt
// a renderer that recursed, expanded or concatenated without limits.
func hostileSchemas() []struct{ name, schema string } {
	nest := func(open, leaf, close string, n int) string {
		return strings.Repeat(open, n) + leaf + strings.Repeat(close, n)
	}
	props := func(n int, schema func(i int) string) string {
		var b strings.Builder
		b.WriteString(`{"type":"object","properties":{`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"p%d":%s`, i, schema(i))
		}
		b.WriteString(`}}`)
		return b.String()
	}
	list := func(n int, item func(i int) string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = item(i)
		}
		return strings.Join(items, ",")
	}
	return []struct{ name, schema string }{
		{"10k levels of array items", nest(`{"type":"array","items":`, `{"type":"string"}`, `}`, 10_000)},
		{"10k levels of properties", nest(`{"type":"object","properties":{"a":`, `{"type":"string"}`, `}}`, 10_000)},
		{"10k levels of anyOf", nest(`{"anyOf":[{"type":"string"},`, `{"type":"null"}`, `]}`, 10_000)},
		{"10k levels of allOf", nest(`{"allOf":[`, `{}`, `]}`, 10_000)},
		{"100k levels of nested const arrays", `{"const":` + nest(`[`, `1`, `]`, 100_000) + `}`},
		{"10k properties", props(10_000, func(int) string { return `{"type":"string"}` })},
		{"10k properties of objects", props(10_000, func(i int) string {
			return fmt.Sprintf(`{"type":"object","properties":{"x%d":{"type":"integer"}},"required":["x%d"]}`, i, i)
		})},
		{"10k required names", `{"type":"object","required":[` + list(10_000, func(i int) string { return fmt.Sprintf(`"r%d"`, i) }) + `]}`},
		{"100k enum values", `{"enum":[` + list(100_000, func(i int) string { return fmt.Sprintf(`"value-%d"`, i) }) + `]}`},
		{"1k enum values of 1 KiB each", `{"enum":[` + list(1000, func(i int) string { return fmt.Sprintf(`"%d%s"`, i, strings.Repeat("x", 1024)) }) + `]}`},
		{"one 1 MiB enum value", `{"enum":["` + strings.Repeat("y", 1<<20) + `"]}`},
		{"one 1 MiB property name", `{"type":"object","properties":{"` + strings.Repeat("k", 1<<20) + `":{"type":"string"}}}`},
		{"10k distinct anyOf members", `{"anyOf":[` + list(10_000, func(i int) string { return fmt.Sprintf(`{"const":%d}`, i) }) + `]}`},
		{"10k type entries over 1k properties", strings.Replace(props(1000, func(int) string { return `{"type":"number"}` }),
			`"type":"object"`, `"type":[`+list(10_000, func(int) string { return `"object"` })+`]`, 1)},
		{"100k tuple items", `{"type":"array","prefixItems":[` + list(100_000, func(int) string { return `{"type":"boolean"}` }) + `]}`},
		{"100k schema keywords", `{` + list(100_000, func(i int) string { return fmt.Sprintf(`"k%d":1`, i) }) + `,"type":"string"}`},
		{"10k refs to unknown names", props(10_000, func(i int) string { return fmt.Sprintf(`{"$ref":"#/$defs/missing-%d"}`, i) })},
	}
}

func TestHostileSchemasRenderBounded(t *testing.T) {
	for _, tc := range hostileSchemas() {
		t.Run(tc.name, func(t *testing.T) {
			out := NewRenderer(nil).Type(json.RawMessage(tc.schema))
			if len(out) > maxOutput+4096 {
				t.Errorf("output is %d bytes, want at most about %d", len(out), maxOutput)
			}
		})
	}
}

func TestHostileOutputIsCutShortHonestly(t *testing.T) {
	r := NewRenderer(nil)

	deep := strings.Repeat(`{"type":"array","items":`, 200) + `{"type":"string"}` + strings.Repeat(`}`, 200)
	if got, want := r.Type(json.RawMessage(deep)), "unknown"+strings.Repeat("[]", maxDepth+1); got != want {
		t.Errorf("deep arrays: got %.80s…, want unknown under %d levels of []", got, maxDepth+1)
	}
	// Past fastjson.MaxDepth (300 JSON levels) a document does not parse at
	// all, so the whole type is unknown rather than the outer levels of it.
	deeper := strings.Repeat(`{"type":"array","items":`, 10_000) + `{"type":"string"}` + strings.Repeat(`}`, 10_000)
	if got := r.Type(json.RawMessage(deeper)); got != "unknown" {
		t.Errorf("arrays 10k levels deep: got %.80s…, want unknown", got)
	}

	var b strings.Builder
	b.WriteString(`{"type":"object","properties":{`)
	for i := range 10_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"p%d":{"type":"string"}`, i)
	}
	b.WriteString(`},"required":["p0"]}`)
	got := r.Type(json.RawMessage(b.String()))
	if !strings.HasPrefix(got, "{ p0: string; p1?: string; ") || !strings.HasSuffix(got, "[key: string]: unknown; }") {
		t.Errorf("10k properties: want the first ones, then an index signature for the rest; got %.60s…%s", got, got[max(0, len(got)-60):])
	}

	var enum []string
	for i := range 100_000 {
		enum = append(enum, fmt.Sprintf(`"v%d"`, i))
	}
	got = r.Type(json.RawMessage(`{"type":"string","enum":[` + strings.Join(enum, ",") + `]}`))
	if n := strings.Count(got, " | "); n != maxEnum || !strings.HasSuffix(got, " | string") {
		t.Errorf("huge enum: want %d literals then string, got %d separators, ending %q", maxEnum, n, got[len(got)-20:])
	}
}

func TestManyDefinitionsRenderOnce(t *testing.T) {
	// A chain of 10k definitions, each referring to the next: Definitions
	// renders each once, and the chain costs linear time.
	defs := map[string]json.RawMessage{}
	for i := range 10_000 {
		defs[fmt.Sprintf("D%d", i)] = json.RawMessage(fmt.Sprintf(`{"type":"object","properties":{"next":{"$ref":"#/$defs/D%d"}}}`, (i+1)%10_000))
	}
	r := NewRenderer(defs)
	start := time.Now()
	r.Type(json.RawMessage(`{"$ref":"#/$defs/D0"}`))
	got := r.Definitions()
	if len(got) != 10_000 || got["D9999"] != "{ next?: D0; }" {
		t.Fatalf("got %d definitions, D9999 = %q", len(got), got["D9999"])
	}
	t.Logf("10k definitions in %v", time.Since(start))
}

func BenchmarkTypeReference(b *testing.B) {
	schema := json.RawMessage(`{"type":"object","properties":{"petId":{"type":"string"},"verbose":{"type":"boolean"}},"required":["petId"],"additionalProperties":false}`)
	r := NewRenderer(petDefs)
	for b.Loop() {
		r.Type(schema)
	}
}

func BenchmarkTypeHostile(b *testing.B) {
	for _, tc := range hostileSchemas() {
		b.Run(tc.name, func(b *testing.B) {
			schema := json.RawMessage(tc.schema)
			b.SetBytes(int64(len(schema)))
			for b.Loop() {
				NewRenderer(nil).Type(schema)
			}
		})
	}
}
