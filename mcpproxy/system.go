package mcpproxy

import (
	"context"
	"encoding/json"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// systemTool is a static tool under `tools.executor.*`: the gateway's own
// configuration, reachable from code mode through the same Invoke path (and
// the same policy check) as every integration tool.
type systemTool struct {
	path string
	tool integration.Tool
	run  func(ctx context.Context, g *Gateway, p Principal, args json.RawMessage) (any, error)
}

// systemTools lists the static tools. Those that change configuration carry
// RequiresApproval, so injected code cannot, say, write an `approve *` rule
// without a human.
func (g *Gateway) systemTools() []*systemTool {
	obj := func(props string, required ...string) json.RawMessage {
		r, _ := json.Marshal(required)
		if len(required) == 0 {
			r = []byte("[]")
		}
		return json.RawMessage(`{"type":"object","properties":{` + props + `},"required":` + string(r) + `,"additionalProperties":false}`)
	}
	return []*systemTool{
		{
			path: "executor.coreTools.integrations.list",
			tool: integration.Tool{
				Name:        "executor.coreTools.integrations.list",
				Description: "List the integrations (OpenAPI APIs, MCP servers, GraphQL APIs) configured in this gateway.",
				InputSchema: obj(``),
			},
			run: func(ctx context.Context, g *Gateway, p Principal, _ json.RawMessage) (any, error) {
				items, err := g.integrationSummaries(p)
				return map[string]any{"integrations": items}, err
			},
		},
		{
			path: "executor.coreTools.connections.list",
			tool: integration.Tool{
				Name:        "executor.coreTools.connections.list",
				Description: "List the connections you can use: each turns an integration into tools at tools.<integration>.<owner>.<connection>.",
				InputSchema: obj(`"integration":{"type":"string"},"owner":{"type":"string","enum":["org","user"]}`),
			},
			run: func(ctx context.Context, g *Gateway, p Principal, args json.RawMessage) (any, error) {
				var in struct{ Integration, Owner string }
				_ = json.Unmarshal(args, &in)
				var out []map[string]any
				for _, ct := range g.catalog.connections(p) {
					c := ct.conn
					if (in.Integration != "" && c.Integration != in.Integration) || (in.Owner != "" && c.Owner != in.Owner) {
						continue
					}
					out = append(out, connectionView(&c, len(ct.tools)))
				}
				return map[string]any{"connections": nonNil(out)}, nil
			},
		},
	}
}

// connectionView is a connection as the API and system tools show it: never
// its credential.
func connectionView(c *Connection, toolCount int) map[string]any {
	v := map[string]any{
		"owner":       c.Owner,
		"name":        c.Name,
		"integration": c.Integration,
		"template":    c.Template,
		"address":     c.Address(),
		"toolCount":   toolCount,
	}
	if c.Description != "" {
		v["description"] = c.Description
	}
	if c.IdentityLabel != "" {
		v["identityLabel"] = c.IdentityLabel
	}
	if !c.ExpiresAt.IsZero() {
		v["expiresAt"] = c.ExpiresAt.UnixMilli()
	}
	return v
}
