package agentcostprocessor

import (
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentcost/agentcost/internal/genai"
)

// Span actions decided per batch.
const (
	actNone    uint8 = iota // not a GenAI span, or priced upstream: untouched
	actStamp                // stamp identity (and price if billable) now
	actPending              // billable, agent may still arrive: holding decides
	actHeld                 // moved into the hold buffer
	actDup                  // a copy of a span restored from hold.storage: removed
)

// Identity statuses (internal; mapped to attrs.Identity* at stamping).
const (
	statusOwn uint8 = iota
	statusInherited
	statusFallback
)

type agentRef struct{ id, name, version string }

type identity struct {
	agent  agentRef
	root   string
	status uint8
}

type spanKey struct {
	t pcommon.TraceID
	s pcommon.SpanID
}

type spanInfo struct {
	span   ptrace.Span
	call   genai.Call
	scope  string
	trace  pcommon.TraceID
	id     pcommon.SpanID
	parent pcommon.SpanID
	top    bool
	action uint8
	res    int32
	rsIdx  int32
	ssIdx  int32
	own    agentRef
	ident  identity
	memo   uint8 // 0 not computed, 1 computing, 2 done
	// rootPending: own identity, ancestry incomplete in the batch.
	rootPending bool
	up          walkResult
	// arrived is a held span's arrival (zero for the batch's own spans):
	// its pricing time when it has no start and end time.
	arrived time.Time
}

type resInfo struct{ fallbackID string }

// scratch is the per-batch working memory, pooled.
type scratch struct {
	spans       []spanInfo
	res         []resInfo
	index       spanIndex
	pending     int
	held        int
	remember    int // spans worth remembering for later batches
	rootPending int
	dups        int // spans marked actDup
	ctr         counters
	w           attrWriter
	// buf holds the decimal strings written on this batch's spans; it is
	// dropped, never reused, after the batch.
	buf []byte
	tx  holdTxn // hold changes committed only once downstream accepts
}

func newScratch() *scratch {
	return &scratch{}
}

func (sc *scratch) grow(n int) {
	if cap(sc.spans) < n {
		sc.spans = make([]spanInfo, 0, n)
	}
	sc.index.init(n)
}

func (sc *scratch) reset() {
	clear(sc.spans)
	sc.spans = sc.spans[:0]
	sc.res = sc.res[:0]
	sc.index.slots = sc.index.slots[:0]
	sc.pending, sc.held, sc.remember, sc.rootPending, sc.dups = 0, 0, 0, 0, 0
	sc.buf = nil
	sc.ctr.reset()
	sc.tx.reset()
}

type node struct {
	parent pcommon.SpanID
	top    bool
	agent  agentRef
}

type walkResult struct {
	nearest, outer agentRef
	complete       bool
}

// ancestors is the walk from span s's parent within the batch, memoised
// per span so that siblings share their ancestors' work.
func (sc *scratch) ancestors(s *spanInfo) walkResult {
	if s.top {
		return walkResult{complete: true}
	}
	if pi, ok := sc.index.get(sc.spans, s.trace, s.parent); ok {
		return sc.upFrom(pi, 0)
	}
	return walkResult{}
}

// upFrom is the walk result for the ancestry starting at span i itself.
func (sc *scratch) upFrom(i int32, depth int) walkResult {
	s := &sc.spans[i]
	switch {
	case s.memo == 2:
		return s.up
	case s.memo == 1 || depth >= maxDepth: // parent cycle or too deep: stop here
		return walkResult{complete: true}
	}
	s.memo = 1
	var r walkResult
	if s.top {
		r.complete = true
	} else if pi, ok := sc.index.get(sc.spans, s.trace, s.parent); ok {
		r = sc.upFrom(pi, depth+1)
	}
	if s.own.id != "" {
		r.nearest = s.own
		if r.outer.id == "" {
			r.outer = s.own
		}
	}
	s.up, s.memo = r, 2
	return r
}

// maxDepth bounds an ancestry walk (and breaks parent cycles).
const maxDepth = 256

// walk climbs from a span's parent through the batch (sc) and the held
// trace's remembered nodes (ht), either of which may be nil. It returns the
// nearest and outermost agents found and whether it reached the top of the
// trace's local tree.
func walk(sc *scratch, ht *heldTrace, rec *recentNodes, trace pcommon.TraceID, parent pcommon.SpanID, top bool) walkResult {
	var w walkResult
	if top {
		w.complete = true
		return w
	}
	cur := parent
	for range maxDepth {
		n, ok := lookup(sc, ht, rec, trace, cur)
		if !ok {
			return w
		}
		if n.agent.id != "" {
			if w.nearest.id == "" {
				w.nearest = n.agent
			}
			w.outer = n.agent
		}
		if n.top {
			w.complete = true
			return w
		}
		cur = n.parent
	}
	w.complete = true
	return w
}

