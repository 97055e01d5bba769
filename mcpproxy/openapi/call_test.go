package openapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// recorded is what the stub upstream received.
type recorded struct {
	Method string
	URI    string // as sent: escaped path and query
	Header http.Header
	Body   []byte
}

// upstream is a local API stub that records requests.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, recorded{r.Method, r.RequestURI, r.Header.Clone(), body})
		u.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t *testing.T) recorded {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// caller calls the tools of one document against an upstream.
type caller struct {
	t    *testing.T
	cat  *integration.Catalog
	kind Kind
	conn integration.Connection
}

func newCaller(t *testing.T, doc string, cfg Config) *caller {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	cat := mustCatalog(t, doc)
	return &caller{t: t, cat: cat, conn: integration.Connection{Key: "k", Config: raw, HTTP: &http.Client{}, Base: cat}}
}

func (c *caller) call(tool, args string) *integration.Result {
	c.t.Helper()
	res, err := c.kind.Call(context.Background(), &c.conn, toolNamed(c.t, c.cat, tool), json.RawMessage(args))
	if err != nil {
		c.t.Fatalf("Call returned a Go error (defects only): %v", err)
	}
	if _, err := json.Marshal(res); err != nil {
		c.t.Fatalf("the result does not marshal: %v", err)
	}
	return res
}

// wantOK fails unless the call succeeded.
func wantOK(t *testing.T, res *integration.Result) {
	t.Helper()
	if !res.OK {
		t.Fatalf("call failed: %+v", res.Error)
	}
}

// wantError fails unless the call failed with code and a message
// containing msg.
func wantError(t *testing.T, res *integration.Result, code, msg string) {
	t.Helper()
	if res.OK || res.Error == nil {
		t.Fatalf("call succeeded, want %s", code)
	}
	if res.Error.Code != code || !strings.Contains(res.Error.Message, msg) {
		t.Fatalf("error = %s %q, want %s containing %q", res.Error.Code, res.Error.Message, code, msg)
	}
}

const callDoc = `
openapi: 3.0.3
info: {title: Calls, version: '1'}
servers: [{url: 'https://api.example.com/v1'}]
paths:
  /pets/{petId}:
    get:
      operationId: getPet
      tags: [pets]
      parameters:
        - {name: petId, in: path, required: true, schema: {type: string}}
        - {name: verbose, in: query, schema: {type: boolean}}
        - {name: X-Request-Id, in: header, schema: {type: string}}
        - {name: session, in: cookie, schema: {type: string}}
      responses: {'200': {description: ok}}
  /pets:
    post:
      operationId: createPet
      tags: [pets]
      requestBody:
        required: true
        content:
          application/json: {schema: {type: object}}
          application/x-www-form-urlencoded: {schema: {type: object}}
          text/plain: {schema: {type: string}}
          application/xml: {schema: {type: object}}
      responses: {'201': {description: ok}}
  /search:
    get:
      operationId: search
      tags: [search]
      parameters:
        - {name: formExploded, in: query, schema: {type: array, items: {type: string}}}
        - {name: formFlat, in: query, explode: false, schema: {type: array, items: {type: string}}}
        - {name: objExploded, in: query, schema: {type: object}}
        - {name: objFlat, in: query, explode: false, schema: {type: object}}
        - {name: spaced, in: query, style: spaceDelimited, schema: {type: array, items: {type: integer}}}
        - {name: piped, in: query, style: pipeDelimited, schema: {type: array, items: {type: string}}}
        - {name: filter, in: query, style: deepObject, explode: true, schema: {type: object}}
        - {name: q, in: query, schema: {type: string}}
        - {name: json, in: query, content: {application/json: {schema: {type: object}}}}
      responses: {'200': {description: ok}}
  /files:
    post:
      operationId: upload
      tags: [files]
      requestBody:
        content:
          multipart/form-data:
            schema:
              type: object
              properties:
                file: {type: string, format: binary}
                note: {type: string}
      responses: {'200': {description: ok}}
    put:
      operationId: putRaw
      tags: [files]
      requestBody:
        required: true
        content:
          application/octet-stream: {}
      responses: {'200': {description: ok}}
  /matrix/{m}/label/{l}/simple/{s}:
    get:
      operationId: styles
      tags: [styles]
      parameters:
        - {name: m, in: path, required: true, style: matrix, explode: true, schema: {type: array, items: {type: string}}}
        - {name: l, in: path, required: true, style: label, schema: {type: array, items: {type: string}}}
        - {name: s, in: path, required: true, explode: true, schema: {type: object}}
      responses: {'200': {description: ok}}
`

func TestArgumentsMayBeFlatOrInContainers(t *testing.T) {
	up := newUpstream(t, nil)
	c := newCaller(t, callDoc, Config{BaseURL: up.URL + "/base/"})
	tests := []struct{ name, args string }{
		{"flat", `{"petId":"7","verbose":true,"X-Request-Id":"r1","session":"s1"}`},
		{"containers", `{"path":{"petId":"7"},"query":{"verbose":true},"headers":{"x-request-id":"r1"},"cookies":{"session":"s1"}}`},
		{"other container names", `{"pathParams":{"petId":"7"},"queryParams":{"verbose":true},"header":{"X-Request-Id":"r1"},"cookie":{"session":"s1"}}`},
		{"params holds path and query", `{"params":{"petId":"7","verbose":true},"headers":{"X-Request-Id":"r1"},"cookies":{"session":"s1"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOK(t, c.call("pets.getPet", tt.args))
			got := up.last(t)
			if got.Method != "GET" || got.URI != "/base/pets/7?verbose=true" {
				t.Errorf("request = %s %s", got.Method, got.URI)
			}
			if got.Header.Get("X-Request-Id") != "r1" || got.Header.Get("Cookie") != "session=s1" {
				t.Errorf("headers = %v", got.Header)
			}
			if got.Header.Get("User-Agent") != "executor" {
				t.Errorf("User-Agent = %q", got.Header.Get("User-Agent"))
			}
		})
	}
}

func TestFlattenArgsMakesContainersPassTheSchema(t *testing.T) {
	cat := mustCatalog(t, callDoc)
	tool := toolNamed(t, cat, "pets.getPet")
	schema := compileInput(t, tool, cat.Definitions)
	in := `{"path":{"petId":"7"},"query":{"verbose":true},"headers":{"x-request-id":"r1"}}`
	if validates(schema, in) == nil {
		t.Fatal("the schema accepts containers; FlattenArgs would not be needed")
	}
	flat, res, err := Kind{}.FlattenArgs(tool, json.RawMessage(in))
	if err != nil || res != nil {
		t.Fatalf("FlattenArgs = %v, %v", res, err)
	}
	if string(flat) != `{"petId":"7","verbose":true,"X-Request-Id":"r1"}` {
		t.Errorf("flat = %s", flat)
	}
	if err := validates(schema, string(flat)); err != nil {
		t.Errorf("flattened arguments are refused: %v", err)
	}
	create := toolNamed(t, cat, "pets.createPet")
	flat, _, _ = Kind{}.FlattenArgs(create, json.RawMessage(`{"input":{"a":1},"contentType":"text/plain"}`))
	if string(flat) != `{"body":{"a":1},"contentType":"text/plain"}` {
		t.Errorf("flat = %s", flat)
	}
	_, res, _ = Kind{}.FlattenArgs(tool, json.RawMessage(`{"petId":"1","nope":2}`))
	wantError(t, res, "invalid_tool_arguments", `Unknown argument "nope". This operation accepts: petId, verbose, X-Request-Id, session`)
}

func TestInputIsAnAliasOfBody(t *testing.T) {
	up := newUpstream(t, nil)
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	for _, args := range []string{`{"body":{"name":"Rex","age":3}}`, `{"input":{"name":"Rex","age":3}}`} {
		wantOK(t, c.call("pets.createPet", args))
		got := up.last(t)
		if string(got.Body) != `{"name":"Rex","age":3}` || got.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: body %s (%s)", args, got.Body, got.Header.Get("Content-Type"))
		}
	}
}

func TestBadArgumentsNeverReachTheUpstream(t *testing.T) {
	up := newUpstream(t, nil)
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	tests := []struct {
		name, tool, args, msg string
	}{
		{"one unknown argument", "pets.getPet", `{"petId":"1","wrong":1}`,
			`Unknown argument "wrong". This operation accepts: petId, verbose, X-Request-Id, session`},
		{"several unknown arguments", "pets.getPet", `{"petId":"1","b":1,"a":2}`,
			`Unknown arguments "a", "b". This operation accepts: petId, verbose, X-Request-Id, session`},
		{"unknown parameter inside a container", "pets.getPet", `{"petId":"1","query":{"nope":1}}`,
			`Unknown argument "query.nope".`},
		{"a path parameter in the query container", "pets.getPet", `{"query":{"petId":"1"}}`,
			`Unknown argument "query.petId".`},
		{"missing path parameter", "pets.getPet", `{"verbose":true}`, `Missing required parameter "petId".`},
		{"missing required body", "pets.createPet", `{}`, "Missing required request body"},
		{"arguments that are not an object", "pets.getPet", `[1]`, "Tool arguments must be a JSON object."},
		{"a content type the operation does not take", "pets.createPet", `{"body":{},"contentType":"image/png"}`, "contentType must be one of"},
		{"XML body that is not text", "pets.createPet", `{"body":{"a":1},"contentType":"application/xml"}`, "must be a string"},
		{"invalid base64", "files.putRaw", `{"bodyBase64":"***"}`, "bodyBase64 is not valid base64."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, c.call(tt.tool, tt.args), "invalid_tool_arguments", tt.msg)
		})
	}
	if n := up.count(); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}

func TestPathParametersStayInOneSegment(t *testing.T) {
	up := newUpstream(t, nil)
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	tests := []struct{ value, uri string }{
		{"../admin", "/pets/..%2Fadmin"},
		{"a/b", "/pets/a%2Fb"},
		{"%2e%2e", "/pets/%252e%252e"},
		{"..%2f..%2fadmin", "/pets/..%252f..%252fadmin"},
		{"a b?c#d", "/pets/a%20b%3Fc%23d"},
		{"...", "/pets/..."},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			args, _ := json.Marshal(map[string]string{"petId": tt.value})
			wantOK(t, c.call("pets.getPet", string(args)))
			if got := up.last(t).URI; got != tt.uri {
				t.Errorf("URI = %s, want %s", got, tt.uri)
			}
		})
	}
	for _, v := range []string{"..", ".", ""} {
		args, _ := json.Marshal(map[string]string{"petId": v})
		wantError(t, c.call("pets.getPet", string(args)), "invalid_tool_arguments", "must name one path segment")
	}
}

func TestLineBreaksInHeadersAndQueriesAreRejected(t *testing.T) {
	up := newUpstream(t, nil)
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	for _, args := range []string{
		`{"petId":"1","X-Request-Id":"a\r\nX-Evil: 1"}`,
		`{"petId":"1","X-Request-Id":"a\nb"}`,
		`{"petId":"1","session":"a\u0000b"}`,
		`{"petId":"1","query":{"verbose":"x\r\ny"}}`,
	} {
		wantError(t, c.call("pets.getPet", args), "invalid_tool_arguments", "line break or NUL")
	}
	wantError(t, c.call("search.search", `{"filter":{"a\r\nb":"c"}}`), "invalid_tool_arguments", "line break or NUL")
	if up.count() != 0 {
		t.Error("a request with a line break reached the upstream")
	}
}

func TestQueryParameterStyles(t *testing.T) {
	up := newUpstream(t, nil)
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	tests := []struct{ name, args, query string }{
		{"form, exploded array", `{"formExploded":["a","b c"]}`, "formExploded=a&formExploded=b%20c"},
		{"form, array not exploded", `{"formFlat":["a","b,c"]}`, "formFlat=a,b%2Cc"},
		{"form, exploded object", `{"objExploded":{"role":"admin","n":5}}`, "role=admin&n=5"},
		{"form, object not exploded", `{"objFlat":{"role":"admin","n":5}}`, "objFlat=role,admin,n,5"},
		{"spaceDelimited", `{"spaced":[1,2,3]}`, "spaced=1%202%203"},
		{"pipeDelimited", `{"piped":["x","y"]}`, "piped=x%7Cy"},
		{"deepObject, nested", `{"filter":{"color":"red","size":{"min":1,"max":9},"tags":["a","b"]}}`,
			"filter[color]=red&filter[size][min]=1&filter[size][max]=9&filter[tags]=a&filter[tags]=b"},
		{"reserved characters are escaped", `{"q":"a&b=c#d+e"}`, "q=a%26b%3Dc%23d%2Be"},
		{"content-typed parameter is JSON", `{"json":{"a":[1,2]}}`, "json=%7B%22a%22%3A%5B1%2C2%5D%7D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOK(t, c.call("search.search", tt.args))
			if got := up.last(t).URI; got != "/search?"+tt.query {
				t.Errorf("URI = %s\n want /search?%s", got, tt.query)
			}
		})
	}
}

func TestPathParameterStyles(t *testing.T) {
	up := newUpstream(t, nil)
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	wantOK(t, c.call("styles.styles", `{"m":["a","b"],"l":["x","y"],"s":{"k":"v","n":1}}`))
	if got, want := up.last(t).URI, "/matrix/;m=a;m=b/label/.x,y/simple/k=v,n=1"; got != want {
		t.Errorf("URI = %s, want %s", got, want)
	}
}

func TestBodies(t *testing.T) {
	up := newUpstream(t, nil)
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	tests := []struct{ name, tool, args, body, contentType string }{
		{"JSON keeps the caller's order", "pets.createPet", `{"body":{"z":1,"a":[true,null]}}`, `{"z":1,"a":[true,null]}`, "application/json"},
		{"form", "pets.createPet", `{"contentType":"application/x-www-form-urlencoded","body":{"name":"Rex Jr","tags":["a","b"],"owner":{"id":3}}}`,
			"name=Rex+Jr&tags=a&tags=b&owner%5Bid%5D=3", "application/x-www-form-urlencoded"},
		{"text", "pets.createPet", `{"contentType":"text/plain","body":"hello\nworld"}`, "hello\nworld", "text/plain"},
		{"XML as text", "pets.createPet", `{"contentType":"application/xml","body":"<pet><name>Rex</name></pet>"}`, "<pet><name>Rex</name></pet>", "application/xml"},
		{"octet-stream from base64", "files.putRaw", `{"bodyBase64":"AAEC/w=="}`, "\x00\x01\x02\xff", "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOK(t, c.call(tt.tool, tt.args))
			got := up.last(t)
			if string(got.Body) != tt.body || got.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("body %q (%s), want %q (%s)", got.Body, got.Header.Get("Content-Type"), tt.body, tt.contentType)
			}
		})
	}
}

func TestMultipartUploadArrivesIntact(t *testing.T) {
	file := make([]byte, 3000)
	for i := range file {
		file[i] = byte(i * 7)
	}
	type part struct {
		name, filename, contentType string
		data                        []byte
	}
	var parts []part
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			data, _ := io.ReadAll(p)
			parts = append(parts, part{p.FormName(), p.FileName(), p.Header.Get("Content-Type"), data})
		}
		w.WriteHeader(http.StatusOK)
	})
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	args, _ := json.Marshal(map[string]any{"body": map[string]any{
		"file": map[string]string{"name": "photo.bin", "mimeType": "image/x-test", "base64": base64.StdEncoding.EncodeToString(file)},
		"note": "a note",
	}})
	// The schema accepts the ToolFile the gateway validates against.
	compileInput(t, toolNamed(t, c.cat, "files.upload"), c.cat.Definitions)
	if err := validates(compileInput(t, toolNamed(t, c.cat, "files.upload"), c.cat.Definitions), string(args)); err != nil {
		t.Fatalf("the gateway would refuse the upload: %v", err)
	}
	wantOK(t, c.call("files.upload", string(args)))
	if len(parts) != 2 {
		t.Fatalf("parts = %+v", parts)
	}
	if p := parts[0]; p.name != "file" || p.filename != "photo.bin" || p.contentType != "image/x-test" || !bytes.Equal(p.data, file) {
		t.Errorf("file part = %s %s %s, %d bytes intact=%v", p.name, p.filename, p.contentType, len(p.data), bytes.Equal(p.data, file))
	}
	if p := parts[1]; p.name != "note" || string(p.data) != "a note" {
		t.Errorf("field part = %+v", p)
	}
}

const sentinel = "sk-SENTINEL-0123456789"

func TestCredentialIsPlacedLastAndNeverShown(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		// A hostile upstream echoes the credential everywhere.
		w.Header().Set("X-Echo", r.Header.Get("X-Api-Key")+r.URL.Query().Get("api_key"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":"bad key ` + r.Header.Get("X-Api-Key") + r.URL.Query().Get("api_key") + `"}`))
	})
	tests := []struct {
		name      string
		cred      integration.Credential
		checkSent func(recorded) bool
	}{
		{"header with prefix", integration.Credential{Values: map[string]string{"token": sentinel}, Placements: []integration.Placement{{Carrier: "header", Name: "X-Api-Key", Prefix: "Key "}}},
			func(r recorded) bool { return r.Header.Get("X-Api-Key") == "Key "+sentinel }},
		{"query parameter", integration.Credential{Values: map[string]string{"token": sentinel}, Placements: []integration.Placement{{Carrier: "query", Name: "api_key"}}},
			func(r recorded) bool {
				return strings.Contains(r.URI, "api_key="+sentinel) && strings.Contains(r.URI, "verbose=true")
			}},
		{"OAuth access token", integration.Credential{AccessToken: sentinel},
			func(r recorded) bool { return r.Header.Get("Authorization") == "Bearer "+sentinel }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The integration's static header loses to the credential.
			c := newCaller(t, callDoc, Config{BaseURL: up.URL, Headers: map[string]string{"X-Api-Key": "static", "X-Static": "1"}, QueryParams: map[string]string{"fmt": "json"}})
			c.conn.Credential = tt.cred
			res := c.call("pets.getPet", `{"petId":"1","verbose":true}`)
			got := up.last(t)
			if !tt.checkSent(got) {
				t.Errorf("credential not placed: %s %v", got.URI, got.Header)
			}
			if got.Header.Get("X-Static") != "1" || !strings.Contains(got.URI, "fmt=json") {
				t.Errorf("static header or query missing: %s %v", got.URI, got.Header)
			}
			wantError(t, res, "upstream_http_error", "bad key")
			b, _ := json.Marshal(res)
			if strings.Contains(string(b), sentinel) {
				t.Errorf("the secret is in the result: %s", b)
			}
		})
	}
}

