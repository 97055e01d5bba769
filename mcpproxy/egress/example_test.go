package egress_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
)

func Example() {
	// Production: the zero Options. Local development would set
	// AllowLocalNetwork.
	opts := egress.Options{}
	client := egress.NewClient(opts)

	// Before storing an upstream URL.
	fmt.Println(egress.CheckURL("http://169.254.169.254/latest/meta-data/", opts))
	fmt.Println(egress.CheckURL("https://api.example.com/v1", opts))

	// Every request is checked again when it connects. Show agents
	// Describe(err), never err.Error(): the URL may carry a credential.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.0.0.1/admin?api_key=s3cret", nil)
	_, err := client.Do(req)
	fmt.Println(egress.Describe(err))

	// Token endpoints, and requests with a credential in the query string,
	// follow no redirects.
	tokenClient := egress.NoRedirects(client)
	_ = tokenClient

	// Output:
	// refusing to connect to 169.254.169.254 (a cloud metadata address); allow_metadata is off
	// <nil>
	// refusing to connect to 127.0.0.1 (a loopback address); allow_local_network is off
}

func ExampleCheckURL() {
	prod := egress.Options{}
	local := egress.Options{AllowLocalNetwork: true}
	for _, u := range []string{
		"http://0x7f.1/",
		"http://redis.internal/",
		"https://api.example.com:8443/",
		"unix:///var/run/docker.sock",
	} {
		fmt.Println(egress.CheckURL(u, prod))
	}
	fmt.Println(egress.CheckURL("http://localhost:3000/mcp", local))
	// Output:
	// refusing to connect to 0x7f.1 (is 127.0.0.1, a loopback address); allow_local_network is off
	// refusing to connect to redis.internal (a name that only resolves on a local network); allow_local_network is off
	// refusing to connect to api.example.com:8443 (port 8443 is not allowed); the allowed ports are 80, 443; an operator can add it to allowed_ports
	// refusing the request (the unix: scheme is not allowed); only http and https URLs can be fetched
	// <nil>
}
