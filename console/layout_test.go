package console_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// consolePages adds what the pages need to show something (an integration
// with a long description, a connection, a rule, a pending approval) and
// returns every page of the console with the element that says it rendered.
func consolePages(t *testing.T) []struct{ name, path, ready string } {
	t.Helper()
	api := newPetAPI(t, "Layout Store", "pets", "List every pet in the store, with their names, owners and the date they arrived at the store",
		"A deliberately long description that goes on, without any break, to test that nothing overflows: "+strings.Repeat("supercalifragilisticexpialidocious", 4))
	addPetIntegration(t, api, "layoutstore-with-a-rather-long-slug")
	slug := "layoutstore-with-a-rather-long-slug"
	create := toolAddress(t, slug, "createPet")
	var rule struct {
		ID string `json:"id"`
	}
	gw.mustAPI(t, "POST", "/api/policies", map[string]any{"owner": "org", "pattern": slug + ".org.main.pets.*", "action": "require_approval"}, &rule)
	t.Cleanup(func() { gw.api(t, "DELETE", "/api/policies/"+rule.ID, map[string]any{"owner": "org"}, nil) })
	a := newAgent(t, "browser")
	r := a.execute(fmt.Sprintf(`return await %s({ body: { name: %q, tags: ["a", "b"] } })`, jsPath(create), strings.Repeat("long-unbroken-argument-value-", 8)))
	id, _ := r.Structured["executionId"].(string)
	approvalURL, _ := r.Structured["approvalUrl"].(string)
	if id == "" {
		t.Fatalf("the call did not pause: %s", r.text())
	}
	t.Cleanup(func() { gw.api(t, "POST", "/api/executions/"+id+"/resume", map[string]any{"action": "decline"}, nil) })
	return []struct{ name, path, ready string }{
		{"integrations", "/", `document.querySelector(".integration-card")`},
		{"add-openapi", "/integrations/add/openapi?url=" + url.QueryEscape(api.URL+"/openapi.json"), `document.querySelector("#preview-result h2")`},
		{"add-mcp", "/integrations/add/mcp", `document.querySelector("#mcp-endpoint")`},
		{"add-graphql", "/integrations/add/graphql", `document.querySelector("#graphql-endpoint")`},
		{"integration", "/integrations/" + slug + "?tool=" + url.QueryEscape(create), `document.querySelector("#input-ts")`},
		{"tools", "/tools", `document.querySelector("#tool-tree .tree")`},
		{"policies", "/policies", `document.querySelector("#org-rules")`},
		{"approvals", "/approvals", fmt.Sprintf(`document.querySelector('article[data-execution=%q]')`, id)},
		{"resume", approvalURL[strings.Index(approvalURL, "/resume/"):], `document.querySelector("#resume-args")`},
		{"activity", "/activity", `document.querySelector("#activity tbody tr")`},
		{"account", "/account", `document.querySelector(".account")`},
		{"not-found", "/no/such/page", `document.querySelector("main h1")`},
	}
}

func TestPagesFitPhoneAndLaptopWidthsWithoutHorizontalScrolling(t *testing.T) {
	tb := newTab(t)
	pages := consolePages(t)
	sizes := []struct {
		name string
		w, h int64
		dark bool
	}{
		{"laptop", 1280, 800, false},
		{"phone", 390, 844, false},
		{"laptop-dark", 1280, 800, true},
	}
	for _, s := range sizes {
		tb.viewport(s.w, s.h, s.dark)
		for _, p := range pages {
			if s.dark && !darkPages[p.name] {
				continue
			}
			tb.open(p.path)
			tb.do(tb.waitJS(p.ready), tb.settled())
			if over := eval[string](tb, overflowReport); over != "" {
				t.Errorf("%s at %dx%d scrolls sideways: %s", p.name, s.w, s.h, over)
			}
			tb.screenshot(p.name + "-" + s.name)
		}
	}
	// On a phone the navigation folds into a menu button.
	tb.viewport(390, 844, false)
	tb.open("/")
	if eval[bool](tb, `getComputedStyle(document.querySelector("#nav")).display !== "none"`) {
		t.Error("the navigation is not folded at phone width")
	}
	tb.click("#menu-toggle")
	tb.do(tb.waitJS(`getComputedStyle(document.querySelector("#nav")).display !== "none"`))
	if over := eval[string](tb, overflowReport); over != "" {
		t.Errorf("the open menu scrolls sideways: %s", over)
	}
	tb.screenshot("menu-phone")
	tb.click(`#nav a[href="/policies"]`)
	tb.do(tb.waitJS(`location.pathname === "/policies" && getComputedStyle(document.querySelector("#nav")).display === "none"`))
}

