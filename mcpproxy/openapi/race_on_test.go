//go:build race

package openapi

// raceEnabled: the race detector slows code several times, so time and
// memory budgets are not checked under it.
const raceEnabled = true
