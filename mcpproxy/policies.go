package mcpproxy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpexecutor/executor/store"
)

// Policy actions.
const (
	ActionApprove         = "approve"          // "Always run"
	ActionRequireApproval = "require_approval" // "Require approval"
	ActionBlock           = "block"            // "Block"
)

// restrictiveness orders actions; across owners the most restrictive wins.
var restrictiveness = map[string]int{ActionApprove: 0, ActionRequireApproval: 1, ActionBlock: 2}

// Policy is one rule: a pattern over tool ids and an action. Rules belong to
// the organization or to one principal; within an owner the first matching
// rule by position decides.
type Policy struct {
	ID        string  `json:"id"`
	Owner     string  `json:"owner"`
	Subject   string  `json:"-"`
	Pattern   string  `json:"pattern"`
	Action    string  `json:"action"`
	Position  float64 `json:"position"`
	CreatedAt int64   `json:"createdAt"`
	UpdatedAt int64   `json:"updatedAt"`

	segs []string
}

// storedPolicy keeps the subject, which the API does not show.
type storedPolicy struct {
	Policy
	StoredSubject string `json:"subject,omitempty"`
}

// ParsePattern checks a policy pattern: `*`; an exact id; a trailing `.*`
// for a subtree (the prefix and anything below it); `*` as a whole segment
// for exactly one segment (`vercel.*.*.dns.create`). Partial wildcards
// (`pe*`), a leading `*` before other segments, empty segments and leading or
// trailing dots are refused with a sentence naming the problem.
func ParsePattern(p string) ([]string, error) {
	if p == "*" {
		return []string{"*"}, nil
	}
	switch {
	case p == "":
		return nil, fmt.Errorf("pattern must not be empty; use * for every tool")
	case len(p) > 512:
		return nil, fmt.Errorf("pattern is longer than 512 characters")
	case strings.HasPrefix(p, ".") || strings.HasSuffix(p, "."):
		return nil, fmt.Errorf("pattern %q must not start or end with a dot", p)
	case strings.HasPrefix(p, "tools."):
		return nil, fmt.Errorf("pattern %q must not start with \"tools.\": write the path after it, e.g. %q", p, strings.TrimPrefix(p, "tools."))
	}
	segs := strings.Split(p, ".")
	for i, s := range segs {
		switch {
		case s == "":
			return nil, fmt.Errorf("pattern %q has an empty segment", p)
		case s == "*" && i == 0:
			return nil, fmt.Errorf("pattern %q must not start with *; use * alone for every tool, or name the integration first", p)
		case s != "*" && strings.Contains(s, "*"):
			return nil, fmt.Errorf("pattern %q has a partial wildcard %q; * must be a whole segment", p, s)
		case strings.ContainsAny(s, " \t\r\n"):
			return nil, fmt.Errorf("pattern %q must not contain white space", p)
		}
	}
	return segs, nil
}

// matchPattern reports whether the tool id (split on dots) matches.
func matchPattern(pat, id []string) bool {
	if len(pat) == 1 && pat[0] == "*" {
		return true
	}
	subtree := pat[len(pat)-1] == "*" && len(pat) > 1
	fixed := pat
	if subtree {
		fixed = pat[:len(pat)-1]
		if len(id) < len(fixed) {
			return false
		}
	} else if len(id) != len(pat) {
		return false
	}
	for i, s := range fixed {
		if s != "*" && s != id[i] {
			return false
		}
	}
	return true
}

// specificity ranks patterns for placing a new rule: a literal segment
// counts 2, a one-segment wildcard 1, an exact (non-subtree) pattern 1 more.
// `*` = 0, `a.*` = 2, `a.b.*` = 4, `a.b` = 5, `a.b.c` = 7.
func specificity(segs []string) int {
	if len(segs) == 1 && segs[0] == "*" {
		return 0
	}
	n := 0
	subtree := segs[len(segs)-1] == "*"
	body := segs
	if subtree {
		body = segs[:len(segs)-1]
	}
	for _, s := range body {
		if s == "*" {
			n++
		} else {
			n += 2
		}
	}
	if !subtree {
		n++
	}
	return n
}

// policySet is every policy in memory, by owner, in evaluation order.
type policySet struct {
	mu      sync.RWMutex
	org     []*Policy
	user    map[string][]*Policy // subject → rules
	version atomic.Uint64
}

func (ps *policySet) load(st store.Store) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.org, ps.user = nil, map[string][]*Policy{}
	err := st.View(func(tx store.Tx) error {
		return tx.ForEach(store.Policies, "", func(_ string, v []byte) error {
			var sp storedPolicy
			if err := json.Unmarshal(v, &sp); err != nil {
				return fmt.Errorf("reading a policy: %w", err)
			}
			p := sp.Policy
			p.Subject = sp.StoredSubject
			segs, err := ParsePattern(p.Pattern)
			if err != nil {
				return nil // unreadable rules never match; they stay visible for deletion
			}
			p.segs = segs
			if p.Owner == OwnerOrg {
				ps.org = append(ps.org, &p)
			} else {
				ps.user[p.Subject] = append(ps.user[p.Subject], &p)
			}
			return nil
		})
	})
	sortPolicies(ps.org)
	for _, rules := range ps.user {
		sortPolicies(rules)
	}
	ps.version.Add(1)
	return err
}

