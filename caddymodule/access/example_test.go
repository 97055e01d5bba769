package access_test

import (
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/mcpexecutor/executor/caddymodule/access"
)

func ExampleCloudflareConfig() {
	cfg := access.CloudflareConfig("https://acme.cloudflareaccess.com/")
	fmt.Println(cfg.Issuer)
	fmt.Println(cfg.JWKSURL)
	fmt.Println(cfg.Algorithms, cfg.RequireType)
	// Output:
	// https://acme.cloudflareaccess.com
	// https://acme.cloudflareaccess.com/cdn-cgi/access/certs
	// [RS256] app
}

func ExampleTokenFromHeader() {
	h := http.Header{}
	h.Add(access.HeaderName, "first")
	h.Add(access.HeaderName, "second")
	_, err := access.TokenFromHeader(h)
	fmt.Println(err)
	// Output:
	// access: token rejected: multiple
}

// A handler that admits only tokens of the Access application whose AUD tag is
// given, answering every refusal with the same 401 and logging only the reason.
func ExampleVerifier_Verify() {
	v, err := access.New(access.CloudflareConfig("acme.cloudflareaccess.com"))
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	audiences := []string{"4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"}

	_ = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, err := access.TokenFromHeader(r.Header)
		if err == nil {
			var claims *access.Claims
			if claims, err = v.Verify(r.Context(), token, audiences); err == nil {
				fmt.Fprintf(w, "hello %s", claims.ID())
				return
			}
		}
		var e *access.Error
		if errors.As(err, &e) {
			log.Printf("access denied: %s", e.Reason)
		}
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
	})
}
