package agentcostbudgetextension

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.uber.org/zap"

	"github.com/agentcost/agentcost/extension/agentcostbudgetextension/internal/metadata"
	"github.com/agentcost/agentcost/internal/spend"
	"github.com/agentcost/agentcost/pricing"
)

// Outcome is a check's decision.
type Outcome uint8

// Outcomes, in increasing severity.
const (
	Allow Outcome = iota
	Throttle
	Deny
)

func (o Outcome) String() string {
	switch o {
	case Throttle:
		return "throttle"
	case Deny:
		return "deny"
	}
	return "allow"
}

// Decision reasons.
const (
	ReasonLimitReached = "limit_reached"
	ReasonSuspended    = "suspended"
	ReasonResumed      = "resumed"
	ReasonSpendUnknown = "spend_unknown"
)

// Result is one budget's part in a check.
type Result struct {
	Budget      string
	Action      string
	Outcome     Outcome
	Reason      string
	Spend       pricing.Money
	Limit       pricing.Money
	WindowStart time.Time
	// WindowEnd is zero for rolling windows.
	WindowEnd  time.Time
	SpendKnown bool
	Suspended  bool
	Resumed    bool
	// RetryAfter is set on deny; Delay on throttle.
	RetryAfter time.Duration
	Delay      time.Duration
}

// Decision is a check's overall answer: the most severe of its budgets'.
type Decision struct {
	Outcome    Outcome
	RetryAfter time.Duration
	Delay      time.Duration
}

// Checker is the in-process decision API: a gateway running in the same
// process asks it directly. Check appends one Result per involved budget to
// dst (pass a reused slice to avoid allocating).
type Checker interface {
	Check(id *Identity, dst []Result) (Decision, []Result)
}

var (
	_ spend.Accruer       = (*budgetExtension)(nil)
	_ Checker             = (*budgetExtension)(nil)
	_ extension.Extension = (*budgetExtension)(nil)
)

// budgetSet is an immutable list of budgets, swapped whole on reload.
type budgetSet struct {
	list   []*budget
	byName map[string]*budget
}

type budgetExtension struct {
	cfg    *Config
	set    extension.Settings
	logger *zap.Logger
	now    func() time.Time
	// checkNow is the clock of Check: a coarse clock (see coarseClock) when
	// the real clock is used, else now.
	checkNow  func() time.Time
	realClock bool
	coarse    *coarseClock
	replica   string
	budgets   atomic.Pointer[budgetSet]
	ledger    *ledger
	tel       *metadata.TelemetryBuilder
	decided   [3]atomic.Int64
	notifier  *dispatcher

	// afterLedgerRead, when set (tests), runs between a budget's ledger
	// query and the update of its state.
	afterLedgerRead func(*budget)

	// ringWidth and ringSlots size each budget's local accrual ring.
	ringWidth time.Duration
	ringSlots int
	localOnly bool // no ledger configured: spend is always known

	server   *http.Server
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	reloadMu sync.Mutex
	fileStat fileStamp
	addr     net.Addr
}

func newExtension(cfg *Config, set extension.Settings) (*budgetExtension, error) {
	e := &budgetExtension{cfg: cfg, set: set, logger: set.Logger, now: time.Now, checkNow: time.Now, realClock: true, replica: cfg.ReplicaID}
	if e.replica == "" {
		if h, err := os.Hostname(); err == nil {
			e.replica = h
		}
	}
	// Slots are 1/16 of interval+lag (10ms..1s): the cutoff is truncated to a
	// slot, so the slot width adds to the visibility delay of other replicas.
	span := cfg.ReconcileInterval + cfg.ReconcileLag
	e.ringWidth = min(max(span/16, 10*time.Millisecond), time.Second).Truncate(time.Millisecond)
	e.ringSlots = int(2*span/e.ringWidth) + 8
	e.localOnly = !cfg.ClickHouse.Enabled()
	if !cfg.ClickHouse.Enabled() {
		e.ringSlots = 64
	}
	for e.ringSlots > 1<<14 {
		e.ringWidth *= 2
		e.ringSlots = int(2*span/e.ringWidth) + 8
	}
	defs, err := compileBudgets(cfg.Budgets)
	if err != nil {
		return nil, err
	}
	e.install(defs)
	return e, nil
}

