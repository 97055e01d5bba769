package executor

import (
	"bytes"
	"os"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Caddy warns on start about a Caddyfile that `caddy fmt` would change; the
// files we ship must not greet a newcomer with that warning.
func TestShippedCaddyfilesAreFormatted(t *testing.T) {
	for _, path := range []string{"Caddyfile", "deploy/Caddyfile.access"} {
		b := mustRead(t, path)
		if formatted := caddyfile.Format(b); !bytes.Equal(formatted, b) {
			t.Errorf("%s is not formatted: run `go run ./cmd/executor fmt --overwrite %s`", path, path)
		}
	}
	if !bytes.Equal(DefaultCaddyfile, mustRead(t, "Caddyfile")) {
		t.Error("the embedded default differs from ./Caddyfile")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
