package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Bounds on a caller's selection set, far above any useful one.
const (
	maxSelectBytes  = 64 << 10
	maxSelectTokens = 10000
)

// Call sends one operation for the tool's root field: the arguments given
// become typed variables, and the result is selected with the tool's
// default selection or with args' `select`, which must validate against the
// schema first (graphql_invalid_selection otherwise, and nothing is sent).
// The result's data is the field's value exactly as the endpoint sent it.
func (k *Kind) Call(ctx context.Context, c *integration.Connection, tool *integration.Tool, args json.RawMessage) (*integration.Result, error) {
	cfg, err := decodeConfig(c.Config)
	if err != nil {
		return nil, err
	}
	var meta toolMeta
	if err := json.Unmarshal(tool.Meta, &meta); err != nil || meta.Field == "" || (meta.Operation != "query" && meta.Operation != "mutation") {
		return nil, fmt.Errorf("tool %s carries no GraphQL operation in its meta", tool.Name)
	}
	given := map[string]json.RawMessage{}
	if trimmed := bytes.TrimSpace(args); len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
		if err := json.Unmarshal(trimmed, &given); err != nil {
			return integration.Fail("invalid_tool_arguments", "Tool arguments must be a JSON object."), nil
		}
	}

	var selection string
	if raw, ok := given[meta.SelectArgument]; ok && meta.SelectArgument != "" {
		delete(given, meta.SelectArgument)
		if !isNull(raw) {
			if err := json.Unmarshal(raw, &selection); err != nil {
				return invalidSelection(meta.SelectArgument, []string{"`" + meta.SelectArgument + "` must be a string holding a selection set, such as \"{ id name }\"."}, ""), nil
			}
		}
	}
	variables := map[string]json.RawMessage{}
	var used []argumentMeta
	for _, a := range meta.Arguments {
		if raw, ok := given[a.Name]; ok {
			variables[a.Name] = raw
			used = append(used, a)
			delete(given, a.Name)
		}
	}
	if len(given) > 0 {
		return unknownArguments(given, meta), nil
	}

	var document string
	if strings.TrimSpace(selection) == "" {
		document = meta.document(used, meta.Selection)
	} else {
		s, err := k.schemaFor(ctx, c, cfg)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return &integration.Result{Error: &integration.ToolError{Code: "graphql_http_error", Retryable: true,
				Message: "Checking `" + meta.SelectArgument + "` needs the endpoint's schema, which could not be loaded: " +
					redact(err.Error(), c.Credential.Secrets()) + ". Call without it to get the default selection."}}, nil
		}
		var problems []string
		document, problems, err = checkedDocument(s, meta, used, selection)
		if err != nil {
			return nil, err
		}
		if len(problems) > 0 {
			return invalidSelection(meta.SelectArgument, problems, document), nil
		}
	}

	body, err := json.Marshal(struct {
		Query     string                     `json:"query"`
		Variables map[string]json.RawMessage `json:"variables"`
	}{document, variables})
	if err != nil {
		return nil, fmt.Errorf("encoding the GraphQL request: %w", err)
	}
	req, err := newRequest(ctx, cfg.Endpoint, cfg.QueryParams, cfg.Headers, body)
	if err != nil {
		return integration.Fail("graphql_http_error", err.Error()+"; fix the integration's endpoint."), nil
	}
	c.Credential.Apply(req)
	secrets := c.Credential.Secrets()
	ex, err := send(ctx, c.HTTP, req, k.timeouts(maxResponseBytes))
	if err != nil {
		var f *failure
		if errors.As(err, &f) {
			return &integration.Result{Error: &integration.ToolError{Code: f.Code, Status: f.Status, Retryable: f.Retryable,
				Message: redact(f.Message, secrets)}}, nil
		}
		return nil, err
	}
	return interpret(ex, meta.Field, secrets), nil
}

