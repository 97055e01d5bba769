package sandbox

import (
	"strings"
	"testing"
)

func TestCodeRecovery(t *testing.T) {
	tests := []struct {
		name, code, want string
		lineBase         int
	}{
		{name: "plain statements are left alone", code: "const x = 1;\nreturn x", want: "const x = 1;\nreturn x"},
		{name: "a bare expression is not returned", code: "1+1", want: "1+1"},
		{name: "surrounding whitespace is trimmed", code: "\n\n  return 1  \n", want: "return 1", lineBase: 2},
		{name: "a fenced block is used", code: "Here you go:\n```ts\nreturn 2\n```\nthanks", want: "return 2", lineBase: 2},
		{name: "a fence without language is used", code: "```\nreturn 3\n```", want: "return 3", lineBase: 1},
		{name: "an arrow function is invoked", code: "async () => { return 5 }", want: "return await (async () => { return 5 }\n)();"},
		{name: "an arrow with a trailing semicolon is invoked", code: "() => 5;", want: "return await (() => 5\n)();"},
		{name: "a parenthesized function is invoked", code: "(async function () { return 1 })", want: "return await ((async function () { return 1 })\n)();"},
		{name: "a named function declaration is invoked", code: "async function main() {\n  return 1\n}", want: "return await (async function main() {\n  return 1\n}\n)();"},
		{name: "an arrow with typed parameters is invoked", code: "async (x: number = 1): Promise<number> => x", want: "return await (async (x: number = 1): Promise<number> => x\n)();"},
		{name: "a single-parameter arrow is invoked", code: "x => 1", want: "return await (x => 1\n)();"},
		{name: "two functions are not invoked", code: "function a() {}\nfunction b() {}", want: "function a() {}\nfunction b() {}"},
		{name: "a function followed by a call is not invoked", code: "async function main() {}\nmain()", want: "async function main() {}\nmain()"},
		{name: "an immediately invoked function is left alone", code: "(async () => 1)()", want: "(async () => 1)()"},
		{name: "export default of an expression is returned", code: "export default 6*7", want: "const __sbx_default = 6*7\n;return typeof __sbx_default === \"function\" ? await __sbx_default() : __sbx_default;"},
		{name: "export default after helpers is returned", code: "const k = 2;\nexport default async () => k", want: "const k = 2;\nconst __sbx_default = async () => k\n;return typeof __sbx_default === \"function\" ? await __sbx_default() : __sbx_default;"},
		{name: "export before declarations is dropped", code: "export const a = 1;\nreturn a", want: "const a = 1;\nreturn a"},
		{name: "export default inside a string is ignored", code: "return 'export default 1'", want: "return 'export default 1'"},
		{name: "export default inside a template is ignored", code: "return `${'x'}\nexport default 1`", want: "return `${'x'}\nexport default 1`"},
		{name: "export default inside a comment is ignored", code: "// export default 1\nreturn 2", want: "// export default 1\nreturn 2"},
		{name: "a regexp with a quote does not confuse the scanner", code: "const r = /'/; export default r.source", want: "const r = /'/; const __sbx_default = r.source\n;return typeof __sbx_default === \"function\" ? await __sbx_default() : __sbx_default;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, lineBase := recoverCode(tt.code)
			if got != tt.want {
				t.Errorf("recoverCode(%q)\n got: %q\nwant: %q", tt.code, got, tt.want)
			}
			if lineBase != tt.lineBase {
				t.Errorf("line base = %d, want %d", lineBase, tt.lineBase)
			}
		})
	}
}

func TestPrepareReportsSyntaxErrorsInTheAgentsLines(t *testing.T) {
	tests := []struct{ code, want string }{
		{"const x = ;", "(1:10)"},
		{"const a = 1\nconst b = a +* 2", "(2:13)"},
		{"```ts\nconst a = 1\nlet = ;\n```", "(3:"},
		{"interface A { x: number }\nconst a: A = {x: 1\nreturn a", "(3:"},
	}
	for _, tt := range tests {
		p := prepare(tt.code)
		if !strings.HasPrefix(p.syntaxErr, "SyntaxError: ") || !strings.Contains(p.syntaxErr, tt.want) {
			t.Errorf("prepare(%q).syntaxErr = %q, want SyntaxError with %s", tt.code, p.syntaxErr, tt.want)
		}
	}
}

