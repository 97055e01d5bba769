package mcpproxy

import (
	"net/http"
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

// elicitationMode reads ?elicitation_mode= from the connect URL; the legacy
// ?allow_model_resume=1 means model; anything else is model.
func elicitationMode(r *http.Request) string {
	q := r.URL.Query()
	switch m := strings.ToLower(q.Get("elicitation_mode")); m {
	case ModeBrowser, ModeNative, ModeModel:
		return m
	}
	return ModeModel
}
