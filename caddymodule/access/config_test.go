package access

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCloudflareConfigNormalisesTheTeamDomain(t *testing.T) {
	for _, in := range []string{
		"acme.cloudflareaccess.com",
		"https://acme.cloudflareaccess.com",
		"https://acme.cloudflareaccess.com/",
		"  ACME.cloudflareaccess.com  ",
		"http://acme.cloudflareaccess.com",
		"acme",
	} {
		t.Run(in, func(t *testing.T) {
			c := CloudflareConfig(in)
			if c.Issuer != "https://acme.cloudflareaccess.com" {
				t.Errorf("Issuer = %q", c.Issuer)
			}
			if c.JWKSURL != "https://acme.cloudflareaccess.com/cdn-cgi/access/certs" {
				t.Errorf("JWKSURL = %q", c.JWKSURL)
			}
			if !slices.Equal(c.Algorithms, []string{"RS256"}) || c.RequireType != "app" {
				t.Errorf("Algorithms %v, RequireType %q", c.Algorithms, c.RequireType)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	for _, in := range []string{"", "   ", "https://", "https://user:pw@acme.cloudflareaccess.com"} {
		if err := CloudflareConfig(in).Validate(); err == nil || !strings.Contains(err.Error(), "Issuer") {
			t.Errorf("CloudflareConfig(%q).Validate() = %v, want an Issuer error", in, err)
		}
	}
}

// A36: a bad configuration is refused with a sentence that names the field.
func TestConfigValidateNamesTheField(t *testing.T) {
	good := CloudflareConfig(testTeam)
	cases := []struct {
		name   string
		change func(*Config)
		field  string // "" = valid
	}{
		{"Cloudflare preset is valid", func(*Config) {}, ""},
		{"loopback http JWKS is allowed", func(c *Config) { c.JWKSURL = "http://127.0.0.1:8080/certs" }, ""},
		{"localhost http JWKS is allowed", func(c *Config) { c.JWKSURL = "http://localhost/certs" }, ""},
		{"IPv6 loopback http JWKS is allowed", func(c *Config) { c.JWKSURL = "http://[::1]:9/certs" }, ""},
		{"generic algorithms are valid", func(c *Config) { c.Algorithms = GenericAlgorithms() }, ""},
		{"negative leeway means none", func(c *Config) { c.Leeway = -1 }, ""},
		{"leeway of 60 s is the maximum", func(c *Config) { c.Leeway = 60 * time.Second }, ""},
		{"empty issuer", func(c *Config) { c.Issuer = "" }, "Issuer"},
		{"issuer with white space", func(c *Config) { c.Issuer += " " }, "Issuer"},
		{"empty JWKS URL", func(c *Config) { c.JWKSURL = "" }, "JWKSURL"},
		{"http JWKS URL", func(c *Config) { c.JWKSURL = "http://acme.cloudflareaccess.com/cdn-cgi/access/certs" }, "JWKSURL"},
		{"http JWKS on a private address", func(c *Config) { c.JWKSURL = "http://10.0.0.1/certs" }, "JWKSURL"},
		{"file JWKS URL", func(c *Config) { c.JWKSURL = "file:///etc/jwks.json" }, "JWKSURL"},
		{"relative JWKS URL", func(c *Config) { c.JWKSURL = "/cdn-cgi/access/certs" }, "JWKSURL"},
		{"JWKS URL with credentials", func(c *Config) { c.JWKSURL = "https://u:p@acme.cloudflareaccess.com/certs" }, "JWKSURL"},
		{"JWKS URL that does not parse", func(c *Config) { c.JWKSURL = "https://acme.cloudflareaccess.com/%zz" }, "JWKSURL"},
		{"alg none", func(c *Config) { c.Algorithms = []string{"none"} }, "Algorithms"},
		{"alg HS256", func(c *Config) { c.Algorithms = []string{"RS256", "HS256"} }, "Algorithms"},
		{"alg in lower case", func(c *Config) { c.Algorithms = []string{"rs256"} }, "Algorithms"},
		{"unknown alg", func(c *Config) { c.Algorithms = []string{"ES256K"} }, "Algorithms"},
		{"leeway over 60 s", func(c *Config) { c.Leeway = 61 * time.Second }, "Leeway"},
		{"negative token cap", func(c *Config) { c.MaxTokenBytes = -1 }, "MaxTokenBytes"},
		{"negative JWKS cap", func(c *Config) { c.MaxJWKSBytes = -1 }, "MaxJWKSBytes"},
		{"negative fetch timeout", func(c *Config) { c.FetchTimeout = -1 }, "FetchTimeout"},
		{"negative refresh", func(c *Config) { c.RefreshEvery = -1 }, "RefreshEvery"},
		{"negative min refetch", func(c *Config) { c.MinRefetch = -1 }, "MinRefetch"},
		{"max stale shorter than refresh", func(c *Config) { c.MaxStale = time.Minute }, "MaxStale"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.Algorithms = slices.Clone(good.Algorithms)
			tc.change(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted it, want an error naming %s", tc.field)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
			if v, err := New(c); err == nil {
				v.Close()
				t.Error("New accepted a config Validate refused")
			}
		})
	}
}

func TestDefaultHTTPClientNeverFollowsRedirectsOrUsesAProxy(t *testing.T) {
	c, tr := defaultHTTPClient(DefaultFetchTimeout)
	if c.CheckRedirect == nil || c.CheckRedirect(nil, nil) == nil {
		t.Error("CheckRedirect would follow redirects")
	}
	if tr.Proxy != nil {
		t.Error("the transport uses a proxy")
	}
	if c.Timeout != DefaultFetchTimeout {
		t.Errorf("Timeout = %v", c.Timeout)
	}
}

func TestTokenFromHeader(t *testing.T) {
	cases := []struct {
		name   string
		header map[string][]string
		want   string // token, or the Reason when fail is set
		fail   bool
	}{
		{"one value", map[string][]string{HeaderName: {"a.b.c"}}, "a.b.c", false},
		{"surrounding white space is trimmed", map[string][]string{HeaderName: {"  a.b.c\t"}}, "a.b.c", false},
		{"absent", map[string][]string{}, ReasonMissing, true},
		{"empty", map[string][]string{HeaderName: {""}}, ReasonMissing, true},
		{"white space only", map[string][]string{HeaderName: {" \t "}}, ReasonMissing, true},
		{"two values", map[string][]string{HeaderName: {"a.b.c", "d.e.f"}}, ReasonMultiple, true},
		{"two empty values", map[string][]string{HeaderName: {"", ""}}, ReasonMultiple, true},
		{"cookie only is never read", map[string][]string{"Cookie": {"CF_Authorization=a.b.c"}}, ReasonMissing, true},
		{"underscore variant is not the header", map[string][]string{"Cf_access_jwt_assertion": {"a.b.c"}}, ReasonMissing, true},
		{"Authorization is not the header", map[string][]string{"Authorization": {"Bearer a.b.c"}}, ReasonMissing, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TokenFromHeader(tc.header)
			if !tc.fail {
				if err != nil || got != tc.want {
					t.Fatalf("TokenFromHeader = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if got != "" || !errorsIsReason(err, tc.want) {
				t.Fatalf("TokenFromHeader = %q, %v; want reason %q", got, err, tc.want)
			}
		})
	}
}

func errorsIsReason(err error, reason string) bool {
	e, ok := err.(*Error)
	return ok && e.Reason == reason
}
