package sandbox

import (
	"container/list"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/evanw/esbuild/pkg/api"
)

// sourceFile is the name QuickJS shows in stack traces (positions are mapped
// back to the agent's code before anyone sees them).
const sourceFile = "code.ts"

// wrapperHead puts the agent's code in an async function so that top-level
// await and return work; the code starts on the second line.
const (
	wrapperHead = "__sbx_main(async function __main() {\n"
	wrapperTail = "\n});\n"
)

// program is agent code made ready to evaluate.
type program struct {
	js        string     // evaluate this
	syntaxErr string     // or report this
	lines     *sourceMap // generated → agent positions; nil if unknown
	// lineBase is added to mapped lines: the lines dropped before the code
	// (a Markdown fence, blank lines) minus the wrapper's first line.
	lineBase int

	mu sync.Mutex
	bc []byte // QuickJS bytecode of js, once a run has compiled it
}

func (p *program) bytecode() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bc
}

func (p *program) setBytecode(bc []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bc = bc
}

// prepare turns agent code into a program: code recovery (fences, a lone
// function or `export default`), then TypeScript stripping inside the async
// wrapper.
func prepare(code string) *program {
	if tooDeep(scan(code)) {
		return &program{syntaxErr: fmt.Sprintf("SyntaxError: the code nests more than %d levels deep", maxNesting)}
	}
	body, lineBase := recoverCode(code)
	res := api.Transform(wrapperHead+body+wrapperTail, api.TransformOptions{
		Loader:        api.LoaderTS,
		Target:        api.ES2022,
		Sourcefile:    sourceFile,
		Sourcemap:     api.SourceMapExternal,
		LegalComments: api.LegalCommentsNone,
		LogLevel:      api.LogLevelSilent,
	})
	p := &program{lineBase: lineBase - 1}
	if len(res.Errors) > 0 {
		m := res.Errors[0]
		p.syntaxErr = "SyntaxError: " + m.Text
		if loc := m.Location; loc != nil {
			line := loc.Line + p.lineBase
			if line < 1 { // an error in the wrapper's first line is at the start of the code
				line = 1
			}
			p.syntaxErr += fmt.Sprintf(" (%d:%d)", line, loc.Column)
		}
		return p
	}
	p.js = string(res.Code)
	p.lines = parseSourceMap(res.Map)
	return p
}

var fenceRE = regexp.MustCompile("(?s)```[^\\n`]*\\n(.*?)```")

// recoverCode applies the agent-friendly rewrites of the reference executor
// and returns the function body plus how many lines of the original precede
// it.
func recoverCode(code string) (string, int) {
	lineBase := 0
	if m := fenceRE.FindStringSubmatchIndex(code); m != nil {
		lineBase = strings.Count(code[:m[2]], "\n")
		code = code[m[2]:m[3]]
	}
	trimmed := strings.TrimSpace(code)
	if trimmed == "" {
		return "", lineBase
	}
	lineBase += strings.Count(code[:strings.Index(code, trimmed)], "\n")
	code = trimmed

	toks := scan(code)
	if len(toks) == 0 {
		return code, lineBase
	}
	if body, ok := rewriteExports(code, toks); ok {
		return body, lineBase
	}
	last := len(toks)
	for last > 0 && toks[last-1].is(";") {
		last--
	}
	if last == 0 {
		return code, lineBase
	}
	candidate := code[:toks[last-1].end]
	if isFunctionShaped(toks[:last]) && isOneExpression(candidate) {
		return "return await (" + candidate + "\n)();", lineBase
	}
	return code, lineBase
}

// rewriteExports turns a top-level `export default X` into a returned value
// (invoked if it is a function) and drops `export` before top-level
// declarations, which cannot be exported from a function body.
func rewriteExports(code string, toks []token) (string, bool) {
	var b strings.Builder
	prev := 0
	hasDefault := false
	for i, t := range toks {
		if t.depth != 0 || !t.is("export") || i+1 >= len(toks) {
			continue
		}
		if i > 0 && !toks[i-1].is(";") && !toks[i-1].is("}") && !hasNewlineBetween(code, toks[i-1], t) {
			continue // not at the start of a statement
		}
		next := toks[i+1]
		switch {
		case next.is("default") && !hasDefault:
			b.WriteString(code[prev:t.start])
			b.WriteString("const __sbx_default =")
			prev = next.end
			hasDefault = true
		case next.kind == tokIdent && isDeclarationKeyword(next.text):
			b.WriteString(code[prev:t.start])
			prev = next.start
		}
	}
	if prev == 0 {
		return "", false
	}
	b.WriteString(code[prev:])
	if hasDefault {
		b.WriteString("\n;return typeof __sbx_default === \"function\" ? await __sbx_default() : __sbx_default;")
	}
	return b.String(), true
}

func hasNewlineBetween(code string, a, b token) bool {
	return strings.Contains(code[a.end:b.start], "\n")
}

func isDeclarationKeyword(s string) bool {
	switch s {
	case "const", "let", "var", "function", "async", "class", "interface", "type", "enum", "abstract", "declare":
		return true
	}
	return false
}

