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
