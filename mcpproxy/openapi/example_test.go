package openapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/mcpexecutor/executor/mcpproxy/openapi"
)

func Example() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"name":"Rex"}`, r.URL.Path[len("/pets/"):])
	}))
	defer api.Close()

	doc, err := openapi.Parse([]byte(`
openapi: 3.0.3
info: {title: Pets API, version: 1.0.0}
servers: [{url: 'https://pets.example.com'}]
paths:
  /pets/{petId}:
    get:
      operationId: getPet
      summary: Get a pet by id
      parameters: [{name: petId, in: path, required: true, schema: {type: string}}]
      responses: {'200': {description: ok}}
  /pets:
    post:
      operationId: createPet
      requestBody: {content: {application/json: {schema: {type: object}}}}
      responses: {'201': {description: created}}
`))
	if err != nil {
		panic(err)
	}
	cat, _ := doc.Catalog()
	for _, tool := range cat.Tools {
		fmt.Printf("%s requiresApproval=%v %s\n", tool.Name, tool.RequiresApproval, tool.InputSchema)
	}

	cfg, _ := json.Marshal(openapi.Config{BaseURL: api.URL})
	conn := &integration.Connection{Config: cfg, HTTP: api.Client(), Base: cat}
	res, _ := openapi.Kind{}.Call(context.Background(), conn, &cat.Tools[0], json.RawMessage(`{"petId":"42"}`))
	out, _ := json.Marshal(res.Data)
	fmt.Println(res.OK, res.HTTP.Status, string(out))
	// Output:
	// pets.getPet requiresApproval=false {"type":"object","properties":{"petId":{"type":"string"}},"required":["petId"],"additionalProperties":false}
	// pets.createPet requiresApproval=true {"type":"object","properties":{"body":{"type":"object"}},"additionalProperties":false}
	// true 200 {"id":"42","name":"Rex"}
}
