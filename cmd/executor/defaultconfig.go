package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"

	executor "github.com/mcpexecutor/executor"
)

// commandsWithConfig read a configuration file and, like Caddy, fall back
// to ./Caddyfile; we fall back further, to the embedded local default.
var commandsWithConfig = []string{"run", "start", "reload", "adapt", "validate"}

// withDefaultConfig returns args with `--config <embedded default> --adapter
// caddyfile` added when the command reads a config and none is given.
func withDefaultConfig(args []string) []string {
	if len(args) < 2 || !slices.Contains(commandsWithConfig, args[1]) {
		return args
	}
	for _, a := range args[2:] {
		if a == "--config" || a == "-c" || strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-c=") {
			return args
		}
	}
	if _, err := os.Stat("Caddyfile"); !errors.Is(err, fs.ErrNotExist) {
		return args
	}
	path, err := writeDefaultConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "executor: cannot write the embedded default configuration: %v\n", err)
		return args
	}
	out := slices.Clone(args)
	out = append(out, "--config", path)
	if !slices.ContainsFunc(args, func(a string) bool { return a == "--adapter" || strings.HasPrefix(a, "--adapter=") }) {
		out = append(out, "--adapter", "caddyfile")
	}
	return out
}

// writeDefaultConfig writes the embedded Caddyfile into Caddy's config
// directory (atomically, only when it changed) and returns its path.
func writeDefaultConfig() (string, error) {
	dir := caddy.AppConfigDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "executor-default.Caddyfile")
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, executor.DefaultCaddyfile) {
		return path, nil
	}
	tmp, err := os.CreateTemp(dir, ".executor-default-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(executor.DefaultCaddyfile); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}
