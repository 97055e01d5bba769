package access

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// Verifier checks Cloudflare Access (or other JWKS-published) tokens against one
// issuer and key set. It is safe for concurrent use. Keys are fetched in the
// background: New never blocks on the network, requests whose kid is cached never
// wait for a fetch, and a request whose kid is unknown waits at most FetchTimeout
// for the one refetch it may trigger.
type Verifier struct {
	cfg       Config // defaults applied
	client    *http.Client
	transport *http.Transport // ours to close, nil if the caller gave a client

	keys atomic.Pointer[keySet]

	ctx    context.Context // cancelled by Close; parents every fetch
	cancel context.CancelFunc
	wg     sync.WaitGroup // the refresher and in-flight fetches
	once   sync.Once

	mu         sync.Mutex
	inflight   *fetchCall // the single fetch in progress, shared by all who need it
	lastForced time.Time  // when a token last forced a fetch (by Config.Now)
	closed     bool
}

// fetchCall is one JWKS fetch; done is closed when err is set.
type fetchCall struct {
	done chan struct{}
	err  error
}

// New validates cfg, applies defaults and starts the background refresher, which
// fetches the key set immediately, retries with backoff (capped at MinRefetch)
// while fetches fail, and refreshes every RefreshEvery once it has keys. It does
// not wait for the first fetch: until it succeeds, Verify fails with ReasonNoKeys
// and Ready reports false. Call Close to stop the refresher.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	v := &Verifier{cfg: cfg, client: cfg.HTTPClient}
	if v.client == nil {
		v.client, v.transport = defaultHTTPClient(cfg.FetchTimeout)
	}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	v.wg.Add(1)
	go v.refreshLoop()
	return v, nil
}

// Close stops the refresher and any fetch in progress and waits for them to end.
// It is idempotent. After Close, Verify still uses the keys already cached but
// never fetches again.
func (v *Verifier) Close() {
	v.once.Do(func() {
		v.mu.Lock()
		v.closed = true
		v.mu.Unlock()
		v.cancel()
		v.wg.Wait()
		if v.transport != nil {
			v.transport.CloseIdleConnections()
		}
	})
}

// Ready reports whether the Verifier has a usable key set, for health checks.
func (v *Verifier) Ready() bool { return v.currentKeys() != nil }

// Verify checks token and returns its claims, or an *Error whose Reason says why it
// was refused. token is the single Cf-Access-Jwt-Assertion value (see
// TokenFromHeader); audiences are the AUD tags accepted on this route, and the
// token's aud must contain one of them exactly. An empty audiences list accepts
// nothing.
//
// In order, it checks: size; compact form; crit absent; alg in Config.Algorithms;
// kid present and sane; the key for kid (never any other key), refetching the key
// set at most once per MinRefetch if kid is unknown; the key fits alg; the
// signature; then the payload is a JSON object with iss exactly Config.Issuer, a
// matching aud, a numeric exp not past (with leeway), nbf and iat (if present) not
// in the future beyond the leeway, type equal to Config.RequireType if set, and a
// sub, email or common_name that names the principal.
func (v *Verifier) Verify(ctx context.Context, token string, audiences []string) (*Claims, error) {
	c, rerr := v.verify(ctx, token, audiences)
	if rerr != nil {
		return nil, rerr
	}
	return c, nil
}

func (v *Verifier) verify(ctx context.Context, token string, audiences []string) (*Claims, *Error) {
	if token == "" {
		return nil, reject(ReasonMissing)
	}
	if len(token) > v.cfg.MaxTokenBytes {
		return nil, reject(ReasonTooLarge)
	}
	jws, rerr := parseCompact(token)
	if rerr != nil {
		return nil, rerr
	}
	if jws.crit {
		return nil, reject(ReasonCrit)
	}
	if !slices.Contains(v.cfg.Algorithms, jws.alg) {
		return nil, reject(ReasonAlg)
	}
	if !validKID(jws.kid) {
		return nil, reject(ReasonKid)
	}
	key, rerr := v.lookup(ctx, jws.kid)
	if rerr != nil {
		return nil, rerr
	}
	if (key.alg != "" && key.alg != jws.alg) || !keyFits(jws.alg, key.pub) {
		return nil, reject(ReasonAlg)
	}
	if len(jws.signature) == 0 || jwsbb.Verify(key.pub, jws.alg, []byte(jws.signingInput), jws.signature) != nil {
		return nil, reject(ReasonSignature)
	}
	var cs claimSet
	if json.Unmarshal(jws.payload, &cs) != nil || cs == nil {
		return nil, reject(ReasonMalformed)
	}
	return v.checkClaims(cs, audiences)
}

