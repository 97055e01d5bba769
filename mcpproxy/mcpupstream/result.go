package mcpupstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// maxPages bounds a tool listing against an upstream whose cursors never end.
const maxPages = 1000

// maxMessage bounds the message of a failed call; details keep everything.
const maxMessage = 4000

// listTools follows every page of tools/list. The tools are read from the
// raw pages, so schemas and annotations arrive as the upstream wrote them;
// tools the mcp-go client excludes (invalid x-mcp-header annotations, which
// it could not call) stay excluded.
func (s *session) listTools(ctx context.Context) ([]upstreamTool, *exchange, error) {
	var tools []upstreamTool
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, nil, fmt.Errorf("the tool list did not end after %d pages", maxPages)
		}
		x := &exchange{method: string(mcp.MethodToolsList)}
		req := mcp.ListToolsRequest{}
		req.Params.Cursor = mcp.Cursor(cursor)
		res, err := s.client.ListToolsByPage(withExchange(ctx, x), req)
		if x.result == nil {
			if err == nil {
				err = errors.New("the server sent no tools/list result")
			}
			return nil, x, err
		}
		var raw struct {
			Tools      []json.RawMessage `json:"tools"`
			NextCursor string            `json:"nextCursor"`
		}
		if err := json.Unmarshal(x.result, &raw); err != nil {
			return nil, nil, fmt.Errorf("the tools/list result is not valid JSON-RPC: %w", err)
		}
		var kept map[string]bool
		if res != nil {
			kept = make(map[string]bool, len(res.Tools))
			for _, t := range res.Tools {
				kept[t.Name] = true
			}
		}
		for _, r := range raw.Tools {
			var t upstreamTool
			if json.Unmarshal(r, &t) != nil || (kept != nil && !kept[t.Name]) {
				continue
			}
			tools = append(tools, t)
		}
		if raw.NextCursor == "" {
			return tools, nil, nil
		}
		if seen[raw.NextCursor] {
			return nil, nil, fmt.Errorf("the tool list repeated the cursor %q", raw.NextCursor)
		}
		seen[raw.NextCursor] = true
		cursor = raw.NextCursor
	}
}

// callResult maps the outcome of a tools/call to the result union.
func (u *upstream) callResult(ctx context.Context, name string, x *exchange, err error) *integration.Result {
	var cf *connectFailure
	switch {
	case errors.As(err, &cf):
		return &integration.Result{Error: &integration.ToolError{
			Code: "mcp_connection_failed", Message: cf.msg, Status: cf.status, Retryable: cf.retryable}}
	case x != nil && x.result != nil:
		return u.toolResult(name, x.result)
	case x != nil && x.rpcErr != nil:
		e := x.rpcErr
		msg := u.redact(e.Message)
		return &integration.Result{Error: &integration.ToolError{
			Code:    "mcp_tool_error",
			Message: truncate(fmt.Sprintf("The MCP server refused the call of %s: %s (JSON-RPC error %d).", name, msg, e.Code)),
			Details: map[string]any{"code": e.Code, "message": msg, "data": u.redactValue(e.Data)},
		}}
	case err == nil:
		return integration.Fail("mcp_tool_error", fmt.Sprintf("The MCP server sent no result for %s.", name))
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return integration.Fail("mcp_tool_error", fmt.Sprintf(
			"The MCP tool %s did not answer within %s.", name, u.k.opts.CallTimeout))
	case errors.Is(err, context.Canceled):
		return integration.Fail("mcp_tool_error", fmt.Sprintf("The call of %s was cancelled.", name))
	case needsInput.MatchString(err.Error()):
		return integration.Fail("mcp_tool_error", fmt.Sprintf(
			"The MCP tool %s asked for input from the user (elicitation or sampling), which this gateway does not support yet.", name))
	case u.cfg.Transport == transportRemote && authRefused(err, 0):
		// The session was open, so the credential was good until now: it
		// expired, was revoked, or the server now trusts another
		// authorization server (security.md G13). Retrying sends it again.
		return &integration.Result{Error: &integration.ToolError{
			Code:   "mcp_connection_failed",
			Status: http.StatusUnauthorized,
			Message: fmt.Sprintf("The MCP server at %s refused the connection's credential (HTTP 401) during the call of %s. Sign the connection in again (OAuth) or connect it again with a valid credential, then retry.",
				redactURL(u.cfg.Endpoint), name),
		}}
	}
	where := "the MCP server"
	if u.cfg.Transport == transportRemote {
		where += " at " + redactURL(u.cfg.Endpoint)
	} else {
		where += " process"
	}
	return &integration.Result{Error: &integration.ToolError{
		Code:      "mcp_connection_failed",
		Message:   truncate(fmt.Sprintf("The connection to %s failed during the call of %s: %s. The call may be retried.", where, name, u.redact(err.Error()))),
		Retryable: true,
	}}
}

