package mcpproxy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// fixtureTools is a catalog of 1,040 tools: 52 resources × 20 verbs, named
// like OpenAPI tools (`<group>.<leaf>`), plus the reference's pets API.
func fixtureTools() []integration.Tool {
	resources := []string{"repos", "issues", "pulls", "users", "orgs", "teams", "gists", "actions", "checks", "projects",
		"releases", "deployments", "environments", "secrets", "webhooks", "labels", "milestones", "comments", "reactions", "commits",
		"branches", "tags", "packages", "invoices", "customers", "payments", "refunds", "subscriptions", "products", "prices",
		"coupons", "orders", "carts", "shipments", "warehouses", "tickets", "agents", "macros", "views", "dashboards",
		"reports", "alerts", "incidents", "services", "schedules", "calendars", "events", "contacts", "leads", "campaigns",
		"documents", "folders"}
	verbs := []string{"list", "get", "create", "update", "delete", "search", "archive", "restore", "export", "import",
		"assign", "unassign", "lock", "unlock", "merge", "close", "reopen", "approve", "reject", "sync"}
	var out []integration.Tool
	for _, r := range resources {
		noun := strings.TrimSuffix(r, "s")
		for _, v := range verbs {
			leaf := v + strings.ToUpper(noun[:1]) + noun[1:]
			out = append(out, integration.Tool{Name: r + "." + leaf, Description: fmt.Sprintf("%s a %s", strings.ToUpper(v[:1])+v[1:], noun)})
		}
	}
	return out
}

func fixtureGateway(t testing.TB) *testGateway {
	tg := newTestGateway(t, Config{})
	tg.connect(t, "acme", OwnerOrg, "", "main", fixtureTools()...)
	tg.connect(t, "pets", OwnerUser, "alice", "main",
		tool("pets.getPet", "Get a pet by id", `"petId":{"type":"string"}`, "petId"),
		tool("pets.createPet", "Create a pet", `"body":{"type":"object"}`, "body"),
		tool("pets.listPets", "List pets", ``),
	)
	return tg
}

func search(t testing.TB, tg *testGateway, who string, args string) page {
	t.Helper()
	v, err := tg.builtinSearch(Principal{ID: who}, json.RawMessage(args))
	if err != nil {
		t.Fatal(err)
	}
	return v.(page)
}

func paths(p page) []string {
	var out []string
	for _, it := range p.Items {
		out = append(out, it.(searchItem).Path)
	}
	return out
}

func TestSearchRanksTheNamedToolFirst(t *testing.T) {
	tg := fixtureGateway(t)
	if n := len(tg.catalog.visible(Principal{ID: "alice"})); n < 1000 {
		t.Fatalf("fixture has %d tools", n)
	}
	for _, tc := range []struct{ query, first string }{
		{"get pet", "pets.user.main.pets.getPet"},
		{"create issue", "acme.org.main.issues.createIssue"},
		{"list repos", "acme.org.main.repos.listRepo"},
		{"delete webhook", "acme.org.main.webhooks.deleteWebhook"},
		{"refund", "acme.org.main.refunds.approveRefund"},
		{"merge pull", "acme.org.main.pulls.mergePull"},
		{"archive documents", "acme.org.main.documents.archiveDocument"},
	} {
		got := paths(search(t, tg, "alice", fmt.Sprintf(`{"query":%q}`, tc.query)))
		if len(got) == 0 || got[0] != tc.first {
			t.Errorf("%q: first %v, want %s", tc.query, got, tc.first)
		}
	}
}

func TestSearchResultShapeAndPaging(t *testing.T) {
	tg := fixtureGateway(t)
	p := search(t, tg, "alice", `{"query":"get pet"}`)
	b, _ := json.Marshal(p)
	var shape struct {
		Items      []map[string]any `json:"items"`
		Total      int              `json:"total"`
		HasMore    bool             `json:"hasMore"`
		NextOffset *int             `json:"nextOffset"`
	}
	_ = json.Unmarshal(b, &shape)
	first := shape.Items[0]
	for _, k := range []string{"path", "name", "description", "integration", "score"} {
		if _, ok := first[k]; !ok {
			t.Fatalf("item lacks %s: %v", k, first)
		}
	}
	if first["name"] != "pets.getPet" || first["integration"] != "pets" || first["description"] != "Get a pet by id" {
		t.Fatalf("first item: %v", first)
	}
	if !strings.Contains(string(b), `"nextOffset"`) {
		t.Fatal("nextOffset must be present (null when there are no more)")
	}

	all := search(t, tg, "alice", `{"query":"create","limit":200}`)
	p1 := search(t, tg, "alice", `{"query":"create","limit":10}`)
	p2 := search(t, tg, "alice", `{"query":"create","limit":10,"offset":10}`)
	if p1.Total != all.Total || !p1.HasMore || *p1.NextOffset != 10 || len(p1.Items) != 10 {
		t.Fatalf("page 1: total %d hasMore %v next %v len %d", p1.Total, p1.HasMore, p1.NextOffset, len(p1.Items))
	}
	if strings.Join(paths(p2), ",") != strings.Join(paths(all)[10:20], ",") {
		t.Fatal("page 2 is not the next ten")
	}
	last := search(t, tg, "alice", fmt.Sprintf(`{"query":"create","limit":10,"offset":%d}`, all.Total-3))
	if last.HasMore || last.NextOffset != nil || len(last.Items) != 3 {
		t.Fatalf("last page: %+v", last)
	}
	if d := search(t, tg, "alice", `{"query":"get pet"}`); len(d.Items) > 12 {
		t.Fatalf("default limit is 12, got %d", len(d.Items))
	}
}

