package agentcostprocessor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"github.com/agentcost/agentcost/internal/spend"
)

// A batch changes the hold buffer (spans newly held, held spans released
// into it), the self-metrics and the budgets. None of that is committed
// until the next component has accepted the batch: when it refuses, the
// client (or the receiver's retry) sends the same batch again, and the
// processor must then behave as if the first attempt never happened, so
// that nothing is lost and nothing is held, stored or charged twice.

// releaseRetryFor is how long held spans whose timed-out release the next
// component refuses are kept and retried (on every tick) before they are
// dropped and counted in agentcost_spans_dropped. A permanent error
// (consumererror.NewPermanent) drops them at once.
const releaseRetryFor = 30 * time.Second

// shutdownAttempts is how many times shutdown tries to send the spans still
// held before it drops them (and counts them).
const shutdownAttempts = 3

// holdTxn is what one batch did to the hold buffer, undone if downstream
// refuses the batch.
type holdTxn struct {
	id       uint64            // the holder generation of the batch; held spans carry it until commit
	traces   []pcommon.TraceID // traces where the batch held spans (may repeat)
	released []heldSpan        // held spans released into the batch, as received
	overflow int
	// stored are the spans newly held by the batch whose records go to
	// hold.storage (empty without storage); written once their one storage
	// Batch call succeeded (a failed call is taken to have written
	// nothing, as file_storage's bbolt transaction guarantees).
	stored  []heldSpan
	written bool
}

func (t *holdTxn) reset() {
	t.id = 0
	t.traces = t.traces[:0]
	clear(t.released)
	t.released = t.released[:0]
	t.overflow = 0
	clear(t.stored)
	t.stored = t.stored[:0]
	t.written = false
}

// errNoBatch reports a processorhelper callback reached without
// committingTraces (a wiring bug).
var errNoBatch = errors.New("agentcost processor: batch context missing")

// batchKey carries the batch's scratch from ConsumeTraces to the
// processorhelper callback through the context.
type batchKey struct{}

// committingTraces wraps the processorhelper pipeline element (which keeps
// the standard processor in/out telemetry) and commits or undoes the
// batch's effects depending on what the next component answered.
type committingTraces struct {
	processor.Traces
	p *agentcostProcessor
}

func (c *committingTraces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	p := c.p
	sc := p.scratch.Get().(*scratch)
	defer p.putScratch(sc)
	if err := c.Traces.ConsumeTraces(context.WithValue(ctx, batchKey{}, sc), td); err != nil {
		p.rollback(ctx, sc)
		return err
	}
	p.commit(ctx, sc)
	return nil
}

// commit makes a batch's effects final once downstream accepted it.
func (p *agentcostProcessor) commit(ctx context.Context, sc *scratch) {
	tx := &sc.tx
	if p.hold != nil && sc.held > 0 {
		p.hold.commit(tx)
	}
	if sc.held > 0 {
		p.tb.AgentcostSpansHeld.Add(ctx, int64(sc.held))
	}
	if tx.overflow > 0 {
		p.tb.AgentcostSpansOverflowed.Add(ctx, int64(tx.overflow))
	}
	if d := int64(sc.held - len(tx.released)); d != 0 {
		p.tb.AgentcostSpansHeldCurrent.Add(ctx, d)
	}
	if len(tx.released) > 0 {
		p.tb.AgentcostSpansReleased.Add(ctx, int64(len(tx.released)))
		if p.store != nil {
			// Accepted downstream: their records go.
			p.store.delete(context.WithoutCancel(ctx), tx.released, "release")
		}
	}
	if sc.dups > 0 {
		p.tb.AgentcostSpansDuplicate.Add(ctx, int64(sc.dups))
	}
	p.accrue(&sc.ctr)
	sc.ctr.flush(ctx, p.tb)
}

// rollback undoes a refused batch's changes to the hold buffer: its newly
// held spans are forgotten (the retried batch brings them again), with
// their hold.storage records, and the spans released into it are held
// again (their records stay).
func (p *agentcostProcessor) rollback(ctx context.Context, sc *scratch) {
	if p.hold == nil || (sc.held == 0 && len(sc.tx.released) == 0) {
		return
	}
	p.hold.rollback(&sc.tx)
	if sc.tx.written {
		p.store.delete(context.WithoutCancel(ctx), sc.tx.stored, "refused batch")
	}
}

// accrue charges the budgets with the charges collected while stamping.
func (p *agentcostProcessor) accrue(ctr *counters) {
	if p.accruer == nil {
		return
	}
	for i := range ctr.charges {
		p.accruer.Accrue(ctr.charges[i])
	}
}

// commit makes a batch's newly held spans ordinary held spans.
func (h *holder) commit(tx *holdTxn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range tx.traces {
		ht := h.traces[id]
		if ht == nil {
			continue
		}
		for i := range ht.spans {
			if ht.spans[i].txn == tx.id {
				ht.spans[i].txn = 0
			}
		}
	}
}

