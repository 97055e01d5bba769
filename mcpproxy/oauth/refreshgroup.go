package oauth

import (
	"context"

	"golang.org/x/sync/singleflight"
)

// RefreshGroup runs at most one refresh per key at a time (G11): callers
// that ask while a refresh for the same key is in flight wait for it and
// share its result, so ten parallel calls with an expired token cost one
// token request and the rotated refresh token is not spent twice. Key it by
// credential (connection). The zero value is ready to use.
type RefreshGroup struct {
	g singleflight.Group
}

// Do runs refresh for key unless one is already running, and returns its
// result. refresh should re-read the stored credential first (a caller that
// arrives just after a refresh finished starts a new one, and must find the
// new token still fresh) and store a rotated refresh token before it
// returns. It runs with the first caller's context, so it should not depend
// on one request's cancellation; a waiting caller whose ctx ends returns
// ctx.Err() without stopping it. Each caller gets its own copy of the Token.
func (g *RefreshGroup) Do(ctx context.Context, key string, refresh func() (*Token, error)) (*Token, error) {
	ch := g.g.DoChan(key, func() (any, error) { return refresh() })
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		shared, _ := r.Val.(*Token)
		if shared == nil {
			return nil, nil
		}
		tok := *shared
		return &tok, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