func TestEchoedCredentialIsRedactedFromSuccessfulResults(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"you sent":"` + r.Header.Get("Authorization") + `"}`))
	})
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	c.conn.Credential = integration.Credential{AccessToken: sentinel}
	res := c.call("pets.getPet", `{"petId":"1"}`)
	wantOK(t, res)
	b, _ := json.Marshal(res)
	if strings.Contains(string(b), sentinel) || !strings.Contains(string(b), `"you sent":"Bearer [REDACTED]"`) {
		t.Errorf("result = %s", b)
	}
}

func TestTransportErrorsNameTheHostNotTheURL(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c := newCaller(t, callDoc, Config{BaseURL: "http://" + addr})
	c.conn.Credential = integration.Credential{Values: map[string]string{"token": sentinel}, Placements: []integration.Placement{{Carrier: "query", Name: "api_key"}}}
	res := c.call("pets.getPet", `{"petId":"1"}`)
	wantError(t, res, "upstream_unreachable", "Could not reach "+addr)
	if strings.Contains(res.Error.Message, sentinel) || strings.Contains(res.Error.Message, "api_key") || strings.Contains(res.Error.Message, "/pets/") {
		t.Errorf("message leaks the URL: %s", res.Error.Message)
	}

	// The egress guard's refusal is reported the same way.
	c.conn.HTTP = &http.Client{Transport: refusing{}}
	res = c.call("pets.getPet", `{"petId":"1"}`)
	wantError(t, res, "upstream_unreachable", "refused by the egress policy")
	if strings.Contains(res.Error.Message, sentinel) {
		t.Errorf("message leaks the secret: %s", res.Error.Message)
	}
}

// refusing is a transport that refuses like the gateway's egress guard,
// quoting the URL (as a careless one might).
type refusing struct{}

func (refusing) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errString("refused by the egress policy: " + r.URL.String())}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestResponsesMapToTheResultUnion(t *testing.T) {
	binary := []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xff}
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pets/json":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Add("Link", `<https://api.example.com/pets?page=2>; rel="next"`)
			w.Header().Add("Link", `<https://api.example.com/pets?page=9>; rel="last"`)
			_, _ = w.Write([]byte(`{"zeta":1,"alpha":{"b":2,"a":1},"n":1.50}`))
		case "/pets/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/pets/text":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("plain words"))
		case "/pets/binary":
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Content-Disposition", `attachment; filename="pet.png"`)
			_, _ = w.Write(binary)
		case "/pets/missing":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"nope"}`))
		case "/pets/html":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<h1>" + strings.Repeat("x", 3000) + "</h1>"))
		case "/pets/unauthorized":
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("token expired"))
		case "/pets/scope":
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="repo"`)
			w.WriteHeader(http.StatusForbidden)
		case "/pets/forbidden":
			w.WriteHeader(http.StatusForbidden)
		case "/pets/limited":
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	get := func(id string) *integration.Result { return c.call("pets.getPet", `{"petId":"`+id+`"}`) }

	t.Run("200 JSON passes through untouched", func(t *testing.T) {
		res := get("json")
		wantOK(t, res)
		raw, ok := res.Data.(json.RawMessage)
		if !ok || string(raw) != `{"zeta":1,"alpha":{"b":2,"a":1},"n":1.50}` {
			t.Errorf("data = %#v", res.Data)
		}
		if res.HTTP.Status != 200 || res.HTTP.Headers["content-type"] != "application/json; charset=utf-8" {
			t.Errorf("http = %+v", res.HTTP)
		}
		if got := res.HTTP.Headers["link"]; got != `<https://api.example.com/pets?page=2>; rel="next", <https://api.example.com/pets?page=9>; rel="last"` {
			t.Errorf("link header = %q", got)
		}
		b, _ := json.Marshal(res)
		if !strings.HasPrefix(string(b), `{"ok":true,"data":{"zeta":1,"alpha":{"b":2,"a":1},"n":1.50},"http":{"status":200,`) {
			t.Errorf("marshalled = %s", b)
		}
	})
	t.Run("204 is null", func(t *testing.T) {
		res := get("empty")
		wantOK(t, res)
		if b, _ := json.Marshal(res); !strings.HasPrefix(string(b), `{"ok":true,"data":null,"http":{"status":204`) {
			t.Errorf("marshalled = %s", b)
		}
	})
	t.Run("text is a string", func(t *testing.T) {
		if res := get("text"); res.Data != "plain words" {
			t.Errorf("data = %#v", res.Data)
		}
	})
	t.Run("binary is a ToolFile", func(t *testing.T) {
		res := get("binary")
		b, _ := json.Marshal(res.Data)
		want := `{"name":"pet.png","mimeType":"image/png","size":8,"base64":"` + base64.StdEncoding.EncodeToString(binary) + `"}`
		if string(b) != want {
			t.Errorf("data = %s, want %s", b, want)
		}
	})
	t.Run("404 is upstream_http_error with the body as details", func(t *testing.T) {
		res := get("missing")
		b, _ := json.Marshal(res)
		if string(b) != `{"ok":false,"error":{"code":"upstream_http_error","message":"{\"error\":\"nope\"}","status":404,"details":{"error":"nope"}}}` {
			t.Errorf("result = %s", b)
		}
	})
	t.Run("502 is retryable and its message capped", func(t *testing.T) {
		res := get("html")
		wantError(t, res, "upstream_http_error", "<h1>xxx")
		if !res.Error.Retryable || res.Error.Status != 502 || len(res.Error.Message) > maxMessage+4 {
			t.Errorf("error = %+v (message %d bytes)", res.Error, len(res.Error.Message))
		}
	})
	t.Run("401 rejects the connection", func(t *testing.T) {
		res := get("unauthorized")
		wantError(t, res, "connection_rejected", "token expired")
		if res.Error.Status != 401 {
			t.Errorf("status = %d", res.Error.Status)
		}
	})
	t.Run("403 rejects the connection", func(t *testing.T) {
		wantError(t, get("forbidden"), "connection_rejected", "HTTP 403")
	})
	t.Run("403 with insufficient_scope asks for a scope", func(t *testing.T) {
		wantError(t, get("scope"), "oauth_scope_insufficient", "lacks a scope")
	})
	t.Run("429 is retryable", func(t *testing.T) {
		res := get("limited")
		wantError(t, res, "upstream_http_error", "429 Too Many Requests")
		if !res.Error.Retryable {
			t.Error("429 is not retryable")
		}
	})
}

