package mcpproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcpexecutor/executor/sandbox"
)

// maxResultText is where execute's text content is cut (structuredContent
// keeps the whole value).
const maxResultText = 30000

const executeIntro = "Execute TypeScript in a sandboxed runtime.\n\n" +
	"Before writing code, call `skills({ name: \"execute\" })` for the workflow (tools.search → tools.describe.tool → call) and the rules."

var executeSchema = json.RawMessage(`{"type":"object","properties":{"code":{"type":"string","minLength":1,"description":"TypeScript or JavaScript: the body of an async function. Use await, and return the value you want back."}},"required":["code"]}`)

var resumeModelSchema = json.RawMessage(`{"type":"object","properties":{` +
	`"executionId":{"type":"string","description":"The executionId of the paused execution."},` +
	`"action":{"type":"string","enum":["accept","decline","cancel"],"description":"What the user decided."},` +
	`"content":{"type":"string","default":"{}","description":"Optional JSON-encoded response content for form elicitations"}},` +
	`"required":["executionId","action"]}`)

var resumeBrowserSchema = json.RawMessage(`{"type":"object","properties":{"executionId":{"type":"string","description":"The executionId of the paused execution."}},"required":["executionId"]}`)

var skillsSchema = json.RawMessage(`{"type":"object","properties":{"name":{"type":"string","description":"The skill to fetch, e.g. \"execute\". Omit to list available skills."}}}`)

// registerTools adds the code-mode tools. On /mcp, upstream tools are never
// MCP tools themselves: agents reach them through execute (a connection's
// direct endpoint, direct.go, is where they are).
func (e *mcpEndpoint) registerTools() {
	forbidden := &mcp.ToolExecution{TaskSupport: mcp.TaskSupportForbidden}
	execute := mcp.NewToolWithRawSchema("execute", executeIntro, executeSchema)
	execute.Execution = forbidden
	skills := mcp.NewToolWithRawSchema("skills", "Fetch usage guides for the tools on this server. Omit name to list them.", skillsSchema)
	skills.Execution = forbidden
	resume := mcp.NewToolWithRawSchema("resume", "Resume a paused execution after the user decided on the pending request.", resumeModelSchema)
	resume.Execution = forbidden
	e.server.AddTools(
		server.ServerTool{Tool: execute, Handler: e.handleExecute},
		server.ServerTool{Tool: skills, Handler: e.handleSkills},
		server.ServerTool{Tool: resume, Handler: e.handleResume},
	)
}

// filterTools shapes the tool list per request: execute's description lists
// the caller's integrations; resume follows the session's elicitation mode.
func (e *mcpEndpoint) filterTools(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
	p, _ := PrincipalFrom(ctx)
	mode := e.modeOf(ctx)
	// mcp-go filters the one tool of a tools/call too, where only whether
	// it is listed matters: no need to describe the catalog then.
	describe := ctx.Value(toolCallKey{}) == nil
	out := make([]mcp.Tool, 0, len(tools))
	for _, t := range tools {
		switch t.Name {
		case "execute":
			if describe {
				t.Description = executeIntro + e.g.inventory(p)
			}
		case "resume":
			switch mode {
			case ModeNative:
				continue
			case ModeBrowser:
				t.RawInputSchema = resumeBrowserSchema
				t.Description = "Wait for the user's decision on a paused execution (they approve or decline at the URL you were given), then continue it."
			}
		}
		out = append(out, t)
	}
	order := map[string]int{"execute": 0, "skills": 1, "resume": 2}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Name] < order[out[j].Name] })
	return out
}

// modeOf is the elicitation mode of the request's session, else of its URL,
// as far as the configuration (which a reload may have narrowed) allows.
func (e *mcpEndpoint) modeOf(ctx context.Context) string {
	cfg := e.g.config()
	if cs := server.ClientSessionFromContext(ctx); cs != nil {
		if s, ok := e.g.sessions.lookup(cs.SessionID()); ok {
			return cfg.sessionMode(s.Mode)
		}
	}
	return cfg.sessionMode(modeFrom(ctx))
}

// modeFrom is the mode ServeHTTP resolved for the request. Every request
// reaches mcp-go through ServeHTTP; were one not to, it gets the mode in
// which only a person decides.
func modeFrom(ctx context.Context) string {
	if m, ok := ctx.Value(modeKey{}).(string); ok {
		return m
	}
	return ModeBrowser
}

type modeKey struct{}

// toolCallKey marks the context of a tools/call request (see filterTools).
type toolCallKey struct{}

