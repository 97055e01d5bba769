package graphql

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

const sentinel = "sentinel-secret-4242"

// bearer is a credential that puts sentinel in the Authorization header.
var bearer = integration.Credential{
	Values:     map[string]string{"token": sentinel},
	Placements: []integration.Placement{{Carrier: "header", Name: "Authorization", Prefix: "Bearer "}},
}

// fixture is a Kind, the test schema's catalog and a connection to a path
// of a live test server.
type fixture struct {
	ts   *testServer
	kind *Kind
	cat  *integration.Catalog
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	cat, err := mustParse(t, testSDL).Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ts: newTestServer(t), kind: &Kind{}, cat: cat}
}

// conn is a connection to path with cfg's endpoint filled in; cfg.SDL
// defaults to the test schema.
func (f *fixture) conn(t testing.TB, path string, cfg Config, cred integration.Credential) *integration.Connection {
	t.Helper()
	cfg.Endpoint = f.ts.URL + path
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &integration.Connection{Key: "org/acme/" + path, Integration: "acme", Config: raw, Owner: "org", Name: "main",
		Credential: cred, Base: f.cat, HTTP: f.ts.Client()}
}

func (f *fixture) tool(t testing.TB, name string) *integration.Tool {
	t.Helper()
	for i := range f.cat.Tools {
		if f.cat.Tools[i].Name == name {
			return &f.cat.Tools[i]
		}
	}
	t.Fatalf("no tool %s", name)
	return nil
}

