package openapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

const petsYAML = `
openapi: 3.0.3
info: {title: Pets API, version: 1.0.0}
servers:
  - url: https://api.example.com/v1
paths:
  /pets:
    get:
      operationId: listPets
      summary: List pets
      tags: [pets]
      parameters:
        - name: limit
          in: query
          schema: {type: integer, minimum: 1, exclusiveMinimum: true, nullable: true}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {type: array, items: {$ref: '#/components/schemas/Pet'}}
    post:
      operationId: createPet
      tags: [pets]
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/NewPet'}
      responses:
        '201':
          description: created
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
  /pets/{petId}:
    parameters:
      - {name: petId, in: path, required: true, description: The pet's id., schema: {type: string}}
    get:
      operationId: getPet
      summary: Get a pet by id
      parameters:
        - {name: verbose, in: query, schema: {type: boolean}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
    delete:
      summary: Delete a pet
      responses:
        '204': {description: gone}
components:
  schemas:
    Pet:
      type: object
      required: [id, name]
      properties:
        id: {type: string}
        name: {type: string}
        tag: {type: string, nullable: true, enum: [dog, cat]}
        owner: {$ref: '#/components/schemas/Owner'}
    Owner:
      type: object
      properties:
        name: {type: string}
        pets: {type: array, items: {$ref: '#/components/schemas/Pet'}}
    NewPet:
      type: object
      required: [name]
      properties:
        name: {type: string}
        tag: {type: string}
        lineage: {$ref: '#/components/schemas/Node'}
      example: {name: Rex}
      xml: {name: pet}
    Node:
      type: object
      properties:
        name: {type: string}
        children: {type: array, items: {$ref: '#/components/schemas/Node'}}
  securitySchemes:
    apiKey: {type: apiKey, in: header, name: X-Api-Key}
`

func TestPetsDocumentBecomesTools(t *testing.T) {
	cat := mustCatalog(t, petsYAML)
	var names []string
	for _, tool := range cat.Tools {
		names = append(names, tool.Name)
	}
	want := []string{"pets.listPets", "pets.createPet", "pets.getPet", "pets.deletePetsPetId"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("tools = %v, want %v", names, want)
	}

	tests := []struct {
		tool, description, approval string
	}{
		{"pets.listPets", "List pets", ""},
		{"pets.createPet", "POST /pets", "POST /pets"},
		{"pets.getPet", "Get a pet by id", ""},
		{"pets.deletePetsPetId", "Delete a pet", "DELETE /pets/{petId}"},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			tool := toolNamed(t, cat, tt.tool)
			if tool.Description != tt.description {
				t.Errorf("description = %q, want %q", tool.Description, tt.description)
			}
			if tool.RequiresApproval != (tt.approval != "") || tool.ApprovalDescription != tt.approval {
				t.Errorf("approval = %v %q, want %q", tool.RequiresApproval, tool.ApprovalDescription, tt.approval)
			}
		})
	}
}

func TestInputSchemasAreFlatObjects(t *testing.T) {
	cat := mustCatalog(t, petsYAML)
	tests := []struct {
		tool, input, output string
	}{
		{"pets.getPet",
			`{"type":"object","properties":{"petId":{"description":"The pet's id.","type":"string"},"verbose":{"type":"boolean"}},"required":["petId"],"additionalProperties":false}`,
			`{"$ref":"#/$defs/Pet"}`},
		{"pets.listPets",
			`{"type":"object","properties":{"limit":{"type":["integer","null"],"exclusiveMinimum":1}},"additionalProperties":false}`,
			`{"type":"array","items":{"$ref":"#/$defs/Pet"}}`},
		{"pets.createPet",
			`{"type":"object","properties":{"body":{"$ref":"#/$defs/NewPet"}},"required":["body"],"additionalProperties":false}`,
			`{"$ref":"#/$defs/Pet"}`},
		{"pets.deletePetsPetId",
			`{"type":"object","properties":{"petId":{"description":"The pet's id.","type":"string"}},"required":["petId"],"additionalProperties":false}`,
			``},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			tool := toolNamed(t, cat, tt.tool)
			if got := string(tool.InputSchema); got != tt.input {
				t.Errorf("input schema\n got %s\nwant %s", got, tt.input)
			}
			if got := string(tool.OutputSchema); got != tt.output {
				t.Errorf("output schema\n got %s\nwant %s", got, tt.output)
			}
		})
	}
}