func TestTimeoutsAreResults(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pets/slow-headers":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/pets/trickle":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			for i := 0; i < 100; i++ {
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-time.After(50 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
		case "/pets/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			for i := 0; ; i++ {
				if _, err := w.Write([]byte("data: tick\n\n")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-time.After(20 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
		}
	})
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	c.kind = Kind{HeadersTimeout: 200 * time.Millisecond, BodyTimeout: 300 * time.Millisecond, StreamTimeout: 250 * time.Millisecond}

	start := time.Now()
	res := c.call("pets.getPet", `{"petId":"slow-headers"}`)
	wantError(t, res, "upstream_response_headers_timeout", "did not answer within 200ms")
	if !res.Error.Retryable || time.Since(start) > 5*time.Second {
		t.Errorf("retryable %v after %s", res.Error.Retryable, time.Since(start))
	}

	res = c.call("pets.getPet", `{"petId":"trickle"}`)
	wantError(t, res, "upstream_response_body_timeout", "did not finish sending its response within 300ms")
	if !res.Error.Retryable {
		t.Error("a body timeout is not retryable")
	}

	// A stream is returned as far as it got when its window closes.
	res = c.call("pets.getPet", `{"petId":"stream"}`)
	wantOK(t, res)
	if s, _ := res.Data.(string); !strings.HasPrefix(s, "data: tick\n\n") {
		t.Errorf("stream data = %q", res.Data)
	}

	// The caller giving up is not an upstream failure.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	out, err := c.kind.Call(ctx, &c.conn, toolNamed(t, c.cat, "pets.getPet"), json.RawMessage(`{"petId":"slow-headers"}`))
	if err != nil || out.Error == nil || out.Error.Code != "request_cancelled" {
		t.Errorf("cancelled call = %+v, %v", out, err)
	}
}

func TestResponseBodiesAreCapped(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/pets/stream" {
			w.Header().Set("Content-Type", "application/x-ndjson")
		}
		_, _ = w.Write(bytes.Repeat([]byte(`{"x":1}`+"\n"), 10_000))
	})
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	c.kind = Kind{MaxResponseBytes: 1 << 10, StreamBytes: 100}
	wantError(t, c.call("pets.getPet", `{"petId":"big"}`), "upstream_response_too_large", "larger than")
	res := c.call("pets.getPet", `{"petId":"stream"}`)
	wantOK(t, res)
	if s, _ := res.Data.(string); len(s) != 100 {
		t.Errorf("stream data: %d bytes, want the 100-byte cap", len(s))
	}
}