// resultJSON is a Result as the sandbox sees it, without the HTTP meta
// (its headers carry dates).
func resultJSON(t testing.TB, r *integration.Result) string {
	t.Helper()
	c := *r
	c.HTTP = nil
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type sentRequest struct {
	Query     string          `json:"query"`
	Variables json.RawMessage `json:"variables"`
}

func TestCallSendsTypedOperationsAndReturnsTheFieldsData(t *testing.T) {
	f := newFixture(t)
	sdl := Config{SDL: testSDL}
	for _, tc := range []struct {
		name, tool, args string
		wantQuery        string // the document sent (white space collapsed), when it is worth pinning
		wantVariables    string
		wantData         string
	}{
		{
			name: "a query without select gets the scalar and enum fields", tool: "query.user", args: `{"id":"1"}`,
			wantQuery:     `query($id: ID!) { user(id: $id) { id name age role createdAt score admin } }`,
			wantVariables: `{"id":"1"}`,
			wantData:      `{"id":"1","name":"Ada","age":36,"role":"ADMIN","createdAt":"2024-01-02T03:04:05Z","score":null,"admin":true}`,
		},
		{
			name: "select picks the fields", tool: "query.user", args: `{"id":"1","select":"{ name }"}`,
			wantQuery: `query ($id: ID!) { user(id: $id) { name } }`,
			wantData:  `{"name":"Ada"}`,
		},
		{
			name: "select works without braces", tool: "query.user", args: `{"id":"2","select":"name age"}`,
			wantData: `{"name":"Brian","age":null}`,
		},
		{
			name: "select reaches nested objects and their arguments", tool: "query.user",
			args:     `{"id":"1","select":"{ name org { name } friends(first: 1) { name role } }"}`,
			wantData: `{"name":"Ada","org":{"name":"Analytical Engines"},"friends":[{"name":"Brian","role":"MEMBER"}]}`,
		},
		{
			name: "a list of objects gets the default selection for each", tool: "query.users", args: `{"first":2}`,
			wantQuery: `query($first: Int!) { users(first: $first) { id name age role createdAt score admin } }`,
			wantData: `[{"id":"1","name":"Ada","age":36,"role":"ADMIN","createdAt":"2024-01-02T03:04:05Z","score":null,"admin":true},` +
				`{"id":"2","name":"Brian","age":null,"role":"MEMBER","createdAt":"2024-01-02T03:04:05Z","score":null,"admin":false}]`,
		},
		{
			name: "variables carry Int!, [String!] and enum types", tool: "query.users",
			args:          `{"first":5,"names":["Brian","Chen"],"role":"MEMBER","select":"{ name }"}`,
			wantQuery:     `query ($first: Int!, $names: [String!], $role: Role) { users(first: $first, names: $names, role: $role) { name } }`,
			wantVariables: `{"first":5,"names":["Brian","Chen"],"role":"MEMBER"}`,
			wantData:      `[{"name":"Brian"},{"name":"Chen"}]`,
		},
		{
			name: "input objects nest", tool: "query.search",
			args:     `{"filter":{"and":[{"role":"MEMBER"},{"nameContains":"Ch"}]},"select":"{ name }"}`,
			wantData: `[{"name":"Chen"}]`,
		},
		{
			name: "a recursive input type is sent whole", tool: "query.treeSum",
			args:          `{"tree":{"value":1,"children":[{"value":2,"children":[{"value":3}]},{"value":4}]}}`,
			wantQuery:     `query($tree: TreeInput!) { treeSum(tree: $tree) }`,
			wantVariables: `{"tree":{"value":1,"children":[{"value":2,"children":[{"value":3}]},{"value":4}]}}`,
			wantData:      `10`,
		},
		{
			name: "arguments not given are not sent", tool: "query.hello", args: `{}`,
			wantQuery: `query { hello }`, wantVariables: `{}`,
			wantData: `"hello, world"`,
		},
		{
			name: "an explicit null is sent as null", tool: "query.search", args: `{"filter":null,"select":"{ id }"}`,
			wantVariables: `{"filter":null}`,
			wantData:      `[{"id":"1"},{"id":"2"},{"id":"3"}]`,
		},
		{
			name: "an interface result is selected with inline fragments", tool: "query.node",
			args:     `{"id":"2","select":"{ __typename ... on User { name } }"}`,
			wantData: `{"__typename":"User","name":"Brian"}`,
		},
		{
			name: "an interface result by default gets __typename and its fields", tool: "query.node", args: `{"id":"3"}`,
			wantData: `{"__typename":"User","id":"3"}`,
		},
		{
			name: "a missing object is null", tool: "query.user", args: `{"id":"404"}`,
			wantData: `null`,
		},
		{
			name: "a mutation sends a mutation operation", tool: "mutation.createUser",
			args:      `{"input":{"name":"Dee","age":40},"select":"{ name age role }"}`,
			wantQuery: `mutation ($input: CreateUserInput!) { createUser(input: $input) { name age role } }`,
			wantData:  `{"name":"Dee","age":40,"role":"MEMBER"}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.kind.Call(context.Background(), f.conn(t, "/graphql", sdl, integration.Credential{}), f.tool(t, tc.tool), json.RawMessage(tc.args))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := resultJSON(t, res), `{"ok":true,"data":`+tc.wantData+`}`; got != want {
				t.Errorf("result\n got %s\nwant %s", got, want)
			}
			if res.HTTP == nil || res.HTTP.Status != 200 || !strings.Contains(res.HTTP.Headers["content-type"], "json") {
				t.Errorf("http meta = %+v", res.HTTP)
			}
			last := f.ts.last(t)
			var sent sentRequest
			if err := json.Unmarshal(last.body, &sent); err != nil {
				t.Fatalf("request body %s: %v", last.body, err)
			}
			if tc.wantQuery != "" && strings.Join(strings.Fields(sent.Query), " ") != tc.wantQuery {
				t.Errorf("query\n got %s\nwant %s", sent.Query, tc.wantQuery)
			}
			if tc.wantVariables != "" && string(sent.Variables) != tc.wantVariables {
				t.Errorf("variables\n got %s\nwant %s", sent.Variables, tc.wantVariables)
			}
			for name, want := range map[string]string{
				"Content-Type": "application/json",
				"Accept":       "application/graphql-response+json, application/json",
				"User-Agent":   "executor",
			} {
				if got := last.header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestCallPassesTheFieldsRawBytesThrough(t *testing.T) {
	// Numbers beyond float64 precision and key order survive untouched.
	const body = `{"data":{"big":{"z":1,"n":12345678901234567890123,"a":[1.50]}}}`
	srv := newRawServer(t, http.StatusOK, body)
	cat, err := mustParse(t, `scalar JSON type Query { big: JSON }`).Catalog()
	if err != nil {
		t.Fatal(err)
	}
	conn := &integration.Connection{Config: mustJSON(t, Config{Endpoint: srv}), HTTP: http.DefaultClient}
	res, err := (&Kind{}).Call(context.Background(), conn, &cat.Tools[0], json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resultJSON(t, res), `{"ok":true,"data":{"z":1,"n":12345678901234567890123,"a":[1.50]}}`; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestCallFailuresAreResults(t *testing.T) {
	f := newFixture(t)
	sdl := Config{SDL: testSDL}
	closed := closedURL(t)
	for _, tc := range []struct {
		name, path, tool, args string
		kind                   *Kind
		endpoint               string // instead of the test server's path
		cred                   integration.Credential
		wantCode               string
		wantStatus             int
		wantMessage            string // a part of the message
		wantDetails            string // the details as JSON, when worth pinning
		nothingSent            bool
	}{
		{
			name: "an unknown field in select is an invalid selection and nothing is sent", path: "/graphql",
			tool: "query.user", args: `{"id":"1","select":"{ name password }"}`,
			wantCode: "graphql_invalid_selection", wantMessage: `Cannot query field "password" on type "User".`, nothingSent: true,
		},
		{
			name: "a selection that does not parse is an invalid selection", path: "/graphql",
			tool: "query.user", args: `{"id":"1","select":"{ name "}`,
			wantCode: "graphql_invalid_selection", wantMessage: "Expected Name, found <EOF>", nothingSent: true,
		},
		{
			name: "a selection cannot smuggle in a second operation", path: "/graphql",
			tool: "query.user", args: `{"id":"1","select":"{ id } } mutation M { createUser(input: {name: \"x\"}) { id } } query Q { hello "}`,
			wantCode: "graphql_invalid_selection", nothingSent: true,
		},
		{
			name: "a selection cannot define fragments", path: "/graphql",
			tool: "query.user", args: `{"id":"1","select":"{ ...F } fragment F on User { id }"}`,
			wantCode: "graphql_invalid_selection", wantMessage: "write fragments inline", nothingSent: true,
		},
		{
			name: "a selection cannot use undeclared variables", path: "/graphql",
			tool: "query.user", args: `{"id":"1","select":"{ friends(first: $n) { id } }"}`,
			wantCode: "graphql_invalid_selection", wantMessage: `Variable "$n" is not defined.`, nothingSent: true,
		},
		{
			name: "a selection needs the arguments its fields require", path: "/graphql",
			tool: "query.user", args: `{"id":"1","select":"{ greeting }"}`,
			wantCode: "graphql_invalid_selection", wantMessage: `argument "lang" of type "String!" is required`, nothingSent: true,
		},
		{
			name: "an object field needs a selection of its own", path: "/graphql",
			tool: "query.user", args: `{"id":"1","select":"{ org }"}`,
			wantCode: "graphql_invalid_selection", wantMessage: `must have a selection of subfields`, nothingSent: true,
		},
		{
			name: "select is refused on a field that returns a scalar", path: "/graphql",
			tool: "query.hello", args: `{"select":"{ x }"}`,
			wantCode: "invalid_tool_arguments", wantMessage: `Unknown argument "select". This field accepts: name.`, nothingSent: true,
		},
		{
			name: "errors with partial data are graphql_errors carrying both", path: "/graphql",
			tool: "query.flaky", args: `{}`,
			wantCode: "graphql_errors", wantMessage: "the broken field broke",
			wantDetails: `{"data":{"ok":"fine","broken":null},"errors":[{"message":"the broken field broke","path":["flaky","broken"]}]}`,
		},
		{
			name: "HTTP 500 is graphql_http_error with the status and body", path: "/status/500",
			tool: "query.hello", args: `{}`,
			wantCode: "graphql_http_error", wantStatus: 500, wantMessage: "HTTP 500 Internal Server Error: upstream exploded",
		},
		{
			name: "a GraphQL-over-HTTP error body is graphql_errors with the status", path: "/status/400",
			tool: "query.hello", args: `{}`,
			wantCode: "graphql_errors", wantStatus: 400, wantMessage: `Cannot query field "nope" on type "Query".`,
		},
		{
			name: "the credential never appears in an HTTP error", path: "/status/500", cred: bearer,
			tool: "query.hello", args: `{}`,
			wantCode: "graphql_http_error", wantStatus: 500, wantMessage: "auth was Bearer [redacted]",
		},
		{
			name: "the credential never appears in GraphQL errors", path: "/echo", cred: bearer,
			tool: "query.user", args: `{"id":"1"}`,
			wantCode: "graphql_errors", wantMessage: "bad token Bearer [redacted]",
			wantDetails: `{"data":{"id":"1","name":null},"errors":[{"message":"bad token Bearer [redacted]","path":["user","name"]}]}`,
		},
		{
			name: "an endpoint nobody listens on is upstream_unreachable", endpoint: closed,
			tool: "query.hello", args: `{}`,
			wantCode: "upstream_unreachable", wantMessage: "Could not reach the GraphQL endpoint " + closed,
		},
		{
			name: "an endpoint that does not answer in time is a headers timeout", path: "/slow",
			kind: &Kind{ResponseHeadersTimeout: 50 * time.Millisecond},
			tool: "query.hello", args: `{}`,
			wantCode: "upstream_response_headers_timeout", wantMessage: "sent no response within 50ms",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.kind
			if k == nil {
				k = f.kind
			}
			conn := f.conn(t, tc.path, sdl, tc.cred)
			if tc.endpoint != "" {
				conn.Config = mustJSON(t, Config{Endpoint: tc.endpoint, SDL: testSDL})
			}
			before := len(f.ts.received())
			res, err := k.Call(context.Background(), conn, f.tool(t, tc.tool), json.RawMessage(tc.args))
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.Error == nil {
				t.Fatalf("want a failure, got %s", resultJSON(t, res))
			}
			e := res.Error
			if e.Code != tc.wantCode || e.Status != tc.wantStatus || !strings.Contains(e.Message, tc.wantMessage) {
				t.Errorf("got %s\nwant code %s, status %d, message containing %q", resultJSON(t, res), tc.wantCode, tc.wantStatus, tc.wantMessage)
			}
			if tc.wantDetails != "" {
				if got := string(mustJSON(t, e.Details)); got != tc.wantDetails {
					t.Errorf("details\n got %s\nwant %s", got, tc.wantDetails)
				}
			}
			if strings.Contains(resultJSON(t, res), sentinel) {
				t.Errorf("the result shows the credential: %s", resultJSON(t, res))
			}
			if after := len(f.ts.received()); tc.nothingSent && after != before {
				t.Errorf("the server received %d requests, want none", after-before)
			}
		})
	}
}

func TestCallAppliesConfigAndCredentialLast(t *testing.T) {
	f := newFixture(t)
	cfg := Config{SDL: testSDL,
		Headers:     map[string]string{"X-Tenant": "t1", "Authorization": "Bearer static", "User-Agent": "custom"},
		QueryParams: map[string]string{"api-version": "2"}}
	res, err := f.kind.Call(context.Background(), f.conn(t, "/graphql", cfg, bearer), f.tool(t, "query.hello"), json.RawMessage(`{"name":"you"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := resultJSON(t, res); got != `{"ok":true,"data":"hello, you"}` {
		t.Fatalf("got %s", got)
	}
	last := f.ts.last(t)
	for name, want := range map[string]string{"X-Tenant": "t1", "Authorization": "Bearer " + sentinel, "User-Agent": "custom"} {
		if got := last.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if last.query != "api-version=2" {
		t.Errorf("query string = %q", last.query)
	}
}

func TestCallChecksSelectAgainstTheIntrospectedSchemaWithoutSDL(t *testing.T) {
	f := newFixture(t)
	conn := f.conn(t, "/graphql", Config{}, bearer)
	for i, args := range []string{`{"id":"1","select":"{ name }"}`, `{"id":"2","select":"{ name }"}`, `{"id":"1","select":"{ nope }"}`} {
		res, err := f.kind.Call(context.Background(), conn, f.tool(t, "query.user"), json.RawMessage(args))
		if err != nil {
			t.Fatal(err)
		}
		if want := i < 2; res.OK != want {
			t.Errorf("call %d: %s", i, resultJSON(t, res))
		}
	}
	var introspections, calls int
	for _, r := range f.ts.received() {
		if strings.Contains(string(r.body), "IntrospectionQuery") {
			introspections++
			if got := r.header.Get("Authorization"); got != "Bearer "+sentinel {
				t.Errorf("introspection sent Authorization %q", got)
			}
		} else {
			calls++
		}
	}
	if introspections != 1 || calls != 2 {
		t.Errorf("introspections = %d, calls = %d; want the schema fetched once and the invalid call never sent", introspections, calls)
	}
	f.kind.Forget(conn.Key)
	if _, err := f.kind.Call(context.Background(), conn, f.tool(t, "query.user"), json.RawMessage(`{"id":"1","select":"{ id }"}`)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.ts.received()); n != 5 {
		t.Errorf("after Forget: %d requests, want a new introspection and the call (5)", n)
	}
}

func TestCallWithSelectNeedsALoadableSchema(t *testing.T) {
	f := newFixture(t)
	conn := f.conn(t, "/nointrospection", Config{}, bearer)
	res, err := f.kind.Call(context.Background(), conn, f.tool(t, "query.user"), json.RawMessage(`{"id":"1","select":"{ name }"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Error.Code != "graphql_http_error" || !strings.Contains(res.Error.Message, "introspection disabled") {
		t.Errorf("got %s", resultJSON(t, res))
	}
	// Without select the call needs no schema.
	res, err = f.kind.Call(context.Background(), conn, f.tool(t, "query.user"), json.RawMessage(`{"id":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Errorf("got %s", resultJSON(t, res))
	}
}

func TestProduce(t *testing.T) {
	f := newFixture(t)
	want := mustCatalogJSON(t, mustParse(t, testSDL))
	for _, tc := range []struct {
		name string
		conn func() *integration.Connection
	}{
		{"the catalog built at add time is returned as is", func() *integration.Connection {
			return f.conn(t, "/graphql", Config{}, bearer)
		}},
		{"without one the configured SDL is used", func() *integration.Connection {
			c := f.conn(t, "/nointrospection", Config{SDL: testSDL}, bearer)
			c.Base = nil
			return c
		}},
		{"without either the endpoint is introspected with the credential", func() *integration.Connection {
			c := f.conn(t, "/graphql", Config{}, bearer)
			c.Base = nil
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cat, err := f.kind.Produce(context.Background(), tc.conn())
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.MarshalIndent(cat, "", "  ")
			if string(b) != want {
				t.Errorf("catalog differs:\n%s", diffLines(want, string(b)))
			}
		})
	}
	for _, r := range f.ts.received() {
		if got := r.header.Get("Authorization"); got != "Bearer "+sentinel {
			t.Errorf("introspection sent Authorization %q", got)
		}
	}
	if n := len(f.ts.received()); n != 1 {
		t.Errorf("%d requests, want one introspection", n)
	}
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newRawServer answers every request with status and body.
func newRawServer(t testing.TB, status int, body string) string {
	t.Helper()
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
	srv := httptestServer(t, mux)
	return srv
}

// closedURL is an http URL on 127.0.0.1 where nothing listens.
func closedURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/graphql"
}

func TestCallBodyTimeoutAndSizeCap(t *testing.T) {
	stall := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"data":`))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	cat, err := mustParse(t, testSDL).Catalog()
	if err != nil {
		t.Fatal(err)
	}
	var hello *integration.Tool
	for i := range cat.Tools {
		if cat.Tools[i].Name == "query.hello" {
			hello = &cat.Tools[i]
		}
	}
	k := &Kind{ResponseBodyTimeout: 50 * time.Millisecond}
	conn := &integration.Connection{Config: mustJSON(t, Config{Endpoint: stall + "/graphql"}), HTTP: http.DefaultClient}
	res, err := k.Call(context.Background(), conn, hello, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Error.Code != "upstream_response_body_timeout" || !res.Error.Retryable {
		t.Errorf("stalled body: %s", resultJSON(t, res))
	}

	big := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"hello":"` + strings.Repeat("x", 100) + `"}}`))
	}))
	req, err := newRequest(context.Background(), big, nil, nil, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = send(context.Background(), http.DefaultClient, req, timeouts{time.Second, time.Second, 64})
	var f *failure
	if !errors.As(err, &f) || f.Code != "graphql_http_error" || !strings.Contains(f.Message, "is larger than") {
		t.Errorf("oversized body: %v", err)
	}
}

func TestCallIsSafeForConcurrentUse(t *testing.T) {
	f := newFixture(t)
	conn := f.conn(t, "/graphql", Config{}, bearer)
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%5 == 0 {
				f.kind.Forget(conn.Key)
			}
			res, err := f.kind.Call(context.Background(), conn, f.tool(t, "query.user"), json.RawMessage(`{"id":"1","select":"{ name }"}`))
			switch {
			case err != nil:
				errs <- err.Error()
			case !res.OK:
				errs <- resultJSON(t, res)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	introspections := 0
	for _, r := range f.ts.received() {
		if strings.Contains(string(r.body), "IntrospectionQuery") {
			introspections++
		}
	}
	// One load at a time per connection; Forget may start a new one.
	if introspections < 1 || introspections > 5 {
		t.Errorf("%d introspections for 16 calls with 4 Forgets", introspections)
	}
}

func TestCallOfAToolWithoutMetaIsADefect(t *testing.T) {
	f := newFixture(t)
	_, err := f.kind.Call(context.Background(), f.conn(t, "/graphql", Config{}, integration.Credential{}), &integration.Tool{Name: "query.x"}, json.RawMessage(`{}`))
	if err == nil {
		t.Error("want an error")
	}
}

func TestCallThroughTheEgressClient(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name     string
		opts     egress.Options
		wantOK   bool
		wantText string
	}{
		{"a local endpoint works when the local network is allowed", egress.Options{AllowLocalNetwork: true}, true, ""},
		{"a refused destination is upstream_unreachable and says why", egress.Options{}, false, "refusing to connect to 127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := f.conn(t, "/graphql", Config{SDL: testSDL}, bearer)
			conn.HTTP = egress.NewClient(tc.opts)
			res, err := f.kind.Call(context.Background(), conn, f.tool(t, "query.user"), json.RawMessage(`{"id":"1","select":"{ name }"}`))
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != tc.wantOK || (!res.OK && (res.Error.Code != "upstream_unreachable" || !strings.Contains(res.Error.Message, tc.wantText))) {
				t.Errorf("got %s", resultJSON(t, res))
			}
		})
	}
}

// Target names the endpoint and the operation, without the endpoint's query
// string (which may carry a key).
func TestTargetNamesTheEndpointAndTheOperation(t *testing.T) {
	cat, err := mustParse(t, `type Query { user(id: ID!): String } type Mutation { deleteUser(id: ID!): Boolean }`).Catalog()
	if err != nil {
		t.Fatal(err)
	}
	conn := &integration.Connection{Config: mustJSON(t, Config{Endpoint: "https://api.example/graphql?key=SENTINEL"})}
	want := map[string]string{"query.user": "POST https://api.example/graphql (GraphQL query user)", "mutation.deleteUser": "POST https://api.example/graphql (GraphQL mutation deleteUser)"}
	for i := range cat.Tools {
		tool := &cat.Tools[i]
		if got := (&Kind{}).Target(conn, tool, json.RawMessage(`{"id":"1"}`)); got != want[tool.Name] {
			t.Errorf("%s: Target = %q, want %q", tool.Name, got, want[tool.Name])
		}
	}
}