func TestSourceMapDecoding(t *testing.T) {
	// "AAAA;AACA,IAAI" : line 0 col 0 → src 0:0; line 1 col 0 → src 1:0, col 4 → src 1:4
	sm := parseSourceMap([]byte(`{"version":3,"sources":["x"],"mappings":"AAAA;AACA,IAAI"}`))
	if sm == nil {
		t.Fatal("parseSourceMap returned nil")
	}
	for _, tt := range []struct{ line, col, wantLine, wantCol int }{
		{0, 0, 0, 0}, {1, 0, 1, 0}, {1, 5, 1, 5}, {1, 2, 1, 2},
	} {
		l, c, ok := sm.lookup(tt.line, tt.col)
		if !ok || l != tt.wantLine || c != tt.wantCol {
			t.Errorf("lookup(%d,%d) = %d,%d,%v; want %d,%d", tt.line, tt.col, l, c, ok, tt.wantLine, tt.wantCol)
		}
	}
	if v, ok := decodeVLQ("gB"); !ok || len(v) != 1 || v[0] != 16 {
		t.Errorf("decodeVLQ(gB) = %v %v, want [16]", v, ok)
	}
	if v, ok := decodeVLQ("D"); !ok || v[0] != -1 {
		t.Errorf("decodeVLQ(D) = %v %v, want [-1]", v, ok)
	}
}

func TestProgramCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	c := newProgramCache(2)
	a := c.get("return 1")
	c.get("return 2")
	if c.get("return 1") != a {
		t.Fatal("cached program was not reused")
	}
	c.get("return 3") // evicts "return 2"
	if len(c.progs) != 2 {
		t.Fatalf("cache holds %d programs, want 2", len(c.progs))
	}
	if c.get("return 1") != a {
		t.Fatal("recently used program was evicted")
	}
}

// esbuild recurses on a goroutine stack and Go kills the process when one
// passes 1 GB; deep nesting must be refused before esbuild sees it.
func TestDeepNestingIsRefusedBeforeParsing(t *testing.T) {
	const n = 300000
	deep := map[string]string{
		"brackets":        strings.Repeat("[", n) + strings.Repeat("]", n),
		"negations":       strings.Repeat("!", n) + "1",
		"unary minus":     strings.Repeat("-", n) + "1",
		"ternaries":       strings.Repeat("a?b:", n) + "c",
		"arrows":          strings.Repeat("a=>", n) + "1",
		"assignments":     strings.Repeat("a=", n) + "1",
		"exponents":       strings.Repeat("2**", n) + "2",
		"ifs":             strings.Repeat("if(a)", n) + "x;",
		"labels":          strings.Repeat("a:", n) + "x;",
		"generics":        "let x: " + strings.Repeat("A<", n) + "B" + strings.Repeat(">", n),
		"templates":       strings.Repeat("`${", n) + "1" + strings.Repeat("}`", n),
		"prefix in calls": strings.Repeat("!f(1,", n) + "1" + strings.Repeat(")", n),
		"typeof":          strings.Repeat("typeof ", n) + "x",
	}
	for name, expr := range deep {
		t.Run(name, func(t *testing.T) {
			p := prepare("return " + expr)
			if !strings.Contains(p.syntaxErr, "nests more than 3000 levels deep") {
				t.Fatalf("syntaxErr = %.100q", p.syntaxErr)
			}
		})
	}
	fine := map[string]string{
		"a long else-if chain":     "let r = 0;\n" + strings.Repeat("if (x === 1) { r = 1 } else ", 1000) + "{ r = 2 }\nreturn r",
		"a long concatenation":     "return " + strings.Repeat("'a' + ", 20000) + "'a'",
		"a long array of negative": "return [" + strings.Repeat("-1, ", 20000) + "-1]",
		"a big object of arrows":   "const o = {" + strings.Repeat("f: (x: number) => x, ", 5000) + "}; return 1",
		"moderate nesting":         "return " + strings.Repeat("[", 500) + strings.Repeat("]", 500),
	}
	for name, code := range fine {
		t.Run(name, func(t *testing.T) {
			if p := prepare(code); p.syntaxErr != "" {
				t.Fatalf("refused: %.200s", p.syntaxErr)
			}
		})
	}
}
