package openapi

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestCamelCase(t *testing.T) {
	tests := map[string]string{
		"getPet":                 "getPet",
		"getPetByID":             "getPetById",
		"issues/create":          "issuesCreate",
		"create-issue-type":      "createIssueType",
		"Pet Store":              "petStore",
		"XMLHttpRequest":         "xmlHttpRequest",
		"list_pets_v2":           "listPetsV2",
		"v2_1":                   "v21",
		"__":                     "",
		"Käse":                   "kSe",
		"repos/get-content-2fa":  "reposGetContent2fa",
		"OAuth2TokenExchange":    "oAuth2TokenExchange",
		"already.dotted.opId":    "alreadyDottedOpId",
		"UPPER_CASE_OPERATION":   "upperCaseOperation",
		"snake_case_operation_1": "snakeCaseOperation1",
	}
	for in, want := range tests {
		if got := camelCase(in); got != want {
			t.Errorf("camelCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestToolNameParts(t *testing.T) {
	tests := []struct {
		name                  string
		tags                  []string
		operationID, method   string
		path, group, wantLeaf string
	}{
		{"GitHub issues/create", []string{"issues"}, "issues/create", "POST", "/repos/{owner}/{repo}/issues", "issues", "create"},
		{"GitHub repos/get", []string{"repos"}, "repos/get", "GET", "/repos/{owner}/{repo}", "repos", "get"},
		{"GitHub orgs/create-issue-type", []string{"orgs"}, "orgs/create-issue-type", "POST", "/orgs/{org}/issue-types", "orgs", "createIssueType"},
		{"operationId kept whole", nil, "getPet", "GET", "/pets/{petId}", "pets", "getPet"},
		{"tag with a space", []string{"Things Store"}, "Things Store_makeThing", "POST", "/things", "thingsStore", "makeThing"},
		{"operationId that is only the group", []string{"issues"}, "issues", "GET", "/issues", "issues", "issues"},
		{"group segment without a separator stays", []string{"pets"}, "petsList", "GET", "/pets", "pets", "petsList"},
		{"no operationId", nil, "", "GET", "/pets/{petId}", "pets", "getPetsPetId"},
		{"versions, api and parameters are skipped", nil, "", "GET", "/api/v2_1/{tenant}/user-accounts", "userAccounts", "getApiV21TenantUserAccounts"},
		{"nothing to group by", nil, "", "GET", "/{id}", "root", "getId"},
		{"root path", nil, "", "GET", "/", "root", "get"},
		{"untaggable tag falls back to the path", []string{"über"}, "", "DELETE", "/v1/widgets", "ber", "deleteV1Widgets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := toolGroup(tt.tags, tt.path)
			if g != tt.group {
				t.Errorf("group = %q, want %q", g, tt.group)
			}
			if l := toolLeaf(g, tt.operationID, tt.method, tt.path); l != tt.wantLeaf {
				t.Errorf("leaf = %q, want %q", l, tt.wantLeaf)
			}
		})
	}
}

// namesOf parses a document of paths (each `<method> <path> <operationId>
// [tag]`) and returns the tool names.
func namesOf(t *testing.T, ops ...string) []string {
	t.Helper()
	paths := map[string][]string{}
	var order []string
	for _, op := range ops {
		f := strings.Fields(op)
		extra := ""
		if len(f) > 2 && f[2] != "-" {
			extra += fmt.Sprintf(`"operationId":%q,`, f[2])
		}
		if len(f) > 3 {
			if strings.HasPrefix(f[3], "x:") {
				extra += fmt.Sprintf(`"x-executor-toolPath":%q,`, strings.TrimPrefix(f[3], "x:"))
			} else {
				extra += fmt.Sprintf(`"tags":[%q],`, f[3])
			}
		}
		if _, ok := paths[f[1]]; !ok {
			order = append(order, f[1])
		}
		paths[f[1]] = append(paths[f[1]], fmt.Sprintf(`%q:{%s"responses":{"200":{"description":"ok"}}}`, f[0], extra))
	}
	var b strings.Builder
	b.WriteString(`{"openapi":"3.0.3","info":{"title":"t","version":"1"},"paths":{`)
	for i, p := range order {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q:{%s}", p, strings.Join(paths[p], ","))
	}
	b.WriteString("}}")
	cat := mustCatalog(t, b.String())
	var names []string
	for _, tool := range cat.Tools {
		names = append(names, tool.Name)
	}
	return names
}

func TestToolNameCollisions(t *testing.T) {
	tests := []struct {
		name string
		ops  []string
		want []string
	}{
		{"distinct names are kept",
			[]string{"get /pets listPets", "get /pets/{id} getPet"},
			[]string{"pets.listPets", "pets.getPet"}},
		{"a version segment tells versions apart",
			[]string{"get /v1/pets listPets", "get /v2/pets listPets"},
			[]string{"pets.v1.listPets", "pets.v2.listPets"}},
		{"then the method",
			[]string{"get /pets pets", "post /pets pets"},
			[]string{"pets.petsGet", "pets.petsPost"}},
		{"then a hash of method and path",
			[]string{"get /pets list pets", "get /animals list pets"},
			[]string{"pets.listGet_" + opHash(&operation{method: "GET", path: "/pets"}), "pets.listGet_" + opHash(&operation{method: "GET", path: "/animals"})}},
		{"names differing only in case collide",
			[]string{"get /pets getPet", "get /pets/{id} - x:pets.GetPet"},
			[]string{"pets.getPetGet_" + opHash(&operation{method: "GET", path: "/pets"}), "pets.GetPetGet_" + opHash(&operation{method: "GET", path: "/pets/{id}"})}},
		{"x-executor-toolPath overrides",
			[]string{"get /pets listPets x:animals.all", "get /cats - x:felines"},
			[]string{"animals.all", "cats.felines"}},
		{"an invalid x-executor-toolPath is ignored",
			[]string{"get /pets listPets x:bad/name"},
			[]string{"pets.listPets"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := namesOf(t, tt.ops...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("names = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLongNamesAreCapped(t *testing.T) {
	long := strings.Repeat("veryLongOperationName", 10)
	names := namesOf(t, "get /things "+long, "get /others "+long+" things")
	for _, n := range names {
		if !toolNamePattern.MatchString(n) {
			t.Errorf("%q is not a valid tool name", n)
		}
	}
	if names[0] == names[1] {
		t.Errorf("capped names collide: %v", names)
	}
}
