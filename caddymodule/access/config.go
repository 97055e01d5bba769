package access

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultLeeway        = 30 * time.Second
	DefaultMaxTokenBytes = 16 << 10
	DefaultFetchTimeout  = 5 * time.Second
	DefaultMaxJWKSBytes  = 256 << 10
	DefaultRefreshEvery  = time.Hour
	DefaultMinRefetch    = 30 * time.Second
	DefaultMaxStale      = 72 * time.Hour

	// MaxLeeway is the largest clock-skew allowance Validate accepts.
	MaxLeeway = 60 * time.Second
)

// Config describes which tokens a Verifier accepts and where it gets its keys.
// The zero value of every field except Issuer and JWKSURL means "use the default".
type Config struct {
	// Issuer is the exact iss every token must carry, compared byte for byte.
	// For Cloudflare Access it is "https://<team>.cloudflareaccess.com", without a trailing slash.
	// It is never used to choose keys.
	Issuer string

	// JWKSURL is the only place keys are fetched from. It must be https
	// (plain http is allowed for 127.0.0.1, ::1 and localhost so tests can run).
	// For Cloudflare Access it is "https://<team>.cloudflareaccess.com/cdn-cgi/access/certs".
	JWKSURL string

	// Algorithms is the allow-list of JWS alg values, compared case-sensitively.
	// Empty means RS256 only, which is what Cloudflare Access signs with.
	// GenericAlgorithms lists everything that may be allowed; none and HS* never are.
	Algorithms []string

	// RequireType, when non-empty, is the value the token's "type" claim must have.
	// Cloudflare application tokens carry "app"; "org" tokens belong to the team domain
	// and must not be accepted by an application.
	RequireType string

	// Leeway is the clock skew allowed on exp, nbf and iat. Zero means 30 s;
	// a negative value means no leeway at all. Values above 60 s are rejected.
	Leeway time.Duration

	// MaxTokenBytes caps the token length, checked before any decoding. Zero means 16 KiB.
	MaxTokenBytes int

	// HTTPClient fetches the JWKS. The default has a FetchTimeout timeout, no proxy,
	// no keep-alive and never follows redirects. A client supplied here is used as is.
	HTTPClient *http.Client

	// FetchTimeout bounds one JWKS fetch, and so the longest a request can wait for keys.
	// Zero means 5 s.
	FetchTimeout time.Duration

	// MaxJWKSBytes caps the JWKS response body; a larger body is refused. Zero means 256 KiB.
	MaxJWKSBytes int64

	// RefreshEvery is how often the key set is refreshed in the background. Zero means 1 h.
	RefreshEvery time.Duration

	// MinRefetch is the shortest interval between two fetches forced by a token
	// whose kid is not in the key set. It also caps the retry backoff after a failed
	// fetch. Zero means 30 s.
	MinRefetch time.Duration

	// MaxStale is how long the last good key set keeps being used while every refresh
	// fails (stale-if-error). After that the Verifier fails closed with "no_keys".
	// Zero means 72 h; it may not be shorter than RefreshEvery.
	MaxStale time.Duration

	// Now returns the current time. It drives token time checks and the refetch
	// rate limit, so tests can inject a clock. Zero means time.Now.
	Now func() time.Time

	// Logger receives key-set events (fetch failures, dropped keys). Tokens are never logged.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// supportedAlgorithms is every alg a Config may allow: asymmetric signatures only.
var supportedAlgorithms = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// GenericAlgorithms returns every algorithm a Config may allow, for issuers other
// than Cloudflare Access. Cloudflare Access signs with RS256 only.
func GenericAlgorithms() []string { return slices.Clone(supportedAlgorithms) }

// CloudflareConfig returns the Config for the Cloudflare Access team domain
// teamDomain. It accepts "acme.cloudflareaccess.com", "https://acme.cloudflareaccess.com/"
// or the bare team name "acme", and derives the issuer, the certs URL, RS256 only and
// type "app". An input it cannot read yields an empty Issuer, which Validate reports.
func CloudflareConfig(teamDomain string) Config {
	host := normaliseTeamDomain(teamDomain)
	if host == "" {
		return Config{Algorithms: []string{"RS256"}, RequireType: "app"}
	}
	issuer := "https://" + host
	return Config{
		Issuer:      issuer,
		JWKSURL:     issuer + "/cdn-cgi/access/certs",
		Algorithms:  []string{"RS256"},
		RequireType: "app",
	}
}

func normaliseTeamDomain(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return ""
	}
	host := strings.ToLower(u.Host)
	if !strings.Contains(host, ".") && u.Port() == "" {
		// A bare team name: Access team domains all live under cloudflareaccess.com.
		host += ".cloudflareaccess.com"
	}
	return host
}