// isFunctionShaped reports whether toks start like a function or arrow
// expression: [async] function…, [async] x =>, [async] (…) =>, (…): T =>,
// <T>(…) =>, or any of these in parentheses.
func isFunctionShaped(toks []token) bool {
	for len(toks) > 2 && toks[0].is("(") && matching(toks, 0) == len(toks)-1 {
		toks = toks[1 : len(toks)-1]
	}
	i := 0
	if i < len(toks) && toks[i].is("async") {
		i++
	}
	if i >= len(toks) {
		return false
	}
	switch t := toks[i]; {
	case t.is("function"):
		return true
	case t.is("<"):
		return true
	case t.kind == tokIdent:
		return i+1 < len(toks) && toks[i+1].is("=>")
	case t.is("("):
		j := matching(toks, i)
		return j > 0 && j+1 < len(toks) && (toks[j+1].is("=>") || toks[j+1].is(":"))
	}
	return false
}

// isOneExpression asks esbuild whether code is a single expression.
func isOneExpression(code string) bool {
	res := api.Transform("(\n"+code+"\n)", api.TransformOptions{
		Loader:   api.LoaderTS,
		LogLevel: api.LogLevelSilent,
	})
	return len(res.Errors) == 0
}

// programCache keeps prepared programs by source hash: agents resend the
// same code (retries, resumes, replays) and esbuild is the slow part.
type programCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of [32]byte, most recent first
	items map[[32]byte]*list.Element
	progs map[[32]byte]*program
}

func newProgramCache(max int) *programCache {
	return &programCache{
		max:   max,
		order: list.New(),
		items: map[[32]byte]*list.Element{},
		progs: map[[32]byte]*program{},
	}
}

func (c *programCache) get(code string) *program {
	key := sha256.Sum256([]byte(code))
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		p := c.progs[key]
		c.mu.Unlock()
		return p
	}
	c.mu.Unlock()
	p := prepare(code)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; !ok {
		c.items[key] = c.order.PushFront(key)
		c.progs[key] = p
		for c.order.Len() > c.max {
			old := c.order.Remove(c.order.Back()).([32]byte)
			delete(c.items, old)
			delete(c.progs, old)
		}
	}
	return p
}

// positionRE finds "code.ts:line:column" in QuickJS stack traces.
var positionRE = regexp.MustCompile(regexp.QuoteMeta(sourceFile) + `:(\d+)(?::(\d+))?`)

// cleanError maps the positions in an uncaught error's text from the
// generated program to the agent's code and drops the stack frames of the
// sandbox's own wrapper.
func (p *program) cleanError(text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	kept := lines[:0]
	for _, l := range lines {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "at ") &&
			(strings.Contains(t, "(prelude.js") || strings.Contains(t, "(deliver.js") || strings.HasPrefix(t, "at <eval>")) {
			continue
		}
		kept = append(kept, l)
	}
	return p.mapPositions(strings.Join(kept, "\n"))
}

// mapPositions rewrites "code.ts:line:col" from the generated program to
// the agent's code.
func (p *program) mapPositions(text string) string {
	if p.lines == nil {
		return text
	}
	return positionRE.ReplaceAllStringFunc(text, func(m string) string {
		sub := positionRE.FindStringSubmatch(m)
		line, _ := strconv.Atoi(sub[1])
		col := 1
		if sub[2] != "" {
			col, _ = strconv.Atoi(sub[2])
		}
		sl, sc, ok := p.lines.lookup(line-1, col-1)
		if !ok {
			return m
		}
		userLine := sl + 1 + p.lineBase
		if userLine < 1 {
			return m
		}
		return fmt.Sprintf("%s:%d:%d", sourceFile, userLine, sc+1)
	})
}

// sourceMap holds the decoded "mappings" of a source map with one source.
type sourceMap struct {
	lines [][]mapping // by generated line (0-based)
}

type mapping struct {
	genCol, srcLine, srcCol int
}

func parseSourceMap(raw []byte) *sourceMap {
	var m struct {
		Mappings string `json:"mappings"`
	}
	if json.Unmarshal(raw, &m) != nil || m.Mappings == "" {
		return nil
	}
	s := m.Mappings
	sm := &sourceMap{}
	srcLine, srcCol := 0, 0
	for _, line := range strings.Split(s, ";") {
		var segs []mapping
		genCol := 0
		for _, seg := range strings.Split(line, ",") {
			if seg == "" {
				continue
			}
			f, ok := decodeVLQ(seg)
			if !ok || len(f) < 1 {
				return nil
			}
			genCol += f[0]
			if len(f) >= 4 {
				srcLine += f[2]
				srcCol += f[3]
				segs = append(segs, mapping{genCol, srcLine, srcCol})
			}
		}
		sm.lines = append(sm.lines, segs)
	}
	return sm
}

// lookup maps a 0-based generated position to a 0-based source position.
func (sm *sourceMap) lookup(line, col int) (int, int, bool) {
	if line < 0 || line >= len(sm.lines) || len(sm.lines[line]) == 0 {
		return 0, 0, false
	}
	segs := sm.lines[line]
	best := segs[0]
	for _, m := range segs {
		if m.genCol > col {
			break
		}
		best = m
	}
	return best.srcLine, best.srcCol + max(0, col-best.genCol), true
}

const base64Digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func decodeVLQ(s string) ([]int, bool) {
	var out []int
	val, shift := 0, 0
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(base64Digits, s[i])
		if d < 0 {
			return nil, false
		}
		val += (d & 31) << shift
		if d&32 != 0 {
			shift += 5
			continue
		}
		if val&1 != 0 {
			out = append(out, -(val >> 1))
		} else {
			out = append(out, val>>1)
		}
		val, shift = 0, 0
	}
	return out, shift == 0
}
