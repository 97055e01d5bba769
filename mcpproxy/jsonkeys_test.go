package mcpproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestDuplicateKey(t *testing.T) {
	many := func(extra string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range 100 {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		b.WriteString(extra + "}")
		return b.String()
	}
	tests := []struct {
		name, body, want string // want is the duplicate, "" for none
	}{
		{"no keys", `[1,"a",{},[]]`, ""},
		{"distinct keys", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"name":1}}}`, ""},
		{"exact duplicate", `{"a":1,"a":2}`, "a"},
		{"case variant", `{"name":"safe","Name":"delete_repo"}`, "Name"},
		{"nested case variant", `{"params":{"name":"skills","Name":"execute"}}`, "Name"},
		{"escaped variant", `{"name":1,"\u004eame":2}`, "Name"},
		{"escaped quote and backslash in keys", `{"a\"b":1,"a\\b":2,"A\"B":3}`, `A"B`},
		{"Kelvin sign folds to k", "{\"k\":1,\"\u212a\":2}", "\u212a"},
		{"long s folds to s", "{\"params\":1,\"param\u017f\":2}", "param\u017f"},
		{"same key in sibling objects", `[{"a":1},{"a":2}]`, ""},
		{"same key in parent and child", `{"a":{"a":{"A":[{"a":1}]}}}`, ""},
		{"keys after a closed child", `{"a":{"b":1,"c":2},"b":3,"c":4}`, ""},
		{"a string value equal to a key", `{"a":"a","b":"A"}`, ""},
		{"string values with braces", `{"a":"{\"a\":1,","b":"}]"}`, ""},
		{"many distinct keys", many(`"other":1`), ""},
		{"a duplicate after many keys", many(`"K57":1`), "K57"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !json.Valid([]byte(tt.body)) {
				t.Fatalf("test body is not valid JSON: %s", tt.body)
			}
			got, dup := duplicateKey([]byte(tt.body))
			if got != tt.want || dup != (tt.want != "") {
				t.Fatalf("duplicateKey = %q, %v; want %q", got, dup, tt.want)
			}
			if want := referenceDuplicate(t, []byte(tt.body)); dup != want {
				t.Fatalf("the reference says duplicate=%v", want)
			}
		})
	}
}

// FuzzDuplicateKey compares duplicateKey with a slow reference built on
// json.Decoder.Token and bytes.EqualFold.
func FuzzDuplicateKey(f *testing.F) {
	for _, s := range []string{`{"a":1,"A":2}`, `{"n":{"x":[{"y":1,"Y":2}]},"N":1}`, `{"\u0041":1,"a":2}`, "{\"s\":1,\"\u017f\":2}", `[{"a":"}"},{"a":"{"}]`, `"x"`, `{"a\\":1,"A\\":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		_, got := duplicateKey(body)
		if want := referenceDuplicate(t, body); got != want {
			t.Fatalf("duplicateKey(%q) = %v, the reference says %v", body, got, want)
		}
		if got, want := jsonValues(body, 1<<30), referenceValues(t, body); got != want {
			t.Fatalf("jsonValues(%q) = %d, the reference says %d", body, got, want)
		}
	})
}

func referenceDuplicate(t testing.TB, body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object, expect bool
		keys           []string
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			t.Fatalf("reference: %v", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				stack = append(stack, &frame{object: v == '{', expect: v == '{'})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].expect = true
				}
			}
			continue
		case string:
			if top != nil && top.object && top.expect {
				for _, k := range top.keys {
					if bytes.EqualFold([]byte(k), []byte(v)) {
						return true
					}
				}
				top.keys = append(top.keys, v)
				top.expect = false
				continue
			}
		}
		if top != nil && top.object {
			top.expect = true
		}
	}
}

// referenceValues counts the values of body with json.Decoder.Token: every
// scalar and every opening delimiter, object keys left out.
func referenceValues(t testing.TB, body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct{ object, key bool } // key: the next string is a key
	var stack []*frame
	n := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("reference: %v", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '}' || d == ']' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
				continue
			}
			n++
			stack = append(stack, &frame{object: d == '{', key: d == '{'})
			continue
		}
		if _, isString := tok.(string); isString && top != nil && top.object && top.key {
			top.key = false
			continue
		}
		n++
		if top != nil && top.object {
			top.key = true
		}
	}
}

func TestJSONValues(t *testing.T) {
	tests := []struct {
		body string
		want int
	}{
		{`1`, 1},
		{`[]`, 1},
		{`{}`, 1},
		{`[1]`, 2},
		{`[ 1 , 2 ]`, 3},
		{`{"a":[1,2],"b":{}}`, 5},
		{`{"a":"x,[{y"}`, 2},
		{`["\"",","]`, 3},
		{`[[],[[]], {} ]`, 5},
	}
	for _, tt := range tests {
		if got := jsonValues([]byte(tt.body), 1000); got != tt.want {
			t.Errorf("jsonValues(%s) = %d, want %d", tt.body, got, tt.want)
		}
	}
	if got := jsonValues([]byte(`[1,2,3,4,5,6]`), 3); got != 3 {
		t.Errorf("the count stops at the limit: %d", got)
	}
}

// security.md L9: a message of a million tiny values is refused before any
// decoder builds it.
func TestAMessageOfAMillionValuesIsRefused(t *testing.T) {
	big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute","arguments":{"code":"return 1","x":[` +
		strings.Repeat("0,", 1_000_000) + `0]}}}`
	if _, _, p := inspectMessage([]byte(big)); p == nil || !strings.Contains(p.msg, "more than 100000 JSON values") {
		t.Fatalf("inspectMessage: %+v", p)
	}
	small := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute","arguments":{"code":"return [` + strings.Repeat("0,", 50_000) + `0]"}}}`
	if _, _, p := inspectMessage([]byte(small)); p != nil {
		t.Fatalf("a long code string is one value: %+v", p)
	}
}

func TestValidUnicodeAndIDs(t *testing.T) {
	for body, want := range map[string]bool{
		`"plain"`:                    true,
		`"é \u00e9 \ud83d\ude00"`:    true,
		`"\\ud800"`:                  true, // an escaped backslash, then text
		`"\ud800"`:                   false,
		`"\udc00"`:                   false,
		`"\ud800\u0041"`:             false,
		`"\ud800x"`:                  false,
		"\"\xff\"":                   false,
		`{"a":"\uD83D\uDE00","b":1}`: true,
	} {
		if got := validUnicode([]byte(body)); got != want {
			t.Errorf("validUnicode(%s) = %v, want %v", body, got, want)
		}
	}
	for id, want := range map[string]bool{
		`1`: true, `0`: true, `-7`: true, `"x"`: true, `9007199254740992`: true, `-9007199254740992`: true,
		`9007199254740993`: false, `1.5`: false, `1e3`: false, `-0`: false, `null`: false, `{}`: false, `[]`: false, `true`: false,
	} {
		if got := validID(json.RawMessage(id)); got != want {
			t.Errorf("validID(%s) = %v, want %v", id, got, want)
		}
	}
}