// checkClaims applies the claim rules to a payload whose signature has verified.
func (v *Verifier) checkClaims(cs claimSet, audiences []string) (*Claims, *Error) {
	var c Claims
	var present, ok bool
	if c.Issuer, present, ok = cs.str("iss"); !present || !ok || c.Issuer != v.cfg.Issuer {
		return nil, reject(ReasonIssuer)
	}
	if c.Audience, ok = cs.audience(); !ok || !audienceMatch(c.Audience, audiences) {
		return nil, reject(ReasonAudience)
	}
	now, leeway := v.cfg.Now(), v.cfg.Leeway
	if c.ExpiresAt, present, ok = cs.date("exp"); !present || !ok || !now.Before(c.ExpiresAt.Add(leeway)) {
		return nil, reject(ReasonExpired)
	}
	if c.NotBefore, _, ok = cs.date("nbf"); !ok || (!c.NotBefore.IsZero() && now.Before(c.NotBefore.Add(-leeway))) {
		return nil, reject(ReasonNotBefore)
	}
	if c.IssuedAt, _, ok = cs.date("iat"); !ok || (!c.IssuedAt.IsZero() && c.IssuedAt.After(now.Add(leeway))) {
		return nil, reject(ReasonIssuedAt)
	}
	if c.Type, _, ok = cs.str("type"); !ok || (v.cfg.RequireType != "" && c.Type != v.cfg.RequireType) {
		return nil, reject(ReasonType)
	}
	var okSub, okEmail, okCN bool
	c.Subject, _, okSub = cs.str("sub")
	c.Email, _, okEmail = cs.str("email")
	c.CommonName, _, okCN = cs.str("common_name")
	if !okSub || !okEmail || !okCN || c.ID() == "" {
		return nil, reject(ReasonIdentity)
	}
	if name, present, ok := cs.str("name"); present && ok {
		c.Name = name
	} else {
		c.Name = c.CommonName
	}
	c.Groups = cs.groups()
	return &c, nil
}

// audienceMatch reports whether some element of aud equals some non-empty accepted
// audience exactly: no prefix, substring or case folding.
func audienceMatch(aud, accepted []string) bool {
	for _, want := range accepted {
		if want != "" && slices.Contains(aud, want) {
			return true
		}
	}
	return false
}

// currentKeys returns the installed key set, or nil if there is none or it is
// older than MaxStale.
func (v *Verifier) currentKeys() *keySet {
	ks := v.keys.Load()
	if ks == nil || v.cfg.Now().Sub(ks.fetched) > v.cfg.MaxStale {
		return nil
	}
	return ks
}

// lookup returns the key for kid. A cached kid is answered without locking. An
// unknown kid (or an empty key set) joins the fetch in progress, or starts one if
// none ran for MinRefetch, and waits for it at most FetchTimeout.
func (v *Verifier) lookup(ctx context.Context, kid string) (verifyKey, *Error) {
	if ks := v.currentKeys(); ks != nil {
		if k, ok := ks.byKID[kid]; ok {
			return k, nil
		}
	}
	if call := v.forcedFetch(); call != nil {
		timer := time.NewTimer(v.cfg.FetchTimeout)
		select {
		case <-call.done:
		case <-ctx.Done():
		case <-timer.C:
		}
		timer.Stop()
	}
	ks := v.currentKeys()
	if ks == nil {
		return verifyKey{}, reject(ReasonNoKeys)
	}
	if k, ok := ks.byKID[kid]; ok {
		return k, nil
	}
	return verifyKey{}, reject(ReasonKidUnknown)
}

// forcedFetch returns the fetch in progress, or starts one if the last forced
// fetch is at least MinRefetch old. It returns nil when rate-limited or closed.
func (v *Verifier) forcedFetch() *fetchCall {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	if v.inflight != nil {
		return v.inflight
	}
	now := v.cfg.Now()
	if !v.lastForced.IsZero() && now.Sub(v.lastForced) < v.cfg.MinRefetch {
		return nil
	}
	v.lastForced = now
	return v.startFetchLocked()
}

// startFetchLocked starts a fetch and records it as the one in flight; v.mu is held.
func (v *Verifier) startFetchLocked() *fetchCall {
	call := &fetchCall{done: make(chan struct{})}
	v.inflight = call
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		err := v.refresh()
		v.mu.Lock()
		v.inflight = nil
		v.mu.Unlock()
		call.err = err
		close(call.done)
	}()
	return call
}

// refresh fetches the key set and installs it; on failure the previous set stays
// (stale-if-error).
func (v *Verifier) refresh() error {
	ctx, cancel := context.WithTimeout(v.ctx, v.cfg.FetchTimeout)
	defer cancel()
	keys, err := v.fetchKeys(ctx)
	if err != nil {
		if v.ctx.Err() == nil {
			kept := 0
			if ks := v.keys.Load(); ks != nil {
				kept = len(ks.byKID)
			}
			v.cfg.Logger.Warn("access: JWKS refresh failed; keeping the last good keys", "error", err, "kept_keys", kept)
		}
		return err
	}
	v.keys.Store(&keySet{byKID: keys, fetched: v.cfg.Now()})
	v.cfg.Logger.Debug("access: JWKS refreshed", "jwks_url", v.cfg.JWKSURL, "keys", len(keys))
	return nil
}

// refreshLoop keeps the key set fresh until Close: every RefreshEvery after a
// success, with doubling backoff (1 s up to MinRefetch) after a failure.
func (v *Verifier) refreshLoop() {
	defer v.wg.Done()
	maxBackoff := min(v.cfg.MinRefetch, v.cfg.RefreshEvery)
	initial := min(time.Second, maxBackoff)
	backoff := initial
	for {
		v.mu.Lock()
		if v.closed {
			v.mu.Unlock()
			return
		}
		call := v.inflight
		if call == nil {
			call = v.startFetchLocked()
		}
		v.mu.Unlock()

		select {
		case <-call.done:
		case <-v.ctx.Done():
			return
		}
		wait := v.cfg.RefreshEvery
		if call.err != nil {
			wait = backoff
			backoff = min(2*backoff, maxBackoff)
		} else {
			backoff = initial
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-v.ctx.Done():
			timer.Stop()
			return
		}
	}
}
