package graphql_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/mcpexecutor/executor/mcpproxy/graphql"
	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

func ExampleSchema_Catalog() {
	s, err := graphql.ParseSchema([]byte(`
type Query {
  "Looks up a repository."
  repository(owner: String!, name: String!): Repository
}
type Mutation {
  starRepository(id: ID!): Repository!
}
type Repository {
  id: ID!
  name: String!
  stars: Int!
  owner: User!
}
type User { login: String! }
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	cat, err := s.Catalog()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range cat.Tools {
		fmt.Printf("%s approval=%v %s\n", t.Name, t.RequiresApproval, t.Description)
	}
	fmt.Printf("%+v\n", s.Summary())
	// Output:
	// mutation.starRepository approval=true GraphQL mutation starRepository
	// query.repository approval=false Looks up a repository.
	// {QueryCount:1 MutationCount:1 Types:4}
}

func ExampleKind_Call() {
	// An endpoint that shows what it was sent and answers for repository.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query     string          `json:"query"`
			Variables json.RawMessage `json:"variables"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		fmt.Println("sent:", req.Query, string(req.Variables))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"repository":{"id":"R1","name":"executor","stars":42}}}`)
	}))
	defer srv.Close()

	sdl := `type Query { repository(owner: String!, name: String!): Repository }
type Repository { id: ID! name: String! stars: Int! }`
	s, _ := graphql.ParseSchema([]byte(sdl))
	cat, _ := s.Catalog()
	config, _ := json.Marshal(graphql.Config{Endpoint: srv.URL, SDL: s.SDL()})
	conn := &integration.Connection{Config: config, Base: cat, HTTP: srv.Client()}

	res, err := (&graphql.Kind{}).Call(context.Background(), conn, &cat.Tools[0],
		json.RawMessage(`{"owner":"mcpexecutor","name":"executor"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	res.HTTP = nil // its headers carry a date
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	// Output:
	// sent: query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { id name stars } } {"name":"executor","owner":"mcpexecutor"}
	// {"ok":true,"data":{"id":"R1","name":"executor","stars":42}}
}