func TestComponentSchemasBecomeDefinitions(t *testing.T) {
	cat := mustCatalog(t, petsYAML)
	want := map[string]string{
		"Pet":    `{"type":"object","required":["id","name"],"properties":{"id":{"type":"string"},"name":{"type":"string"},"tag":{"type":["string","null"],"enum":["dog","cat",null]},"owner":{"$ref":"#/$defs/Owner"}}}`,
		"Owner":  `{"type":"object","properties":{"name":{"type":"string"},"pets":{"type":"array","items":{"$ref":"#/$defs/Pet"}}}}`,
		"NewPet": `{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"tag":{"type":"string"},"lineage":{"$ref":"#/$defs/Node"}}}`,
		"Node":   `{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/Node"}}}}`,
	}
	if len(cat.Definitions) != len(want) {
		t.Errorf("definitions: %d, want %d", len(cat.Definitions), len(want))
	}
	for name, def := range want {
		if got := string(cat.Definitions[name]); got != def {
			t.Errorf("$defs/%s\n got %s\nwant %s", name, got, def)
		}
	}
}

func TestCircularSchemasRoundTripAndValidate(t *testing.T) {
	cat := mustCatalog(t, petsYAML)
	b, err := json.Marshal(cat)
	if err != nil {
		t.Fatal(err)
	}
	var back integration.Catalog
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, cat) {
		t.Fatal("the catalog does not survive a JSON round trip")
	}
	create := compileInput(t, toolNamed(t, &back, "pets.createPet"), back.Definitions)
	tests := []struct {
		name, args string
		ok         bool
	}{
		{"self-reference three levels deep", `{"body":{"name":"Rex","lineage":{"name":"a","children":[{"name":"b","children":[{"name":"c"}]}]}}}`, true},
		{"wrong type deep inside the recursion", `{"body":{"name":"Rex","lineage":{"children":[{"children":[{"name":7}]}]}}}`, false},
		{"missing required body", `{}`, false},
		{"unknown property", `{"body":{"name":"Rex"},"extra":1}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := validates(create, tt.args); (err == nil) != tt.ok {
				t.Errorf("valid = %v, want %v (%v)", err == nil, tt.ok, err)
			}
		})
	}
	for i := range back.Tools {
		compileInput(t, &back.Tools[i], back.Definitions)
	}
}

func TestYAMLAndJSONDocumentsGiveTheSameCatalog(t *testing.T) {
	fromYAML := mustCatalog(t, petsYAML)
	js, err := toJSON([]byte(petsYAML))
	if err != nil {
		t.Fatal(err)
	}
	fromJSON := mustCatalog(t, string(js))
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		t.Fatal("YAML and JSON forms of one document give different catalogs")
	}
}

const swaggerJSON = `{
  "swagger": "2.0",
  "info": {"title": "Files", "version": "2"},
  "host": "files.example.com",
  "basePath": "/api",
  "schemes": ["https"],
  "securityDefinitions": {
    "key": {"type": "apiKey", "in": "query", "name": "api_key"},
    "oauth": {"type": "oauth2", "flow": "accessCode", "authorizationUrl": "https://files.example.com/oauth/authorize", "tokenUrl": "https://files.example.com/oauth/token", "scopes": {"write": "w", "read": "r"}}
  },
  "paths": {
    "/files": {
      "post": {
        "operationId": "uploadFile",
        "consumes": ["multipart/form-data"],
        "parameters": [
          {"name": "file", "in": "formData", "type": "file", "required": true},
          {"name": "note", "in": "formData", "type": "string"}
        ],
        "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/File"}}}
      }
    },
    "/files/{id}": {
      "put": {
        "operationId": "updateFile",
        "parameters": [
          {"name": "id", "in": "path", "required": true, "type": "string"},
          {"name": "tags", "in": "query", "type": "array", "items": {"type": "string"}, "collectionFormat": "pipes"},
          {"name": "body", "in": "body", "required": true, "schema": {"$ref": "#/definitions/File"}}
        ],
        "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/File"}}}
      }
    }
  },
  "definitions": {
    "File": {"type": "object", "properties": {"id": {"type": "string"}, "size": {"type": "integer", "x-nullable": true}}}
  }
}`

func TestSwagger2IsConvertedToOpenAPI3(t *testing.T) {
	d := mustParse(t, swaggerJSON)
	if got := d.Preview().Servers; !reflect.DeepEqual(got, []string{"https://files.example.com/api"}) {
		t.Errorf("servers = %v", got)
	}
	cat, _ := d.Catalog()
	upload := toolNamed(t, cat, "files.uploadFile")
	var in struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(upload.InputSchema, &in); err != nil {
		t.Fatal(err)
	}
	if _, ok := in.Properties["body"]; !ok {
		t.Fatalf("formData parameters did not become a body: %s", upload.InputSchema)
	}
	var meta opMeta
	_ = json.Unmarshal(upload.Meta, &meta)
	if meta.Body == nil || meta.Body.Types[0] != "multipart/form-data" {
		t.Errorf("body media types = %+v", meta.Body)
	}
	s := compileInput(t, upload, cat.Definitions)
	if err := validates(s, `{"body":{"file":{"name":"a.txt","mimeType":"text/plain","base64":"aGk="},"note":"x"}}`); err != nil {
		t.Errorf("a ToolFile for a file field is refused: %v", err)
	}

	update := toolNamed(t, cat, "files.updateFile")
	_ = json.Unmarshal(update.Meta, &meta)
	if meta.Params[1].Style != "pipeDelimited" {
		t.Errorf("collectionFormat pipes became style %q", meta.Params[1].Style)
	}
	if string(cat.Definitions["File"]) == "" {
		t.Error("definitions did not become $defs")
	}
	auth := d.AuthMethods()
	if len(auth) != 3 || auth[1].Placements[0].Carrier != "query" || auth[2].Template != "oauth-oauth" || auth[2].OAuth.Grant != "authorization_code" {
		t.Errorf("auth methods = %+v", auth)
	}
}

func TestSwagger2InYAML(t *testing.T) {
	doc := `
