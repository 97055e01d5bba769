package mcpproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/mcpexecutor/executor/store"
)

// listIntegrations returns every integration, by slug.
func (g *Gateway) listIntegrations() ([]Integration, error) {
	var out []Integration
	err := g.store.View(func(tx store.Tx) error {
		return tx.ForEach(store.Integrations, "", func(_ string, v []byte) error {
			var in Integration
			if err := json.Unmarshal(v, &in); err != nil {
				return fmt.Errorf("reading an integration: %w", err)
			}
			out = append(out, in)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out, err
}

// integrationKind returns the kind of the integration slug, or "".
func (g *Gateway) integrationKind(slug string) string {
	var in Integration
	_ = g.store.View(func(tx store.Tx) error {
		_, err := tx.GetJSON(store.Integrations, slug, &in)
		return err
	})
	return in.Kind
}

// resolveConnection loads what a kind needs to call e's upstream for p: the
// integration's configuration and the connection's credential, unsealed for
// this call only.
func (g *Gateway) resolveConnection(ctx context.Context, p Principal, e *toolEntry) (*integration.Connection, error) {
	subject := ""
	if e.Owner == OwnerUser {
		subject = p.ID
	}
	key := connectionKey(e.Owner, subject, e.Integration, e.Connection)
	var in Integration
	var conn Connection
	cred := integration.Credential{Values: map[string]string{}}
	err := g.store.View(func(tx store.Tx) error {
		if ok, err := tx.GetJSON(store.Integrations, e.Integration, &in); err != nil || !ok {
			return errors.Join(err, fmt.Errorf("integration %s is missing", e.Integration))
		}
		if ok, err := tx.GetJSON(store.Connections, key, &conn); err != nil || !ok {
			return errors.Join(err, fmt.Errorf("connection %s is missing", key))
		}
		for _, m := range in.AuthMethods {
			if m.Template != conn.Template {
				continue
			}
			for _, pl := range m.Placements {
				cred.Placements = append(cred.Placements, integration.Placement(pl))
				v := pl.Variable
				if v == "" {
					v = "token"
				}
				if pl.Literal != "" || cred.Values[v] != "" {
					continue
				}
				secret, err := tx.Secret(store.Connections, key, "var:"+v)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return fmt.Errorf("unsealing %s of %s: %w", v, key, err)
				}
				cred.Values[v] = string(secret)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &integration.Connection{
		Integration: in.Slug,
		Config:      in.Config,
		Owner:       conn.Owner,
		Subject:     conn.Subject,
		Name:        conn.Name,
		Credential:  cred,
		HTTP:        g.httpClient(),
	}, nil
}

// httpClient is the egress client kinds must use.
func (g *Gateway) httpClient() *http.Client {
	return g.config().HTTPClient
}

// saveConnectionTools persists a connection and the tools it produced, and
// puts them in the catalog.
func (g *Gateway) saveConnectionTools(conn Connection, kind string, cat *integration.Catalog) error {
	err := g.store.Update(func(tx store.Tx) error {
		if err := tx.PutJSON(store.Connections, conn.key(), conn); err != nil {
			return err
		}
		return tx.PutJSON(store.Tools, conn.key(), cat)
	})
	if err != nil {
		return fmt.Errorf("saving connection %s: %w", conn.Address(), err)
	}
	g.catalog.set(conn, kind, cat)
	return nil
}