// inventory is the "Available integrations" block of execute's description.
func (g *Gateway) inventory(p Principal) string {
	seen := map[string]bool{}
	var slugs []string
	for _, ct := range g.catalog.connections(p) {
		if !seen[ct.conn.Integration] {
			seen[ct.conn.Integration] = true
			slugs = append(slugs, ct.conn.Integration)
		}
	}
	if len(slugs) == 0 {
		return ""
	}
	sort.Strings(slugs)
	var b strings.Builder
	b.WriteString("\n\n## Available integrations\nIntegrations you have connected. Their tools live under `tools.<integration>.…`.\n")
	for i, s := range slugs {
		if i == 50 {
			fmt.Fprintf(&b, "- ... %d more\n", len(slugs)-50)
			break
		}
		b.WriteString("- " + s + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func (e *mcpEndpoint) handleExecute(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return toolError("Unauthorized"), nil
	}
	code, _ := req.GetArguments()["code"].(string)
	if strings.TrimSpace(code) == "" && req.Params.RequestState == "" {
		return toolError("MCP error -32602: Input validation error: Invalid arguments for tool execute: code must be a non-empty string"), nil
	}
	return e.executeMCP(ctx, p, req, code), nil
}

func newExecutionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return "exec_" + h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-" + h[16:20] + "-" + h[20:]
}

// formatExecution renders a sandbox result the way agents expect: text
// (the string result, or pretty JSON, plus logs, cut at 30,000 characters)
// and the untruncated structuredContent.
func formatExecution(res sandbox.Result) *mcp.CallToolResult {
	logs := res.Logs
	if logs == nil {
		logs = []string{}
	}
	if res.Status != sandbox.StatusCompleted {
		msg := res.Error
		if res.Status == sandbox.StatusSuspended {
			msg = "the execution was suspended"
		}
		text := "Error: " + msg
		if len(logs) > 0 {
			text += "\n\nLogs:\n" + strings.Join(logs, "\n")
		}
		return &mcp.CallToolResult{
			Content:           []mcp.Content{mcp.NewTextContent(truncateText(text))},
			StructuredContent: map[string]any{"status": "error", "error": msg, "logs": logs},
			IsError:           true,
		}
	}
	value := res.Value
	if len(value) == 0 {
		value = json.RawMessage("null")
	}
	var text string
	switch {
	case string(value) == "null" && len(res.Emitted) > 0:
		text = fmt.Sprintf("(no return value; %d items emitted to the user)", len(res.Emitted))
	case string(value) == "null":
		text = "(no result)"
	case value[0] == '"':
		_ = json.Unmarshal(value, &text)
	default:
		var buf bytes.Buffer
		if json.Indent(&buf, value, "", "  ") == nil {
			text = buf.String()
		} else {
			text = string(value)
		}
	}
	if len(logs) > 0 {
		text += "\n\nLogs:\n" + strings.Join(logs, "\n")
	}
	structured := struct {
		Status  string          `json:"status"`
		Result  json.RawMessage `json:"result"`
		Emitted int             `json:"emitted,omitempty"`
		Logs    []string        `json:"logs"`
	}{"completed", value, len(res.Emitted), logs}
	content := emittedContent(res.Emitted)
	content = append(content, mcp.NewTextContent(truncateText(text)))
	return &mcp.CallToolResult{Content: content, StructuredContent: structured}
}

// truncateText cuts text at maxResultText characters with a marker saying
// how much was left out.
func truncateText(s string) string {
	if utf8.RuneCountInString(s) <= maxResultText {
		return s
	}
	r := []rune(s)
	return string(r[:maxResultText]) + fmt.Sprintf("\n... [truncated %d chars]", len(r)-maxResultText)
}

// maxEmittedText caps a text file emitted to the user.
const maxEmittedText = 64000

// emittedContent turns emit(value) values into MCP content: MCP content
// blocks pass through, files ({name, mimeType, base64}) are rendered by MIME
// type, anything else becomes text.
func emittedContent(emitted []json.RawMessage) []mcp.Content {
	var out []mcp.Content
	for _, raw := range emitted {
		var probe struct {
			Type     string          `json:"type"`
			Text     *string         `json:"text"`
			Data     string          `json:"data"`
			MimeType string          `json:"mimeType"`
			Name     string          `json:"name"`
			Base64   string          `json:"base64"`
			URI      string          `json:"uri"`
			Resource json.RawMessage `json:"resource"`
		}
		if raw[0] == '{' && json.Unmarshal(raw, &probe) == nil {
			switch {
			case probe.Type == "text" && probe.Text != nil:
				out = append(out, mcp.NewTextContent(*probe.Text))
				continue
			case probe.Type == "image" && probe.Data != "":
				out = append(out, mcp.NewImageContent(probe.Data, probe.MimeType))
				continue
			case probe.Type == "audio" && probe.Data != "":
				out = append(out, mcp.NewAudioContent(probe.Data, probe.MimeType))
				continue
			case probe.Type == "resource_link" && probe.URI != "":
				out = append(out, mcp.NewResourceLink(probe.URI, probe.Name, "", probe.MimeType))
				continue
			case probe.Base64 != "" && probe.MimeType != "":
				out = append(out, fileContent(probe.Name, probe.MimeType, probe.Base64))
				continue
			}
		}
		if raw[0] == '"' {
			var s string
			_ = json.Unmarshal(raw, &s)
			out = append(out, mcp.NewTextContent(s))
			continue
		}
		out = append(out, mcp.NewTextContent(string(raw)))
	}
	return out
}

func fileContent(name, mimeType, b64 string) mcp.Content {
	switch {
	case strings.HasPrefix(mimeType, "image/"):
		return mcp.NewImageContent(b64, mimeType)
	case strings.HasPrefix(mimeType, "audio/"):
		return mcp.NewAudioContent(b64, mimeType)
	case strings.HasPrefix(mimeType, "text/") || strings.Contains(mimeType, "json") || strings.Contains(mimeType, "xml"):
		if b, err := decodeBase64(b64); err == nil {
			return mcp.NewTextContent(truncateRunes(string(b), maxEmittedText))
		}
	}
	if name == "" {
		name = "file"
	}
	return mcp.NewEmbeddedResource(mcp.BlobResourceContents{URI: "executor-file:///" + name, MIMEType: mimeType, Blob: b64})
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func toolError(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(text)}, IsError: true}
}

