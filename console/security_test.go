package console_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	imgXSS    = `<img src=x onerror=window.__xss=1>`
	scriptXSS = `</script><script>window.__xss=2</script>`
)

func TestUpstreamMarkupRendersAsTextOnEveryPage(t *testing.T) {
	api := newPetAPI(t, "Evil "+imgXSS+" API", scriptXSS, imgXSS, scriptXSS+" "+imgXSS)
	prefix := addPetIntegration(t, api, "evilstore")
	list := toolAddress(t, "evilstore", "listPets")
	create := toolAddress(t, "evilstore", "createPet")
	if !strings.HasPrefix(list, prefix) {
		t.Fatalf("unexpected address %s", list)
	}
	gw.mustAPI(t, "PATCH", "/api/connections/org/evilstore/main", map[string]any{"identityLabel": imgXSS + " \x1b[31mred", "description": scriptXSS}, nil)
	gw.mustAPI(t, "PATCH", "/api/integrations/evilstore", map[string]any{"description": scriptXSS}, nil)

	// A rule whose pattern is markup (patterns may hold anything but white space).
	const rulePattern = "evilstore.<img/src=x/onerror=window.__xss=3>"
	var rule struct {
		ID string `json:"id"`
	}
	gw.mustAPI(t, "POST", "/api/policies", map[string]any{"owner": "org", "pattern": rulePattern, "action": "block"}, &rule)
	t.Cleanup(func() { gw.api(t, "DELETE", "/api/policies/"+rule.ID, map[string]any{"owner": "org"}, nil) })

	// A paused call whose arguments carry markup, for Approvals and the resume page.
	a := newAgent(t, "browser")
	r := a.execute(fmt.Sprintf(`return await %s({ body: { name: %q } })`, create, imgXSS+scriptXSS))
	approvalURL, _ := r.Structured["approvalUrl"].(string)
	id, _ := r.Structured["executionId"].(string)
	if id == "" {
		t.Fatalf("the call did not pause: %s", r.text())
	}
	t.Cleanup(func() { gw.api(t, "POST", "/api/executions/"+id+"/resume", map[string]any{"action": "decline"}, nil) })
	resumePath := approvalURL[strings.Index(approvalURL, "/resume/"):]

	tb := newTab(t)
	pages := []struct {
		name, path, ready string
		shows             []string // literal markup that must be visible as text
	}{
		{"integrations", "/", `document.querySelector(".integration-card")`, []string{imgXSS, scriptXSS}},
		{"add-preview", "/integrations/add/openapi?url=" + url.QueryEscape(api.URL+"/openapi.json"), `document.querySelector("#preview-result h2")`, []string{imgXSS}},
		// A control character (an ANSI escape) shows as its control picture.
		{"integration", "/integrations/evilstore?tool=" + url.QueryEscape(list), `document.querySelector("#input-ts")`, []string{imgXSS, scriptXSS, "\u241b[31mred"}},
		{"tools", "/tools?tool=" + url.QueryEscape(list), `document.querySelector("#input-ts")`, []string{imgXSS}},
		{"policies", "/policies", `document.querySelector("#policies section")`, []string{rulePattern}},
		{"approvals", "/approvals", fmt.Sprintf(`document.querySelector('article[data-execution=%q]')`, id), []string{imgXSS, scriptXSS}},
		{"resume", resumePath, `document.querySelector("#resume-args")`, []string{imgXSS, scriptXSS}},
		{"activity", "/activity", `document.querySelector("#activity tbody tr")`, []string{rulePattern}},
		{"account", "/account", `document.querySelector(".account")`, nil},
	}
	for _, p := range pages {
		tb.open(p.path)
		tb.do(tb.waitJS(p.ready), tb.settled())
		// Give any injected handler (onerror fires after a failed load) time to run.
		time.Sleep(150 * time.Millisecond)
		tb.noXSS(p.name)
		text := eval[string](tb, `document.body.innerText`)
		for _, s := range p.shows {
			if !strings.Contains(text, s) {
				t.Errorf("%s: the markup %q is not shown as text", p.name, s)
			}
		}
		tb.screenshot("xss-" + p.name)
	}

	// Even if escaping failed, the console's CSP forbids inline script.
	res, err := http.Get(gw.base + "/integrations/evilstore")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("the console's CSP is %q", csp)
	}
}

