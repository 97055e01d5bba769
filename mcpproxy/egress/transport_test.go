package egress

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestEnvironmentProxyIsIgnored(t *testing.T) {
	// F15: a proxy from the environment would dial on our behalf, past the
	// dial-time check. Point the variables at a dead proxy: requests must
	// still go direct.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
		t.Setenv(k, deadURL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	var mu sync.Mutex
	var gotURI, gotHost string
	srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotURI, gotHost = r.RequestURI, r.Host
		mu.Unlock()
		io.WriteString(w, "direct")
	})
	dns := newFakeDNS(t, map[string][]string{"upstream.test": {"127.0.0.1"}})
	c := NewClient(Options{AllowLocalNetwork: true, Resolver: dns.resolver()})
	if c.Transport.(*transport).base.Proxy != nil {
		t.Fatal("the transport has a Proxy function; want nil")
	}
	target := "http://upstream.test:" + strconv.Itoa(srv.port) + "/path"
	resp, body, err := get(t, c, target, nil)
	if err != nil || resp.StatusCode != 200 || body != "direct" {
		t.Fatalf("GET = %v, %q; want the request to go direct", err, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if gotURI != "/path" || gotHost != "upstream.test:"+strconv.Itoa(srv.port) {
		t.Errorf("the server saw %q for host %q; want an origin-form request", gotURI, gotHost)
	}
}

func TestSelfSignedTLSIsRefused(t *testing.T) {
	// F18: verification is always on; only a pinned certificate (here
	// trust) makes a self-signed upstream work.
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secure") })
	c := NewClient(Options{AllowLocalNetwork: true})
	_, _, err := get(t, c, srv.URL, nil)
	if err == nil || asRefused(err) != nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("GET = %v; want a certificate error", err)
	}
	if c.Transport.(*transport).base.TLSClientConfig.InsecureSkipVerify {
		t.Fatal("InsecureSkipVerify is set")
	}
	trust(c, srv)
	if _, body, err := get(t, c, srv.URL, nil); err != nil || body != "secure" {
		t.Fatalf("GET with the certificate pinned = %v, %q; want it to work", err, body)
	}
}

// gzipped compresses n zero bytes.
func gzipped(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	chunk := make([]byte, 64<<10)
	for n > 0 {
		k := min(n, len(chunk))
		zw.Write(chunk[:k])
		n -= k
	}
	zw.Close()
	return buf.Bytes()
}

