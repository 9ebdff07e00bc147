package agentcostbudgetextension

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/agentcost/agentcost/pricing"
)

// reconcile replaces each budget's ledger part with the ledger's sum over
// [window start, cutoff) by event time, cutoff = now - reconcile_lag rounded
// down to a ring slot, and drops the local slots below the cutoff: a charge
// is counted either from the ledger (before the cutoff) or locally (after
// it), never twice, provided the exporter wrote it within reconcile_lag/2 of
// its arrival. Charges arriving late are keyed by arrival - reconcile_lag/2
// (see budget.lateNs) and may be counted twice for a while instead of being
// lost. It also merges the alerts other replicas (or an earlier run)
// persisted for the window, and retries undelivered webhook alerts.
//
// Consistency model (README "Several collectors"): another replica's spend
// becomes visible here at the first reconcile whose cutoff passes its
// charge, so it is missed for at most reconcile_interval + reconcile_lag
// (plus the exporter's flush delay if that is longer); the worst-case
// overspend of a budget is about (the other replicas' spend rate) x
// (reconcile_interval + reconcile_lag).
func (e *budgetExtension) reconcile(ctx context.Context) {
	if e.ledger == nil {
		return
	}
	timeout := e.cfg.ClickHouse.Timeout
	if !e.ledger.alertsReady.Load() && e.cfg.ClickHouse.CreateAlertsTable {
		qctx, cancel := context.WithTimeout(ctx, timeout)
		if err := e.ledger.ensureAlertsTable(qctx); err == nil {
			e.ledger.alertsReady.Store(true)
		}
		cancel()
	}
	now := e.now()
	set := e.budgets.Load()
	failed := 0
	for _, b := range set.list {
		if err := e.reconcileBudget(ctx, b, now, timeout); err != nil {
			failed++
			e.logger.Warn("budget reconcile failed; using local accrual", zap.String("budget", b.def.name), zap.Error(err))
		}
	}
	if failed > 0 && e.tel != nil {
		e.tel.AgentcostBudgetReconcileFailures.Add(ctx, int64(failed))
	}
	if e.notifier != nil {
		e.notifier.retryUndelivered()
	}
}

func (e *budgetExtension) reconcileBudget(ctx context.Context, b *budget, now time.Time, timeout time.Duration) error {
	b.mu.Lock()
	b.rollLocked(now)
	from, key := b.ws, b.windowKeyLocked()
	var cutoff time.Time
	if b.lastOK.IsZero() && b.ring.total.IsZero() && b.settled.IsZero() {
		// First load (Start, or a budget just added): nothing is counted
		// locally yet, so take everything the ledger has up to now; later
		// charges count locally. The cutoff is then inside a slot: the ring
		// floor is that slot, which holds only charges accrued from now on,
		// until a later cutoff passes the whole slot.
		cutoff = now
	} else {
		cutoff = b.ring.slotStart(b.ring.slotOf(now.Add(-e.cfg.ReconcileLag)))
	}
	if cutoff.Before(b.cutoff) {
		cutoff = b.cutoff // the cutoff never moves back: the ring starts there
	}
	b.mu.Unlock()

	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sum, err := e.ledger.sum(qctx, b.def.scope, from, cutoff)
	if err != nil {
		return err
	}
	if e.afterLedgerRead != nil {
		e.afterLedgerRead(b)
	}
	since := time.Unix(0, 0)
	if b.def.window.isRolling() {
		since = now.Add(-b.def.window.rolling)
	}
	var fired []firedRow
	if e.ledger.alertsReady.Load() {
		if fired, err = e.ledger.fired(qctx, b.def.name, key, since); err != nil {
			return err
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollLocked(now)
	if !b.windowKeyLocked().Equal(key) {
		return nil // the window rolled over meanwhile; the next reconcile loads the new one
	}
	b.base = sum
	if b.settledMax < b.ring.slotOf(minTime(cutoff, now.Add(-e.cfg.ReconcileLag))) {
		// Every settled charge arrived before the cutoff and reconcile_lag
		// ago: the ledger range holds it (see budget.settled).
		b.settled, b.settledMax = pricing.Money{}, emptySlot
	}
	b.cutoff = cutoff
	b.advanceLocked()
	b.setLastOK(now)
	for _, f := range fired {
		switch f.kind {
		case kindResume:
			b.resumed = true
		case kindProjected:
			b.projFired = true
		case kindThreshold:
			for i, t := range b.def.thresholds {
				if t == f.threshold && b.fired&(1<<i) == 0 {
					b.fired |= 1 << i
					b.firedAt[i] = f.firedAt
				}
			}
		}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