// rollback forgets the batch's newly held spans and holds its released
// spans again.
func (h *holder) rollback(tx *holdTxn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range tx.traces {
		ht := h.traces[id]
		if ht == nil {
			continue
		}
		kept := ht.spans[:0]
		for _, hs := range ht.spans {
			if hs.txn == tx.id {
				h.nSpans--
				continue
			}
			kept = append(kept, hs)
		}
		clear(ht.spans[len(kept):])
		ht.spans = kept
		if len(kept) == 0 {
			delete(h.traces, id)
		}
	}
	h.putBackLocked(tx.released)
	h.count.Store(int64(len(h.traces)))
}

// putBackLocked holds spans again, with their deadlines and the identity
// found so far unchanged.
func (h *holder) putBackLocked(spans []heldSpan) {
	for _, hs := range spans {
		ht := h.traces[hs.trace]
		if ht == nil {
			ht = &heldTrace{id: hs.trace, nodes: make(map[pcommon.SpanID]node)}
			h.traces[hs.trace] = ht
		}
		ht.spans = append(ht.spans, hs)
		h.nSpans++
	}
}

// retryLater holds again the expired spans whose release downstream
// refused, except those refused for longer than retryFor (or all of them
// when final is set), which it returns as dropped, with the record keys of
// those that have one.
func (h *holder) retryLater(spans []heldSpan, final bool) (dropped int, droppedKeys []uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	keep := spans[:0]
	for _, hs := range spans {
		if hs.failedSince.IsZero() {
			hs.failedSince = now
		}
		if final || now.Sub(hs.failedSince) >= h.retryFor {
			dropped++
			if hs.key != 0 {
				droppedKeys = append(droppedKeys, hs.key)
			}
			continue
		}
		keep = append(keep, hs)
	}
	h.putBackLocked(keep)
	h.count.Store(int64(len(h.traces)))
	return dropped, droppedKeys
}

// releaseExpired sends the held spans whose deadline is before now (all of
// them when all is set) downstream, stamped and priced. When downstream
// refuses them they stay held and are retried on the next call, for
// releaseRetryFor at most (not at all when final is set); then they are
// dropped and counted. With hold.storage, the records of accepted and
// dropped spans are deleted, and on the final (shutdown) attempt spans
// refused with a non-permanent error are not dropped: their records stay
// for the next start.
func (p *agentcostProcessor) releaseExpired(ctx context.Context, now time.Time, all, final bool) error {
	rel := p.hold.expire(now, all)
	if len(rel) == 0 {
		return nil
	}
	out := ptrace.NewTraces()
	var ctr counters
	for i := range rel {
		// Stamp a copy: the span as received stays held for a retry.
		td := ptrace.NewTraces()
		rel[i].td.CopyTo(td)
		p.finishHeld(ctx, &rel[i], td, &ctr)
		td.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
	}
	if err := p.next.ConsumeTraces(ctx, out); err != nil {
		n := len(rel)
		permanent := consumererror.IsPermanent(err)
		if p.store != nil {
			if final && !permanent {
				p.tb.AgentcostSpansHeldCurrent.Add(ctx, -int64(n))
				p.logger.Warn("held spans kept in `hold.storage` for the next start: the next component refused them",
					zap.Int("spans", n), zap.Error(err))
				return nil
			}
			// Before they are visible again (a concurrent release would
			// delete the record).
			p.store.update(ctx, rel)
		}
		// A permanent error will not go away: no retry.
		dropped, droppedKeys := p.hold.retryLater(rel, final || permanent)
		if len(droppedKeys) > 0 {
			// Not the caller's ctx: at shutdown it may be past its deadline.
			p.store.deleteKeys(context.WithoutCancel(ctx), droppedKeys, "drop")
		}
		if dropped > 0 {
			p.tb.AgentcostSpansDropped.Add(ctx, int64(dropped))
			p.tb.AgentcostSpansHeldCurrent.Add(ctx, -int64(dropped))
			p.logger.Error("dropped held spans: the next component refused them",
				zap.Int("spans", dropped), zap.Error(err))
		}
		return fmt.Errorf("release %d held spans (%d dropped, %d kept for a retry): %w", n, dropped, n-dropped, err)
	}
	if p.store != nil {
		p.store.delete(context.WithoutCancel(ctx), rel, "timed-out release")
	}
	p.tb.AgentcostSpansTimedOut.Add(ctx, int64(len(rel)))
	p.tb.AgentcostSpansHeldCurrent.Add(ctx, -int64(len(rel)))
	p.accrue(&ctr)
	ctr.flush(ctx, p.tb)
	return nil
}

// flushHeld sends every span still held at shutdown, trying a few times
// while ctx allows, then drops (and counts) what downstream still refuses.
func (p *agentcostProcessor) flushHeld(ctx context.Context) error {
	var err error
	for attempt := 1; attempt <= shutdownAttempts; attempt++ {
		final := attempt == shutdownAttempts || ctx.Err() != nil
		if err = p.releaseExpired(ctx, time.Time{}, true, final); err == nil || final {
			return err
		}
		t := time.NewTimer(time.Duration(attempt) * 100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, p.releaseExpired(ctx, time.Time{}, true, true))
		case <-t.C:
		}
	}
	return err
}

// collectCharge keeps a charge until the batch is accepted downstream.
func (c *counters) collectCharge(ch spend.Charge) { c.charges = append(c.charges, ch) }
