package mcpproxy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// systemTool is a static tool under `tools.executor.*`: the gateway's own
// configuration, reachable from code mode through the same Invoke path (and
// the same policy check) as every integration tool.
type systemTool struct {
	path string
	tool integration.Tool
	run  func(ctx context.Context, g *Gateway, p Principal, args json.RawMessage) (any, error)
	// protected tools change configuration: they always need approval
	// unless a rule blocks them.
	protected bool
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
		{
			path: "executor.coreTools.policies.list",
			tool: integration.Tool{
				Name:        "executor.coreTools.policies.list",
				Description: "List the policy rules (allow, require approval, block) that apply to you, in evaluation order.",
				InputSchema: obj(``),
			},
			run: func(ctx context.Context, g *Gateway, p Principal, _ json.RawMessage) (any, error) {
				return map[string]any{"policies": g.viewPolicies(p, g.policies.rules(p))}, nil
			},
		},
		{
			path:      "executor.coreTools.policies.create",
			protected: true,
			tool: integration.Tool{
				Name:                "executor.coreTools.policies.create",
				Description:         "Create a policy rule: pattern (`*`, an exact tool id, `prefix.*`, or `*` as one segment) and action (approve, require_approval, block). Always needs a person's approval.",
				InputSchema:         obj(`"owner":{"type":"string","enum":["org","user"]},"pattern":{"type":"string"},"action":{"type":"string","enum":["approve","require_approval","block"]},"position":{"type":"number"}`, "owner", "pattern", "action"),
				RequiresApproval:    true,
				ApprovalDescription: "Create a policy rule",
			},
			run: func(ctx context.Context, g *Gateway, p Principal, args json.RawMessage) (any, error) {
				var req policyRequest
				if err := json.Unmarshal(args, &req); err != nil {
					return nil, &integration.ToolError{Code: "invalid_tool_arguments", Message: err.Error()}
				}
				pol, err := g.createPolicy(p, req)
				if err != nil {
					return nil, asToolError(err)
				}
				return map[string]any{"policy": pol}, nil
			},
		},
		{
			path:      "executor.coreTools.policies.update",
			protected: true,
			tool: integration.Tool{
				Name:                "executor.coreTools.policies.update",
				Description:         "Change a policy rule's pattern, action or position. Always needs a person's approval.",
				InputSchema:         obj(`"id":{"type":"string"},"owner":{"type":"string","enum":["org","user"]},"pattern":{"type":"string"},"action":{"type":"string","enum":["approve","require_approval","block"]},"position":{"type":"number"}`, "id"),
				RequiresApproval:    true,
				ApprovalDescription: "Change a policy rule",
			},
			run: func(ctx context.Context, g *Gateway, p Principal, args json.RawMessage) (any, error) {
				var req struct {
					ID string `json:"id"`
					policyRequest
				}
				if err := json.Unmarshal(args, &req); err != nil {
					return nil, &integration.ToolError{Code: "invalid_tool_arguments", Message: err.Error()}
				}
				pol, err := g.updatePolicy(p, req.ID, req.policyRequest)
				if err != nil {
					return nil, asToolError(err)
				}
				return map[string]any{"policy": pol}, nil
			},
		},
		{
			path:      "executor.coreTools.policies.remove",
			protected: true,
			tool: integration.Tool{
				Name:                "executor.coreTools.policies.remove",
				Description:         "Remove a policy rule. Always needs a person's approval.",
				InputSchema:         obj(`"id":{"type":"string"}`, "id"),
				RequiresApproval:    true,
				ApprovalDescription: "Remove a policy rule",
			},
			run: func(ctx context.Context, g *Gateway, p Principal, args json.RawMessage) (any, error) {
				var req struct {
					ID string `json:"id"`
				}
				_ = json.Unmarshal(args, &req)
				if err := g.deletePolicy(p, req.ID); err != nil {
					return nil, asToolError(err)
				}
				return map[string]any{"removed": true}, nil
			},
		},
	}
}

// asToolError turns a request problem into an expected failure the agent
// sees; other errors stay defects.
func asToolError(err error) error {
	var ue *userError
	if errors.As(err, &ue) {
		return &integration.ToolError{Code: "invalid_tool_arguments", Message: ue.msg, Status: ue.status}
	}
	return err
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
		"directPath":  DirectPrefix + c.Integration + "/" + c.Owner + "/" + c.Name,
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
	if c.OAuthClient != "" {
		// The key is client/<owner>/<subject>/<slug>; the subject stays private.
		if parts := strings.Split(c.OAuthClient, "/"); len(parts) == 4 {
			v["oauthClientOwner"], v["oauthClient"] = parts[1], parts[3]
		}
		if c.OAuthScope != "" {
			v["oauthScope"] = c.OAuthScope
		}
	}
	if c.Source != "" {
		v["source"] = c.Source
	}
	for k, t := range map[string]time.Time{"createdAt": c.CreatedAt, "updatedAt": c.UpdatedAt, "toolsSyncedAt": c.ToolsSyncedAt} {
		if !t.IsZero() {
			v[k] = t.UnixMilli()
		}
	}
	return v
}
