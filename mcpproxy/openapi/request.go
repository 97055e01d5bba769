package openapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/valyala/fastjson"
)

// buildRequest turns sorted arguments into the HTTP request, without the
// credential (Call applies it last).
func buildRequest(ctx context.Context, m *opMeta, cfg *Config, a *callArgs) (*http.Request, *integration.Result) {
	base, res := baseURL(m, cfg, a.server)
	if res != nil {
		return nil, res
	}

	// Path: each parameter value stays inside its own segment.
	var path strings.Builder
	tmpl := m.Path
	for {
		i := strings.IndexByte(tmpl, '{')
		j := strings.IndexByte(tmpl[max(i, 0):], '}')
		if i < 0 || j < 0 {
			path.WriteString(escapeLiteralPath(tmpl))
			break
		}
		j += i
		path.WriteString(escapeLiteralPath(tmpl[:i]))
		name := tmpl[i+1 : j]
		tmpl = tmpl[j+1:]
		idx := -1
		for k, p := range m.Params {
			if p.In == "path" && p.Name == name {
				idx = k
			}
		}
		if idx < 0 || a.params[idx] == nil {
			return nil, invalidArgs(fmt.Sprintf("Missing required parameter %q.", name))
		}
		seg := pathValue(m.Params[idx], a.params[idx])
		if seg == "" || seg == "." || seg == ".." {
			return nil, invalidArgs(fmt.Sprintf("Path parameter %q cannot be %q: it must name one path segment.", name, seg))
		}
		path.WriteString(seg)
	}

	// Query: the server URL's own, the parameters, then the integration's.
	var query []string
	if base.RawQuery != "" {
		query = append(query, base.RawQuery)
	}
	header := http.Header{}
	header.Set("User-Agent", "executor")
	if m.Accept != "" {
		header.Set("Accept", m.Accept)
	}
	var cookies []string
	for i, p := range m.Params {
		v := a.params[i]
		if v == nil || p.In == "path" {
			continue
		}
		if hasBreakValue(v) {
			return nil, invalidArgs(fmt.Sprintf("Parameter %q contains a line break or NUL character, which cannot be sent.", p.key()))
		}
		switch p.In {
		case "query":
			query = append(query, queryPairs(p, v)...)
		case "header":
			header.Set(p.Name, headerValue(p, v))
		case "cookie":
			cookies = append(cookies, cookiePair(p, v))
		}
	}
	if len(cookies) > 0 {
		header.Set("Cookie", strings.Join(cookies, "; "))
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.QueryParams)) {
		query = append(query, queryEscape(name, false)+"="+queryEscape(cfg.QueryParams[name], false))
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Headers)) {
		v := cfg.Headers[name]
		if hasBreak(v) || hasBreak(name) || name == "" {
			return nil, integration.Fail("integration_misconfigured", fmt.Sprintf("The integration's header %q has an invalid name or value; fix it in the integration's settings.", name))
		}
		header.Set(name, v)
	}

	full := base.Scheme + "://" + base.Host + strings.TrimSuffix(base.EscapedPath(), "/") + path.String()
	if len(query) > 0 {
		full += "?" + strings.Join(query, "&")
	}
	u, err := url.Parse(full)
	if err != nil {
		return nil, invalidArgs("The arguments do not make a valid URL: " + err.Error())
	}

	body, contentType, res := requestBody(m, a)
	if res != nil {
		return nil, res
	}
	req, err := http.NewRequestWithContext(ctx, m.Method, u.String(), nil)
	if err != nil {
		return nil, invalidArgs("The arguments do not make a valid request: " + err.Error())
	}
	req.URL = u
	req.Header = header
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// escapeLiteralPath escapes the template's own text (it may hold spaces),
// keeping its slashes.
func escapeLiteralPath(s string) string {
	if s == "" {
		return ""
	}
	u := url.URL{Path: s}
	return u.EscapedPath()
}

func hasBreakValue(v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeString:
		return hasBreak(string(v.GetStringBytes()))
	case fastjson.TypeArray:
		for _, item := range v.GetArray() {
			if hasBreakValue(item) {
				return true
			}
		}
	case fastjson.TypeObject:
		found := false
		v.GetObject().Visit(func(k []byte, item *fastjson.Value) {
			found = found || hasBreak(string(k)) || hasBreakValue(item)
		})
		return found
	}
	return false
}

