package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// upstream is a local test server that counts the requests it serves.
type upstream struct {
	*httptest.Server
	port int
	hits atomic.Int32
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(u.Close)
	u.port = u.Listener.Addr().(*net.TCPAddr).Port
	return u
}

// get performs a GET with a deadline and returns the body it read.
func get(t *testing.T, c *http.Client, rawURL string, header http.Header) (*http.Response, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatalf("building the request for %q: %v", rawURL, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func asRefused(err error) *Refused {
	var r *Refused
	if errors.As(err, &r) {
		return r
	}
	return nil
}

// errWouldConnect stands in for the connection an interceptor stopped.
var errWouldConnect = errors.New("test: the guard let this connection through")

// connects records the addresses that passed the guard.
type connects struct {
	mu    sync.Mutex
	addrs []string
}

func (c *connects) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.addrs...)
}

// interceptConnects makes c stop every connection that passes the guard,
// right where it would connect, and record its address: tests observe what
// the guard allows without any network access.
func interceptConnects(c *http.Client) *connects {
	rec := &connects{}
	d := c.Transport.(*transport).dialer
	guard := d.net.Control
	d.net.Control = func(network, address string, raw syscall.RawConn) error {
		if err := guard(network, address, raw); err != nil {
			return err
		}
		rec.mu.Lock()
		rec.addrs = append(rec.addrs, address)
		rec.mu.Unlock()
		return errWouldConnect
	}
	return rec
}

func TestLoopbackIsRefusedInEveryEncoding(t *testing.T) {
	// F1, F4: a real server listens on 127.0.0.1; no spelling reaches it.
	srv := newUpstream(t, nil)
	dns := newFakeDNS(t, map[string][]string{"loopback.test": {"127.0.0.1"}})
	c := NewClient(Options{AllowedPorts: []int{srv.port}, Resolver: dns.resolver()})
	p := strconv.Itoa(srv.port)
	for _, host := range []string{
		"127.0.0.1", "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "127.1", "127.0.1",
		"[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "0.0.0.0", "0", "[::]", "[::1]",
		"１２７。０。０。１", "127.0.0.1.", "localhost", "loopback.test",
		"[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
	} {
		t.Run(host, func(t *testing.T) {
			_, _, err := get(t, c, "http://"+host+":"+p+"/?api_key=s3cret", nil)
			r := asRefused(err)
			if r == nil {
				t.Fatalf("GET %s = %v; want *Refused", host, err)
			}
			if strings.Contains(r.Error(), "s3cret") {
				t.Errorf("the refusal %q contains the query string", r)
			}
			if !strings.Contains(r.Error(), "allow_local_network is off") {
				t.Errorf("the refusal %q does not say which setting keeps it closed", r)
			}
		})
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("the loopback server served %d requests; want 0", n)
	}
}

func TestRefusalNamesTheHostAndTheReason(t *testing.T) {
	c := NewClient(Options{})
	_, _, err := get(t, c, "http://127.0.0.1/admin?token=abc", nil)
	r := asRefused(err)
	if r == nil {
		t.Fatalf("err = %v; want *Refused", err)
	}
	want := "refusing to connect to 127.0.0.1 (a loopback address); allow_local_network is off"
	if r.Error() != want || r.Host != "127.0.0.1" {
		t.Errorf("refusal = %q (host %q); want %q", r, r.Host, want)
	}
}

func TestLocalNetworkReachesLoopbackInEveryIPv4Encoding(t *testing.T) {
	srv := newUpstream(t, nil)
	dns := newFakeDNS(t, map[string][]string{"loopback.test": {"127.0.0.1"}})
	c := NewClient(Options{AllowLocalNetwork: true, Resolver: dns.resolver()})
	p := strconv.Itoa(srv.port)
	for _, host := range []string{"127.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]", "0.0.0.0", "loopback.test"} {
		t.Run(host, func(t *testing.T) {
			resp, body, err := get(t, c, "http://"+host+":"+p+"/", nil)
			if err != nil || resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("GET %s = %v, %q; want 200 ok", host, err, body)
			}
		})
	}
}

