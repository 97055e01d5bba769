package caddymodule

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/mcpexecutor/executor/store"
)

// Environment variables rotate-key reads the keys from when no key file is
// given. Keys are never taken from the command line, where other users of
// the machine can read them.
const (
	envOldSecretKey = "EXECUTOR_OLD_SECRET_KEY"
	envNewSecretKey = "EXECUTOR_NEW_SECRET_KEY"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "rotate-key",
		Usage: "[--db <path>] [--old-key-file <path>] [--new-key-file <path>]",
		Short: "Re-seals every stored credential under a new secret key",
		Long: `
Changes the secret key that seals the credentials in the executor database.
Stop the gateway first: the database can only be open in one process.

The keys come from files (--old-key-file, --new-key-file: one line, mode 0600)
or from the environment (` + envOldSecretKey + `, ` + envNewSecretKey + `),
never from the command line. Without either, the old key is the local
default's generated key file (secret.key next to the database), if it exists.

Every credential is re-sealed in small transactions. If the command is
interrupted, the gateway refuses to start until it is run again with the same
keys, which finishes the rotation. Once it reports success, start the gateway
with the new key (for the local default, put the new key into secret.key).

--db
    The database file. Default: the gateway's default storage,
    <Caddy data dir>/executor/executor.db.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("db", "", "The executor database (default: <Caddy data dir>/executor/executor.db)")
			cmd.Flags().String("old-key-file", "", "A file holding the current secret key (else $"+envOldSecretKey+")")
			cmd.Flags().String("new-key-file", "", "A file holding the new secret key (else $"+envNewSecretKey+")")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdRotateKey)
		},
	})
}

func cmdRotateKey(fs caddycmd.Flags) (int, error) {
	path := fs.String("db")
	if path == "" {
		path = filepath.Join(caddy.AppDataDir(), "executor", "executor.db")
	}
	oldKey, err := rotationKey(fs.String("old-key-file"), "--old-key-file", envOldSecretKey, filepath.Join(filepath.Dir(path), "secret.key"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("the old key: %w", err)
	}
	newKey, err := rotationKey(fs.String("new-key-file"), "--new-key-file", envNewSecretKey, "")
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("the new key: %w", err)
	}
	rep, err := store.RotateKey(path, oldKey, newKey, store.RotateOptions{})
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if rep.WasRotated {
		fmt.Printf("%s is already sealed under the new key; nothing to do.\n", path)
		return caddy.ExitCodeSuccess, nil
	}
	fmt.Printf("Re-sealed %d secrets of %s under the new key", rep.Resealed, path)
	if rep.AlreadyNew > 0 {
		fmt.Printf(" (%d more were re-sealed by an interrupted run)", rep.AlreadyNew)
	}
	fmt.Println(". Start the gateway with the new key now; the old one no longer opens the database.")
	return caddy.ExitCodeSuccess, nil
}

// rotationKey reads a key from file (given with flag), else from the
// environment variable env, else from fallback (a key file that may not
// exist).
func rotationKey(file, flag, env, fallback string) (string, error) {
	if file != "" {
		return store.ReadKeyFile(file)
	}
	if v := strings.TrimSpace(os.Getenv(env)); v != "" {
		return v, nil
	}
	if fallback != "" {
		k, err := store.ReadKeyFile(fallback)
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			return k, err
		}
	}
	return "", fmt.Errorf("give it in a file (%s) or in $%s", flag, env)
}
