package oauth_test

import (
	"maps"
	"testing"

	"github.com/mcpexecutor/executor/mcpproxy/oauth"
)

func TestParseWWWAuthenticate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		want   map[string]string
	}{
		{"reads quoted parameters", `Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp", scope="read write"`,
			map[string]string{"resource_metadata": "https://mcp.example/.well-known/oauth-protected-resource/mcp", "scope": "read write"}},
		{"reads unquoted parameters and lower-cases names", `bearer Error=invalid_token, Scope=read`,
			map[string]string{"error": "invalid_token", "scope": "read"}},
		{"undoes escapes in quoted values", `Bearer error_description="the \"token\" expired, sorry"`,
			map[string]string{"error_description": `the "token" expired, sorry`}},
		{"skips another scheme's challenge before Bearer", `Basic realm="api", Bearer realm="mcp", resource_metadata="https://a.example/prm"`,
			map[string]string{"realm": "mcp", "resource_metadata": "https://a.example/prm"}},
		{"stops at the next challenge after Bearer", `Bearer scope="read", DPoP algs="ES256", resource_metadata="https://evil.example/prm"`,
			map[string]string{"scope": "read"}},
		{"skips a token68 credential", `Negotiate YIIB4gYGKwYBBQUCoIIB1jCC==, Bearer error="invalid_token"`,
			map[string]string{"error": "invalid_token"}},
		{"keeps the first of repeated parameters", `Bearer scope="a", scope="b"`, map[string]string{"scope": "a"}},
		{"gives an empty map for a bare Bearer", `Bearer`, map[string]string{}},
		{"gives nil without a Bearer challenge", `Basic realm="api"`, nil},
		{"gives nil for an empty header", ``, nil},
		{"survives an unterminated quote", `Bearer scope="read`, map[string]string{"scope": "read"}},
		{"survives junk", `"",,, =, Bearer , scope=x`, map[string]string{"scope": "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := oauth.ParseWWWAuthenticate(tc.header)
			if !maps.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
				t.Errorf("ParseWWWAuthenticate(%q) = %#v, want %#v", tc.header, got, tc.want)
			}
		})
	}
}