// Validate reports the first problem in c as a sentence naming the field.
// New calls it; call it yourself at provision time to fail early.
func (c Config) Validate() error {
	if c.Issuer == "" {
		return errors.New("access: Issuer is empty: set it to the exact iss of the tokens, e.g. https://<team>.cloudflareaccess.com")
	}
	if strings.TrimSpace(c.Issuer) != c.Issuer {
		return errors.New("access: Issuer has leading or trailing white space: remove it, iss is compared byte for byte")
	}
	if err := validateJWKSURL(c.JWKSURL); err != nil {
		return err
	}
	for _, alg := range c.Algorithms {
		if !slices.Contains(supportedAlgorithms, alg) {
			if strings.EqualFold(alg, "none") || strings.HasPrefix(strings.ToUpper(alg), "HS") {
				return fmt.Errorf("access: Algorithms contains %q, which is never allowed: use only asymmetric algorithms (%s)", alg, strings.Join(supportedAlgorithms, ", "))
			}
			return fmt.Errorf("access: Algorithms contains unknown algorithm %q: use one of %s (case-sensitive)", alg, strings.Join(supportedAlgorithms, ", "))
		}
	}
	if c.Leeway > MaxLeeway {
		return fmt.Errorf("access: Leeway %s is too long: use at most %s and keep the clock in sync with NTP", c.Leeway, MaxLeeway)
	}
	if c.MaxTokenBytes < 0 {
		return errors.New("access: MaxTokenBytes is negative: use 0 for the 16 KiB default")
	}
	if c.MaxJWKSBytes < 0 {
		return errors.New("access: MaxJWKSBytes is negative: use 0 for the 256 KiB default")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"FetchTimeout", c.FetchTimeout},
		{"RefreshEvery", c.RefreshEvery},
		{"MinRefetch", c.MinRefetch},
		{"MaxStale", c.MaxStale},
	} {
		if d.v < 0 {
			return fmt.Errorf("access: %s is negative: use 0 for the default", d.name)
		}
	}
	d := c.withDefaults()
	if d.MaxStale < d.RefreshEvery {
		return fmt.Errorf("access: MaxStale %s is shorter than RefreshEvery %s: keys would expire between refreshes", d.MaxStale, d.RefreshEvery)
	}
	return nil
}

func validateJWKSURL(s string) error {
	if s == "" {
		return errors.New("access: JWKSURL is empty: set it to the issuer's key set, e.g. https://<team>.cloudflareaccess.com/cdn-cgi/access/certs")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("access: JWKSURL %q is not a URL: %w", s, err)
	}
	if u.User != nil {
		return errors.New("access: JWKSURL carries credentials: remove the user:password part")
	}
	if u.Host == "" {
		return fmt.Errorf("access: JWKSURL %q has no host: give an absolute https URL", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		switch u.Hostname() {
		case "127.0.0.1", "::1", "localhost":
		default:
			return fmt.Errorf("access: JWKSURL %q uses http: use https (http is only allowed for 127.0.0.1, ::1 and localhost)", s)
		}
	default:
		return fmt.Errorf("access: JWKSURL %q must use https", s)
	}
	return nil
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	if len(c.Algorithms) == 0 {
		c.Algorithms = []string{"RS256"}
	}
	switch {
	case c.Leeway == 0:
		c.Leeway = DefaultLeeway
	case c.Leeway < 0:
		c.Leeway = 0
	}
	if c.MaxTokenBytes == 0 {
		c.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.MaxJWKSBytes == 0 {
		c.MaxJWKSBytes = DefaultMaxJWKSBytes
	}
	if c.RefreshEvery == 0 {
		c.RefreshEvery = DefaultRefreshEvery
	}
	if c.MinRefetch == 0 {
		c.MinRefetch = DefaultMinRefetch
	}
	if c.MaxStale == 0 {
		c.MaxStale = DefaultMaxStale
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
