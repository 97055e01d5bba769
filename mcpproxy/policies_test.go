package mcpproxy

import (
	"strings"
	"testing"
)

func TestPatternGrammar(t *testing.T) {
	valid := []string{"*", "pets.*", "pets", "pets.org.main.pets.getPet", "vercel.*.*.dns.create", "executor.coreTools.policies.create", "a.*.c"}
	for _, p := range valid {
		if _, err := ParsePattern(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	invalid := map[string]string{
		"":             "empty",
		"pe*":          "partial wildcard",
		"pets.get*":    "partial wildcard",
		"*.org.main":   "must not start with *",
		"pets..x":      "empty segment",
		".pets":        "start or end with a dot",
		"pets.":        "start or end with a dot",
		"tools.pets":   "tools.",
		"pets. x":      "white space",
		"**":           "partial wildcard",
		"pets.*suffix": "partial wildcard",
		// security.md L10: patterns are matched segment by segment (no
		// regular expressions), and their length is capped.
		strings.Repeat("a.", 300) + "b": "longer than 512 characters",
	}
	for p, want := range invalid {
		_, err := ParsePattern(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error about %q", p, err, want)
		}
	}
}

func TestPatternMatching(t *testing.T) {
	id := strings.Split("vercel.org.main.dns.create", ".")
	cases := []struct {
		pattern string
		match   bool
	}{
		{"*", true},
		{"vercel.*", true},
		{"vercel.org.*", true},
		{"vercel.org.main.dns.create.*", true}, // a subtree includes its root
		{"vercel.org.main.dns.create", true},
		{"vercel.*.*.dns.create", true},
		{"vercel.*.*.dns.delete", false},
		{"vercel.*.main", false}, // one-segment wildcards match exactly that many segments
		{"vercel.org.main.dns", false},
		{"other.*", false},
		{"vercel.user.*", false},
		{"Vercel.*", false}, // case-sensitive
	}
	for _, tc := range cases {
		segs, err := ParsePattern(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchPattern(segs, id); got != tc.match {
			t.Errorf("%s matches vercel.org.main.dns.create = %v, want %v", tc.pattern, got, tc.match)
		}
	}
}

func TestSpecificityOrdersNewRules(t *testing.T) {
	for pattern, want := range map[string]int{"*": 0, "a.*": 2, "a.b.*": 4, "a.b": 5, "a.b.c": 7, "a.*.c": 6} {
		segs, _ := ParsePattern(pattern)
		if got := specificity(segs); got != want {
			t.Errorf("specificity(%s) = %d, want %d", pattern, got, want)
		}
	}
}

func TestPolicyPrecedence(t *testing.T) {
	tg := newTestGateway(t, Config{})
	alice := Principal{ID: "alice"}
	add := func(owner, pattern, action string) {
		t.Helper()
		if code, body := tg.api(t, "alice", "POST", "/api/policies", map[string]any{"owner": owner, "pattern": pattern, "action": action}, nil); code != 200 {
			t.Fatalf("%s %s %s: %d %s", owner, pattern, action, code, body)
		}
	}
	decide := func(path string, requiresApproval bool) decision {
		return tg.policies.decide(alice, strings.Split(path, "."), requiresApproval)
	}

	if d := decide("pets.org.main.pets.createPet", true); d.Action != ActionRequireApproval || !d.Default {
		t.Fatalf("default for a write: %+v", d)
	}
	if d := decide("pets.org.main.pets.getPet", false); d.Action != ActionApprove || !d.Default {
		t.Fatalf("default for a read: %+v", d)
	}

	// A broad rule added after a narrow one lands below it: exact beats subtree.
	add("org", "pets.org.main.pets.getPet", ActionBlock)
	add("org", "pets.*", ActionApprove)
	if d := decide("pets.org.main.pets.getPet", false); d.Action != ActionBlock || d.Pattern != "pets.org.main.pets.getPet" {
		t.Fatalf("exact block under a later subtree approve: %+v", d)
	}
	// An explicit approve lifts the default approval of writes.
	if d := decide("pets.org.main.pets.createPet", true); d.Action != ActionApprove || d.Pattern != "pets.*" {
		t.Fatalf("approve rule over a write: %+v", d)
	}
	// A personal rule never weakens an organization rule.
	add("user", "pets.org.main.pets.getPet", ActionApprove)
	if d := decide("pets.org.main.pets.getPet", false); d.Action != ActionBlock {
		t.Fatalf("user approve weakened org block: %+v", d)
	}
	// …but it can tighten one.
	add("user", "pets.org.main.pets.createPet", ActionRequireApproval)
	if d := decide("pets.org.main.pets.createPet", true); d.Action != ActionRequireApproval {
		t.Fatalf("user rule did not tighten: %+v", d)
	}
	// Another principal is unaffected by alice's personal rules.
	if d := tg.policies.decide(Principal{ID: "bob"}, strings.Split("pets.org.main.pets.createPet", "."), true); d.Action != ActionApprove {
		t.Fatalf("bob: %+v", d)
	}

	var list []policyView
	tg.api(t, "alice", "GET", "/api/policies", nil, &list)
	if len(list) != 4 || list[0].Pattern != "pets.org.main.pets.getPet" || list[1].Pattern != "pets.*" {
		t.Fatalf("evaluation order: %+v", list)
	}
}

func TestPolicyAPIValidation(t *testing.T) {
	tg := newTestGateway(t, Config{})
	tg.connect(t, "pets", OwnerOrg, "", "main", tool("pets.getPet", "Get", ``), tool("pets.listPets", "List", ``))
	for _, tc := range []struct {
		body   map[string]any
		status int
		want   string
	}{
		{map[string]any{"owner": "org", "pattern": "pe*", "action": "block"}, 400, "partial wildcard"},
		{map[string]any{"owner": "org", "pattern": "pets.*", "action": "allow"}, 400, "action"},
		{map[string]any{"owner": "team", "pattern": "pets.*", "action": "block"}, 400, "owner"},
		{map[string]any{"owner": "org", "action": "block"}, 400, "pattern and action are required"},
	} {
		if code, body := tg.api(t, "alice", "POST", "/api/policies", tc.body, nil); code != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%v: %d %s", tc.body, code, body)
		}
	}
	var pol policyView
	if code, body := tg.api(t, "alice", "POST", "/api/policies", map[string]any{"owner": "org", "pattern": "pets.*", "action": "block"}, &pol); code != 200 || pol.Matches != 2 {
		t.Fatalf("create: %d %s", code, body)
	}
	if !strings.HasPrefix(pol.ID, "pol_") || pol.CreatedAt == 0 {
		t.Fatalf("row shape: %+v", pol)
	}
	if code, body := tg.api(t, "alice", "PATCH", "/api/policies/"+pol.ID, map[string]any{"owner": "org", "action": "require_approval"}, &pol); code != 200 || pol.Action != "require_approval" {
		t.Fatalf("patch: %d %s", code, body)
	}
	if code, _ := tg.api(t, "alice", "DELETE", "/api/policies/"+pol.ID, nil, nil); code != 400 {
		t.Fatalf("delete without a body: %d", code)
	}
	if code, _ := tg.api(t, "bob", "DELETE", "/api/policies/"+pol.ID, map[string]any{"owner": "user"}, nil); code != 400 {
		t.Fatalf("delete with the wrong owner: %d", code)
	}
	if code, body := tg.api(t, "alice", "DELETE", "/api/policies/"+pol.ID, map[string]any{"owner": "org"}, nil); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
}