func TestRefusedAddressesAtDialTime(t *testing.T) {
	// F2, F3, F5 as literal hosts and behind names. Nothing here connects:
	// the interceptor would record it.
	tests := []struct {
		addr   string
		reason string
		hint   string
	}{
		{"10.0.0.1", "a private address", "allow_local_network is off"},
		{"172.16.0.1", "a private address", "allow_local_network is off"},
		{"192.168.1.1", "a private address", "allow_local_network is off"},
		{"100.64.0.1", "carrier-grade NAT", "allow_local_network is off"},
		{"198.18.0.1", "benchmarking", "allow_local_network is off"},
		{"0.0.0.0", "unspecified", "allow_local_network is off"},
		{"169.254.10.10", "link-local", "allow_local_network is off"},
		{"fc00::1", "unique local", "allow_local_network is off"},
		{"fe80::1", "link-local", "allow_local_network is off"},
		{"169.254.169.254", "cloud metadata", "allow_metadata is off"},
		{"fd00:ec2::254", "cloud metadata", "allow_metadata is off"},
		{"100.100.100.200", "cloud metadata", "allow_metadata is off"},
		{"168.63.129.16", "cloud metadata", "allow_metadata is off"},
		{"64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.169.254", "allow_metadata is off"},
		{"2002:a00:1::", "6to4 form of 10.0.0.1", "allow_local_network is off"},
		{"224.0.0.1", "multicast", "no upstream"},
		{"255.255.255.255", "broadcast", "no upstream"},
		{"ff02::1", "multicast", "no upstream"},
	}
	names := map[string][]string{}
	for i, tt := range tests {
		names["host"+strconv.Itoa(i)+".test"] = []string{tt.addr}
	}
	dns := newFakeDNS(t, names)
	c := NewClient(Options{Resolver: dns.resolver()})
	passed := interceptConnects(c)
	for i, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			literal := tt.addr
			if strings.Contains(literal, ":") {
				literal = "[" + literal + "]"
			}
			_, _, err := get(t, c, "http://"+literal+"/", nil)
			r := asRefused(err)
			if r == nil || !strings.Contains(r.Reason, tt.reason) || !strings.Contains(r.Hint, tt.hint) {
				t.Errorf("GET %s = %v; want a refusal for %q with %q", literal, err, tt.reason, tt.hint)
			}
			name := "host" + strconv.Itoa(i) + ".test"
			_, _, err = get(t, c, "http://"+name+"/", nil)
			r = asRefused(err)
			if r == nil || r.Host != name || !strings.Contains(r.Reason, "resolves to "+tt.addr) || !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("GET %s = %v; want a refusal naming %s and saying it resolves to %s", name, err, name, tt.addr)
			}
		})
	}
	if got := passed.list(); len(got) != 0 {
		t.Fatalf("the guard let through %v; want nothing", got)
	}
}

func TestPublicAddressesGetPastTheGuard(t *testing.T) {
	dns := newFakeDNS(t, map[string][]string{
		"public.test":  {"93.184.216.34"},
		"public6.test": {"2606:2800:220:1:248:1893:25c8:1946"},
		"nat64.test":   {"64:ff9b::5db8:d822"},
	})
	c := NewClient(Options{Resolver: dns.resolver()})
	passed := interceptConnects(c)
	for _, u := range []string{"http://public.test/", "https://public.test/", "http://public6.test/", "http://nat64.test/", "http://93.184.216.34/", "https://[::ffff:93.184.216.34]/"} {
		_, _, err := get(t, c, u, nil)
		if !errors.Is(err, errWouldConnect) {
			t.Errorf("GET %s = %v; want it to reach the connect", u, err)
		}
	}
	if got := passed.list(); len(got) != 6 {
		t.Errorf("connects = %v; want 6", got)
	}
}

func TestLocalNetworkStillRefusesMetadataUnlessAllowed(t *testing.T) {
	dns := newFakeDNS(t, map[string][]string{"metadata.google.internal": {"169.254.169.254"}, "private.test": {"10.0.0.7"}})
	tests := []struct {
		name    string
		opts    Options
		url     string
		refused bool
	}{
		{"the local network opens private addresses", Options{AllowLocalNetwork: true}, "http://10.0.0.7:8080/", false},
		{"the local network opens names resolving to private addresses", Options{AllowLocalNetwork: true}, "http://private.test/", false},
		{"the local network leaves the metadata address closed", Options{AllowLocalNetwork: true}, "http://169.254.169.254/latest/meta-data/", true},
		{"the local network leaves the metadata name closed", Options{AllowLocalNetwork: true}, "http://metadata.google.internal/", true},
		{"the local network leaves the IPv6 metadata address closed", Options{AllowLocalNetwork: true}, "http://[fd00:ec2::254]/", true},
		{"the local network leaves mapped metadata closed", Options{AllowLocalNetwork: true}, "http://[::ffff:169.254.169.254]/", true},
		{"AllowMetadata opens the metadata address", Options{AllowLocalNetwork: true, AllowMetadata: true}, "http://169.254.169.254/", false},
		{"AllowMetadata alone opens the metadata address", Options{AllowMetadata: true}, "http://169.254.169.254/", false},
		{"AllowMetadata alone does not open the rest of link-local", Options{AllowMetadata: true}, "http://169.254.1.1/", true},
		{"the local network leaves multicast closed", Options{AllowLocalNetwork: true}, "http://224.0.0.1/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Resolver = dns.resolver()
			c := NewClient(tt.opts)
			interceptConnects(c)
			_, _, err := get(t, c, tt.url, nil)
			if tt.refused && asRefused(err) == nil {
				t.Errorf("GET %s = %v; want *Refused", tt.url, err)
			}
			if !tt.refused && !errors.Is(err, errWouldConnect) {
				t.Errorf("GET %s = %v; want it to reach the connect", tt.url, err)
			}
		})
	}
}