// needsInput matches the mcp-go client's errors for a 2026-07-28 server
// asking for input it has no handler for.
var needsInput = regexp.MustCompile(`no (elicitation|sampling|roots) handler configured`)

// toolResult passes the upstream's CallToolResult through; with isError it
// becomes mcp_tool_error carrying the content's text.
func (u *upstream) toolResult(name string, raw json.RawMessage) *integration.Result {
	data := u.redactRaw(raw)
	var r struct {
		IsError    bool   `json:"isError"`
		ResultType string `json:"resultType"`
		Content    []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	_ = json.Unmarshal(data, &r) // anything else is passed through as sent
	if r.ResultType == string(mcp.ResultTypeInputRequired) {
		return integration.Fail("mcp_tool_error", fmt.Sprintf(
			"The MCP tool %s asked for input from the user (elicitation or sampling), which this gateway does not support yet.", name))
	}
	if !r.IsError {
		return integration.Succeed(data, nil)
	}
	var texts []string
	for _, c := range r.Content {
		if c.Type == "text" && strings.TrimSpace(c.Text) != "" {
			texts = append(texts, c.Text)
		}
	}
	msg := strings.Join(texts, "\n")
	if msg == "" {
		msg = fmt.Sprintf("The MCP tool %s reported an error without a message.", name)
	}
	return &integration.Result{Error: &integration.ToolError{
		Code:    "mcp_tool_error",
		Message: truncate(u.redact(msg)),
		Details: data,
	}}
}

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "… [truncated]"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// secrets lists what must never appear in text shown to agents: the
// credential's values and the configured header and query values, also in
// their URL-escaped forms.
func (u *upstream) secrets() []string {
	var out []string
	if cred := u.cred.Load(); cred != nil {
		out = append(out, cred.Secrets()...)
	}
	for _, m := range []map[string]string{u.cfg.Headers, u.cfg.QueryParams, u.cfg.Env} {
		for _, v := range m {
			// A value with ${…} references is a template, not a secret; the
			// values it takes are the credential's.
			if len(v) >= 4 && !strings.Contains(v, "${") {
				out = append(out, v)
			}
		}
	}
	n := len(out)
	for _, s := range out[:n] {
		if q := url.QueryEscape(s); q != s {
			out = append(out, q)
		}
	}
	return out
}

// urlQuery matches the query of a URL inside an error text: url.Error
// prints the whole URL, and queries carry API keys.
var urlQuery = regexp.MustCompile(`(https?://[^\s"'?]+)\?[^\s"']*`)

// redact removes secrets and URL queries from a text for agents or logs.
func (u *upstream) redact(s string) string {
	s = urlQuery.ReplaceAllString(s, "$1?[query redacted]")
	for _, secret := range u.secrets() {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// redactValue redacts the strings inside a decoded JSON value.
func (u *upstream) redactValue(v any) any {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return u.redactRaw(b)
}

// redactRaw removes credential values an upstream echoes back from its
// JSON (they may be in its error texts, or a tool may echo our headers).
// Values shorter than 8 bytes are left alone here: they could match inside
// unrelated data, such as base64 image content.
func (u *upstream) redactRaw(raw json.RawMessage) json.RawMessage {
	out := raw
	for _, secret := range u.secrets() {
		if len(secret) < 8 {
			continue
		}
		enc, _ := json.Marshal(secret)
		forms := [][]byte{[]byte(secret), enc[1 : len(enc)-1]}
		for _, f := range forms {
			if bytes.Contains(out, f) {
				out = bytes.ReplaceAll(out, f, []byte("[redacted]")) // a copy: raw stays intact
			}
		}
	}
	return out
}