func lookup(sc *scratch, ht *heldTrace, rec *recentNodes, trace pcommon.TraceID, id pcommon.SpanID) (node, bool) {
	if sc != nil {
		if i, ok := sc.index.get(sc.spans, trace, id); ok {
			s := &sc.spans[i]
			return node{parent: s.parent, top: s.top, agent: s.own}, true
		}
	}
	if ht != nil {
		if n, ok := ht.nodes[id]; ok {
			return n, true
		}
	}
	if rec != nil {
		n, ok := rec.m[spanKey{trace, id}]
		return n, ok
	}
	return node{}, false
}

// recentNodes remembers the agent spans and local top spans of recent
// batches (bounded, oldest evicted first), so that a child arriving after
// its agent still finds it.
type recentNodes struct {
	m    map[spanKey]node
	ring []spanKey
	head int
	n    int
}

func newRecentNodes(capacity int) *recentNodes {
	return &recentNodes{m: make(map[spanKey]node), ring: make([]spanKey, capacity)}
}

func (r *recentNodes) add(k spanKey, n node) {
	if len(r.ring) == 0 {
		return
	}
	if _, ok := r.m[k]; ok {
		r.m[k] = n
		return
	}
	if r.n == len(r.ring) {
		delete(r.m, r.ring[r.head])
		r.head = (r.head + 1) % len(r.ring)
		r.n--
	}
	r.ring[(r.head+r.n)%len(r.ring)] = k
	r.n++
	r.m[k] = n
}

// remembered reports whether a span is worth remembering for later
// batches: the top of a trace's local tree, a span with its own agent, or a
// GenAI span that encloses calls (agent, workflow, chain). Plain spans are
// not remembered: one between an agent and a later-arriving call leaves
// that call held until its wait runs out.
func remembered(s *spanInfo) bool {
	if s.top {
		return true
	}
	if s.call.Kind.Billable() {
		return false
	}
	return s.own.id != "" || s.call.Kind != genai.KindNone
}

// heldSpan is one span waiting for its agent, in its own Traces (resource
// and scope copied).
type heldSpan struct {
	td         ptrace.Traces // the span as received, never stamped
	trace      pcommon.TraceID
	parent     pcommon.SpanID
	deadline   time.Time
	fallbackID string
	ident      identity
	// txn is the batch that held the span while that batch is still on its
	// way downstream (0 once committed): such a span is neither released
	// nor expired, and goes away if downstream refuses the batch.
	txn uint64
	// arrived is when the processor received the span (its clock): the
	// pricing time of a span without start and end time, so that a span
	// released again after a crash is priced, and stored, at the same time.
	arrived time.Time
	// failedSince is when a release of this span was first refused
	// downstream (zero when none was).
	failedSince time.Time
	// key is the sequence number of the span's record in hold.storage (0
	// without storage).
	key uint64
}

type heldTrace struct {
	id    pcommon.TraceID
	nodes map[pcommon.SpanID]node
	spans []heldSpan
	mark  uint64
}

// maxNodesPerTrace bounds the ancestry remembered for one held trace.
const maxNodesPerTrace = 10_000

// holder is the bounded hold buffer. Several collectors must route spans by
// trace id (the contrib loadbalancing exporter) for it to see whole traces.
type holder struct {
	mu        sync.Mutex
	traces    map[pcommon.TraceID]*heldTrace
	nSpans    int
	count     atomic.Int64 // traces held, read without the lock
	wait      time.Duration
	maxSpans  int
	maxTraces int
	gen       uint64
	now       func() time.Time
	recent    *recentNodes
	// retryFor is how long a timed-out span whose release downstream
	// refuses is kept and retried before it is dropped (and counted).
	retryFor time.Duration
	// durable is set (in Start, before any batch) when hold.storage is
	// configured: newly held spans get a record key (seq) and are listed in
	// the batch's holdTxn for writing.
	durable bool
	seq     uint64
	// restored are the spans loaded from hold.storage at Start (written
	// only there, read-only afterwards).
	restored map[spanKey]struct{}
}

func newHolder(cfg HoldConfig) *holder {
	return &holder{
		traces:    make(map[pcommon.TraceID]*heldTrace),
		wait:      cfg.Wait,
		maxSpans:  cfg.MaxSpans,
		maxTraces: cfg.MaxTraces,
		now:       time.Now,
		recent:    newRecentNodes(cfg.MaxSpans),
		retryFor:  releaseRetryFor,
	}
}

// active reports whether any trace has held spans.
func (h *holder) active() bool { return h.count.Load() > 0 }