// darkPages are the pages also captured in the dark scheme.
var darkPages = map[string]bool{"integrations": true, "integration": true, "policies": true, "approvals": true, "activity": true, "resume": true}

// overflowReport is "" when the page does not scroll sideways, else the
// widest elements that stick out.
const overflowReport = `(() => {
  const w = innerWidth;
  if (document.scrollingElement.scrollWidth <= w) return "";
  const out = [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > w + 1)
    .slice(-5).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + "." + [...e.classList].join(".") + " right=" + Math.round(e.getBoundingClientRect().right));
  return "scrollWidth " + document.scrollingElement.scrollWidth + " > " + w + ": " + out.join(", ");
})()`

// focused describes the element that has the keyboard focus.
const focused = `(() => { const e = document.activeElement; if (!e || e === document.body) return "";
  return (e.id ? "#" + e.id + " " : "") + e.tagName.toLowerCase() + " " + (e.getAttribute("aria-label") || e.textContent || e.placeholder || "").trim().slice(0, 60) })()`

// focusVisible says whether the focused element shows a focus indicator.
const focusVisible = `(() => { const s = getComputedStyle(document.activeElement);
  return (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none" })()`

// tabThrough presses Tab up to n times and returns what got the focus,
// checking that each stop shows it.
func tabThrough(t *testing.T, tb *tab, n int) []string {
	t.Helper()
	var stops []string
	for range n {
		tb.do(chromedp.KeyEvent(kb.Tab))
		f := eval[string](tb, focused)
		if f == "" {
			continue
		}
		if !eval[bool](tb, focusVisible) {
			t.Errorf("%q has the focus but shows no focus indicator", f)
		}
		stops = append(stops, f)
	}
	return stops
}

func mustReach(t *testing.T, page string, stops []string, wants ...string) {
	t.Helper()
	all := strings.Join(stops, "\n")
	for _, w := range wants {
		if !strings.Contains(all, w) {
			t.Errorf("on %s, Tab never reaches %q; it reaches:\n%s", page, w, all)
		}
	}
}

func TestTabReachesTheMainActions(t *testing.T) {
	api := newPetAPI(t, "Keyboard Store", "pets", "List the pets", "")
	addPetIntegration(t, api, "keystore-kb")
	tb := newTab(t)

	tb.open("/")
	tb.do(tb.waitJS(`document.querySelector(".integration-card")`))
	mustReach(t, "Integrations", tabThrough(t, tb, 30),
		"Skip to content", "a Integrations", "a Tools", "a Policies", "a Approvals", "a Activity", "a Account",
		"#find", "Find", "Keyboard Store", "Copy URL", "#copy-command", "Resume approvals", "OpenAPI")

	// Enter on a focused link follows it.
	tb.open("/")
	tb.do(tb.waitJS(`document.querySelector(".integration-card")`))
	eval[bool](tb, `(document.querySelector('a.integration-card[href="/integrations/keystore-kb"]').focus(), true)`)
	tb.do(chromedp.KeyEvent(kb.Enter), tb.waitJS(`location.pathname === "/integrations/keystore-kb"`), tb.settled())
	tb.do(tb.waitJS(`document.querySelector("#tool-tree .tool-name")`))
	mustReach(t, "an integration", tabThrough(t, tb, 30),
		"Edit", "Refresh tools", "#delete-integration", "#add-connection", "Remove", "Filter tools", "Policy for", "listPets")

	// Enter on a tool opens its detail, whose Run button is reachable.
	eval[bool](tb, `([...document.querySelectorAll("#tool-tree .tool-name")].find(b => b.textContent.includes("listPets")).focus(), true)`)
	tb.do(chromedp.KeyEvent(kb.Enter), tb.waitJS(`document.querySelector("#run")`))
	eval[bool](tb, `(document.querySelector("#run-code").focus(), true)`)
	mustReach(t, "a tool's detail", tabThrough(t, tb, 3), "#run-auto", "#run")

	tb.open("/policies")
	mustReach(t, "Policies", tabThrough(t, tb, 14), "#policy-pattern", "#policy-action", "#policy-owner", "#add-policy")
}