swagger: 2.0
info: {title: Y, version: '1'}
host: y.example.com
paths:
  /items:
    get:
      operationId: listItems
      produces: [application/json]
      parameters:
        - {name: ids, in: query, type: array, items: {type: integer}, collectionFormat: csv}
      responses:
        200: {description: ok, schema: {type: array, items: {$ref: '#/definitions/Item'}}}
definitions:
  Item: {type: object, properties: {id: {type: integer}}}
`
	cat := mustCatalog(t, doc)
	tool := toolNamed(t, cat, "items.listItems")
	// Converted documents come back from kin-openapi with sorted keys.
	if string(tool.OutputSchema) != `{"items":{"$ref":"#/$defs/Item"},"type":"array"}` {
		t.Errorf("output schema = %s", tool.OutputSchema)
	}
	var meta opMeta
	_ = json.Unmarshal(tool.Meta, &meta)
	if meta.Params[0].Style != "form" || meta.Params[0].Explode || meta.Servers[0].URL != "https://y.example.com/" {
		t.Errorf("meta = %+v", meta)
	}
}

const openAPI31 = `{
  "openapi": "3.1.0",
  "info": {"title": "Thirty-one", "version": "1"},
  "servers": [{"url": "https://{region}.api.example.com/{base}", "variables": {"region": {"default": "us", "enum": ["us", "eu"]}, "base": {"default": "v1"}}}],
  "paths": {
    "/things": {
      "post": {
        "tags": ["Things Store"],
        "operationId": "Things Store_makeThing",
        "requestBody": {"content": {
          "application/json": {"schema": {"$ref": "#/components/schemas/Thing", "description": "The thing."}},
          "application/octet-stream": {}
        }},
        "responses": {"default": {"description": "x", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}
      }
    }
  },
  "components": {"schemas": {
    "Thing": {
      "type": "object",
      "properties": {
        "kind": {"const": "thing"},
        "size": {"type": ["integer", "null"], "exclusiveMinimum": 0},
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]},
        "parent": {"$ref": "#/components/schemas/Thing/properties/pair"},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^(?!x)"}, "examples": [["a"]]}
      }
    }
  }}
}`

func TestOpenAPI31Document(t *testing.T) {
	cat := mustCatalog(t, openAPI31)
	tool := toolNamed(t, cat, "thingsStore.makeThing")
	wantIn := `{"type":"object","properties":{"body":{"$ref":"#/$defs/Thing","description":"The thing."},"bodyBase64":{"type":"string","contentEncoding":"base64","description":"The request body, base64-encoded."},"contentType":{"type":"string","description":"The request body's media type.","enum":["application/json","application/octet-stream"],"default":"application/json"},"server":{"type":"object","description":"Which of the API's servers to call, and its variables; the default is the first server with default variables.","properties":{"url":{"type":"string","enum":["https://{region}.api.example.com/{base}"]},"variables":{"type":"object","properties":{"base":{"type":"string","default":"v1"},"region":{"type":"string","enum":["us","eu"],"default":"us"}},"additionalProperties":false}},"additionalProperties":false}},"additionalProperties":false}`
	if got := string(tool.InputSchema); got != wantIn {
		t.Errorf("input schema\n got %s\nwant %s", got, wantIn)
	}
	if got := string(tool.OutputSchema); got != `{"$ref":"#/$defs/Thing"}` {
		t.Errorf("output schema from the default response = %s", got)
	}
	wantThing := `{"type":"object","properties":{"kind":{"const":"thing"},"size":{"type":["integer","null"],"exclusiveMinimum":0},"pair":{"type":"array","prefixItems":[{"type":"string"},{"type":"number"}]},"parent":{"$ref":"#/$defs/Thing.properties.pair"},"tags":{"type":"array","items":{"type":"string"},"examples":[["a"]]}}}`
	if got := string(cat.Definitions["Thing"]); got != wantThing {
		t.Errorf("$defs/Thing\n got %s\nwant %s", got, wantThing)
	}
	if got := string(cat.Definitions["Thing.properties.pair"]); got != `{"type":"array","prefixItems":[{"type":"string"},{"type":"number"}]}` {
		t.Errorf("a reference into a schema became %s", got)
	}
	compileInput(t, tool, cat.Definitions)
}

func TestOpenAPI30KeywordsBecomeJSONSchema(t *testing.T) {
	tests := []struct {
		name, schema, want string
	}{
		{"nullable type", `{"type":"string","nullable":true}`, `{"type":["string","null"]}`},
		{"nullable enum gains null", `{"type":"string","enum":["a"],"nullable":true}`, `{"type":["string","null"],"enum":["a",null]}`},
		{"nullable without type", `{"allOf":[{"type":"string"}],"nullable":true}`, `{"anyOf":[{"allOf":[{"type":"string"}]},{"type":"null"}]}`},
		{"nullable reference", `{"$ref":"#/components/schemas/S","nullable":true}`, `{"anyOf":[{"$ref":"#/$defs/S"},{"type":"null"}]}`},
		{"siblings of a 3.0 reference are ignored", `{"$ref":"#/components/schemas/S","type":"integer","description":"d"}`, `{"$ref":"#/$defs/S","description":"d"}`},
		{"boolean exclusive bounds", `{"type":"number","minimum":0,"exclusiveMinimum":true,"maximum":9,"exclusiveMaximum":false}`, `{"type":"number","exclusiveMinimum":0,"maximum":9}`},
		{"OpenAPI-only keywords dropped", `{"type":"object","discriminator":{"propertyName":"k"},"xml":{"name":"x"},"externalDocs":{"url":"u"},"example":1,"x-foo":2,"nullable":false}`, `{"type":"object"}`},
		{"binary string accepts a ToolFile", `{"type":"string","format":"binary"}`, `{"anyOf":[{"type":"string","format":"binary"},{"$ref":"#/$defs/ToolFile"}]}`},
		{"type file", `{"type":"file"}`, `{"anyOf":[{"type":"string"},{"$ref":"#/$defs/ToolFile"}]}`},
		{"tuple items", `{"type":"array","items":[{"type":"string"}],"additionalItems":false}`, `{"type":"array","prefixItems":[{"type":"string"}],"items":false}`},
		{"ill-typed keywords dropped", `{"type":"object","required":true,"minLength":-1,"properties":[],"pattern":"(?<=a)b","enum":"x"}`, `{"type":"object"}`},
		{"empty combinators dropped", `{"allOf":[],"anyOf":[],"oneOf":[]}`, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"openapi":"3.0.3","info":{"title":"t","version":"1"},"paths":{"/x":{"post":{"operationId":"op","requestBody":{"content":{"application/json":{"schema":` +
				tt.schema + `}}},"responses":{"200":{"description":"ok"}}}}},"components":{"schemas":{"S":{"type":"string"}}}}`
			cat := mustCatalog(t, doc)
			var in struct {
				Properties map[string]json.RawMessage `json:"properties"`
			}
			_ = json.Unmarshal(cat.Tools[0].InputSchema, &in)
			if got := string(in.Properties["body"]); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
			compileInput(t, &cat.Tools[0], cat.Definitions)
		})
	}
}