// baseURL is the integration's baseUrl, else the chosen server with its
// variables substituted. Arguments can never change the scheme, host or
// port (security F11): the result must have the origin of one of the
// document's servers (with its declared variable values).
func baseURL(m *opMeta, cfg *Config, arg *fastjson.Value) (*url.URL, *integration.Result) {
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, integration.Fail("integration_misconfigured", fmt.Sprintf("The integration's baseUrl %q is not an absolute http(s) URL; fix it in the integration's settings.", cfg.BaseURL))
		}
		return u, nil
	}
	servers := m.Servers
	if len(servers) == 0 {
		servers = []serverMeta{{URL: "/"}}
	}
	chosen := servers[0]
	var vars *fastjson.Object
	if arg != nil {
		if arg.Type() != fastjson.TypeObject {
			return nil, invalidArgs(`Argument "server" must be an object: { url?, variables? }.`)
		}
		if want := arg.Get("url"); want != nil {
			found := false
			for _, s := range servers {
				if s.URL == string(want.GetStringBytes()) {
					chosen, found = s, true
				}
			}
			if !found {
				urls := make([]string, len(servers))
				for i, s := range servers {
					urls[i] = s.URL
				}
				return nil, invalidArgs("server.url must be one of: " + strings.Join(urls, ", "))
			}
		}
		vars = arg.GetObject("variables")
	}
	values := map[string]string{}
	for name, v := range chosen.Variables {
		values[name] = v.Default
	}
	var bad *integration.Result
	vars.Visit(func(k []byte, v *fastjson.Value) {
		name, value := string(k), string(v.GetStringBytes())
		def, ok := chosen.Variables[name]
		switch {
		case bad != nil:
		case !ok:
			bad = invalidArgs(fmt.Sprintf("The server %s has no variable %q.", chosen.URL, name))
		case len(def.Enum) > 0 && !contains(def.Enum, value):
			bad = invalidArgs(fmt.Sprintf("Server variable %q must be one of: %s", name, strings.Join(def.Enum, ", ")))
		case hasDotSegment(value) || hasBreak(value):
			bad = invalidArgs(fmt.Sprintf("Server variable %q cannot hold %q.", name, value))
		default:
			values[name] = value
		}
	})
	if bad != nil {
		return nil, bad
	}
	u, err := resolveServer(substitute(chosen.URL, values, true), cfg.SourceURL)
	if err != nil {
		return nil, integration.Fail("integration_misconfigured", err.Error())
	}
	if !allowedOrigins(servers, cfg.SourceURL)[origin(u)] {
		return nil, invalidArgs("The server arguments would send the request to another host; arguments cannot change the API's scheme, host or port.")
	}
	return u, nil
}

func hasDotSegment(s string) bool {
	for _, seg := range strings.Split(s, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// substitute fills a server URL template's {variables}; escaped values
// cannot add a query, fragment or user info.
func substitute(tmpl string, values map[string]string, escape bool) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		j := strings.IndexByte(tmpl[max(i, 0):], '}')
		if i < 0 || j < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j += i
		b.WriteString(tmpl[:i])
		v := values[tmpl[i+1:j]]
		if escape {
			v = strings.ReplaceAll(url.PathEscape(v), "%2F", "/")
		}
		b.WriteString(v)
		tmpl = tmpl[j+1:]
	}
}

// resolveServer makes a server URL absolute against the document's source.
func resolveServer(s, source string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("The API's server URL %q is not a valid URL; set the integration's baseUrl.", s)
	}
	if !u.IsAbs() {
		src, err := url.Parse(source)
		if source == "" || err != nil || !src.IsAbs() {
			return nil, fmt.Errorf("The API's server URL %q is relative and the integration has no source URL to resolve it against; set the integration's baseUrl.", s)
		}
		u = src.ResolveReference(u)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("The API's server URL %q is not an http(s) URL; set the integration's baseUrl.", s)
	}
	return u, nil
}

func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// allowedOrigins are the origins the document's servers can have: each
// with its default variable values, and with each declared enum value.
func allowedOrigins(servers []serverMeta, source string) map[string]bool {
	out := map[string]bool{}
	for _, s := range servers {
		combos := []map[string]string{{}}
		names := make([]string, 0, len(s.Variables))
		for name := range s.Variables {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			v := s.Variables[name]
			choices := append([]string{v.Default}, v.Enum...)
			var next []map[string]string
			for _, c := range combos {
				for _, choice := range choices {
					if len(next) >= 256 {
						break
					}
					m := map[string]string{name: choice}
					for k, x := range c {
						m[k] = x
					}
					next = append(next, m)
				}
			}
			combos = next
		}
		for _, c := range combos {
			if u, err := resolveServer(substitute(s.URL, c, false), source); err == nil {
				out[origin(u)] = true
			}
		}
	}
	return out
}