// document writes the operation for the arguments given, e.g.
// `query($id: ID!) { user(id: $id) { id name } }`.
func (m toolMeta) document(used []argumentMeta, selection string) string {
	var b strings.Builder
	b.WriteString(m.Operation)
	if len(used) > 0 {
		b.WriteString("(")
		for i, a := range used {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("$" + a.Name + ": " + a.Type)
		}
		b.WriteString(")")
	}
	b.WriteString(" { " + m.Field)
	if len(used) > 0 {
		b.WriteString("(")
		for i, a := range used {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.Name + ": $" + a.Name)
		}
		b.WriteString(")")
	}
	if selection != "" {
		b.WriteString(" " + selection)
	}
	b.WriteString(" }")
	return b.String()
}

// checkedDocument builds the operation with a caller's selection set and
// validates it against s. The selection is parsed on its own and placed into
// the operation's syntax tree, so it can only ever select within the tool's
// field: text such as `{ id } } mutation { … }` is a parse error, not a
// second operation. It returns the document, the problems that make it
// invalid, and an error for defects.
func checkedDocument(s *Schema, meta toolMeta, used []argumentMeta, selection string) (string, []string, error) {
	sel := strings.TrimSpace(selection)
	if len(sel) > maxSelectBytes {
		return "", []string{fmt.Sprintf("The selection set is longer than %d KiB.", maxSelectBytes>>10)}, nil
	}
	if !strings.HasPrefix(sel, "{") {
		sel = "{ " + sel + " }"
	}
	selDoc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Name: "select", Input: sel}, maxSelectTokens)
	if err != nil {
		return sel, []string{gqlMessage(err)}, nil
	}
	if len(selDoc.Operations) != 1 || len(selDoc.Fragments) > 0 {
		return sel, []string{"The selection must be one selection set, such as `{ id name }`; write fragments inline (`... on User { id }`)."}, nil
	}
	op := selDoc.Operations[0]
	if op.Operation != ast.Query || op.Name != "" || len(op.VariableDefinitions) > 0 || len(op.Directives) > 0 {
		return sel, []string{"The selection must be a selection set such as `{ id name }`, not an operation."}, nil
	}

	head, err := parser.ParseQuery(&ast.Source{Name: "operation", Input: meta.document(used, "")})
	if err != nil {
		return "", nil, fmt.Errorf("parsing the operation of %s %s: %w", meta.Operation, meta.Field, err)
	}
	field, ok := head.Operations[0].SelectionSet[0].(*ast.Field)
	if !ok {
		return "", nil, fmt.Errorf("the operation of %s %s has no field", meta.Operation, meta.Field)
	}
	field.SelectionSet = op.SelectionSet
	var b strings.Builder
	formatter.NewFormatter(&b, formatter.WithIndent("  ")).FormatQueryDocument(head)
	document := strings.TrimSpace(b.String())

	checked, errs := gqlparser.LoadQueryWithRules(s.ast, document, nil)
	if len(errs) > 0 {
		var problems []string
		for _, e := range errs {
			problems = append(problems, e.Message)
		}
		return document, problems, nil
	}
	// The tree was built to hold one operation of the tool's type with one
	// root field; make sure the text sent still says exactly that.
	if len(checked.Operations) != 1 || len(checked.Fragments) != 0 ||
		string(checked.Operations[0].Operation) != meta.Operation || len(checked.Operations[0].SelectionSet) != 1 {
		return "", nil, fmt.Errorf("the operation built for %s %s is not a single %s", meta.Operation, meta.Field, meta.Operation)
	}
	return document, nil, nil
}