func TestPathLevelParametersAndServerVariables(t *testing.T) {
	doc := `
openapi: 3.0.0
info: {title: t, version: '1'}
servers:
  - url: https://{tenant}.example.com/api
    variables:
      tenant: {default: acme}
paths:
  /v2/orgs/{org}/members:
    parameters:
      - {name: org, in: path, required: true, schema: {type: string}}
      - {name: X-Trace, in: header, schema: {type: string}}
      - {name: Authorization, in: header, schema: {type: string}}
    get:
      parameters:
        - {name: X-Trace, in: header, required: true, schema: {type: string, description: overridden}}
        - {name: org, in: query, schema: {type: string}}
        - {name: session, in: cookie, schema: {type: string}}
      responses: {'200': {description: ok}}
`
	cat := mustCatalog(t, doc)
	tool := cat.Tools[0]
	if tool.Name != "orgs.getV2OrgsOrgMembers" {
		t.Errorf("name = %s", tool.Name)
	}
	want := `{"type":"object","properties":{"org":{"type":"string"},"X-Trace":{"type":"string","description":"overridden"},"query_org":{"type":"string"},"session":{"type":"string"},"server":{"type":"object","description":"Which of the API's servers to call, and its variables; the default is the first server with default variables.","properties":{"url":{"type":"string","enum":["https://{tenant}.example.com/api"]},"variables":{"type":"object","properties":{"tenant":{"type":"string","default":"acme"}},"additionalProperties":false}},"additionalProperties":false}},"required":["org","X-Trace"],"additionalProperties":false}`
	if got := string(tool.InputSchema); got != want {
		t.Errorf("input schema\n got %s\nwant %s", got, want)
	}
}