// requestBody encodes the body for its media type.
func requestBody(m *opMeta, a *callArgs) ([]byte, string, *integration.Result) {
	if m.Body == nil || (a.body == nil && a.bodyBase64 == nil) {
		return nil, "", nil
	}
	mt := ""
	if a.contentType != "" {
		if !contains(m.Body.Types, a.contentType) {
			return nil, "", invalidArgs("contentType must be one of: " + strings.Join(m.Body.Types, ", "))
		}
		mt = a.contentType
	} else {
		for _, t := range m.Body.Types {
			if (classify(t) == mediaBinary) == (a.body == nil) {
				mt = t
				break
			}
		}
	}
	if mt == "" {
		mt = m.Body.Types[0]
	}
	kind := classify(mt)
	if kind == mediaBinary {
		if a.bodyBase64 == nil {
			if a.body != nil {
				if data, ok := toolFileData(a.body); ok {
					return data, mt, nil
				}
			}
			return nil, "", invalidArgs(fmt.Sprintf("The request body for %s must be given as bodyBase64.", mt))
		}
		data, ok := decodeBase64(string(a.bodyBase64.GetStringBytes()))
		if !ok || a.bodyBase64.Type() != fastjson.TypeString {
			return nil, "", invalidArgs("bodyBase64 is not valid base64.")
		}
		return data, mt, nil
	}
	if a.body == nil {
		return nil, "", invalidArgs(fmt.Sprintf("The request body for %s must be given as body.", mt))
	}
	switch kind {
	case mediaJSON:
		if strings.Contains(mt, "*") {
			mt = "application/json"
		}
		return a.body.MarshalTo(nil), mt, nil
	case mediaForm:
		if a.body.Type() != fastjson.TypeObject {
			return nil, "", invalidArgs("The request body for application/x-www-form-urlencoded must be an object of fields.")
		}
		var pairs []string
		a.body.GetObject().Visit(func(k []byte, v *fastjson.Value) {
			formField(string(k), v, &pairs)
		})
		return []byte(strings.Join(pairs, "&")), mt, nil
	case mediaMultipart:
		return multipartBody(a.body)
	default: // text, XML
		if a.body.Type() == fastjson.TypeString {
			return a.body.GetStringBytes(), mt, nil
		}
		if strings.Contains(mt, "xml") || a.body.Type() == fastjson.TypeObject || a.body.Type() == fastjson.TypeArray {
			return nil, "", invalidArgs(fmt.Sprintf("The request body for %s must be a string.", mt))
		}
		return []byte(scalar(a.body)), mt, nil
	}
}

// formField writes one urlencoded field: arrays repeat the name, objects
// use name[key] (as deepObject does).
func formField(name string, v *fastjson.Value, out *[]string) {
	switch v.Type() {
	case fastjson.TypeNull:
	case fastjson.TypeArray:
		for _, item := range v.GetArray() {
			formField(name, item, out)
		}
	case fastjson.TypeObject:
		v.GetObject().Visit(func(k []byte, item *fastjson.Value) {
			formField(name+"["+string(k)+"]", item, out)
		})
	default:
		*out = append(*out, url.QueryEscape(name)+"="+url.QueryEscape(scalar(v)))
	}
}

// multipartBody writes a multipart/form-data body: ToolFile objects
// ({name, mimeType, base64}) become file parts, other objects JSON parts,
// arrays one part per item.
func multipartBody(body *fastjson.Value) ([]byte, string, *integration.Result) {
	if body.Type() != fastjson.TypeObject {
		return nil, "", invalidArgs("The request body for multipart/form-data must be an object of fields.")
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	var bad *integration.Result
	var part func(name string, v *fastjson.Value)
	part = func(name string, v *fastjson.Value) {
		if bad != nil {
			return
		}
		switch v.Type() {
		case fastjson.TypeNull:
		case fastjson.TypeArray:
			for _, item := range v.GetArray() {
				part(name, item)
			}
		case fastjson.TypeObject:
			if data, ok := toolFileData(v); ok {
				filename := string(v.GetStringBytes("name"))
				if filename == "" {
					filename = name
				}
				mime := string(v.GetStringBytes("mimeType"))
				if mime == "" {
					mime = "application/octet-stream"
				}
				h := textproto.MIMEHeader{}
				h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, quoteEscape(name), quoteEscape(filename)))
				h.Set("Content-Type", mime)
				pw, _ := w.CreatePart(h)
				_, _ = pw.Write(data)
				return
			}
			if v.Get("base64") != nil {
				bad = invalidArgs(fmt.Sprintf("The file in field %q is not valid base64.", name))
				return
			}
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"`, quoteEscape(name)))
			h.Set("Content-Type", "application/json")
			pw, _ := w.CreatePart(h)
			_, _ = pw.Write(v.MarshalTo(nil))
		default:
			_ = w.WriteField(name, scalar(v))
		}
	}
	body.GetObject().Visit(func(k []byte, v *fastjson.Value) { part(string(k), v) })
	if bad != nil {
		return nil, "", bad
	}
	_ = w.Close()
	return buf.Bytes(), w.FormDataContentType(), nil
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "%0D", "\n", "%0A")

func quoteEscape(s string) string { return quoteEscaper.Replace(s) }

// toolFileData decodes a ToolFile object's base64 content.
func toolFileData(v *fastjson.Value) ([]byte, bool) {
	b := v.Get("base64")
	if b == nil || b.Type() != fastjson.TypeString {
		return nil, false
	}
	return decodeBase64(string(b.GetStringBytes()))
}

func decodeBase64(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if data, err := enc.DecodeString(s); err == nil {
			return data, true
		}
	}
	return nil, false
}