func TestACrossOriginPostToTheAPIIsRefused(t *testing.T) {
	const pattern = "crossorigin.org.main.*"
	policyExists := func() bool {
		var rules []struct {
			Pattern string `json:"pattern"`
		}
		gw.mustAPI(t, "GET", "/api/policies", nil, &rules)
		for _, r := range rules {
			if r.Pattern == pattern {
				return true
			}
		}
		return false
	}
	body := fmt.Sprintf(`{"owner":"org","pattern":%q,"action":"approve"}`, pattern)

	// A raw request the way a browser sends it from another site.
	for _, ct := range []string{"application/json", "text/plain", "application/x-www-form-urlencoded"} {
		req, _ := http.NewRequest("POST", gw.base+"/api/policies", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Origin", "http://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("a cross-site %s POST = %d %s, want 403", ct, res.StatusCode, b)
		}
		if ao := res.Header.Get("Access-Control-Allow-Origin"); ao != "" {
			t.Errorf("the refusal allows the origin %q", ao)
		}
	}

	// The same for every endpoint that decides or starts something: the
	// approval of a paused call (M6) and the start of an OAuth sign-in (G15).
	for _, path := range []string{"/api/executions/exec_0123456789abcdef/resume", "/api/mcp-sessions/s/executions/exec_0123456789abcdef/resume",
		"/api/oauth/start", "/api/connections", "/api/integrations/x", "/api/oauth/clients"} {
		for _, method := range []string{"POST", "PATCH", "DELETE"} {
			req, _ := http.NewRequest(method, gw.base+path, strings.NewReader(`{"action":"accept"}`))
			req.Header.Set("Content-Type", "text/plain")
			req.Header.Set("Origin", "http://evil.example")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusMethodNotAllowed && res.StatusCode != http.StatusNotFound {
				t.Errorf("a cross-site %s %s = %d, want 403", method, path, res.StatusCode)
			}
			if res.StatusCode == http.StatusNotFound && method == "POST" {
				t.Errorf("a cross-site POST %s reached the route (404 from the handler, not the cross-site check)", path)
			}
		}
	}

	// A page on another origin (localhost is another site than 127.0.0.1)
	// tries a fetch and a form post with the person's browser.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>evil</title>
<form id=f method=post enctype=text/plain action=%q><input name='{"owner":"org","pattern":"%s","action":"approve","x":"' value='"}'></form>
<script>
window.results = [];
fetch(%q, {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"}, body: %q})
  .then(() => results.push("no-cors sent"), e => results.push("no-cors " + e));
fetch(%q, {method: "POST", credentials: "include", headers: {"Content-Type": "application/json"}, body: %q})
  .then(r => results.push("cors " + r.status), e => results.push("cors refused"));
</script>`, gw.base+"/api/policies", pattern, gw.base+"/api/policies", body, gw.base+"/api/policies", body)
	}))
	defer evil.Close()
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	tb := newTab(t)
	tb.do(chromedp.Navigate(evilURL), tb.waitJS(`window.results && window.results.length === 2`))
	results := eval[string](tb, `results.join("; ")`)
	if strings.Contains(results, "cors 200") {
		t.Errorf("the cross-origin fetch was answered: %s", results)
	}
	tb.do(chromedp.Submit(chromedp.CSS("#f")))
	time.Sleep(300 * time.Millisecond)
	if policyExists() {
		t.Fatalf("a page on another origin created a policy (%s)", results)
	}
	if page := eval[string](tb, `document.body.innerText`); !strings.Contains(page, "cross-origin") && !strings.Contains(page, "Forbidden") {
		t.Logf("after the form post the browser shows %q", page)
	}

	// The console itself (same origin) may write.
	gw.mustAPI(t, "POST", "/api/policies", map[string]any{"owner": "org", "pattern": pattern, "action": "approve"}, nil)
	if !policyExists() {
		t.Fatal("a same-origin POST did not create the policy")
	}
	var rules []struct {
		ID      string `json:"id"`
		Pattern string `json:"pattern"`
	}
	gw.mustAPI(t, "GET", "/api/policies", nil, &rules)
	for _, r := range rules {
		if r.Pattern == pattern {
			gw.mustAPI(t, "DELETE", "/api/policies/"+r.ID, map[string]any{"owner": "org"}, nil)
		}
	}
}