func sortPolicies(rules []*Policy) {
	sort.SliceStable(rules, func(i, j int) bool {
		if rules[i].Position != rules[j].Position {
			return rules[i].Position < rules[j].Position
		}
		return rules[i].CreatedAt < rules[j].CreatedAt
	})
}

// decision is the outcome of the policy check for one call.
type decision struct {
	Action   string // approve, require_approval, block
	Pattern  string // the rule that decided; "" for the tool's default
	PolicyID string
	// Default is true when no rule matched and the tool's annotation decided.
	Default bool
}

// decide applies the policies of the organization and of p to a tool:
// within each owner the first matching rule; across owners the most
// restrictive, so a personal rule can never weaken an organization rule.
// With no rule, a tool marked requiresApproval needs approval; an explicit
// approve rule lifts that default gate.
func (ps *policySet) decide(p Principal, id []string, requiresApproval bool) decision {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	var found []*Policy
	if r := firstMatch(ps.org, id); r != nil {
		found = append(found, r)
	}
	if r := firstMatch(ps.user[p.ID], id); r != nil {
		found = append(found, r)
	}
	if len(found) == 0 {
		if requiresApproval {
			return decision{Action: ActionRequireApproval, Default: true}
		}
		return decision{Action: ActionApprove, Default: true}
	}
	best := found[0]
	for _, r := range found[1:] {
		if restrictiveness[r.Action] > restrictiveness[best.Action] {
			best = r
		}
	}
	return decision{Action: best.Action, Pattern: best.Pattern, PolicyID: best.ID}
}

func firstMatch(rules []*Policy, id []string) *Policy {
	for _, r := range rules {
		if matchPattern(r.segs, id) {
			return r
		}
	}
	return nil
}

// hasBlock reports whether any block rule applies to p at all, so listing
// can skip the per-tool check in the common case.
func (ps *policySet) hasBlock(p Principal) bool {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	for _, rules := range [][]*Policy{ps.org, ps.user[p.ID]} {
		for _, r := range rules {
			if r.Action == ActionBlock {
				return true
			}
		}
	}
	return false
}

// rules returns the rules p sees (the organization's and p's own), in
// evaluation order per owner.
func (ps *policySet) rules(p Principal) []Policy {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	var out []Policy
	for _, r := range ps.org {
		out = append(out, *r)
	}
	for _, r := range ps.user[p.ID] {
		out = append(out, *r)
	}
	return out
}

// placeFor returns the position of a new rule for owner: just below every
// more specific rule, so a broad rule added later never shadows a narrow one.
func placeFor(rules []*Policy, segs []string) float64 {
	spec := specificity(segs)
	last := -1
	for i, r := range rules {
		if specificity(r.segs) > spec {
			last = i
		}
	}
	switch {
	case len(rules) == 0:
		return 1000
	case last == -1:
		return rules[0].Position - 1000
	case last == len(rules)-1:
		return rules[last].Position + 1000
	}
	return (rules[last].Position + rules[last+1].Position) / 2
}

func newPolicyID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "pol_" + hex.EncodeToString(b[:])
}

// policyRequest is the body of POST and PATCH /api/policies.
type policyRequest struct {
	Owner    string   `json:"owner"`
	Pattern  *string  `json:"pattern"`
	Action   *string  `json:"action"`
	Position *float64 `json:"position"`
}

// createPolicy validates and stores a rule.
func (g *Gateway) createPolicy(p Principal, req policyRequest) (*Policy, error) {
	if err := validOwner(req.Owner); err != nil {
		return nil, badRequest("%v", err)
	}
	if req.Pattern == nil || req.Action == nil {
		return nil, badRequest("pattern and action are required")
	}
	segs, err := ParsePattern(*req.Pattern)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if _, ok := restrictiveness[*req.Action]; !ok {
		return nil, badRequest("action %q must be approve, require_approval or block", *req.Action)
	}
	now := time.Now().UnixMilli()
	pol := &Policy{ID: newPolicyID(), Owner: req.Owner, Pattern: *req.Pattern, Action: *req.Action, CreatedAt: now, UpdatedAt: now, segs: segs}
	if req.Owner == OwnerUser {
		pol.Subject = p.ID
	}
	g.policies.mu.RLock()
	rules := g.policies.org
	if req.Owner == OwnerUser {
		rules = g.policies.user[p.ID]
	}
	if req.Position != nil {
		pol.Position = *req.Position
	} else {
		pol.Position = placeFor(rules, segs)
	}
	g.policies.mu.RUnlock()
	if err := g.savePolicy(pol); err != nil {
		return nil, err
	}
	return pol, nil
}

