package oauth_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/mcpexecutor/executor/mcpproxy/oauth"
	"github.com/mcpexecutor/executor/mcpproxy/oauth/oauthtest"
)

// A connection to an OAuth-protected upstream, from its first 401 to a
// refreshed token. In the gateway, client is the egress client, and the
// state and verifier wait server-side for the user to come back.
func Example() {
	ctx := context.Background()
	client := &http.Client{}

	// An upstream MCP server and its authorization server, on loopback.
	up := httptest.NewUnstartedServer(nil)
	upstreamURL := "http://" + up.Listener.Addr().String() + "/mcp"
	as := oauthtest.NewServer(nil, oauthtest.Options{Resource: upstreamURL, DCR: true, RotateRefresh: true})
	defer as.Close()
	up.Config.Handler = as.ProtectResource(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello from the upstream")
	}))
	up.Start()
	defer up.Close()

	// 1. The upstream answers 401 with a Bearer challenge.
	resp, _ := client.Get(upstreamURL)
	resp.Body.Close()
	challenge := resp.Header.Get("WWW-Authenticate")
	fmt.Println("status:", resp.StatusCode)

	// 2. Discover, register, send the user to authorize.
	ep, err := oauth.Discover(ctx, client, upstreamURL, challenge, oauth.DiscoverOptions{AllowHTTPLoopback: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	cl, err := oauth.Register(ctx, client, ep, "https://gateway.example/api/oauth/callback", "Executor", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	az, err := oauth.StartAuthorization(ep, cl, ep.ScopesSupported)
	if err != nil {
		fmt.Println(err)
		return
	}

	// 3. The user approves; the browser comes back to the callback.
	back, _ := url.Parse(as.Authorize(nil, az.URL))
	code, err := oauth.CallbackCheck(back.Query(), ep, az.State)
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, err := oauth.Exchange(ctx, client, ep, cl, code, az.Verifier)
	if err != nil {
		fmt.Println(err)
		return
	}

	// 4. Call the upstream, then refresh before the token expires.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, upstreamURL, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, _ = client.Do(req)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("upstream:", string(body))

	fresh, err := oauth.Refresh(ctx, client, ep, cl, tok.RefreshToken)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("refresh token rotated:", fresh.RefreshToken != "" && fresh.RefreshToken != tok.RefreshToken)

	// Output:
	// status: 401
	// upstream: hello from the upstream
	// refresh token rotated: true
}

// The parameters of an upstream's Bearer challenge.
func ExampleParseWWWAuthenticate() {
	params := oauth.ParseWWWAuthenticate(`Bearer error="invalid_token", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp"`)
	fmt.Println(params["error"])
	fmt.Println(params["resource_metadata"])
	// Output:
	// invalid_token
	// https://mcp.example/.well-known/oauth-protected-resource/mcp
}
