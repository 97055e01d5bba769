package graphql

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func mustParse(t testing.TB, sdl string) *Schema {
	t.Helper()
	s, err := ParseSchema([]byte(sdl))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCatalogJSON(t testing.TB, s *Schema) string {
	t.Helper()
	cat, err := s.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(cat, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSDLAndIntrospectionGiveTheSameCatalog(t *testing.T) {
	ts := newTestServer(t)
	fromSDL := mustCatalogJSON(t, mustParse(t, testSDL))

	live, err := Introspect(context.Background(), ts.Client(), ts.URL+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := ts.introspectionJSON(t)
	var data struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	roundTrip := mustParse(t, live.SDL())

	for name, s := range map[string]*Schema{
		"introspected live":             live,
		"introspection response":        mustParse(t, string(raw)),
		"introspection data":            mustParse(t, string(data.Data)),
		"SDL written for introspection": roundTrip,
	} {
		if got := mustCatalogJSON(t, s); got != fromSDL {
			t.Errorf("%s: catalog differs from the SDL's:\n%s", name, diffLines(fromSDL, got))
		}
	}
}

// diffLines shows the first differing line of two texts, with context.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + itoa(i+1) + ":\nwant: " + wl + "\ngot:  " + gl
		}
	}
	return "(equal)"
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
