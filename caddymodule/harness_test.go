package caddymodule

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// fakeAccess is a local stand-in for a Cloudflare Access team: it publishes a
// JWKS on 127.0.0.1 and mints application tokens with any claims.
type fakeAccess struct {
	key     *rsa.PrivateKey
	kid     string
	srv     *httptest.Server
	team    string
	fetches atomic.Int32
	down    atomic.Bool // the JWKS answers 503
}

const testTeam = "test.cloudflareaccess.com"

func newFakeAccess(t *testing.T) *fakeAccess {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAccess{key: key, kid: "k1-" + fmt.Sprint(time.Now().UnixNano()), team: testTeam}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.fetches.Add(1)
		if f.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{jwkOf(f.kid, &key.PublicKey)}})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func jwkOf(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (f *fakeAccess) certsURL() string { return f.srv.URL + "/cdn-cgi/access/certs" }

// claims returns valid user claims for aud.
func (f *fakeAccess) claims(aud string, extra map[string]any) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{
		"iss": "https://" + f.team, "aud": []string{aud}, "sub": "user-bob", "email": "bob@example.com",
		"name": "Bob", "type": "app", "iat": now, "nbf": now, "exp": now + 300,
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign mints a compact RS256 JWS over claims with header overrides.
func (f *fakeAccess) sign(claims map[string]any, header map[string]any) string {
	h := map[string]any{"alg": "RS256", "kid": f.kid, "typ": "JWT"}
	for k, v := range header {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	hb, _ := json.Marshal(h)
	pb, _ := json.Marshal(claims)
	input := b64(hb) + "." + b64(pb)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return input + "." + b64(sig)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// loadCaddyfile adapts and runs a Caddyfile in this process, replacing any
// running configuration. It returns Caddy's error, if any.
func loadCaddyfile(t *testing.T, text string) error {
	t.Helper()
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), nil)
	if err != nil {
		return err
	}
	return caddy.Load(cfg, true)
}

// mustRun loads text and stops Caddy when the test ends.
func mustRun(t *testing.T, text string) {
	t.Helper()
	if err := loadCaddyfile(t, text); err != nil {
		t.Fatalf("loading config: %v\n%s", err, text)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
}

// settle waits until the site at base answers five health checks in a row,
// each on a new connection: after a reload, Caddy may still be handing its
// listener from the old configuration to the new one, and a request that
// must not be retried (a POST) made in that instant can lose its connection.
func settle(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ok := 0; ok < 5; {
		if res, err := tryDo("GET", base+"/health", nil, "", false); err == nil && res.status == http.StatusOK {
			ok++
		} else {
			ok = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not settle after the reload", base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

var testClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, method, url string, headers map[string]string, body string) response {
	t.Helper()
	res, err := tryDo(method, url, headers, body, method == http.MethodGet)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return res
}

// tryDo is do without the test: retry says the request is safe to make
// again after a connection lost in Caddy's listener handover.
func tryDo(method, url string, headers map[string]string, body string, retry bool) (response, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := testClient.Do(req)
	// A connection made in the instant Caddy hands its listener from the old
	// configuration to the new one can be reset, or closed before any
	// answer (Caddy's reload, not ours); a GET is safe to make again.
	handover := func(err error) bool {
		return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	}
	for try := 0; err != nil && retry && handover(err) && try < 3; try++ {
		time.Sleep(20 * time.Millisecond)
		req, _ = http.NewRequest(method, url, strings.NewReader(body))
		for k, v := range headers {
			if k == "Host" {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
		res, err = testClient.Do(req)
	}
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}, nil
}