// process decides the batch's pending spans (resolve with remembered
// ancestry, hold, or release on overflow), remembers the batch's spans of
// held traces, and returns the held spans that the batch resolved.
func (h *holder) process(sc *scratch, td ptrace.Traces) (released []heldSpan, heldNow, overflow int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	sc.tx.id = h.gen
	now := h.now()
	var touched []*heldTrace

	// Traces already held that this batch touches.
	if len(h.traces) > 0 {
		for i := range sc.spans {
			s := &sc.spans[i]
			if ht := h.traces[s.trace]; ht != nil && ht.mark != h.gen {
				ht.mark = h.gen
				touched = append(touched, ht)
			}
		}
	}

	if sc.remember > 0 {
		for i := range sc.spans {
			if s := &sc.spans[i]; remembered(s) {
				h.recent.add(spanKey{s.trace, s.id}, node{parent: s.parent, top: s.top, agent: s.own})
			}
		}
	}

	if sc.rootPending > 0 {
		for i := range sc.spans {
			s := &sc.spans[i]
			if !s.rootPending {
				continue
			}
			if w := walk(sc, h.traces[s.trace], h.recent, s.trace, s.parent, s.top); w.outer.id != "" {
				s.ident.root = w.outer.id
			}
		}
	}

	for i := range sc.spans {
		s := &sc.spans[i]
		if s.action != actPending {
			continue
		}
		ht := h.traces[s.trace]
		w := walk(sc, ht, h.recent, s.trace, s.parent, s.top)
		if w.complete {
			s.ident, s.action = identityFrom(w, sc.res[s.res].fallbackID), actStamp
			continue
		}
		if h.nSpans >= h.maxSpans || (ht == nil && len(h.traces) >= h.maxTraces) {
			s.ident, s.action = identityFrom(w, sc.res[s.res].fallbackID), actStamp
			overflow++
			continue
		}
		if ht == nil {
			ht = &heldTrace{id: s.trace, nodes: make(map[pcommon.SpanID]node), mark: h.gen}
			h.traces[s.trace] = ht
		}
		hs := heldSpan{
			td:         copySpan(td, s),
			trace:      s.trace,
			parent:     s.parent,
			deadline:   now.Add(h.wait),
			fallbackID: sc.res[s.res].fallbackID,
			txn:        h.gen,
			arrived:    now,
		}
		if h.durable {
			h.seq++
			hs.key = h.seq
			sc.tx.stored = append(sc.tx.stored, hs)
		}
		ht.spans = append(ht.spans, hs)
		sc.tx.traces = append(sc.tx.traces, s.trace)
		h.nSpans++
		s.action = actHeld
		sc.held++
		heldNow++
	}

	// Remember this batch's spans of every held trace.
	if len(h.traces) > 0 {
		for i := range sc.spans {
			s := &sc.spans[i]
			if ht := h.traces[s.trace]; ht != nil && len(ht.nodes) < maxNodesPerTrace {
				ht.nodes[s.id] = node{parent: s.parent, top: s.top, agent: s.own}
			}
		}
	}

	// Held spans that the new ancestry completes.
	for _, ht := range touched {
		kept := ht.spans[:0]
		for _, hs := range ht.spans {
			if hs.txn != 0 {
				kept = append(kept, hs) // its batch is still on its way
				continue
			}
			w := walk(nil, ht, h.recent, hs.trace, hs.parent, false)
			if !w.complete {
				kept = append(kept, hs)
				continue
			}
			hs.ident = identityFrom(w, hs.fallbackID)
			released = append(released, hs)
			h.nSpans--
		}
		clear(ht.spans[len(kept):])
		ht.spans = kept
		if len(kept) == 0 {
			delete(h.traces, ht.id)
		}
	}
	h.count.Store(int64(len(h.traces)))
	return released, heldNow, overflow
}

// expire removes and returns held spans whose deadline is not after now
// (every span when all is set), with the best identity known so far.
func (h *holder) expire(now time.Time, all bool) []heldSpan {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []heldSpan
	for id, ht := range h.traces {
		kept := ht.spans[:0]
		for _, hs := range ht.spans {
			if hs.txn != 0 || (!all && hs.deadline.After(now)) {
				kept = append(kept, hs)
				continue
			}
			ident := identityFrom(walk(nil, ht, h.recent, hs.trace, hs.parent, false), hs.fallbackID)
			if ident.status == statusFallback && hs.ident.agent.id != "" {
				// A span held again after a refused send: the ancestry
				// that gave its identity may have gone with its trace.
				ident = hs.ident
			}
			hs.ident = ident
			out = append(out, hs)
			h.nSpans--
		}
		clear(ht.spans[len(kept):])
		ht.spans = kept
		if len(kept) == 0 {
			delete(h.traces, id)
		}
	}
	h.count.Store(int64(len(h.traces)))
	return out
}

// copySpan copies one span with its resource and scope into a new Traces.
func copySpan(td ptrace.Traces, s *spanInfo) ptrace.Traces {
	out := ptrace.NewTraces()
	r := td.ResourceSpans().At(int(s.rsIdx))
	ss := r.ScopeSpans().At(int(s.ssIdx))
	ors := out.ResourceSpans().AppendEmpty()
	r.Resource().CopyTo(ors.Resource())
	ors.SetSchemaUrl(r.SchemaUrl())
	oss := ors.ScopeSpans().AppendEmpty()
	ss.Scope().CopyTo(oss.Scope())
	oss.SetSchemaUrl(ss.SchemaUrl())
	s.span.CopyTo(oss.Spans().AppendEmpty())
	return out
}
