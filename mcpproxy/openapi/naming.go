package openapi

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
)

// Tool names are `<group>.<leaf>`, as in the reference product:
//
//   - group: the operation's first tag in camelCase, else the first path
//     segment that is not a version (v1, v2_1), not "api" and not a
//     {parameter}, else "root";
//   - leaf: the operationId in camelCase, without a leading segment equal
//     to the group (GitHub's "issues/create" tagged "issues" is
//     issues.create), else the method and the path segments in PascalCase
//     (getPetsPetId);
//   - x-executor-toolPath on the operation replaces both.
//
// Names that collide (case-insensitively) gain the path's version segment
// (pets.v2.getPet), then the method (pets.getPetGet), then a hash of
// method and path.

// toolNamePattern is what a tool name may be (security E2).
var toolNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

var versionSegment = regexp.MustCompile(`^[vV][0-9]+([._][0-9]+)*([a-z]+[0-9]*)?$`)

// words splits an identifier into words at non-alphanumeric characters and
// at case changes ("getPetByID" → get Pet By ID, "XMLHttp" → XML Http).
func words(s string) []string {
	var out []string
	var cur []byte
	flush := func() {
		if len(cur) > 0 {
			out = append(out, string(cur))
			cur = cur[:0]
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) {
			flush()
			continue
		}
		if len(cur) > 0 && isUpper(c) {
			prev := cur[len(cur)-1]
			nextLower := i+1 < len(s) && isLower(s[i+1])
			if isLower(prev) || isDigit(prev) || (isUpper(prev) && nextLower) {
				flush()
			}
		}
		cur = append(cur, c)
	}
	flush()
	return out
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// camelCase joins words: the first lower-case, the others capitalised.
func camelCase(s string) string {
	var b strings.Builder
	for i, w := range words(s) {
		w = strings.ToLower(w)
		if i > 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		b.WriteString(w)
	}
	return b.String()
}

func pascalCase(s string) string {
	c := camelCase(s)
	if c == "" {
		return ""
	}
	return strings.ToUpper(c[:1]) + c[1:]
}

// toolGroup is the first part of an operation's tool name.
func toolGroup(tags []string, path string) string {
	if len(tags) > 0 {
		if g := camelCase(tags[0]); g != "" {
			return g
		}
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "" || strings.EqualFold(seg, "api") || versionSegment.MatchString(seg) || strings.HasPrefix(seg, "{") {
			continue
		}
		if g := camelCase(seg); g != "" {
			return g
		}
	}
	return "root"
}

// toolLeaf is the second part of an operation's tool name.
func toolLeaf(group, operationID, method, path string) string {
	if operationID != "" {
		id := operationID
		// Strip a leading segment naming the group: "issues/create",
		// "Things Store_makeThing".
		for i := 1; i < len(id); i++ {
			if isAlnum(id[i]) || !strings.EqualFold(camelCase(id[:i]), group) {
				continue
			}
			if rest := camelCase(id[i+1:]); rest != "" {
				return rest
			}
			break
		}
		if leaf := camelCase(id); leaf != "" {
			return leaf
		}
	}
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, seg := range strings.Split(path, "/") {
		b.WriteString(pascalCase(strings.Trim(seg, "{}")))
	}
	return b.String()
}

// pathVersion is the first version segment of a path ("v2"), if any.
func pathVersion(path string) string {
	for _, seg := range strings.Split(path, "/") {
		if versionSegment.MatchString(seg) {
			return strings.ToLower(seg)
		}
	}
	return ""
}

// nameTools gives every operation a unique tool name.
func nameTools(ops []*operation) {
	type parts struct{ group, leaf string }
	p := make([]parts, len(ops))
	for i, op := range ops {
		if tp := op.toolPath; tp != "" && toolNamePattern.MatchString(tp) && !strings.HasPrefix(tp, ".") && !strings.HasSuffix(tp, ".") {
			if g, l, ok := strings.Cut(tp, "."); ok {
				p[i] = parts{g, l}
			} else {
				p[i] = parts{toolGroup(op.tags, op.path), tp}
			}
		} else {
			g := toolGroup(op.tags, op.path)
			p[i] = parts{g, toolLeaf(g, op.operationID, op.method, op.path)}
		}
		op.name = capName(p[i].group, p[i].leaf, op)
	}
	steps := []func(i int) string{
		func(i int) string { // the version segment
			if v := pathVersion(ops[i].path); v != "" && !strings.Contains(ops[i].name, "."+v+".") {
				return capName(p[i].group, v+"."+p[i].leaf, ops[i])
			}
			return ""
		},
		func(i int) string { // the method
			g, l := splitName(ops[i].name)
			return capName(g, l+pascalCase(strings.ToLower(ops[i].method)), ops[i])
		},
		func(i int) string { // a hash of method and path
			g, l := splitName(ops[i].name)
			return capName(g, l+"_"+opHash(ops[i]), ops[i])
		},
	}
	for _, step := range steps {
		for _, group := range collisions(ops) {
			for _, i := range group {
				if n := step(i); n != "" {
					ops[i].name = n
				}
			}
		}
	}
	// Anything still colliding (identical method and path, which a valid
	// document cannot have) is numbered.
	taken := map[string]bool{}
	for _, op := range ops {
		name := op.name
		for n := 2; taken[strings.ToLower(name)]; n++ {
			name = op.name + "_" + strconv.Itoa(n)
		}
		taken[strings.ToLower(name)] = true
		op.name = name
	}
}

// collisions lists the indexes of operations sharing a name, in document
// order.
func collisions(ops []*operation) [][]int {
	byName := map[string][]int{}
	var order []string
	for i, op := range ops {
		k := strings.ToLower(op.name)
		if len(byName[k]) == 0 {
			order = append(order, k)
		}
		byName[k] = append(byName[k], i)
	}
	var out [][]int
	for _, k := range order {
		if len(byName[k]) > 1 {
			out = append(out, byName[k])
		}
	}
	return out
}

func splitName(name string) (group, leaf string) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

func opHash(op *operation) string {
	sum := sha256.Sum256([]byte(op.method + " " + op.path))
	return hex.EncodeToString(sum[:4])
}

// capName joins group and leaf, shortening the leaf (with a hash) so the
// name fits in 128 characters.
func capName(group, leaf string, op *operation) string {
	if group == "" {
		group = "root"
	}
	if leaf == "" {
		leaf = strings.ToLower(op.method)
	}
	name := group + "." + leaf
	if len(name) <= 128 {
		return name
	}
	h := opHash(op)
	if len(group) > 64 {
		group = group[:64]
	}
	keep := 128 - len(group) - 1 - len(h) - 1
	return group + "." + leaf[:keep] + "_" + h
}