func (e *mcpEndpoint) handleResume(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return toolError("Unauthorized"), nil
	}
	id, _ := req.GetArguments()["executionId"].(string)
	if id == "" {
		return toolError("MCP error -32602: Input validation error: Invalid arguments for tool resume: executionId is required"), nil
	}
	return e.g.resumeMCP(ctx, p, id, req.GetArguments(), e.modeOf(ctx)), nil
}

// executionUnavailable is resume's answer for an id it cannot continue.
func executionUnavailable(status, id string) *mcp.CallToolResult {
	texts := map[string]string{
		"execution_not_found":       "Paused execution is unknown: %s. It may have finished, expired or never existed; run the execute tool again.",
		"execution_expired":         "Paused execution %s expired before it was resumed; run the execute tool again.",
		"execution_forbidden":       "Paused execution %s belongs to someone else.",
		"execution_already_settled": "Paused execution %s was already resumed.",
	}
	structured := map[string]any{"status": status, "executionId": id}
	if status == "execution_not_found" || status == "execution_expired" {
		structured["recovery"] = "re_execute"
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{mcp.NewTextContent(fmt.Sprintf(texts[status], id))},
		StructuredContent: structured,
		IsError:           true,
	}
}

func (e *mcpEndpoint) handleSkills(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	p, _ := PrincipalFrom(ctx)
	name, _ := req.GetArguments()["name"].(string)
	switch name {
	case "":
		return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(skillsIndex)}}, nil
	case "execute":
		return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(executeSkill + e.g.inventory(p))}}, nil
	}
	return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(fmt.Sprintf("No skill named %q.\n\n", name) + skillsIndex)}, IsError: true}, nil
}

const skillsIndex = "Available skills. Fetch one with `skills({ name: \"<name>\" })`.\n\n" +
	"- execute — how to find, describe and call tools from code, and what results look like"

const executeSkill = "# execute\n\n" +
	"Run TypeScript or JavaScript in a sandbox. Your code is the body of an async function: use `await`, and `return` the value you want back. " +
	"Types are stripped, not checked; `enum` and decorators are not supported.\n\n" +
	"## Workflow\n" +
	"1. Search: `const r = await tools.search({ query: \"create issue\" })` returns `{ items: [{ path, name, description, integration, score }], total, hasMore, nextOffset }`. " +
	"Narrow with `namespace: \"<integration>\"`, page with `limit` and `offset`.\n" +
	"2. Describe: `await tools.describe.tool({ path })` returns `{ inputTypeScript, outputTypeScript, typeScriptDefinitions }`.\n" +
	"3. Call by the full path: `await tools.<integration>.<owner>.<connection>.<tool>(args)`, e.g. `tools.github.org.main.issues.create({ owner, repo, body: { title } })`.\n\n" +
	"## Results\n" +
	"Every tool call resolves to `{ ok: true, data, http? }` or `{ ok: false, error: { code, message, status?, details?, retryable? } }`. " +
	"Expected failures are values, not exceptions: check `ok`. Codes include `tool_not_found`, `tool_blocked`, `invalid_tool_arguments`, " +
	"`upstream_http_error`, `connection_rejected`, `mcp_tool_error`, `graphql_errors`.\n" +
	"A call that needs a person's approval pauses the execution; once they decide it continues (a declined call throws).\n" +
	"Files are `ToolFile` values: `{ name, mimeType, size, base64 }`.\n\n" +
	"## Rules\n" +
	"- Always call tools by their full path. `tools` is a lazy proxy and cannot be enumerated: use `tools.search`.\n" +
	"- `fetch`, timers, the file system and environment variables are not available.\n" +
	"- Run independent calls in parallel with `Promise.all`.\n" +
	"- `console.log` lines come back with the result; `emit(value)` sends a value (text, an MCP content block or a ToolFile) to the user.\n" +
	"- `tools.executor.integrations.list()` and `tools.executor.coreTools.connections.list()` show what is connected."

func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(s)
}
