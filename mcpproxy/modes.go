package mcpproxy

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Elicitation modes: how a paused tool call reaches a human.
const (
	// ModeModel returns waiting_for_interaction; the agent asks and calls resume.
	ModeModel = "model"
	// ModeBrowser returns an approval URL on the console; resume waits for it.
	ModeBrowser = "browser"
	// ModeNative asks the MCP client with elicitation.
	ModeNative = "native"
)

// AllModes are the elicitation modes, the default first: the reference's
// behaviour when Config.ApprovalModes is empty.
var AllModes = []string{ModeModel, ModeBrowser, ModeNative}

// requestedMode reads ?elicitation_mode= from the connect URL; the legacy
// ?allow_model_resume=1|true|yes|on asks for model. "" when it asks for
// nothing known.
func requestedMode(r *http.Request) string {
	q := r.URL.Query()
	switch m := strings.ToLower(q.Get("elicitation_mode")); m {
	case ModeBrowser, ModeNative, ModeModel:
		return m
	}
	switch strings.ToLower(q.Get("allow_model_resume")) {
	case "1", "true", "yes", "on":
		return ModeModel
	}
	return ""
}

// ValidApprovalModes checks a list of approval modes (Config.ApprovalModes,
// the Caddyfile's approval_modes).
func ValidApprovalModes(modes []string) error {
	for _, m := range modes {
		if !slices.Contains(AllModes, m) {
			return fmt.Errorf("approval mode %q is not one of %s", m, strings.Join(AllModes, ", "))
		}
	}
	return nil
}

// approvalModes are the modes agents may use, the default first.
func (c Config) approvalModes() []string {
	if len(c.ApprovalModes) == 0 {
		return AllModes
	}
	return c.ApprovalModes
}

// sessionMode is the mode a session that asked for requested works in: what
// it asked for if the operator allows it, else the default.
func (c Config) sessionMode(requested string) string {
	modes := c.approvalModes()
	if slices.Contains(modes, requested) {
		return requested
	}
	return modes[0]
}