func TestSearchNamespaceAndEmptyQueries(t *testing.T) {
	tg := fixtureGateway(t)
	if p := search(t, tg, "alice", `{}`); p.Total != 0 || len(p.Items) != 0 {
		t.Fatalf("empty query without namespace: %+v", p)
	}
	p := search(t, tg, "alice", `{"namespace":"pets","limit":50}`)
	if got := strings.Join(paths(p), ","); got != "pets.user.main.pets.createPet,pets.user.main.pets.getPet,pets.user.main.pets.listPets" {
		t.Fatalf("namespace enumeration: %s", got)
	}
	for _, it := range p.Items {
		if it.(searchItem).Score != 0 {
			t.Fatal("enumeration scores must be 0")
		}
	}
	p = search(t, tg, "alice", `{"query":"list","namespace":"pets"}`)
	for _, path := range paths(p) {
		if !strings.HasPrefix(path, "pets.") {
			t.Fatalf("namespace leaked %s", path)
		}
	}
	if p := search(t, tg, "bob", `{"query":"get pet"}`); len(paths(p)) > 0 && strings.HasPrefix(paths(p)[0], "pets.") {
		t.Fatal("bob found alice's user connection")
	}
}

func TestSearchArgumentErrors(t *testing.T) {
	tg := fixtureGateway(t)
	for args, want := range map[string]string{
		`"get pet"`:      "tools.search expects an object",
		`{"limit":0}`:    "tools.search limit must be a positive number when provided",
		`{"limit":-1}`:   "tools.search limit must be a positive number when provided",
		`{"offset":-2}`:  "tools.search offset must be a non-negative number when provided",
		`{"limit":"10"}`: "tools.search expects an object",
	} {
		_, err := tg.builtinSearch(Principal{ID: "alice"}, json.RawMessage(args))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}

func TestDescribeRendersTypeScriptAndSuggestsOnUnknownPaths(t *testing.T) {
	tg := fixtureGateway(t)
	alice := Principal{ID: "alice"}
	v, err := tg.builtinDescribe(alice, json.RawMessage(`{"path":"pets.user.main.pets.getPet"}`))
	if err != nil {
		t.Fatal(err)
	}
	d := v.(describeOut)
	if d.InputTypeScript != "{ petId: string; }" || d.Name != "pets.getPet" {
		t.Fatalf("describe: %+v", d)
	}
	if d.OutputTypeScript != "{ ok: true; data: unknown; http?: ToolHttpMeta } | { ok: false; error: ToolError }" {
		t.Fatalf("output: %s", d.OutputTypeScript)
	}
	for _, k := range []string{"ToolError", "ToolHttpMeta", "ToolFile"} {
		if d.TypeScriptDefinitions[k] == "" {
			t.Fatalf("definitions lack %s", k)
		}
	}
	v, err = tg.builtinDescribe(alice, json.RawMessage(`{"path":"pets.user.main.pets.getPett"}`))
	if err != nil {
		t.Fatal(err)
	}
	d = v.(describeOut)
	sugg, _ := d.Error["suggestions"].([]string)
	if d.Error["code"] != "tool_not_found" || d.Name != "pets.user.main.pets.getPett" || len(sugg) == 0 || sugg[0] != "pets.user.main.pets.getPet" || len(sugg) > 5 {
		t.Fatalf("unknown path: %+v", d)
	}
	if _, err := tg.builtinDescribe(alice, json.RawMessage(`{"path":"x","includeSchemas":true}`)); err == nil || !strings.Contains(err.Error(), "no longer accepts includeSchemas") {
		t.Fatalf("includeSchemas: %v", err)
	}
	if v, _ := tg.builtinDescribe(alice, json.RawMessage(`{"path":"search"}`)); v.(describeOut).InputTypeScript == "" {
		t.Fatal("builtins describe themselves")
	}
}

func BenchmarkSearchOver1000Tools(b *testing.B) {
	tg := fixtureGateway(b)
	alice := Principal{ID: "alice"}
	args := json.RawMessage(`{"query":"create issue"}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tg.builtinSearch(alice, args); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearchGitHub searches GitHub's 1,223 REST tools (skipped when
// the npm fixture is missing).
func BenchmarkSearchGitHub(b *testing.B) {
	spec, err := os.ReadFile(filepath.Join("..", "testdata", "npm", "node_modules", "@octokit", "openapi", "generated", "api.github.com.json"))
	if err != nil {
		b.Skip("GitHub's OpenAPI description is not installed")
	}
	tg := newTestGateway(b, Config{})
	tg.api(b, "alice", "POST", "/api/openapi/specs", map[string]any{"spec": map[string]any{"kind": "blob", "value": string(spec)}, "slug": "github"}, nil)
	tg.api(b, "alice", "POST", "/api/connections", map[string]any{"owner": "org", "name": "main", "integration": "github", "template": "none"}, nil)
	alice := Principal{ID: "alice"}
	args := json.RawMessage(`{"query":"create issue"}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tg.builtinSearch(alice, args); err != nil {
			b.Fatal(err)
		}
	}
}