func TestResponseBodiesAreCappedAfterDecompression(t *testing.T) {
	// F16.
	const limit = 1 << 20
	bomb := gzipped(t, 16<<20) // 16 MiB of zeros in ~16 KiB
	small := gzipped(t, 1000)
	var mu sync.Mutex
	var sawAcceptEncoding []string
	srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawAcceptEncoding = append(sawAcceptEncoding, r.Header.Get("Accept-Encoding"))
		mu.Unlock()
		switch r.URL.Path {
		case "/big":
			w.Write(make([]byte, 2*limit))
		case "/exact":
			w.Write(make([]byte, limit))
		case "/bomb", "/small":
			body := bomb
			if r.URL.Path == "/small" {
				body = small
			}
			// Sent gzip whatever the request asked for.
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		}
	})
	c := NewClient(Options{AllowLocalNetwork: true, MaxResponseBytes: limit})
	tests := []struct {
		name    string
		path    string
		header  http.Header
		ctx     func(context.Context) context.Context
		want    int  // bytes read
		tooBig  bool // want *ResponseTooLarge
		decoded bool // want Content-Encoding removed by the transport
	}{
		{"a body over the cap fails at the cap", "/big", nil, nil, limit, true, false},
		{"a body exactly at the cap is read whole", "/exact", nil, nil, limit, false, false},
		{"a gzip bomb is capped after decompression", "/bomb", nil, nil, limit, true, true},
		{"a gzip bomb is capped when the caller asked for gzip", "/bomb", http.Header{"Accept-Encoding": {"gzip"}}, nil, limit, true, true},
		{"a gzip bomb is capped when the caller asked for another encoding", "/bomb", http.Header{"Accept-Encoding": {"br"}}, nil, limit, true, true},
		{"an unasked-for gzip bomb is capped", "/bomb", http.Header{"Range": {"bytes=0-"}}, nil, limit, true, true},
		{"a small gzip body arrives decoded", "/small", http.Header{"Accept-Encoding": {"gzip"}}, nil, 1000, false, true},
		{"an unasked-for small gzip body arrives decoded", "/small", http.Header{"Range": {"bytes=0-"}}, nil, 1000, false, true},
		{"a per-request cap lowers the limit", "/exact", nil, func(ctx context.Context) context.Context { return WithMaxResponseBytes(ctx, 1000) }, 1000, true, false},
		{"a per-request cap raises the limit", "/big", nil, func(ctx context.Context) context.Context { return WithMaxResponseBytes(ctx, 4*limit) }, 2 * limit, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+tt.path, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("GET = %v", err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			var tl *ResponseTooLarge
			if errors.As(err, &tl) != tt.tooBig {
				t.Fatalf("reading the body = %v; want *ResponseTooLarge: %v", err, tt.tooBig)
			}
			if !tt.tooBig && err != nil {
				t.Fatalf("reading the body = %v", err)
			}
			if len(b) != tt.want || bytes.ContainsFunc(b, func(r rune) bool { return r != 0 }) {
				t.Errorf("read %d bytes; want %d zero bytes", len(b), tt.want)
			}
			if tt.decoded && (resp.Header.Get("Content-Encoding") != "" || !resp.Uncompressed) {
				t.Errorf("Content-Encoding = %q, Uncompressed = %v; want the body decoded", resp.Header.Get("Content-Encoding"), resp.Uncompressed)
			}
			if tt.tooBig {
				if _, err := resp.Body.Read(make([]byte, 1)); !errors.As(err, &tl) {
					t.Errorf("a read after the cap = %v; want *ResponseTooLarge again", err)
				}
				if !strings.Contains(err.Error(), "larger than") {
					t.Errorf("the error %q does not say what happened", err)
				}
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ae := range sawAcceptEncoding {
		if ae == "br" {
			t.Error("the caller's Accept-Encoding reached the server; want it replaced")
		}
	}
}

func TestResponseTooLargeSaysTheLimit(t *testing.T) {
	for limit, want := range map[int64]string{32 << 20: "32 MiB", 1 << 10: "1 KiB", 1000: "1000 bytes"} {
		if got := (&ResponseTooLarge{Limit: limit}).Error(); !strings.Contains(got, "larger than "+want) {
			t.Errorf("ResponseTooLarge{%d} = %q; want it to say %q", limit, got, want)
		}
	}
}

func TestClientDefaults(t *testing.T) {
	c := NewClient(Options{})
	tr := c.Transport.(*transport)
	if c.Timeout != 0 {
		t.Errorf("Timeout = %v; want none (callers set per-call deadlines)", c.Timeout)
	}
	if tr.maxBytes != DefaultMaxResponseBytes {
		t.Errorf("maxBytes = %d; want %d", tr.maxBytes, DefaultMaxResponseBytes)
	}
	if tr.dialer.net.Timeout != DefaultDialTimeout {
		t.Errorf("dial timeout = %v; want %v", tr.dialer.net.Timeout, DefaultDialTimeout)
	}
	if tr.base.ResponseHeaderTimeout != 0 || tr.base.TLSHandshakeTimeout == 0 || !tr.base.ForceAttemptHTTP2 || tr.base.MaxIdleConnsPerHost < 2 {
		t.Errorf("transport = %+v; want HTTP/2, a TLS handshake timeout, pooling and no header timeout", tr.base)
	}
	if tr.dialer.policy.ports == nil || !tr.dialer.policy.ports[80] || !tr.dialer.policy.ports[443] || len(tr.dialer.policy.ports) != 2 {
		t.Errorf("ports = %v; want 80 and 443", tr.dialer.policy.ports)
	}
	if p := NewClient(Options{AllowLocalNetwork: true}).Transport.(*transport).dialer.policy.ports; p != nil {
		t.Errorf("local ports = %v; want any", p)
	}
	c.CloseIdleConnections() // reaches the pool through the wrapper
}