// interpret turns the endpoint's answer into a Result.
func interpret(ex *exchange, field string, secrets []string) *integration.Result {
	var envelope struct {
		Data   json.RawMessage `json:"data"`
		Errors json.RawMessage `json:"errors"`
	}
	jsonErr := json.Unmarshal(ex.body, &envelope)
	hasErrors := jsonErr == nil && !isNull(envelope.Errors) && !isEmptyArray(envelope.Errors)
	if !ex.ok() && !hasErrors {
		te := &integration.ToolError{
			Code:      "graphql_http_error",
			Status:    ex.status,
			Retryable: slices.Contains([]int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}, ex.status),
			Message:   fmt.Sprintf("The GraphQL endpoint answered HTTP %d %s", ex.status, http.StatusText(ex.status)),
		}
		if text := redact(excerpt(ex.body), secrets); text != "" {
			te.Message += ": " + text
		}
		if jsonErr == nil {
			te.Details = redactJSON(ex.body, secrets)
		}
		return &integration.Result{Error: te, HTTP: ex.meta()}
	}
	if jsonErr != nil {
		return &integration.Result{HTTP: ex.meta(), Error: &integration.ToolError{Code: "graphql_http_error", Status: ex.status,
			Message: fmt.Sprintf("The GraphQL endpoint answered HTTP %d with a body that is not a GraphQL response: %s", ex.status, redact(excerpt(ex.body), secrets))}}
	}
	value := fieldValue(envelope.Data, field)
	if hasErrors {
		te := &integration.ToolError{
			Code:    "graphql_errors",
			Message: "The GraphQL endpoint returned errors.",
			Details: map[string]json.RawMessage{"errors": redactJSON(envelope.Errors, secrets), "data": redactJSON(value, secrets)},
		}
		var errs []struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(envelope.Errors, &errs) == nil && len(errs) > 0 && errs[0].Message != "" {
			te.Message = redact(errs[0].Message, secrets)
		}
		if !ex.ok() {
			te.Status = ex.status
		}
		return &integration.Result{Error: te, HTTP: ex.meta()}
	}
	return integration.Succeed(value, ex.meta())
}

// fieldValue is the raw bytes of data[field], or null.
func fieldValue(data json.RawMessage, field string) json.RawMessage {
	if isNull(data) {
		return json.RawMessage("null")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return json.RawMessage("null")
	}
	if v, ok := fields[field]; ok {
		return v
	}
	return json.RawMessage("null")
}

func invalidSelection(argument string, problems []string, document string) *integration.Result {
	details := map[string]any{"errors": problems}
	if document != "" {
		details["document"] = document
	}
	var msg strings.Builder
	msg.WriteString("The selection set is not valid for this field:")
	for _, p := range problems {
		msg.WriteString(" " + p)
		if !strings.HasSuffix(p, ".") && !strings.HasSuffix(p, "?") {
			msg.WriteString(".")
		}
	}
	msg.WriteString(" Fix `" + argument + "` or leave it out for the default selection.")
	return &integration.Result{Error: &integration.ToolError{
		Code:    "graphql_invalid_selection",
		Message: msg.String(),
		Details: details,
	}}
}

func unknownArguments(given map[string]json.RawMessage, meta toolMeta) *integration.Result {
	var unknown, accepted []string
	for name := range given {
		unknown = append(unknown, `"`+name+`"`)
	}
	slices.Sort(unknown)
	for _, a := range meta.Arguments {
		accepted = append(accepted, a.Name)
	}
	if meta.SelectArgument != "" {
		accepted = append(accepted, meta.SelectArgument)
	}
	msg := "Unknown argument " + strings.Join(unknown, ", ") + "."
	if len(accepted) > 0 {
		msg += " This field accepts: " + strings.Join(accepted, ", ") + "."
	} else {
		msg += " This field takes no arguments."
	}
	return integration.Fail("invalid_tool_arguments", msg)
}

// gqlMessage is a gqlparser error's message without its location.
func gqlMessage(err error) string {
	var ge *gqlerror.Error
	if errors.As(err, &ge) {
		return ge.Message
	}
	return err.Error()
}

// redactJSON removes secrets from a JSON value, keeping it JSON.
func redactJSON(raw json.RawMessage, secrets []string) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	out := raw
	for _, s := range secrets {
		if s == "" || !bytes.Contains(out, []byte(s)) {
			continue
		}
		out = bytes.ReplaceAll(out, []byte(s), []byte("[redacted]"))
	}
	if !json.Valid(out) {
		q, _ := json.Marshal(redact(string(raw), secrets))
		return q
	}
	return out
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

func isEmptyArray(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) >= 2 && t[0] == '[' && len(bytes.TrimSpace(t[1:len(t)-1])) == 0
}
