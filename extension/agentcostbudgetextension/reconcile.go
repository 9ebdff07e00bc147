package agentcostbudgetextension

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/agentcost/agentcost/pricing"
)

// reconcile replaces each budget's ledger part with the ledger's sum over
// [window start, cutoff), cutoff = now - reconcile_lag truncated to the
// ring's slot width, and drops the local slots below the cutoff: a charge is
// counted either from the ledger (before the cutoff) or locally (after it),
// never twice. It also merges the alerts other replicas (or an earlier run)
// persisted for the window.
//
// Consistency model: another replica's spend becomes visible here at the
// first reconcile whose cutoff passes its charge, so it is missed for at most
// reconcile_interval + reconcile_lag (plus the exporter's flush delay if that
// is longer than reconcile_lag). The worst-case overspend of a budget is
// therefore about (the other replicas' spend rate) x (reconcile_interval +
// reconcile_lag); this replica's own spend is always counted at once.
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
}

func (e *budgetExtension) reconcileBudget(ctx context.Context, b *budget, now time.Time, timeout time.Duration) error {
	width := time.Duration(b.ring.width)
	b.mu.Lock()
	b.rollLocked(now)
	from, key := b.ws, b.windowKeyLocked()
	var cutoff time.Time
	if b.lastOK.IsZero() && b.ring.total.IsZero() && b.settled.IsZero() {
		// First load (Start, or a budget just added): nothing is counted
		// locally yet, so take everything the ledger has, up to the next slot
		// boundary; later charges count locally.
		cutoff = now.Truncate(width).Add(width)
	} else {
		cutoff = now.Add(-e.cfg.ReconcileLag).Truncate(width)
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
	b.settled = pricing.Money{}
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
