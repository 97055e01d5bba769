package egress

import (
	"context"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// redirector serves /go?to=URL&code=N (a redirect) and records what
// reaches every other path.
type redirector struct {
	*upstream
	mu     sync.Mutex
	landed []*http.Request
	bodies []string
}

func newRedirector(t *testing.T) *redirector {
	rd := &redirector{}
	rd.upstream = newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/go" {
			code, _ := strconv.Atoi(r.URL.Query().Get("code"))
			if code == 0 {
				code = http.StatusFound
			}
			http.Redirect(w, r, r.URL.Query().Get("to"), code)
			return
		}
		b, _ := io.ReadAll(r.Body)
		rd.mu.Lock()
		rd.landed = append(rd.landed, r)
		rd.bodies = append(rd.bodies, string(b))
		rd.mu.Unlock()
		io.WriteString(w, "landed")
	})
	return rd
}

func (rd *redirector) last(t *testing.T) (*http.Request, string) {
	t.Helper()
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if len(rd.landed) == 0 {
		t.Fatal("no request landed")
	}
	return rd.landed[len(rd.landed)-1], rd.bodies[len(rd.bodies)-1]
}

func (rd *redirector) landings() int {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return len(rd.landed)
}

// via builds a URL on base that redirects to target, after hops more
// redirects through base.
func via(base, target string, code int) string {
	return base + "/go?code=" + strconv.Itoa(code) + "&to=" + url.QueryEscape(target)
}

// simulatePublic makes c reach addr when it dials name:80, as if name were a
// public upstream; every other dial still goes through the guard.
func simulatePublic(c *http.Client, name, addr string) {
	base := c.Transport.(*transport).base
	guarded := base.DialContext
	base.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		if address == name+":80" {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		return guarded(ctx, network, address)
	}
}

func TestRedirectsToInternalAddressesAreRefused(t *testing.T) {
	// F8: the first hop is a (simulated) public upstream; each target is
	// re-checked when it is dialled.
	rd := newRedirector(t)
	p := strconv.Itoa(rd.port)
	dns := newFakeDNS(t, map[string][]string{"internal.test": {"10.0.0.9"}, "loopback.test": {"127.0.0.1"}})
	tests := []struct {
		name   string
		local  bool
		target string
		reason string // "" when the redirect is followed
	}{
		{"a redirect to loopback is refused in production", false, "http://127.0.0.1:" + p + "/landing", "loopback"},
		{"a redirect to a name resolving to loopback is refused", false, "http://loopback.test:" + p + "/landing", "resolves to 127.0.0.1"},
		{"a redirect to decimal loopback is refused", false, "http://2130706433:" + p + "/landing", "is 127.0.0.1"},
		{"a redirect to a private name is refused", false, "http://internal.test/", "resolves to 10.0.0.9"},
		{"a redirect to the metadata address is refused", false, "http://169.254.169.254/latest/meta-data/", "metadata"},
		{"a redirect to a closed port is refused", false, "http://public.test:6379/", "port 6379"},
		{"a redirect to gopher is refused", false, "gopher://127.0.0.1:70/_x", "gopher: scheme"},
		{"a redirect to file is refused", false, "file:///etc/passwd", "file: scheme"},
		{"a redirect to loopback is followed with the local network open", true, "http://127.0.0.1:" + p + "/landing", ""},
		{"a redirect to metadata is refused with the local network open", true, "http://169.254.169.254/", "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(Options{AllowLocalNetwork: tt.local, AllowedPorts: []int{80, rd.port}, Resolver: dns.resolver()})
			simulatePublic(c, "public.test", rd.Listener.Addr().String())
			before := rd.landings()
			resp, body, err := get(t, c, via("http://public.test", tt.target, 302), nil)
			if tt.reason == "" {
				if err != nil || resp.StatusCode != 200 || body != "landed" {
					t.Fatalf("GET = %v, %q; want the redirect followed", err, body)
				}
				return
			}
			if r := asRefused(err); r == nil || !strings.Contains(r.Error(), tt.reason) {
				t.Fatalf("GET = %v; want a refusal mentioning %q", err, tt.reason)
			}
			if rd.landings() != before {
				t.Fatal("the redirect target was reached")
			}
		})
	}
}

func TestCrossOriginRedirectsDropCredentials(t *testing.T) {
	// F9: net/http alone would carry X-Api-Key anywhere and Authorization
	// to subdomains.
	rd := newRedirector(t)
	p := strconv.Itoa(rd.port)
	dns := newFakeDNS(t, map[string][]string{"a.test": {"127.0.0.1"}, "b.test": {"127.0.0.1"}, "api.a.test": {"127.0.0.1"}})
	c := NewClient(Options{AllowLocalNetwork: true, Resolver: dns.resolver()})
	a, b, sub := "http://a.test:"+p, "http://b.test:"+p, "http://api.a.test:"+p
	sent := http.Header{
		"Authorization":       {"Bearer upstream-token"},
		"Proxy-Authorization": {"Basic cHJveHk="},
		"Cookie":              {"session=abc"},
		"X-Api-Key":           {"key-123"},
		"X-Custom":            {"custom"},
		"Accept":              {"application/json"},
		"User-Agent":          {"executor-test"},
		"Accept-Language":     {"en"},
	}
	secret := []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key", "X-Custom", "Referer"}
	safe := []string{"Accept", "User-Agent", "Accept-Language"}
	tests := []struct {
		name  string
		start string
		strip bool
	}{
		{"a same-origin redirect keeps every header", via(a, a+"/landing", 302) + "&api_key=q-secret", false},
		{"a redirect to another host drops credentials", via(a, b+"/landing", 302) + "&api_key=q-secret", true},
		{"a redirect to a subdomain drops credentials", via(a, sub+"/landing", 302) + "&api_key=q-secret", true},
		{"a 307 to another host drops credentials", via(a, b+"/landing", 307), true},
		{"a chain that leaves and comes back stays stripped", via(a, via(b, a+"/landing", 302), 302), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, err := get(t, c, tt.start, sent)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET = %v; want the redirect followed", err)
			}
			landed, _ := rd.last(t)
			for _, h := range safe {
				if landed.Header.Get(h) != sent.Get(h) {
					t.Errorf("%s = %q after the redirect; want it kept", h, landed.Header.Get(h))
				}
			}
			for _, h := range secret {
				got := landed.Header.Get(h)
				if tt.strip && got != "" {
					t.Errorf("%s = %q reached the other origin; want it dropped", h, got)
				}
				if !tt.strip && h != "Referer" && got != sent.Get(h) {
					t.Errorf("%s = %q after a same-origin redirect; want %q", h, got, sent.Get(h))
				}
			}
		})
	}
}

