package openapi

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxDocumentBytes caps a fetched document.
const maxDocumentBytes = 32 << 20

// Fetch downloads an OpenAPI document with client, which should be the
// gateway's egress-guarded client. It refuses responses that are not 2xx,
// HTML pages, and documents over 32 MiB. Errors name the URL without its
// query, which may hold a key.
func Fetch(ctx context.Context, client *http.Client, rawURL string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the document URL %q is not an absolute http(s) URL", rawURL)
	}
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("fetching the OpenAPI document from %s: %v", shown, err)
	}
	req.Header.Set("Accept", "application/json, application/yaml, application/x-yaml, text/yaml, text/plain;q=0.9, */*;q=0.8")
	req.Header.Set("User-Agent", "executor")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the OpenAPI document from %s: %s", shown, cleanError(err, u))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("fetching the OpenAPI document from %s: the server answered %s", shown, resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); strings.EqualFold(mt, "text/html") {
		return nil, fmt.Errorf("%s returned an HTML page (text/html), not an OpenAPI document; use the URL of the JSON or YAML file itself", shown)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetching the OpenAPI document from %s: %s", shown, cleanError(err, u))
	}
	if len(data) > maxDocumentBytes {
		return nil, fmt.Errorf("the OpenAPI document at %s is larger than 32 MiB", shown)
	}
	return data, nil
}
