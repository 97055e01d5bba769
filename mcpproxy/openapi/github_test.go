package openapi

import (
	"encoding/json"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// githubDescription is GitHub's REST API description (npm @octokit/openapi,
// OpenAPI 3.0.3, 13 MB, 1,223 operations); `npm ci` in testdata/npm
// installs it.
const githubDescription = "../../testdata/npm/node_modules/@octokit/openapi/generated/api.github.com.json"

func readGitHub(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(githubDescription)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("GitHub's description is missing (run npm ci in testdata/npm): %v", err)
		}
		t.Skipf("GitHub's description is missing (run npm ci in testdata/npm): %v", err)
	}
	return data
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestGitHubDescriptionImportsQuickly(t *testing.T) {
	data := readGitHub(t)
	runtime.GC()
	wall, cpu := time.Now(), cpuTime()
	d, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := d.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	elapsed, used := time.Since(wall), cpuTime()-cpu
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	peak := ru.Maxrss >> 10 // MiB (Linux reports KiB)
	t.Logf("Parse+Catalog: %d tools, %d definitions in %s wall, %s CPU; peak RSS %d MiB", len(cat.Tools), len(cat.Definitions), elapsed, used, peak)

	if len(cat.Tools) != 1223 {
		t.Errorf("tools = %d, want 1223", len(cat.Tools))
	}
	names := map[string]bool{}
	for _, tool := range cat.Tools {
		if !toolNamePattern.MatchString(tool.Name) {
			t.Errorf("tool name %q is not [A-Za-z0-9_.-]{1,128}", tool.Name)
		}
		if names[tool.Name] {
			t.Errorf("duplicate tool name %q", tool.Name)
		}
		names[tool.Name] = true
	}
	for _, want := range []string{"issues.create", "repos.get", "orgs.createIssueType", "pulls.list", "repos.createOrUpdateFileContents"} {
		if !names[want] {
			t.Errorf("no tool %q", want)
		}
	}
	// The budget is 1 s on this (shared, 2-core) machine; CPU time is what
	// other builds running alongside do not inflate.
	if raceEnabled {
		return
	}
	if used > time.Second {
		t.Errorf("Parse+Catalog used %s of CPU, over the 1 s budget", used)
	}
	if peak > 250 {
		t.Errorf("peak RSS %d MiB, over the 250 MiB budget", peak)
	}

}

func TestGitHubToolSchemasCompile(t *testing.T) {
	data := readGitHub(t)
	cat := mustCatalog(t, string(data))
	for i := range cat.Tools {
		compileInput(t, &cat.Tools[i], reachableDefs(cat.Tools[i].InputSchema, cat.Definitions))
	}
	create := toolNamed(t, cat, "issues.create")
	s := compileInput(t, create, reachableDefs(create.InputSchema, cat.Definitions))
	if err := validates(s, `{"owner":"o","repo":"r","body":{"title":"Bug","labels":["a",{"name":"b"}]}}`); err != nil {
		t.Errorf("a valid issues.create call is refused: %v", err)
	}
	if err := validates(s, `{"owner":"o","repo":"r","body":{"labels":[]}}`); err == nil {
		t.Error("issues.create without a title is accepted")
	}
}

// BenchmarkGitHubImport measures Parse+Catalog of GitHub's description.
func BenchmarkGitHubImport(b *testing.B) {
	data := readGitHub(b)
	b.ReportAllocs()
	for b.Loop() {
		d, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.Catalog(); err != nil {
			b.Fatal(err)
		}
	}
}

// reachableDefs are the definitions a schema reaches through references:
// what a validator needs to compile it.
func reachableDefs(schema json.RawMessage, defs map[string]json.RawMessage) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	queue := []json.RawMessage{schema}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, ref := range textRefs(s) {
			tokens, _ := refTokens(ref)
			if len(tokens) == 2 && tokens[0] == "$defs" && out[tokens[1]] == nil && defs[tokens[1]] != nil {
				out[tokens[1]] = defs[tokens[1]]
				queue = append(queue, defs[tokens[1]])
			}
		}
	}
	return out
}