// newBudget builds a budget with an empty state.
func (e *budgetExtension) newBudget(d *budgetDef) *budget {
	b := &budget{def: d, settledMax: emptySlot, lateNs: int64(e.cfg.ReconcileLag / 2)}
	if !e.cfg.ClickHouse.Enabled() {
		b.lateNs = -1
	}
	width, slots := e.ringWidth, e.ringSlots
	if d.window.isRolling() && !e.cfg.ClickHouse.Enabled() {
		// No ledger: the ring must hold the whole rolling window.
		width = time.Second
		for d.window.rolling/width > 4096 {
			width *= 2
		}
		slots = int(d.window.rolling/width) + 2
	}
	b.ring = newRing(width, slots)
	return b
}

// install swaps in a new budget list, keeping the state of budgets whose
// name, scope and window did not change.
func (e *budgetExtension) install(defs []*budgetDef) {
	old := e.budgets.Load()
	ns := &budgetSet{byName: make(map[string]*budget, len(defs))}
	for _, d := range defs {
		var b *budget
		if old != nil {
			if ob := old.byName[d.name]; ob != nil && ob.def.key() == d.key() {
				if sameConfig(ob.def, d) {
					b = ob
				} else {
					b = e.newBudget(d)
					ob.mu.Lock()
					b.copyStateFrom(ob)
					ob.mu.Unlock()
				}
			}
		}
		if b == nil {
			b = e.newBudget(d)
		}
		ns.list = append(ns.list, b)
		ns.byName[d.name] = b
	}
	e.budgets.Store(ns)
}

func (b *budget) copyStateFrom(o *budget) {
	b.ws, b.we, b.base, b.settled, b.settledMax, b.cutoff = o.ws, o.we, o.base, o.settled, o.settledMax, o.cutoff
	b.wsNs, b.weNs, b.rollFloor = o.wsNs, o.weNs, o.rollFloor
	b.setLastOK(o.lastOK)
	b.projFired, b.resumed = o.projFired, o.resumed
	if b.ring.width == o.ring.width {
		b.ring.floor = o.ring.floor
		for i, tag := range o.ring.tags {
			if tag != emptySlot {
				if folded, at := b.ring.add(tag, o.ring.sums[i]); at != emptySlot {
					b.settleLocked(folded, at)
				}
			}
		}
	} else {
		b.ring.floor = b.ring.slotOfNs(o.ring.floor * o.ring.width)
		b.settleLocked(o.ring.total, b.ring.slotOfNs((o.ring.floor+int64(len(o.ring.sums)))*o.ring.width))
	}
	// Fired thresholds carry over by value.
	for i, t := range b.def.thresholds {
		for j, ot := range o.def.thresholds {
			if t == ot && o.fired&(1<<j) != 0 {
				b.fired |= 1 << i
				b.firedAt[i] = o.firedAt[j]
			}
		}
	}
}

// Start opens the ledger, loads the current spend and fired alerts, starts
// the reconcile, alert and file-watch loops and the HTTP server.
func (e *budgetExtension) Start(ctx context.Context, host component.Host) error {
	tel, err := metadata.NewTelemetryBuilder(e.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	e.tel = tel
	if err := e.registerMetrics(); err != nil {
		return err
	}
	if e.cfg.BudgetsFile != "" {
		if err := e.reloadFile(true); err != nil {
			return err
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	if e.realClock {
		e.coarse = startCoarseClock(coarseResolution)
		e.checkNow = e.coarse.Now
	}
	n, err := newDispatcher(runCtx, e.cfg, host, e.set.TelemetrySettings, tel, e)
	if err != nil {
		return err
	}
	e.notifier = n
	if e.cfg.ClickHouse.Enabled() {
		l, err := openLedger(e.cfg.ClickHouse)
		if err != nil {
			return err
		}
		e.ledger = l
		// The whole start-up load is bounded by twice clickhouse.timeout,
		// however many budgets there are: an unreachable ledger must not
		// hold Start for budgets x timeout.
		sctx, scancel := context.WithTimeout(ctx, 2*e.cfg.ClickHouse.Timeout)
		defer scancel()
		if e.cfg.ClickHouse.CreateAlertsTable {
			qctx, qcancel := context.WithTimeout(sctx, e.cfg.ClickHouse.Timeout)
			if err := l.ensureAlertsTable(qctx); err != nil {
				e.logger.Warn("cannot create the budget alerts table; will retry at each reconcile", zap.Error(err))
			} else {
				l.alertsReady.Store(true)
			}
			qcancel()
		}
		e.reconcile(sctx)
		if l.alertsReady.Load() {
			if err := n.loadOutbox(sctx, l, e.now()); err != nil {
				e.logger.Warn("cannot read the budget alert outbox; alerts owed before the restart are not retried", zap.Error(err))
			}
			n.retryUndelivered()
		}
	}
	e.loop(runCtx, e.cfg.EvaluationInterval, func(ctx context.Context) {
		e.evaluate(e.now())
		if e.ledger == nil {
			e.notifier.retryUndelivered() // with a ledger, at every reconcile
		}
	})
	if e.ledger != nil {
		e.loop(runCtx, e.cfg.ReconcileInterval, e.reconcile)
	}
	if e.cfg.BudgetsFile != "" {
		e.loop(runCtx, e.cfg.BudgetsFileCheckInterval, func(ctx context.Context) {
			before := e.budgets.Load()
			if err := e.reloadFile(false); err != nil {
				e.logger.Error("budgets file not reloaded; keeping the previous budgets", zap.String("budgets_file", e.cfg.BudgetsFile), zap.Error(err))
				return
			}
			if e.budgets.Load() != before {
				e.reconcile(ctx) // load the spend of new budgets now, not an interval later
			}
		})
	}
	if e.cfg.HTTP.NetAddr.Endpoint != "" {
		if err := e.startHTTP(ctx, host); err != nil {
			return err
		}
	}
	return nil
}

func (e *budgetExtension) loop(ctx context.Context, every time.Duration, f func(context.Context)) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f(ctx)
			}
		}
	}()
}

