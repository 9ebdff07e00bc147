package agentcostbudgetextension

import (
	"math/big"
	"time"

	"go.uber.org/zap"

	"github.com/agentcost/agentcost/pricing"
)

// Alert kinds (also the `kind` column of the alerts table).
const (
	kindThreshold = "threshold"
	kindProjected = "projected"
	kindResume    = "resume"
)

// alertEvent is an alert (or a resumption) as persisted and notified. Its
// JSON form is the generic webhook payload.
type alertEvent struct {
	Kind      string  `json:"kind"`
	Budget    string  `json:"budget"`
	Threshold float64 `json:"threshold,omitempty"`
	// Spend and Limit are decimal USD strings with 12 fractional digits.
	Spend       pricing.Money     `json:"spend"`
	Limit       pricing.Money     `json:"limit"`
	Utilization float64           `json:"utilization"`
	Action      string            `json:"action"`
	Scope       map[string]string `json:"scope,omitempty"`
	Window      string            `json:"window"`
	WindowStart time.Time         `json:"window_start"`
	WindowEnd   time.Time         `json:"window_end,omitzero"`
	// ProjectedExhaustion is when the limit will be reached at the current
	// rate (projected alerts only).
	ProjectedExhaustion time.Time `json:"projected_exhaustion,omitzero"`
	FiredAt             time.Time `json:"fired_at"`
	Replica             string    `json:"replica"`

	// windowKey is the persisted window identity (the epoch for rolling).
	windowKey time.Time
	// since bounds the firings that count as the same alert: the epoch for
	// calendar windows, one window length back for rolling ones.
	since time.Time
}

// utilization is spend/limit as a float, for display only.
func utilization(spend, limit pricing.Money) float64 {
	if limit.IsZero() {
		return 0
	}
	return spend.Float64() / limit.Float64()
}

// evaluate runs each budget's alert state machine at now: every threshold
// fires once per calendar window (once per window length for rolling
// windows), and the projected-exhaustion alert once per calendar window.
// Budgets backed by a ledger are not evaluated before their first
// reconcile, so a restart never re-fires an alert that the ledger recorded.
func (e *budgetExtension) evaluate(now time.Time) []alertEvent {
	var out []alertEvent
	set := e.budgets.Load()
	for _, b := range set.list {
		b.mu.Lock()
		if e.cfg.ClickHouse.Enabled() && b.lastOK.IsZero() {
			b.mu.Unlock()
			continue
		}
		out = e.evaluateLocked(b, now, out)
		b.mu.Unlock()
	}
	for _, ev := range out {
		e.logger.Debug("budget alert", zap.String("budget", ev.Budget), zap.String("kind", ev.Kind))
		if e.notifier != nil {
			e.notifier.notify(ev)
		}
	}
	return out
}

func (e *budgetExtension) evaluateLocked(b *budget, now time.Time, out []alertEvent) []alertEvent {
	d := b.def
	sp := b.spendLocked(now)
	rolling := d.window.isRolling()
	mk := func(kind string) alertEvent {
		return alertEvent{Kind: kind, Budget: d.name, Spend: sp, Limit: d.limit, Utilization: utilization(sp, d.limit),
			Action: d.action, Scope: d.cfg.Scope, Window: d.window.String(), WindowStart: b.ws, WindowEnd: b.we,
			FiredAt: now, Replica: e.replica, windowKey: b.windowKeyLocked(), since: time.Unix(0, 0)}
	}
	for i, th := range d.thMoney {
		bit := uint64(1) << i
		if rolling && b.fired&bit != 0 && now.Sub(b.firedAt[i]) >= d.window.rolling {
			b.fired &^= bit // a rolling window re-arms one window length after firing
		}
		if b.fired&bit == 0 && sp.Cmp(th) >= 0 {
			b.fired |= bit
			b.firedAt[i] = now
			ev := mk(kindThreshold)
			ev.Threshold = d.thresholds[i]
			if rolling {
				ev.since = now.Add(-d.window.rolling)
			}
			out = append(out, ev)
		}
	}
	if d.projected && !rolling && !b.projFired && !sp.IsZero() && sp.Cmp(d.limit) < 0 {
		length, elapsed := b.we.Sub(b.ws), now.Sub(b.ws)
		if elapsed > 0 && float64(elapsed) >= d.projMin*float64(length) {
			if at, ok := projectExhaustion(sp, d.limit, b.ws, elapsed); ok && at.Before(b.we) {
				b.projFired = true
				ev := mk(kindProjected)
				ev.ProjectedExhaustion = at
				out = append(out, ev)
			}
		}
	}
	return out
}

// projectExhaustion returns when spend, growing at its average rate since
// start, reaches limit: start + elapsed*limit/spend (exact integer math).
func projectExhaustion(spend, limit pricing.Money, start time.Time, elapsed time.Duration) (time.Time, bool) {
	if spend.IsZero() {
		return time.Time{}, false
	}
	n := new(big.Int).Mul(big.NewInt(int64(elapsed)), limit.BigInt())
	n.Quo(n, spend.BigInt())
	if !n.IsInt64() {
		return time.Time{}, false
	}
	return start.Add(time.Duration(n.Int64())), true
}