func TestCrossOriginRedirectsNeverResendTheBody(t *testing.T) {
	rd := newRedirector(t)
	p := strconv.Itoa(rd.port)
	dns := newFakeDNS(t, map[string][]string{"a.test": {"127.0.0.1"}, "b.test": {"127.0.0.1"}})
	c := NewClient(Options{AllowLocalNetwork: true, Resolver: dns.resolver()})
	a, b := "http://a.test:"+p, "http://b.test:"+p
	post := func(u string) (*http.Response, error) {
		return c.Post(u, "application/x-www-form-urlencoded", strings.NewReader("client_secret=cs-123"))
	}

	if _, err := post(via(a, b+"/token", 307)); asRefused(err) == nil {
		t.Errorf("a cross-origin 307 POST = %v; want *Refused", err)
	}
	if n := rd.landings(); n != 0 {
		t.Fatalf("%d requests landed; want the body never re-sent", n)
	}

	resp, err := post(via(a, a+"/token", 307))
	if err != nil {
		t.Fatalf("a same-origin 307 POST = %v; want it followed", err)
	}
	resp.Body.Close()
	if landed, body := rd.last(t); landed.Method != http.MethodPost || body != "client_secret=cs-123" {
		t.Errorf("the same-origin 307 landed as %s %q; want the POST re-sent", landed.Method, body)
	}

	resp, err = post(via(a, b+"/page", 302))
	if err != nil {
		t.Fatalf("a cross-origin 302 POST = %v; want it followed as a GET", err)
	}
	resp.Body.Close()
	if landed, body := rd.last(t); landed.Method != http.MethodGet || body != "" {
		t.Errorf("the 302 landed as %s %q; want a GET without a body", landed.Method, body)
	}
}

func TestRedirectFromHTTPSToHTTPIsRefused(t *testing.T) {
	rd := newRedirector(t)
	tlsSrv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:"+strconv.Itoa(rd.port)+"/landing", http.StatusFound)
	})
	c := NewClient(Options{AllowLocalNetwork: true})
	trust(c, tlsSrv)

	_, _, err := get(t, c, tlsSrv.URL+"/start", nil)
	if r := asRefused(err); r == nil || !strings.Contains(r.Reason, "https to http") {
		t.Fatalf("GET = %v; want a refusal of the downgrade", err)
	}
	if rd.landings() != 0 {
		t.Fatal("the http target was reached")
	}
}

func TestRedirectsStopAtMaxRedirects(t *testing.T) {
	var loop *upstream
	loop = newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/again?api_key=loop-secret", http.StatusFound)
	})
	c := NewClient(Options{AllowLocalNetwork: true, MaxRedirects: 3})
	_, _, err := get(t, c, loop.URL+"/", nil)
	if err == nil || !strings.Contains(err.Error(), "stopped after 3 redirects") {
		t.Fatalf("GET = %v; want it stopped after 3 redirects", err)
	}
	if n := loop.hits.Load(); n != 4 {
		t.Errorf("the server saw %d requests; want 4 (the first and 3 redirects)", n)
	}
	if d := Describe(err); strings.Contains(d, "loop-secret") {
		t.Errorf("Describe = %q; want no query string", d)
	}
}

func TestNoRedirectsReturnsTheRedirect(t *testing.T) {
	rd := newRedirector(t)
	c := NewClient(Options{AllowLocalNetwork: true})
	nc := NoRedirects(c)
	resp, err := nc.Get(via(rd.URL, "https://elsewhere.example/", 302))
	if err != nil {
		t.Fatalf("GET = %v; want the 302 itself", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://elsewhere.example/" {
		t.Errorf("GET = %d %q; want 302 to https://elsewhere.example/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if nc.Transport != c.Transport {
		t.Error("NoRedirects replaced the transport; want the same guarded transport")
	}
	if c.CheckRedirect == nil {
		t.Error("NoRedirects changed the original client")
	}
	resp, _, err = get(t, c, via(rd.URL, rd.URL+"/landing", 302), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("the original client's GET = %v; want it to still follow redirects", err)
	}
}

// newTLSServer starts a self-signed HTTPS server on 127.0.0.1 that keeps
// the handshake failures the tests provoke out of the log.
func newTLSServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// trust makes c accept srv's self-signed certificate, as pinning it would.
func trust(c *http.Client, srv *httptest.Server) {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c.Transport.(*transport).base.TLSClientConfig.RootCAs = pool
}
