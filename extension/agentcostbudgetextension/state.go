package agentcostbudgetextension

import (
	"sync"
	"time"

	"github.com/agentcost/agentcost/pricing"
)

// ring holds locally accrued spend by event time in fixed-width slots, so
// that a reconcile can drop exactly the part the ledger now includes.
// Invariant: every tagged slot number lies in [floor, floor+len(sums)).
type ring struct {
	width int64 // slot width in nanoseconds
	sums  []pricing.Money
	tags  []int64
	floor int64 // lowest slot number counted
	total pricing.Money
}

const emptySlot = int64(-1 << 63)

func newRing(width time.Duration, n int) ring {
	r := ring{width: int64(width), sums: make([]pricing.Money, n), tags: make([]int64, n)}
	for i := range r.tags {
		r.tags[i] = emptySlot
	}
	return r
}

func (r *ring) slotOf(t time.Time) int64 { return r.slotOfNs(t.UnixNano()) }

func (r *ring) slotOfNs(ns int64) int64 {
	s := ns / r.width
	if ns < 0 && ns%r.width != 0 {
		s--
	}
	return s
}

// slotStart is the start of slot. Slots count from the Unix epoch: a
// cutoff must be a slot boundary (time.Truncate counts from year 1, which
// differs for widths that do not divide 62135596800 s, e.g. 17 ms).
func (r *ring) slotStart(slot int64) time.Time { return time.Unix(0, slot*r.width).UTC() }

func (r *ring) index(slot int64) int {
	n := int64(len(r.sums))
	return int(((slot % n) + n) % n)
}

// advance stops counting slots below floor, returning what they held.
func (r *ring) advance(floor int64) pricing.Money {
	var dropped pricing.Money
	if floor <= r.floor {
		return dropped
	}
	if floor-r.floor >= int64(len(r.sums)) {
		dropped = r.total
		for i := range r.sums {
			r.sums[i] = pricing.Money{}
			r.tags[i] = emptySlot
		}
		r.total = pricing.Money{}
	} else {
		for s := r.floor; s < floor; s++ {
			i := r.index(s)
			if r.tags[i] == s {
				dropped = dropped.Add(r.sums[i])
				r.total, _ = r.total.Sub(r.sums[i])
				r.sums[i] = pricing.Money{}
				r.tags[i] = emptySlot
			}
		}
	}
	r.floor = floor
	return dropped
}

// maxRingSlots bounds how far a ring grows while its floor cannot advance
// (no successful reconcile): about 4.5 h of 1 s slots, 384 KiB.
const maxRingSlots = 1 << 14

// grow re-indexes the ring into at least need slots (at most maxRingSlots,
// never fewer than it has), keeping every tagged slot.
func (r *ring) grow(need int64) {
	n := int64(len(r.sums))
	m := min(max(2*n, need+n/2), int64(max(maxRingSlots, len(r.sums))))
	if m <= n {
		return
	}
	sums, tags := r.sums, r.tags
	r.sums, r.tags = make([]pricing.Money, m), make([]int64, m)
	for i := range r.tags {
		r.tags[i] = emptySlot
	}
	for i, tag := range tags {
		if tag != emptySlot {
			j := r.index(tag)
			r.tags[j], r.sums[j] = tag, sums[i]
		}
	}
}

// add counts m in slot. A slot beyond the ring's span first grows the ring
// (up to maxRingSlots); only beyond that are the oldest slots pushed out,
// and what they held is returned for the caller to keep, with the highest
// slot it came from (emptySlot when nothing was pushed out).
func (r *ring) add(slot int64, m pricing.Money) (folded pricing.Money, foldedMax int64) {
	foldedMax = emptySlot
	if n := int64(len(r.sums)); slot >= r.floor+n {
		r.grow(slot - r.floor + 1)
	}
	if n := int64(len(r.sums)); slot >= r.floor+n {
		folded = r.advance(slot - n + 1)
		foldedMax = slot - n
	}
	i := r.index(slot)
	r.tags[i] = slot
	r.sums[i] = r.sums[i].Add(m)
	r.total = r.total.Add(m)
	return folded, foldedMax
}

