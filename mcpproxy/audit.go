package mcpproxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpexecutor/executor/store"
)

// auditRecord is one entry of the audit log: a policy decision and the call
// it led to, or a change of configuration. It never holds argument values or
// secrets: arguments are kept as a digest.
type auditRecord struct {
	Seq        uint64 `json:"seq"`
	Time       int64  `json:"time"` // ms since the epoch
	Principal  string `json:"principal"`
	Email      string `json:"email,omitempty"` // the principal's, as signed in then
	Name       string `json:"name,omitempty"`
	Kind       string `json:"kind"` // "call", "approval", "policy"
	Address    string `json:"address"`
	Decision   string `json:"decision,omitempty"` // approve, require_approval, block
	Pattern    string `json:"pattern,omitempty"`  // the policy that decided; "" = the tool's default
	PolicyID   string `json:"policyId,omitempty"`
	Outcome    string `json:"outcome"` // ok, error code, blocked, paused, approved, declined, …
	DurationMS int64  `json:"durationMs,omitempty"`
	ArgsDigest string `json:"argsDigest,omitempty"`
	Source     string `json:"source,omitempty"`
	Execution  string `json:"executionId,omitempty"`

	// args are the call's arguments, made into ArgsDigest when the record is
	// written rather than on the call's way back to the agent.
	args json.RawMessage
}

// Audit retention defaults.
const (
	DefaultAuditMaxEntries = 100_000
	DefaultAuditMaxAge     = 90 * 24 * time.Hour
)

// auditLog writes records in small batches from one goroutine, so a tool
// call never waits for an fsync: records are committed within
// auditFlushEvery (or when auditBatch are pending). A crash can lose at most
// that window.
type auditLog struct {
	g       *Gateway
	flushMu sync.Mutex // one flush at a time
	mu      sync.Mutex
	pending []auditRecord
	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	writes  int
}

const (
	auditFlushEvery = 50 * time.Millisecond
	auditBatch      = 256
)