func TestDNSRebindingIsRefusedAtConnect(t *testing.T) {
	// F6: the name is public when a validator looks, loopback when the
	// client connects.
	srv := newUpstream(t, nil)
	dns := newFakeDNS(t, nil)
	dns.set(t, "rebind.test", "93.184.216.34")
	dns.set(t, "rebind.test", "127.0.0.1")
	opts := Options{AllowedPorts: []int{srv.port}, Resolver: dns.resolver()}

	addrs, err := opts.Resolver.LookupNetIP(context.Background(), "ip4", "rebind.test")
	if err != nil || len(addrs) != 1 || addrs[0].String() != "93.184.216.34" {
		t.Fatalf("the validator's lookup = %v, %v; want the public address", addrs, err)
	}
	if err := CheckURL("http://rebind.test:"+strconv.Itoa(srv.port)+"/", opts); err != nil {
		t.Fatalf("CheckURL = %v; want the save-time check to pass", err)
	}
	_, _, err = get(t, NewClient(opts), "http://rebind.test:"+strconv.Itoa(srv.port)+"/", nil)
	r := asRefused(err)
	if r == nil || !strings.Contains(r.Reason, "resolves to 127.0.0.1") {
		t.Fatalf("GET after rebinding = %v; want a refusal for 127.0.0.1", err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("the loopback server served %d requests; want 0", n)
	}
}

func TestPublicAndPrivateRecordsNeverFallBackToThePrivateOne(t *testing.T) {
	// F7: whichever record comes first, and even when the public address
	// fails, the private one is never connected.
	for _, order := range [][]string{
		{"93.184.216.34", "127.0.0.1"},
		{"127.0.0.1", "93.184.216.34"},
		{"10.0.0.1", "93.184.216.34", "192.168.0.1"},
	} {
		t.Run(strings.Join(order, ","), func(t *testing.T) {
			dns := newFakeDNS(t, map[string][]string{"mixed.test": order})
			c := NewClient(Options{Resolver: dns.resolver()})
			passed := interceptConnects(c) // fails every allowed connect, forcing fallback
			_, _, err := get(t, c, "http://mixed.test/", nil)
			if err == nil {
				t.Fatal("GET succeeded; want an error")
			}
			got := passed.list()
			if len(got) != 1 || got[0] != "93.184.216.34:80" {
				t.Fatalf("the guard let through %v; want only 93.184.216.34:80", got)
			}
		})
	}
}

func TestPortsOutsideTheAllowListAreRefused(t *testing.T) {
	// F14.
	dns := newFakeDNS(t, map[string][]string{"public.test": {"93.184.216.34"}, "local.test": {"127.0.0.1"}})
	tests := []struct {
		name    string
		opts    Options
		url     string
		refused bool
	}{
		{"production allows port 80", Options{}, "http://public.test/", false},
		{"production allows port 443", Options{}, "https://public.test/", false},
		{"production allows port 443 over http too", Options{}, "http://public.test:443/", false},
		{"production refuses ssh", Options{}, "http://public.test:22/", true},
		{"production refuses smtp", Options{}, "http://public.test:25/", true},
		{"production refuses redis", Options{}, "http://public.test:6379/", true},
		{"production refuses the docker API", Options{}, "http://public.test:2375/", true},
		{"production refuses memcached", Options{}, "http://public.test:11211/", true},
		{"production refuses 8080", Options{}, "http://public.test:8080/", true},
		{"an allow-list opens its ports", Options{AllowedPorts: []int{443, 8443}}, "https://public.test:8443/", false},
		{"an allow-list replaces the defaults", Options{AllowedPorts: []int{8443}}, "https://public.test/", true},
		{"the local network allows any port", Options{AllowLocalNetwork: true}, "http://local.test:6379/", false},
		{"an allow-list applies to the local network too", Options{AllowLocalNetwork: true, AllowedPorts: []int{3000}}, "http://local.test:6379/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Resolver = dns.resolver()
			c := NewClient(tt.opts)
			interceptConnects(c)
			_, _, err := get(t, c, tt.url, nil)
			r := asRefused(err)
			if tt.refused && (r == nil || !strings.Contains(r.Reason, "port")) {
				t.Errorf("GET %s = %v; want a port refusal", tt.url, err)
			}
			if !tt.refused && !errors.Is(err, errWouldConnect) {
				t.Errorf("GET %s = %v; want it to reach the connect", tt.url, err)
			}
		})
	}
}

func TestSchemesOtherThanHTTPAreRefused(t *testing.T) {
	// F13.
	c := NewClient(Options{AllowLocalNetwork: true})
	for _, raw := range []string{
		"file:///etc/passwd", "gopher://127.0.0.1:70/_stats", "ftp://example.com/", "data:text/plain,hi",
		"javascript:alert(1)", "unix:///var/run/docker.sock", "ws://example.com/", "dict://127.0.0.1:11211/",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}})
		r := asRefused(err)
		if r == nil || !strings.Contains(r.Reason, u.Scheme+": scheme is not allowed") {
			t.Errorf("GET %s = %v; want a scheme refusal", raw, err)
		}
	}
}