const serversDoc = `
openapi: 3.0.3
info: {title: Servers, version: '1'}
servers:
  - url: 'http://{host}:{port}/{base}'
    variables:
      host: {default: 127.0.0.1}
      port: {default: 'PORT', enum: ['PORT', 'OTHER']}
      base: {default: api}
  - url: /relative/v2
paths:
  /things/{id}:
    get:
      operationId: getThing
      tags: [things]
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {'200': {description: ok}}
`

func TestServerArgumentsCannotChangeTheHost(t *testing.T) {
	up := newUpstream(t, nil)
	other := newUpstream(t, nil)
	port := up.URL[strings.LastIndexByte(up.URL, ':')+1:]
	otherPort := other.URL[strings.LastIndexByte(other.URL, ':')+1:]
	doc := strings.NewReplacer("'PORT'", "'"+port+"'", "'OTHER'", "'"+otherPort+"'").Replace(serversDoc)
	c := newCaller(t, doc, Config{SourceURL: up.URL + "/specs/openapi.yaml"})

	tests := []struct {
		name, args, uri string
		to              *upstream
	}{
		{"defaults", `{"id":"1"}`, "/api/things/1", up},
		{"a path variable", `{"id":"1","server":{"variables":{"base":"v9"}}}`, "/v9/things/1", up},
		{"a declared port", `{"id":"1","server":{"variables":{"port":"` + otherPort + `"}}}`, "/api/things/1", other},
		{"a relative server resolves against the document's URL", `{"id":"1","server":{"url":"/relative/v2"}}`, "/relative/v2/things/1", up},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOK(t, c.call("things.getThing", tt.args))
			if got := tt.to.last(t).URI; got != tt.uri {
				t.Errorf("URI = %s, want %s", got, tt.uri)
			}
		})
	}

	refused := []struct{ name, args, msg string }{
		{"another host", `{"id":"1","server":{"variables":{"host":"169.254.169.254"}}}`, "cannot change the API's scheme, host or port"},
		{"a host smuggled through a path variable", `{"id":"1","server":{"variables":{"base":"@evil.example"}}}`, ""},
		{"an undeclared port", `{"id":"1","server":{"variables":{"port":"22"}}}`, "must be one of"},
		{"a path traversal", `{"id":"1","server":{"variables":{"base":"../admin"}}}`, "cannot hold"},
		{"an unknown server", `{"id":"1","server":{"url":"http://evil.example"}}`, "server.url must be one of"},
		{"an unknown variable", `{"id":"1","server":{"variables":{"scheme":"https"}}}`, "has no variable"},
	}
	before := up.count() + other.count()
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			res := c.call("things.getThing", tt.args)
			if res.OK {
				// A path variable may hold "@": it stays in the path.
				if got := up.last(t).URI; !strings.HasPrefix(got, "/%40evil.example/") && !strings.HasPrefix(got, "/@evil.example/") {
					t.Errorf("went to %s", got)
				}
				before++
				return
			}
			wantError(t, res, "invalid_tool_arguments", tt.msg)
		})
	}
	if up.count()+other.count() != before {
		t.Error("a refused server choice reached an upstream")
	}

	// baseUrl replaces the servers; the server argument is then ignored.
	c2 := newCaller(t, doc, Config{BaseURL: other.URL + "/fixed"})
	wantOK(t, c2.call("things.getThing", `{"id":"2","server":{"variables":{"base":"v9"}}}`))
	if got := other.last(t).URI; got != "/fixed/things/2" {
		t.Errorf("URI = %s", got)
	}
	// Without baseUrl or a document URL a relative server cannot be used.
	c3 := newCaller(t, doc, Config{})
	wantError(t, c3.call("things.getThing", `{"id":"2","server":{"url":"/relative/v2"}}`), "integration_misconfigured", "set the integration's baseUrl")
}

