package caddymodule

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/mcpexecutor/executor/console"
)

// consoleCSP is strict: scripts and styles from this origin only, no inline
// script, never framed.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// consoleFiles serves the console's static files with an SPA fallback: a
// path that names no file and has no extension gets index.html.
type consoleFiles struct {
	fsys    fs.FS
	index   []byte
	modTime time.Time
}

func newConsole(root string, _ bool) (*consoleFiles, error) {
	var fsys fs.FS = console.Files
	if root != "" {
		st, err := os.Stat(root)
		if err != nil || !st.IsDir() {
			return nil, fmt.Errorf("console_root %q must be a folder with index.html and assets/", root)
		}
		fsys = os.DirFS(root)
	}
	index, err := fs.ReadFile(fsys, "index.html")
	if err != nil {
		return nil, fmt.Errorf("console: index.html is missing: %w", err)
	}
	return &consoleFiles{fsys: fsys, index: index, modTime: time.Now()}, nil
}

func (c *consoleFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Security-Policy", consoleCSP)
	name := strings.TrimPrefix(cleanPath(r.URL.Path), "/")
	if name != "" && name != "index.html" {
		f, err := c.fsys.Open(name)
		if err == nil {
			st, serr := f.Stat()
			if serr == nil && !st.IsDir() {
				defer f.Close()
				if rs, ok := f.(interface {
					Read([]byte) (int, error)
					Seek(int64, int) (int64, error)
				}); ok {
					w.Header().Set("Cache-Control", "no-cache")
					http.ServeContent(w, r, name, c.modTime, rs)
					return
				}
			}
			f.Close()
		}
		if path.Ext(name) != "" || errors.Is(err, fs.ErrInvalid) {
			http.NotFound(w, r)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", c.modTime, bytes.NewReader(c.index))
}

// serveSignIn answers an unauthenticated browser with a page that links to
// the Access login.
func serveSignIn(w http.ResponseWriter, status int) {
	page, err := fs.ReadFile(console.Files, "signin.html")
	if err != nil {
		page = []byte("<!doctype html><title>Sign in</title><a href=\"/cdn-cgi/access/login\">Sign in</a>")
	}
	w.Header().Set("Content-Security-Policy", consoleCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(page)
}