// Shutdown stops the loops and the server; it works when Start never ran.
func (e *budgetExtension) Shutdown(ctx context.Context) error {
	var errs []error
	if e.server != nil {
		if err := e.server.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
	if e.coarse != nil {
		e.coarse.stop()
		e.coarse = nil
	}
	if e.notifier != nil {
		e.notifier.close()
	}
	if e.ledger != nil {
		errs = append(errs, e.ledger.close())
		e.ledger = nil
	}
	if e.tel != nil {
		e.tel.Shutdown()
		e.tel = nil
	}
	return errors.Join(errs...)
}

// Accrue counts a priced span's cost in every budget whose scope matches.
// It is safe for concurrent use, never blocks on I/O and does not allocate.
func (e *budgetExtension) Accrue(c spend.Charge) {
	if c.Cost.IsZero() {
		return
	}
	set := e.budgets.Load()
	if set == nil || len(set.list) == 0 {
		return
	}
	id := identityOf(&c)
	now := e.now()
	if c.Time.IsZero() {
		c.Time = now // a span without a start time is charged when reported
	}
	for _, b := range set.list {
		if !b.def.scope.match(&id) {
			continue
		}
		b.mu.Lock()
		b.accrueLocked(c.Time, c.Cost, now)
		b.mu.Unlock()
	}
}

// Check decides for id: allow, throttle or deny, with one Result per budget
// whose scope matches id appended to dst. It does not allocate when dst has
// room.
func (e *budgetExtension) Check(id *Identity, dst []Result) (Decision, []Result) {
	var d Decision
	set := e.budgets.Load()
	if set == nil {
		e.decided[Allow].Add(1)
		return d, dst
	}
	now := e.checkNow()
	for _, b := range set.list {
		if !b.def.scope.match(id) {
			continue
		}
		if len(dst) < cap(dst) {
			dst = dst[:len(dst)+1]
		} else {
			dst = append(dst, Result{})
		}
		r := &dst[len(dst)-1]
		b.mu.Lock()
		e.decideInto(r, b, now)
		b.mu.Unlock()
		if r.Outcome > d.Outcome {
			d.Outcome = r.Outcome
		}
		d.RetryAfter = max(d.RetryAfter, r.RetryAfter)
		d.Delay = max(d.Delay, r.Delay)
	}
	if d.Outcome != Deny {
		d.RetryAfter = 0
	}
	if d.Outcome != Throttle {
		d.Delay = 0
	}
	e.decided[d.Outcome].Add(1)
	return d, dst
}

// knownLocked reports whether the budget's spend is known: no ledger is
// configured, or a reconcile succeeded within stale_after.
func (e *budgetExtension) knownLocked(b *budget, now time.Time) bool {
	if e.localOnly {
		return true
	}
	return b.lastOKNs != 0 && now.UnixNano()-b.lastOKNs <= int64(e.cfg.StaleAfter)
}

func (e *budgetExtension) decideLocked(b *budget, now time.Time) Result {
	var r Result
	e.decideInto(&r, b, now)
	return r
}

// decideInto writes the budget's decision at now into r (in place: Check
// fills the caller's slice without copying results around).
func (e *budgetExtension) decideInto(r *Result, b *budget, now time.Time) {
	d := b.def
	sp := b.spendLocked(now)
	*r = Result{Budget: d.name, Action: d.action, Spend: sp, Limit: d.limit, WindowStart: b.ws,
		WindowEnd: b.we, SpendKnown: e.knownLocked(b, now), Resumed: b.resumed}
	if sp.Cmp(d.limit) >= 0 {
		switch d.act {
		case actSuspend:
			if b.resumed {
				r.Reason = ReasonResumed
				return
			}
			retry := e.cfg.ReconcileInterval
			if b.weNs != 0 {
				retry = time.Duration(b.weNs - now.UnixNano())
			}
			r.Outcome, r.Reason, r.Suspended, r.RetryAfter = Deny, ReasonSuspended, true, retry
		case actThrottle:
			r.Outcome, r.Reason, r.Delay = Throttle, ReasonLimitReached, d.throttle
		default:
			r.Reason = ReasonLimitReached
		}
		return
	}
	if !r.SpendKnown {
		r.Reason = ReasonSpendUnknown
		if d.failClosed {
			r.Outcome, r.RetryAfter = Deny, e.cfg.ReconcileInterval
		}
	}
}

// errUnknownBudget and errNotSuspendable are resume failures.
var (
	errUnknownBudget  = errors.New("unknown budget")
	errNotSuspendable = errors.New("budget does not suspend")
	errNotSuspended   = errors.New("budget is not suspended")
)

// Resume lifts the suspension of the named budget for its current window and
// persists the resumption so that restarts and other replicas honour it.
func (e *budgetExtension) Resume(name string) (Result, error) {
	set := e.budgets.Load()
	b := set.byName[name]
	if b == nil {
		return Result{}, fmt.Errorf("%w %q", errUnknownBudget, name)
	}
	if b.def.action != ActionSuspend {
		return Result{}, fmt.Errorf("%w: %q has action %q", errNotSuspendable, name, b.def.action)
	}
	now := e.now()
	b.mu.Lock()
	sp := b.spendLocked(now)
	if b.resumed {
		r := e.decideLocked(b, now)
		b.mu.Unlock()
		return r, nil // already resumed in this window: idempotent
	}
	if sp.Cmp(b.def.limit) < 0 {
		b.mu.Unlock()
		return Result{}, fmt.Errorf("%w: %q has spent %s of its %s limit in this window", errNotSuspended, name, sp, b.def.limit)
	}
	b.resumed = true
	ev := alertEvent{Kind: kindResume, Budget: name, WindowStart: b.ws, WindowEnd: b.we, windowKey: b.windowKeyLocked(),
		FiredAt: now, Replica: e.replica, Action: b.def.action, Spend: sp, Limit: b.def.limit}
	r := e.decideLocked(b, now)
	b.mu.Unlock()
	e.logger.Info("budget suspension lifted", zap.String("budget", name), zap.Time("window_start", r.WindowStart))
	if e.notifier != nil {
		e.notifier.persist(ev)
	}
	return r, nil
}

// statuses returns every budget's state in name order of configuration.
func (e *budgetExtension) statuses() []Result {
	set := e.budgets.Load()
	out := make([]Result, 0, len(set.list))
	now := e.now()
	for _, b := range set.list {
		b.mu.Lock()
		out = append(out, e.decideLocked(b, now))
		b.mu.Unlock()
	}
	return out
}

// firedLabels lists the alerts fired in the budget's window.
func (e *budgetExtension) firedLabels(name string) []string {
	set := e.budgets.Load()
	b := set.byName[name]
	out := []string{}
	if b == nil {
		return out
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, l := range b.def.thLabels {
		if b.fired&(1<<i) != 0 {
			out = append(out, l)
		}
	}
	if b.projFired {
		out = append(out, kindProjected)
	}
	return out
}

func (e *budgetExtension) startHTTP(ctx context.Context, host component.Host) error {
	ln, err := e.cfg.HTTP.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("listen on http.endpoint %q: %w", e.cfg.HTTP.NetAddr.Endpoint, err)
	}
	srv, err := e.cfg.HTTP.ToServer(ctx, host.GetExtensions(), e.set.TelemetrySettings, e.handler(), httpErrorOption())
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("http server: %w", err)
	}
	e.server = srv
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.logger.Error("budget API server stopped", zap.Error(err))
		}
	}()
	e.logger.Info("budget API listening", zap.String("endpoint", ln.Addr().String()))
	e.addr = ln.Addr()
	return nil
}

// sameConfig reports whether two definitions are configured identically.
func sameConfig(a, b *budgetDef) bool { return reflect.DeepEqual(a.cfg, b.cfg) }

// useClock replaces the clock (tests): Check then reads it directly too.
func (e *budgetExtension) useClock(now func() time.Time) {
	e.now, e.checkNow, e.realClock = now, now, false
}
