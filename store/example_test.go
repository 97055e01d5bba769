package store_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mcpexecutor/executor/store"
)

func Example() {
	dir, _ := os.MkdirTemp("", "executor")
	defer os.RemoveAll(dir)

	// The local default: a key file created on first start.
	key, _, err := store.GenerateKeyFile(filepath.Join(dir, "secret.key"))
	if err != nil {
		log.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "executor.db"), store.Options{SecretKey: key})
	if err != nil {
		log.Fatal(err) // ErrLocked, ErrWrongKey, ErrCorrupt: the message says what to do
	}
	defer db.Close()

	type connection struct {
		Integration string `json:"integration"`
		Owner       string `json:"owner"`
	}

	// A record and its credential are written together or not at all.
	err = db.Update(func(tx store.Tx) error {
		if err := tx.PutJSON(store.Connections, "github/alice", connection{"github", "alice"}); err != nil {
			return err
		}
		return tx.PutSecret(store.Connections, "github/alice", "access_token", []byte("gho_example"))
	})
	if err != nil {
		log.Fatal(err)
	}

	// Read it back; values returned are the caller's to keep.
	var token []byte
	err = db.View(func(tx store.Tx) error {
		var c connection
		if _, err := tx.GetJSON(store.Connections, "github/alice", &c); err != nil {
			return err
		}
		fmt.Println("owner:", c.Owner)
		token, err = tx.Secret(store.Connections, "github/alice", "access_token")
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token length:", len(token))
	clear(token)

	// The audit log: sequence keys, newest first.
	for _, event := range []string{"created", "approved", "called"} {
		_ = db.Update(func(tx store.Tx) error {
			n, err := tx.NextSequence(store.Audit)
			if err != nil {
				return err
			}
			return tx.Put(store.Audit, store.SequenceKey(n), []byte(event))
		})
	}
	_ = db.View(func(tx store.Tx) error {
		return tx.ForEachReverse(store.Audit, "", func(key string, value []byte) error {
			fmt.Println(key, string(value))
			return nil
		})
	})

	// A second Open of the same file waits at most Options.Timeout.
	_, err = store.Open(db.Path(), store.Options{SecretKey: key, Timeout: 100 * time.Millisecond})
	fmt.Println("second open locked:", errors.Is(err, store.ErrLocked))

	// Output:
	// owner: alice
	// token length: 11
	// 00000000000000000003 called
	// 00000000000000000002 approved
	// 00000000000000000001 created
	// second open locked: true
}