func TestParseRefusesWhatItCannotUse(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "  ", "the document is empty"},
		{"not JSON or YAML", "{nope", "not valid JSON or YAML"},
		{"no version field", `{"info":{"title":"x"}}`, "not an OpenAPI document: no openapi or swagger field"},
		{"a list", `[1,2]`, "not an OpenAPI document: the top level is not an object"},
		{"unsupported version", `{"openapi":"4.0.0"}`, `OpenAPI version "4.0.0" is not supported`},
		{"Swagger 1.2", `{"swagger":"1.2"}`, "Swagger version"},
		{"external file reference", `{"openapi":"3.0.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"$ref":"other.yaml#/R"}}}}}}`,
			`refers to another file or URL ("other.yaml#/R")`},
		{"external URL in a schema", `{"openapi":"3.0.0","info":{"title":"x","version":"1"},"paths":{},"components":{"schemas":{"A":{"$ref":"https://evil.example/s.json"}}}}`,
			"external references are never fetched"},
		{"reference to nothing", `{"openapi":"3.0.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"description":"x","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Missing"}}}}}}}}}`,
			`refers to "#/components/schemas/Missing", which does not exist`},
		{"a reached schema that is not JSON", `{"openapi":"3.0.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"description":"x","content":{"application/json":{"schema":{"$ref":"#/components/schemas/A"}}}}}}}},"components":{"schemas":{"A":{"type":"object",}}}}`,
			"not valid JSON or YAML: schemas A"},
		{"a missing comma", `{"openapi":"3.0.0" "info":{}}`, "not valid JSON or YAML"},
		{"structurally invalid", `{"openapi":"3.0.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"parameters":"nope","responses":{}}}}}`,
			"the OpenAPI document is invalid"},
		{"YAML alias bomb", "openapi: 3.0.0\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n",
			"too many values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestAuthMethodsFromSecuritySchemes(t *testing.T) {
	doc := `
openapi: 3.0.0
info: {title: t, version: '1'}
servers: [{url: 'https://api.example.com'}]
paths: {}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
    basic: {type: http, scheme: Basic}
    key: {type: apiKey, in: header, name: X-Api-Key}
    sameKey: {type: apiKey, in: header, name: X-Api-Key}
    q: {type: apiKey, in: query, name: api_key}
    c: {type: apiKey, in: cookie, name: sid}
    oauth:
      type: oauth2
      flows:
        implicit: {authorizationUrl: 'https://x/a', scopes: {}}
        authorizationCode: {authorizationUrl: '/oauth/authorize', tokenUrl: '/oauth/token', scopes: {'repo': r, 'admin': a}}
    machine:
      type: oauth2
      flows:
        clientCredentials: {tokenUrl: 'https://auth.example.com/token', scopes: {}}
    pw:
      type: oauth2
      flows:
        password: {tokenUrl: 'https://x/t', scopes: {}}
    oidc: {type: openIdConnect, openIdConnectUrl: 'https://x/.well-known/openid-configuration'}
`
	d := mustParse(t, doc)
	got, _ := json.Marshal(d.AuthMethods())
	want := `[{"template":"none","kind":"none","label":"No authentication"},` +
		`{"template":"apikey-0","kind":"apikey","label":"Bearer token (Authorization)","placements":[{"carrier":"header","name":"Authorization","prefix":"Bearer "}]},` +
		`{"template":"apikey-1","kind":"apikey","label":"Basic credential (Authorization)","placements":[{"carrier":"header","name":"Authorization","prefix":"Basic "}]},` +
		`{"template":"apikey-2","kind":"apikey","label":"API key (X-Api-Key)","placements":[{"carrier":"header","name":"X-Api-Key"}]},` +
		`{"template":"apikey-3","kind":"apikey","label":"API key (query parameter api_key)","placements":[{"carrier":"query","name":"api_key"}]},` +
		`{"template":"apikey-4","kind":"apikey","label":"API key (cookie sid; add it as a header manually)"},` +
		`{"template":"oauth-oauth","kind":"oauth","label":"OAuth 2 (oauth)","oauth":{"grant":"authorization_code","authorizationUrl":"https://api.example.com/oauth/authorize","tokenUrl":"https://api.example.com/oauth/token","scopes":["admin","repo"]}},` +
		`{"template":"oauth-machine","kind":"oauth","label":"OAuth 2 client credentials (machine)","oauth":{"grant":"client_credentials","tokenUrl":"https://auth.example.com/token"}}]`
	if string(got) != want {
		t.Errorf("auth methods\n got %s\nwant %s", got, want)
	}
	p := d.Preview()
	if len(p.SecuritySchemes) != 10 || p.SecuritySchemes[0].Name != "bearer" || p.SecuritySchemes[6].Flows[0] != "authorizationCode" {
		t.Errorf("security schemes = %+v", p.SecuritySchemes)
	}
	if len(p.HeaderPresets) != 3 || len(p.OAuth2Presets) != 2 || p.OAuth2Presets[0].SecurityScheme != "oauth" {
		t.Errorf("presets = %+v %+v", p.HeaderPresets, p.OAuth2Presets)
	}
}

func TestPreviewShape(t *testing.T) {
	p := mustParse(t, petsYAML).Preview()
	b, _ := json.Marshal(p)
	var shape map[string]json.RawMessage
	_ = json.Unmarshal(b, &shape)
	for _, key := range []string{"title", "version", "servers", "operationCount", "operations", "tags", "securitySchemes", "authStrategies", "headerPresets", "oauth2Presets"} {
		if _, ok := shape[key]; !ok {
			t.Errorf("preview has no %q", key)
		}
	}
	if p.Title != "Pets API" || p.OperationCount != 4 || p.Servers[0] != "https://api.example.com/v1" {
		t.Errorf("preview = %+v", p)
	}
	want := PreviewOperation{OperationID: "delete__pets__petId_", Method: "delete", Path: "/pets/{petId}", Summary: "Delete a pet", Tags: []string{}, Tool: "pets.deletePetsPetId"}
	if !reflect.DeepEqual(p.Operations[3], want) {
		t.Errorf("operation = %+v, want %+v", p.Operations[3], want)
	}
	if !reflect.DeepEqual(p.Tags, []string{"pets"}) {
		t.Errorf("tags = %v", p.Tags)
	}
}
