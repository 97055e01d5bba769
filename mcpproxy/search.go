package mcpproxy

import (
	"math"
	"sort"
	"strings"
	"unicode"
)

// Search ranking. The base is the reference product's lexical scoring
// (upstream-behaviour.md §A.3.4): weighted fields path 12, integration 8,
// name 10, description 5; per field exact ×14, prefix ×9, phrase ×6; per
// query token equal ×4, prefix either way ×2, contained ×1; coverage rules;
// +25 full coverage; +8 first-token match; +20 exact path or name.
//
// Two additions make the top hit the tool the words describe rather than a
// longer name that happens to contain them as a phrase (on GitHub's REST
// description the reference ranks orgs.createIssueType first for "create
// issue"; we rank issues.create first):
//   - singular and plural fold ("issues" equals "issue");
//   - when the query covers every token of a tool's name (in any order) the
//     name counts as an exact match, and a precision bonus rewards names
//     with no unmatched words.
const (
	wPath        = 12
	wIntegration = 8
	wName        = 10
	wDescription = 5

	precisionBonus = 150
)

// searchField is one normalised field.
type searchField struct {
	norm   string
	tokens []string
	stems  []string
}

// searchDoc is a tool's precomputed search fields.
type searchDoc struct {
	path, integration, name, description searchField
	nameStems                            map[string]bool
}

func newSearchDoc(e *toolEntry) searchDoc {
	d := searchDoc{
		path:        newField(e.Path),
		integration: newField(e.Integration),
		name:        newField(e.Tool.Name),
		description: newField(e.Tool.Description),
	}
	d.nameStems = map[string]bool{}
	for _, s := range d.name.stems {
		d.nameStems[s] = true
	}
	return d
}

func newField(s string) searchField {
	n := normalizeSearch(s)
	f := searchField{norm: n}
	if n != "" {
		f.tokens = strings.Fields(n)
		f.stems = make([]string, len(f.tokens))
		for i, t := range f.tokens {
			f.stems[i] = stem(t)
		}
	}
	return f
}

// normalizeSearch splits camelCase, turns `_ . / : -` and white space into
// single spaces, and lower-cases.
func normalizeSearch(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	rs := []rune(s)
	space := true
	for i, r := range rs {
		switch {
		case r == '_' || r == '.' || r == '/' || r == ':' || r == '-' || unicode.IsSpace(r):
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		case unicode.IsUpper(r):
			prevLower := i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]))
			acronymEnd := i > 0 && unicode.IsUpper(rs[i-1]) && i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if (prevLower || acronymEnd) && !space {
				b.WriteByte(' ')
			}
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(unicode.ToLower(r))
		}
		space = false
	}
	return strings.TrimSpace(b.String())
}

// stem folds simple English plurals: "issues" → "issue", "repositories" →
// "repository", "classes" → "class".
func stem(t string) string {
	switch {
	case len(t) > 4 && strings.HasSuffix(t, "ies"):
		return t[:len(t)-3] + "y"
	case len(t) > 4 && (strings.HasSuffix(t, "sses") || strings.HasSuffix(t, "xes") || strings.HasSuffix(t, "ches") || strings.HasSuffix(t, "shes")):
		return t[:len(t)-2]
	case len(t) > 3 && strings.HasSuffix(t, "s") && !strings.HasSuffix(t, "ss") && !strings.HasSuffix(t, "us"):
		return t[:len(t)-1]
	}
	return t
}

// searchQuery is a normalised query.
type searchQuery struct {
	field     searchField
	stemSet   map[string]bool
	nsTokens  []string
	hasQuery  bool
	namespace string
}

func newSearchQuery(query, namespace string) searchQuery {
	q := searchQuery{field: newField(query), namespace: namespace}
	q.hasQuery = q.field.norm != ""
	q.stemSet = map[string]bool{}
	for _, s := range q.field.stems {
		q.stemSet[s] = true
	}
	if ns := normalizeSearch(namespace); ns != "" {
		q.nsTokens = strings.Fields(ns)
	}
	return q
}

// inNamespace is a token-prefix match of the namespace on the integration
// or the path.
func (q *searchQuery) inNamespace(d *searchDoc) bool {
	if len(q.nsTokens) == 0 {
		return true
	}
	return hasTokenPrefix(d.integration.tokens, q.nsTokens) || hasTokenPrefix(d.path.tokens, q.nsTokens)
}

