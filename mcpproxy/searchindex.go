package mcpproxy

import (
	"sort"
	"strings"
)

// searchIndex narrows a search to the tools that can match before any of
// them is scored. A tool is a candidate when one of its tokens equals a query
// token (or has the same stem), starts with it, is a prefix of it, or
// contains it; those are the only ways a token scores. Scoring then runs on
// the candidates only, so a search over GitHub's 1,223 tools (with long
// descriptions) scores tens of tools instead of every word of every one.
type searchIndex struct {
	entries []*toolEntry
	vocab   []string           // every token, sorted, once
	post    map[string][]int32 // token → entries having it in any field
	byStem  map[string][]string
}

func buildSearchIndex(entries []*toolEntry) *searchIndex {
	ix := &searchIndex{entries: entries, post: map[string][]int32{}, byStem: map[string][]string{}}
	for i, e := range entries {
		d := &e.search
		for _, f := range []*searchField{&d.path, &d.integration, &d.name, &d.description} {
			for _, t := range f.tokens {
				p := ix.post[t]
				if n := len(p); n > 0 && p[n-1] == int32(i) {
					continue
				}
				ix.post[t] = append(p, int32(i))
			}
		}
	}
	ix.vocab = make([]string, 0, len(ix.post))
	for t := range ix.post {
		ix.vocab = append(ix.vocab, t)
		s := stem(t)
		ix.byStem[s] = append(ix.byStem[s], t)
	}
	sort.Strings(ix.vocab)
	return ix
}

// candidates returns the indexes of entries that match at least one query
// token, in index order.
func (ix *searchIndex) candidates(q *searchQuery) []int32 {
	seen := make([]bool, len(ix.entries))
	add := func(tok string) {
		for _, i := range ix.post[tok] {
			seen[i] = true
		}
	}
	for i, qt := range q.field.tokens {
		for _, t := range ix.byStem[q.field.stems[i]] {
			add(t)
		}
		// Tokens starting with qt: a contiguous range of the sorted vocabulary.
		for j := sort.SearchStrings(ix.vocab, qt); j < len(ix.vocab) && strings.HasPrefix(ix.vocab[j], qt); j++ {
			add(ix.vocab[j])
		}
		// Tokens that are a prefix of qt.
		for n := 1; n < len(qt); n++ {
			add(qt[:n])
		}
		// Tokens containing qt elsewhere than at their start.
		if len(qt) >= 3 {
			for _, t := range ix.vocab {
				if len(t) > len(qt) && strings.Contains(t[1:], qt) {
					add(t)
				}
			}
		}
	}
	var out []int32
	for i, ok := range seen {
		if ok {
			out = append(out, int32(i))
		}
	}
	return out
}
