package graphql

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gg "github.com/graph-gophers/graphql-go"
	"github.com/graph-gophers/graphql-go/relay"
)

// testSDL exercises what tools are built from: scalars of every kind, a
// custom scalar, enums, lists, nested objects, an interface, input objects
// (one recursive), defaults, deprecations and a mutation.
const testSDL = `
"""The root of reads."""
type Query {
  "Says hello."
  hello(name: String = "world"): String!
  "One user by id."
  user(id: ID!): User
  users(first: Int!, names: [String!], role: Role): [User!]!
  search(filter: UserFilter): [User!]!
  treeSum(tree: TreeInput!): Int!
  node(id: ID!): Node
  flaky: Flaky
  oldHello: String @deprecated(reason: "Use hello.")
}

type Mutation {
  "Creates a user."
  createUser(input: CreateUserInput!): User!
}

"What a user may do."
enum Role {
  ADMIN
  MEMBER
  GUEST @deprecated(reason: "Nobody is a guest.")
}

interface Node {
  id: ID!
}

"Someone with an account."
type User implements Node {
  id: ID!
  "Display name."
  name: String!
  age: Int
  role: Role!
  createdAt: Time
  score: Float
  admin: Boolean!
  nickname: String @deprecated(reason: "Use name.")
  friends(first: Int = 10): [User!]!
  org: Org
  greeting(lang: String!): String!
}

type Org {
  name: String!
  members: [User!]!
}

type Flaky {
  ok: String!
  broken: String
}

"Filters users; filters nest."
input UserFilter {
  role: Role
  nameContains: String
  and: [UserFilter!]
}

input TreeInput {
  value: Int!
  children: [TreeInput!]
}

input CreateUserInput {
  name: String!
  age: Int
  role: Role = MEMBER
}

"An RFC 3339 time."
scalar Time
`

// Resolvers for testSDL, served by graph-gophers/graphql-go.
type (
	testRoot struct {
		mu    sync.Mutex
		users []*testUser
	}
	testUser struct {
		id, name, role string
		age            *int32
	}
	testOrg    struct{ root *testRoot }
	testNode   struct{ u *testUser }
	testFlaky  struct{}
	testFilter struct {
		Role         *string
		NameContains *string
		And          *[]testFilter
	}
	testTree struct {
		Value    int32
		Children *[]testTree
	}
)

func newTestRoot() *testRoot {
	age := int32(36)
	return &testRoot{users: []*testUser{
		{id: "1", name: "Ada", role: "ADMIN", age: &age},
		{id: "2", name: "Brian", role: "MEMBER"},
		{id: "3", name: "Chen", role: "MEMBER"},
	}}
}

func (r *testRoot) Hello(args struct{ Name string }) string { return "hello, " + args.Name }

func (r *testRoot) OldHello() *string { s := "hi"; return &s }

func (r *testRoot) User(args struct{ ID gg.ID }) *testUserResolver {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.users {
		if u.id == string(args.ID) {
			return &testUserResolver{r, u}
		}
	}
	return nil
}