func hasTokenPrefix(tokens, prefix []string) bool {
	if len(prefix) > len(tokens) {
		return false
	}
	for i, p := range prefix {
		if i == len(prefix)-1 {
			if !strings.HasPrefix(tokens[i], p) {
				return false
			}
		} else if tokens[i] != p {
			return false
		}
	}
	return true
}

// score ranks d against q; ok is false when coverage rules exclude it.
func (q *searchQuery) score(d *searchDoc) (score int, ok bool) {
	qt := q.field.tokens
	matched := make([]bool, len(qt))
	exactPhrase := false
	for _, f := range []struct {
		field *searchField
		w     int
	}{{&d.path, wPath}, {&d.integration, wIntegration}, {&d.name, wName}, {&d.description, wDescription}} {
		if f.field.norm == "" {
			continue
		}
		switch {
		case f.field.norm == q.field.norm:
			score += f.w * 14
			exactPhrase = true
		case strings.HasPrefix(f.field.norm, q.field.norm):
			score += f.w * 9
			exactPhrase = true
		case strings.Contains(f.field.norm, q.field.norm):
			score += f.w * 6
			exactPhrase = true
		}
		for i, t := range qt {
			switch s := tokenMatch(f.field, t, q.field.stems[i]); s {
			case 4, 2, 1:
				score += f.w * s
				matched[i] = true
			}
		}
	}
	n := 0
	for _, m := range matched {
		if m {
			n++
		}
	}
	if len(qt) == 0 {
		return 0, false
	}
	coverage := float64(n) / float64(len(qt))
	if !exactPhrase && ((len(qt) <= 2 && coverage < 1) || coverage < 0.6) {
		return 0, false
	}
	if coverage == 1 {
		score += 25
	} else {
		score += int(math.Round(coverage * 10))
	}
	if len(qt) > 0 && ((len(d.path.tokens) > 0 && d.path.tokens[0] == qt[0]) || (len(d.name.tokens) > 0 && d.name.tokens[0] == qt[0])) {
		score += 8
	}
	if d.path.norm == q.field.norm || d.name.norm == q.field.norm {
		score += 20
	}
	if coverage == 1 && len(d.nameStems) > 0 {
		covered := 0
		for s := range d.nameStems {
			if q.stemSet[s] {
				covered++
			}
		}
		precision := float64(covered) / float64(len(d.nameStems))
		if precision == 1 && d.name.norm != q.field.norm {
			score += wName*14 + 20 // every word of the name, in any order
		}
		score += int(math.Round(precisionBonus * precision))
	}
	return score, true
}

// tokenMatch scores one query token against a field: 4 equal (or the same
// stem), 2 prefix either way, 1 contained, 0 none.
func tokenMatch(f *searchField, t, ts string) int {
	best := 0
	for i, ft := range f.tokens {
		if ft == t || f.stems[i] == ts {
			return 4
		}
		if best < 2 && (strings.HasPrefix(ft, t) || strings.HasPrefix(t, ft)) {
			best = 2
		}
	}
	if best == 0 && strings.Contains(f.norm, t) {
		best = 1
	}
	return best
}

// searchHit is one result.
type searchHit struct {
	entry *toolEntry
	score int
}

// rank returns the entries matching q, best first (score, then path).
func rank(entries []*toolEntry, q searchQuery) []searchHit {
	var hits []searchHit
	if !q.hasQuery {
		if len(q.nsTokens) == 0 {
			return nil
		}
		// An empty query with a namespace enumerates the integration.
		for _, e := range entries {
			if q.inNamespace(&e.search) {
				hits = append(hits, searchHit{e, 0})
			}
		}
		sort.Slice(hits, func(i, j int) bool { return hits[i].entry.Path < hits[j].entry.Path })
		return hits
	}
	for _, e := range entries {
		if !q.inNamespace(&e.search) {
			continue
		}
		if s, ok := q.score(&e.search); ok {
			hits = append(hits, searchHit{e, s})
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].score != hits[j].score {
			return hits[i].score > hits[j].score
		}
		return hits[i].entry.Path < hits[j].entry.Path
	})
	return hits
}