func (g *Gateway) savePolicy(pol *Policy) error {
	err := g.store.Update(func(tx store.Tx) error {
		return tx.PutJSON(store.Policies, pol.ID, storedPolicy{Policy: *pol, StoredSubject: pol.Subject})
	})
	if err != nil {
		return err
	}
	g.policiesChanged()
	return nil
}

// policiesChanged reloads the rules after a write.
func (g *Gateway) policiesChanged() {
	if err := g.policies.load(g.store); err != nil {
		g.logger.Error("reloading policies", "error", err)
	}
}

// policyFor finds a rule p may change: an organization rule, or p's own.
func (g *Gateway) policyFor(p Principal, id string) (*Policy, error) {
	for _, r := range g.policies.rules(p) {
		if r.ID == id {
			pol := r
			return &pol, nil
		}
	}
	return nil, &userError{http.StatusNotFound, fmt.Sprintf("policy %q not found", id)}
}

func (g *Gateway) updatePolicy(p Principal, id string, req policyRequest) (*Policy, error) {
	pol, err := g.policyFor(p, id)
	if err != nil {
		return nil, err
	}
	if req.Owner != "" && req.Owner != pol.Owner {
		return nil, badRequest("owner cannot be changed; delete the rule and create it for the other owner")
	}
	if req.Pattern != nil {
		segs, err := ParsePattern(*req.Pattern)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		pol.Pattern, pol.segs = *req.Pattern, segs
	}
	if req.Action != nil {
		if _, ok := restrictiveness[*req.Action]; !ok {
			return nil, badRequest("action %q must be approve, require_approval or block", *req.Action)
		}
		pol.Action = *req.Action
	}
	if req.Position != nil {
		pol.Position = *req.Position
	}
	pol.UpdatedAt = time.Now().UnixMilli()
	return pol, g.savePolicy(pol)
}

func (g *Gateway) deletePolicy(p Principal, id string) error {
	if _, err := g.policyFor(p, id); err != nil {
		return err
	}
	if err := g.store.Update(func(tx store.Tx) error { return tx.Delete(store.Policies, id) }); err != nil {
		return err
	}
	g.policiesChanged()
	return nil
}

// policyView adds the "matches N tools" preview.
type policyView struct {
	Policy
	Matches int `json:"matches"`
}

func (g *Gateway) viewPolicies(p Principal, rules []Policy) []policyView {
	entries := g.catalog.visible(p)
	out := make([]policyView, 0, len(rules))
	for _, r := range rules {
		n := 0
		if segs, err := ParsePattern(r.Pattern); err == nil {
			for _, e := range entries {
				if matchPattern(segs, e.segs) {
					n++
				}
			}
		}
		out = append(out, policyView{Policy: r, Matches: n})
	}
	return out
}

func (g *Gateway) handlePoliciesList(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	writeJSON(w, http.StatusOK, g.viewPolicies(p, g.policies.rules(p)))
}

func (g *Gateway) handlePolicyCreate(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req policyRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	pol, err := g.createPolicy(p, req)
	if err != nil {
		g.writeErr(w, err)
		return
	}
	g.audit(r.Context(), p, auditRecord{Kind: "policy", Address: pol.Pattern, Decision: pol.Action, Outcome: "created", Source: "api", PolicyID: pol.ID})
	writeJSON(w, http.StatusOK, g.viewPolicies(p, []Policy{*pol})[0])
}

func (g *Gateway) handlePolicyPatch(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req policyRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	pol, err := g.updatePolicy(p, r.PathValue("id"), req)
	if err != nil {
		g.writeErr(w, err)
		return
	}
	g.audit(r.Context(), p, auditRecord{Kind: "policy", Address: pol.Pattern, Decision: pol.Action, Outcome: "updated", Source: "api", PolicyID: pol.ID})
	writeJSON(w, http.StatusOK, g.viewPolicies(p, []Policy{*pol})[0])
}

func (g *Gateway) handlePolicyDelete(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Owner string `json:"owner"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	pol, err := g.policyFor(p, r.PathValue("id"))
	if err != nil {
		g.writeErr(w, err)
		return
	}
	if req.Owner != pol.Owner {
		g.writeErr(w, badRequest("owner %q does not match the rule's owner %q", req.Owner, pol.Owner))
		return
	}
	if err := g.deletePolicy(p, pol.ID); err != nil {
		g.writeErr(w, err)
		return
	}
	g.audit(r.Context(), p, auditRecord{Kind: "policy", Address: pol.Pattern, Decision: pol.Action, Outcome: "deleted", Source: "api", PolicyID: pol.ID})
	writeJSON(w, http.StatusOK, map[string]bool{"removed": true})
}