func (r *testRoot) Users(args struct {
	First int32
	Names *[]string
	Role  *string
}) []*testUserResolver {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*testUserResolver
	for _, u := range r.users {
		if int32(len(out)) >= args.First {
			break
		}
		if args.Role != nil && u.role != *args.Role {
			continue
		}
		if args.Names != nil && !contains(*args.Names, u.name) {
			continue
		}
		out = append(out, &testUserResolver{r, u})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (f testFilter) match(u *testUser) bool {
	if f.Role != nil && u.role != *f.Role {
		return false
	}
	if f.NameContains != nil && !strings.Contains(u.name, *f.NameContains) {
		return false
	}
	if f.And != nil {
		for _, g := range *f.And {
			if !g.match(u) {
				return false
			}
		}
	}
	return true
}

func (r *testRoot) Search(args struct{ Filter *testFilter }) []*testUserResolver {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*testUserResolver
	for _, u := range r.users {
		if args.Filter == nil || args.Filter.match(u) {
			out = append(out, &testUserResolver{r, u})
		}
	}
	return out
}

func (t testTree) sum() int32 {
	s := t.Value
	if t.Children != nil {
		for _, c := range *t.Children {
			s += c.sum()
		}
	}
	return s
}

func (r *testRoot) TreeSum(args struct{ Tree testTree }) int32 { return args.Tree.sum() }

func (r *testRoot) Node(args struct{ ID gg.ID }) *testNode {
	if u := r.User(args); u != nil {
		return &testNode{u.u}
	}
	return nil
}

func (r *testRoot) Flaky() *testFlaky { return &testFlaky{} }

func (r *testRoot) CreateUser(args struct {
	Input struct {
		Name string
		Age  *int32
		Role string // has a default
	}
}) *testUserResolver {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := &testUser{id: string(rune('0' + len(r.users) + 1)), name: args.Input.Name, age: args.Input.Age, role: args.Input.Role}
	r.users = append(r.users, u)
	return &testUserResolver{r, u}
}

type testUserResolver struct {
	root *testRoot
	u    *testUser
}

func (u *testUserResolver) ID() gg.ID         { return gg.ID(u.u.id) }
func (u *testUserResolver) Name() string      { return u.u.name }
func (u *testUserResolver) Age() *int32       { return u.u.age }
func (u *testUserResolver) Role() string      { return u.u.role }
func (u *testUserResolver) Score() *float64   { return nil }
func (u *testUserResolver) Admin() bool       { return u.u.role == "ADMIN" }
func (u *testUserResolver) Nickname() *string { return nil }
func (u *testUserResolver) CreatedAt() *gg.Time {
	return &gg.Time{Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
}
func (u *testUserResolver) Friends(args struct{ First int32 }) []*testUserResolver {
	var out []*testUserResolver
	for _, f := range u.root.users {
		if f != u.u && int32(len(out)) < args.First {
			out = append(out, &testUserResolver{u.root, f})
		}
	}
	return out
}
func (u *testUserResolver) Org() *testOrg { return &testOrg{u.root} }
func (u *testUserResolver) Greeting(args struct{ Lang string }) string {
	return args.Lang + ": hi " + u.u.name
}

func (o *testOrg) Name() string { return "Analytical Engines" }
func (o *testOrg) Members() []*testUserResolver {
	var out []*testUserResolver
	for _, u := range o.root.users {
		out = append(out, &testUserResolver{o.root, u})
	}
	return out
}

func (n *testNode) ID() gg.ID                         { return gg.ID(n.u.id) }
func (n *testNode) ToUser() (*testUserResolver, bool) { return &testUserResolver{nil, n.u}, true }

func (testFlaky) Ok() string               { return "fine" }
func (testFlaky) Broken() (*string, error) { return nil, errors.New("the broken field broke") }

// testServer is a GraphQL endpoint on 127.0.0.1 that records what it
// receives. Besides /graphql it serves:
//
//	/status/500      HTTP 500 with a plain-text body that echoes the Authorization header
//	/status/400      HTTP 400 with a GraphQL-over-HTTP error body
//	/status/401      HTTP 401
//	/nointrospection the schema with introspection disabled
//	/echo            a GraphQL error that echoes the Authorization header, with partial data
//	/slow            never answers before the client gives up
type testServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	path   string
	header http.Header
	query  string // the URL's raw query
	body   []byte
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	schema := gg.MustParseSchema(testSDL, newTestRoot(), gg.UseStringDescriptions())
	closed := gg.MustParseSchema(testSDL, newTestRoot(), gg.UseStringDescriptions(), gg.DisableIntrospection())
	ts := &testServer{}
	mux := http.NewServeMux()
	mux.Handle("/graphql", &relay.Handler{Schema: schema})
	mux.Handle("/nointrospection", &relay.Handler{Schema: closed})
	mux.HandleFunc("/status/500", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream exploded; auth was "+r.Header.Get("Authorization"), http.StatusInternalServerError)
	})
	mux.HandleFunc("/status/400", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/graphql-response+json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"errors":[{"message":"Cannot query field \"nope\" on type \"Query\"."}]}`)
	})
	mux.HandleFunc("/status/401", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "who are you?", http.StatusUnauthorized)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"user":{"id":"1","name":null}},"errors":[{"message":"bad token `+r.Header.Get("Authorization")+`","path":["user","name"]}]}`)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts.mu.Lock()
		ts.requests = append(ts.requests, recorded{path: r.URL.Path, header: r.Header.Clone(), query: r.URL.RawQuery, body: body})
		ts.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// received returns the requests so far.
func (ts *testServer) received() []recorded {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]recorded(nil), ts.requests...)
}

// last returns the most recent request.
func (ts *testServer) last(t testing.TB) recorded {
	t.Helper()
	r := ts.received()
	if len(r) == 0 {
		t.Fatal("the server received no request")
	}
	return r[len(r)-1]
}

// introspectionJSON is the live server's raw introspection response.
func (ts *testServer) introspectionJSON(t testing.TB) []byte {
	t.Helper()
	body := `{"query":` + jsonString(introspectionQuery) + `}`
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, ts.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("introspection: %d %s %v", resp.StatusCode, b, err)
	}
	return b
}

// httptestServer serves h on 127.0.0.1 for the test and returns its URL.
func httptestServer(t testing.TB, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}