func TestRedirectsToAnotherHostAreNotFollowed(t *testing.T) {
	elsewhere := newUpstream(t, nil)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pets/away":
			http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusFound)
		case "/pets/here":
			http.Redirect(w, r, "/pets/json", http.StatusFound)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"moved":true}`))
		}
	})
	c := newCaller(t, callDoc, Config{BaseURL: up.URL})
	c.conn.Credential = integration.Credential{Values: map[string]string{"token": sentinel}, Placements: []integration.Placement{{Carrier: "header", Name: "X-Api-Key"}}}
	wantError(t, c.call("pets.getPet", `{"petId":"away"}`), "upstream_http_error", "redirects that leave the API's host are not followed")
	if elsewhere.count() != 0 {
		t.Error("the credential followed a redirect to another host")
	}
	res := c.call("pets.getPet", `{"petId":"here"}`)
	wantOK(t, res)
	if got := up.last(t); got.URI != "/pets/json" || got.Header.Get("X-Api-Key") != sentinel {
		t.Errorf("same-host redirect: %s %v", got.URI, got.Header)
	}
}

func TestProduceReturnsTheCatalogBuiltAtAddTime(t *testing.T) {
	cat := mustCatalog(t, petsYAML)
	got, err := Kind{}.Produce(context.Background(), &integration.Connection{Base: cat})
	if err != nil || got != cat {
		t.Errorf("Produce = %v, %v", got, err)
	}
	if _, err := (Kind{}).Produce(context.Background(), &integration.Connection{}); err == nil {
		t.Error("Produce without a catalog succeeded")
	}
	if (Kind{}).Name() != "openapi" {
		t.Error("name")
	}
}

func TestFetch(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/openapi.yaml":
			w.Header().Set("Content-Type", "application/yaml")
			_, _ = w.Write([]byte(petsYAML))
		case "/page":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte("<html>"))
		case "/big":
			_, _ = w.Write(make([]byte, maxDocumentBytes+1))
		default:
			http.NotFound(w, r)
		}
	})
	data, err := Fetch(context.Background(), &http.Client{}, up.URL+"/openapi.yaml?key=secret")
	if err != nil || string(data) != petsYAML {
		t.Fatalf("Fetch = %d bytes, %v", len(data), err)
	}
	tests := []struct{ path, msg string }{
		{"/missing?key=secret", "the server answered 404 Not Found"},
		{"/page", "returned an HTML page"},
		{"/big", "larger than 32 MiB"},
	}
	for _, tt := range tests {
		_, err := Fetch(context.Background(), &http.Client{}, up.URL+tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.msg) || strings.Contains(err.Error(), "secret") {
			t.Errorf("Fetch %s: %v, want %q", tt.path, err, tt.msg)
		}
	}
	if _, err := Fetch(context.Background(), &http.Client{}, "file:///etc/passwd"); err == nil {
		t.Error("Fetch accepted a file URL")
	}
}

// Target is what a person approving the call sees: the request's method
// and URL, never the credential, even one that travels in the query.
func TestTargetIsTheRequestWithoutTheCredential(t *testing.T) {
	c := newCaller(t, callDoc, Config{BaseURL: "https://api.example/base/"})
	c.conn.Credential = integration.Credential{Values: map[string]string{"token": "SENTINEL-key"},
		Placements: []integration.Placement{{Carrier: "query", Name: "api_key"}}}
	tool := toolNamed(t, c.cat, "pets.getPet")
	tests := []struct{ name, args, want string }{
		{"flat arguments", `{"petId":"7","verbose":true}`, "GET https://api.example/base/pets/7?verbose=true"},
		{"containers", `{"path":{"petId":"a b"}}`, "GET https://api.example/base/pets/a%20b"},
		{"arguments that make no request", `{"verbose":true}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.kind.Target(&c.conn, tool, json.RawMessage(tt.args))
			if got != tt.want || strings.Contains(got, "SENTINEL") {
				t.Fatalf("Target = %q, want %q", got, tt.want)
			}
		})
	}
}
