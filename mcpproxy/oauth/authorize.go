package oauth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// Authorization is one authorization-code flow in progress. The caller
// keeps State and Verifier server-side, bound to the signed-in user, for
// about ten minutes and for one callback only; URL is where the user goes.
type Authorization struct {
	URL      string
	State    string
	Verifier string
}

// StartAuthorization builds the authorization URL: response_type=code,
// client_id, redirect_uri, scope (the scopes joined; choose them from the
// challenge, else ep.ScopesSupported), a random single-use state of 256
// bits, PKCE S256 with a fresh 43-character verifier, and
// resource=ep.Resource when set (G12). Google's endpoint also gets
// access_type=offline and prompt=consent, without which it issues no refresh
// token.
//
// ep.AuthorizationURL must be https (or http on loopback): a configured
// template is checked here as discovery checks a discovered one (G4).
func StartAuthorization(ep *Endpoints, cl *Client, scopes []string) (*Authorization, error) {
	au, err := checkEndpoint("authorization endpoint", ep.AuthorizationURL, true)
	if err != nil {
		return nil, fmt.Errorf("starting authorization: %w", err)
	}
	if cl.ID == "" || cl.RedirectURI == "" {
		return nil, errors.New("starting authorization: the client has no ID or no redirect URI; register it first")
	}
	state, err := randomString(32)
	if err != nil {
		return nil, err
	}
	verifier := oauth2.GenerateVerifier()
	cfg := oauth2.Config{
		ClientID:    cl.ID,
		Endpoint:    oauth2.Endpoint{AuthURL: ep.AuthorizationURL},
		RedirectURL: cl.RedirectURI,
		Scopes:      scopes,
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if ep.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", ep.Resource))
	}
	if strings.EqualFold(au.Hostname(), "accounts.google.com") {
		opts = append(opts, oauth2.AccessTypeOffline, oauth2.ApprovalForce)
	}
	return &Authorization{URL: cfg.AuthCodeURL(state, opts...), State: state, Verifier: verifier}, nil
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CallbackCheck validates the query of the redirect back from the
// authorization server and returns the code. The state must equal
// expectedState (compared in constant time; G5). An error parameter becomes
// an error quoting what the server said (the user may have declined). When
// the query carries iss (RFC 9207), or the server advertises
// authorization_response_iss_parameter_supported, iss must equal ep.Issuer
// (G7, the mix-up defence); with an empty ep.Issuer (a configured template)
// there is nothing to compare and iss is not checked.
//
// Single use of the state, its expiry and its binding to the signed-in user
// (G6) are the caller's: look the state up, delete it, then call this.
func CallbackCheck(q url.Values, ep *Endpoints, expectedState string) (code string, err error) {
	if expectedState == "" {
		return "", errors.New("checking the authorization callback: no state was expected; start the connection again")
	}
	state := q.Get("state")
	if state == "" {
		return "", errors.New("the authorization callback has no state; start the connection again")
	}
	if subtle.ConstantTimeCompare([]byte(state), []byte(expectedState)) != 1 {
		return "", errors.New("the authorization callback's state does not match this flow; it may be forged or from another attempt. Start the connection again")
	}
	if iss, ok := q["iss"]; (ok || ep.IssParameterSupported) && ep.Issuer != "" {
		switch {
		case !ok || len(iss) != 1:
			return "", errors.New("the authorization callback has no iss (or several), and the authorization server promised one (RFC 9207); start the connection again")
		case !sameURL(iss[0], ep.Issuer):
			return "", fmt.Errorf("the authorization callback comes from the issuer %s, not %s; refusing it (RFC 9207 mix-up defence). Start the connection again", quote(iss[0]), quote(ep.Issuer))
		}
	}
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("the authorization server refused the authorization: %s; start the connection again (and approve it)", describeOAuthError(e, q.Get("error_description")))
	}
	code = q.Get("code")
	if code == "" {
		return "", errors.New("the authorization callback has neither a code nor an error; start the connection again")
	}
	return code, nil
}