func newAuditLog(g *Gateway) *auditLog {
	a := &auditLog{g: g, kick: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go a.loop()
	return a
}

func (a *auditLog) add(r auditRecord) {
	a.mu.Lock()
	a.pending = append(a.pending, r)
	n := len(a.pending)
	a.mu.Unlock()
	if n >= auditBatch {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

func (a *auditLog) loop() {
	defer close(a.stopped)
	t := time.NewTicker(auditFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-a.done:
			a.flush()
			return
		case <-t.C:
		case <-a.kick:
		}
		a.flush()
	}
}

// flush commits pending records and, now and then, applies retention.
func (a *auditLog) flush() {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	a.mu.Lock()
	batch := a.pending
	a.pending = nil
	a.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	for i := range batch {
		if batch[i].args != nil {
			batch[i].ArgsDigest, batch[i].args = argsDigest(batch[i].args), nil
		}
	}
	err := a.g.store.Update(func(tx store.Tx) error {
		for i := range batch {
			seq, err := tx.NextSequence(store.Audit)
			if err != nil {
				return err
			}
			batch[i].Seq = seq
			if err := tx.PutJSON(store.Audit, store.SequenceKey(seq), batch[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		a.g.logger.Error("writing the audit log", "error", err, "records", len(batch))
		return
	}
	a.writes += len(batch)
	if a.writes >= 1000 {
		a.writes = 0
		a.prune()
		a.g.checkStorage()
	}
}

// auditCount is how many records the audit log holds. Their keys are
// consecutive sequence numbers (prune deletes only from the oldest), so the
// first and the last key tell, and reading them touches a few pages of the
// database rather than all of them: counting by a scan kept the whole log
// in the process's memory map, tens of MB of resident memory.
func auditCount(tx store.Tx) (int, error) {
	var first, last string
	edge := func(dst *string) func(string, []byte) error {
		return func(key string, _ []byte) error { *dst = key; return store.ErrStop }
	}
	if err := tx.ForEach(store.Audit, "", edge(&first)); err != nil {
		return 0, err
	}
	if err := tx.ForEachReverse(store.Audit, "", edge(&last)); err != nil {
		return 0, err
	}
	if first == "" {
		return 0, nil
	}
	lo, err1 := strconv.ParseUint(first, 10, 64)
	hi, err2 := strconv.ParseUint(last, 10, 64)
	if err1 != nil || err2 != nil || hi < lo {
		return tx.Count(store.Audit, "") // not sequence keys: count them
	}
	return int(hi - lo + 1), nil
}

// prune drops the oldest records beyond the configured count or age.
func (a *auditLog) prune() {
	cfg := a.g.config()
	maxN, maxAge := cfg.AuditMaxEntries, cfg.AuditMaxAge
	if maxN <= 0 {
		maxN = DefaultAuditMaxEntries
	}
	if maxAge <= 0 {
		maxAge = DefaultAuditMaxAge
	}
	cutoff := time.Now().Add(-maxAge).UnixMilli()
	err := a.g.store.Update(func(tx store.Tx) error {
		total, err := auditCount(tx)
		if err != nil {
			return err
		}
		excess := total - maxN
		var drop []string
		err = tx.ForEach(store.Audit, "", func(key string, v []byte) error {
			if excess > 0 {
				drop = append(drop, key)
				excess--
				return nil
			}
			var r struct {
				Time int64 `json:"time"`
			}
			if json.Unmarshal(v, &r) == nil && r.Time < cutoff {
				drop = append(drop, key)
				return nil
			}
			return store.ErrStop
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := tx.Delete(store.Audit, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		a.g.logger.Error("pruning the audit log", "error", err)
	}
}

func (a *auditLog) close() {
	select {
	case <-a.done:
	default:
		close(a.done)
	}
	<-a.stopped
}

// audit records r now (the write itself happens within auditFlushEvery).
func (g *Gateway) audit(_ context.Context, p Principal, r auditRecord) {
	r.Principal, r.Email, r.Name = p.ID, p.Email, p.Name
	if r.Time == 0 {
		r.Time = time.Now().UnixMilli()
	}
	g.auditLog.add(r)
}

// argsDigest is a SHA-256 of the canonical arguments: enough to tell calls
// apart and match them to an approval, nothing that reveals their values.
func argsDigest(args json.RawMessage) string {
	sum := sha256.Sum256(canonicalJSON(args))
	return hex.EncodeToString(sum[:16])
}

// canonicalJSON re-encodes JSON with sorted object keys and no insignificant
// white space, so equal values hash equally.
func canonicalJSON(raw json.RawMessage) []byte {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return b
}

// handleAudit is GET /api/audit?principal&address&decision&outcome&kind&since&until&limit&before.
// Newest first; `before` is the seq to continue from (nextBefore of the last page).
func (g *Gateway) handleAudit(w http.ResponseWriter, r *http.Request) {
	g.auditLog.flushNow()
	q := r.URL.Query()
	limit := 50
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 {
		limit = min(v, 500)
	}
	var before uint64
	if v, err := strconv.ParseUint(q.Get("before"), 10, 64); err == nil {
		before = v
	}
	since, _ := strconv.ParseInt(q.Get("since"), 10, 64)
	until, _ := strconv.ParseInt(q.Get("until"), 10, 64)
	match := func(rec *auditRecord) bool {
		return (q.Get("principal") == "" || rec.Principal == q.Get("principal") || strings.EqualFold(rec.Email, q.Get("principal"))) &&
			(q.Get("address") == "" || strings.Contains(rec.Address, strings.TrimPrefix(q.Get("address"), "tools."))) &&
			(q.Get("decision") == "" || rec.Decision == q.Get("decision")) &&
			(q.Get("outcome") == "" || rec.Outcome == q.Get("outcome")) &&
			(q.Get("kind") == "" || rec.Kind == q.Get("kind")) &&
			(since == 0 || rec.Time >= since) && (until == 0 || rec.Time <= until)
	}
	items := []auditRecord{}
	var next *uint64
	err := g.store.View(func(tx store.Tx) error {
		return tx.ForEachReverse(store.Audit, "", func(key string, v []byte) error {
			var rec auditRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return nil
			}
			if before != 0 && rec.Seq >= before {
				return nil
			}
			if !match(&rec) {
				return nil
			}
			if len(items) == limit {
				seq := items[len(items)-1].Seq
				next = &seq
				return store.ErrStop
			}
			items = append(items, rec)
			return nil
		})
	})
	if err != nil {
		g.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "nextBefore": next})
}

// flushNow commits pending records before a read, so the API shows every
// decision made so far.
func (a *auditLog) flushNow() {
	a.flush()
}
