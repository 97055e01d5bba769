// Package console holds the web console: plain HTML, CSS and ES-module
// JavaScript with no build step, embedded into the binary. The caddymodule
// handler serves it (or a folder with the same layout, to restyle it).
package console

import "embed"

// Files is the console's static files, rooted at this directory.
//
//go:embed index.html signin.html assets
var Files embed.FS