// budget is a budget definition and its state in the current window. All
// fields below mu are guarded by it.
type budget struct {
	def *budgetDef

	mu sync.Mutex
	// ws, we are the current calendar window (we is zero for rolling); the
	// Ns fields mirror them (and lastOK) for the hot path.
	ws, we     time.Time
	wsNs, weNs int64
	lastOKNs   int64
	rollFloor  int64
	// base is the ledger's spend in [ws, cutoff) at the last reconcile.
	base pricing.Money
	// settled is local spend below the ring's floor: charges that arrived
	// in the first slot after Start with an earlier key, or slots pushed out
	// of a ring that reached maxRingSlots while no reconcile succeeded.
	// settledMax is the slot of the latest arrival among them: a reconcile
	// clears settled only when both its cutoff and now - reconcile_lag are
	// above it, so the exporter has written all of it (charges settled
	// while the reconcile's query ran are never cleared by it).
	settled    pricing.Money
	settledMax int64
	// lateNs: a charge is keyed in the ring by max(span start, arrival -
	// lateNs), so one that reaches the extension late (a long call, a held
	// or batched span) stays local until a reconcile whose cutoff passes its
	// arrival minus lateNs, by when the exporter has written it. Negative:
	// always by span start (no ledger).
	lateNs int64
	ring   ring
	// cutoff is the upper bound of the last reconciled ledger range.
	cutoff time.Time
	// lastOK is when a reconcile last succeeded (zero: never).
	lastOK time.Time
	// fired has bit i set when thresholds[i] fired in this window.
	fired   uint64
	firedAt [64]time.Time
	// projFired is set when the projected-exhaustion alert fired.
	projFired bool
	// resumed is set when an operator lifted the suspension for this window.
	resumed bool
}

// windowKey identifies the current window in persisted alert state: the
// window start for calendar windows, the Unix epoch for rolling ones.
func (b *budget) windowKeyLocked() time.Time {
	if b.def.window.isRolling() {
		return time.Unix(0, 0).UTC()
	}
	return b.ws
}

// rollLocked moves to the window containing now and, for rolling windows,
// stops counting spend that left it (at slot granularity: the window start
// is the start of the slot holding now-rolling). The common case is two
// integer comparisons.
func (b *budget) rollLocked(now time.Time) {
	ns := now.UnixNano()
	w := &b.def.window
	if w.rolling > 0 {
		floor := b.ring.slotOfNs(ns - int64(w.rolling))
		if floor > b.rollFloor || b.ws.IsZero() { // never back: clocks may lag
			b.rollFloor = floor
			b.ws = time.Unix(0, floor*b.ring.width).UTC()
			b.wsNs = b.ws.UnixNano()
			b.advanceLocked()
		}
		return
	}
	if b.weNs != 0 && ns < b.weNs {
		return // still this window (a lagging clock never moves it back)
	}
	b.ws, b.we = w.bounds(now)
	b.wsNs, b.weNs = b.ws.UnixNano(), b.we.UnixNano()
	b.base = pricing.Money{}
	b.settled, b.settledMax = pricing.Money{}, emptySlot
	b.fired = 0
	b.projFired = false
	b.resumed = false
	b.advanceLocked()
}

// setLastOK records a successful reconcile.
func (b *budget) setLastOK(t time.Time) {
	b.lastOK, b.lastOKNs = t, 0
	if !t.IsZero() {
		b.lastOKNs = t.UnixNano()
	}
}

func (b *budget) advanceLocked() {
	floor := b.ring.slotOfNs(b.wsNs)
	if !b.cutoff.IsZero() {
		if c := b.ring.slotOf(b.cutoff); c > floor {
			floor = c
		}
	}
	b.ring.advance(floor)
}

// accrueLocked counts a charge made at t (its span start, which picks the
// window) that arrives at now.
func (b *budget) accrueLocked(t time.Time, cost pricing.Money, now time.Time) {
	b.rollLocked(now)
	tNs, ns := t.UnixNano(), now.UnixNano()
	if tNs > ns {
		tNs = ns // a clock ahead of ours: count it now, in this window
	}
	if tNs < b.wsNs {
		return // an earlier window's charge
	}
	if b.lateNs >= 0 && tNs < ns-b.lateNs {
		tNs = ns - b.lateNs // a late arrival: key it by its arrival (see lateNs)
	}
	slot, arrived := b.ring.slotOfNs(tNs), b.ring.slotOfNs(ns)
	if slot < b.ring.floor {
		b.settleLocked(cost, arrived)
		return
	}
	if folded, at := b.ring.add(slot, cost); at != emptySlot {
		b.settleLocked(folded, arrived)
	}
}

func (b *budget) settleLocked(m pricing.Money, slot int64) {
	b.settled = b.settled.Add(m)
	b.settledMax = max(b.settledMax, slot)
}

// spendLocked is the budget's spend in the current window.
func (b *budget) spendLocked(now time.Time) pricing.Money {
	b.rollLocked(now)
	return b.base.Add(b.settled).Add(b.ring.total)
}
