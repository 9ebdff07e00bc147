package agentcostbudgetextension

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/agentcost/agentcost/extension/agentcostbudgetextension/internal/metadata"
	"github.com/agentcost/agentcost/internal/glob"
	"github.com/agentcost/agentcost/internal/spend"
	"github.com/agentcost/agentcost/pricing"
)

// fakeClock is the injected clock of the unit tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func budgetCfg(name, limit string, w WindowConfig, mods ...func(*BudgetConfig)) BudgetConfig {
	b := newDefaultBudget()
	b.Name, b.Limit = name, limit
	if w.TimeZone == "" {
		w.TimeZone = "UTC"
	}
	if w.WeekStart == "" {
		w.WeekStart = "monday"
	}
	b.Window = w
	for _, m := range mods {
		m(&b)
	}
	return b
}

// newTestExt builds an extension (not started: no loops, no server) on a
// fake clock.
func newTestExt(t testing.TB, clock *fakeClock, budgets []BudgetConfig, mods ...func(*Config)) *budgetExtension {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Budgets = budgets
	for _, m := range mods {
		m(cfg)
	}
	require.NoError(t, cfg.Validate())
	e, err := newExtension(cfg, extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	e.useClock(clock.Now)
	return e
}

func usd(s string) pricing.Money { return pricing.MustParseMoney(s) }

func charge(at time.Time, cost string, team string) spend.Charge {
	return spend.Charge{Time: at, Cost: usd(cost), Team: team, AgentID: "agent-1", Provider: "openai", Model: "gpt-4o"}
}

func spendOf(e *budgetExtension, name string) pricing.Money {
	b := e.budgets.Load().byName[name]
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spendLocked(e.now())
}

func TestWindowBoundsDST(t *testing.T) {
	paris, ny := mustLoc(t, "Europe/Paris"), mustLoc(t, "America/New_York")
	tests := []struct {
		name       string
		w          windowSpec
		now        time.Time
		start, end time.Time
		length     time.Duration
	}{
		{"paris day DST starts (23h)", windowSpec{period: PeriodDay, loc: paris}, time.Date(2026, 3, 29, 12, 0, 0, 0, paris),
			time.Date(2026, 3, 29, 0, 0, 0, 0, paris), time.Date(2026, 3, 30, 0, 0, 0, 0, paris), 23 * time.Hour},
		{"new york day DST ends (25h)", windowSpec{period: PeriodDay, loc: ny}, time.Date(2026, 11, 1, 23, 30, 0, 0, ny),
			time.Date(2026, 11, 1, 0, 0, 0, 0, ny), time.Date(2026, 11, 2, 0, 0, 0, 0, ny), 25 * time.Hour},
		{"new york month with DST end", windowSpec{period: PeriodMonth, loc: ny}, time.Date(2026, 11, 15, 0, 0, 0, 0, ny),
			time.Date(2026, 11, 1, 0, 0, 0, 0, ny), time.Date(2026, 12, 1, 0, 0, 0, 0, ny), 30*24*time.Hour + time.Hour},
		{"paris week from monday across DST", windowSpec{period: PeriodWeek, loc: paris, weekStart: time.Monday}, time.Date(2026, 3, 29, 1, 0, 0, 0, paris),
			time.Date(2026, 3, 23, 0, 0, 0, 0, paris), time.Date(2026, 3, 30, 0, 0, 0, 0, paris), 7*24*time.Hour - time.Hour},
		{"week from sunday", windowSpec{period: PeriodWeek, loc: time.UTC, weekStart: time.Sunday}, time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC),
			time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), 7 * 24 * time.Hour},
		{"month december to january", windowSpec{period: PeriodMonth, loc: time.UTC}, time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC),
			time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 31 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, e := tt.w.bounds(tt.now)
			assert.True(t, s.Equal(tt.start), "start %s want %s", s, tt.start)
			assert.True(t, e.Equal(tt.end), "end %s want %s", e, tt.end)
			assert.Equal(t, tt.length, e.Sub(s))
		})
	}
}

// Two budgets in two zones over the same charges: each resets exactly at
// its own midnight, including the 23-hour Paris day of the DST change.
func TestCalendarRolloverTwoZonesDST(t *testing.T) {
	paris, tokyo := mustLoc(t, "Europe/Paris"), mustLoc(t, "Asia/Tokyo")
	clock := &fakeClock{t: time.Date(2026, 3, 29, 23, 59, 0, 0, paris)}
	e := newTestExt(t, clock, []BudgetConfig{
		budgetCfg("paris", "100", WindowConfig{Calendar: PeriodDay, TimeZone: "Europe/Paris"}),
		budgetCfg("tokyo", "100", WindowConfig{Calendar: PeriodDay, TimeZone: "Asia/Tokyo"}),
	})
	e.Accrue(charge(clock.Now(), "7", "a"))
	assert.Equal(t, usd("7"), spendOf(e, "paris"))
	assert.Equal(t, usd("7"), spendOf(e, "tokyo"))

	// The Paris day began at 00:00 CET (+01:00) and ends at 00:00 CEST (+02:00): 23 hours.
	b := e.budgets.Load().byName["paris"]
	assert.Equal(t, 23*time.Hour, b.we.Sub(b.ws))

	clock.Set(time.Date(2026, 3, 29, 23, 59, 59, 999_999_999, paris)) // last nanosecond of the day
	assert.Equal(t, usd("7"), spendOf(e, "paris"))
	clock.Set(time.Date(2026, 3, 30, 0, 0, 0, 0, paris)) // 22:00 UTC
	assert.True(t, spendOf(e, "paris").IsZero(), "paris window rolled over at Paris midnight")
	assert.Equal(t, usd("7"), spendOf(e, "tokyo"), "tokyo is already on 30 March since 07:00 Paris time; unchanged")
	e.Accrue(charge(clock.Now(), "2", "a"))
	// A late charge from the previous Paris day does not count in the new one.
	e.Accrue(charge(time.Date(2026, 3, 29, 23, 0, 0, 0, paris), "50", "a"))
	assert.Equal(t, usd("2"), spendOf(e, "paris"))

	clock.Set(time.Date(2026, 3, 31, 0, 0, 0, 0, tokyo))
	assert.True(t, spendOf(e, "tokyo").IsZero(), "tokyo window rolled over at Tokyo midnight")
	assert.Equal(t, usd("2"), spendOf(e, "paris"))
}

func TestRollingWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	e := newTestExt(t, clock, []BudgetConfig{budgetCfg("r", "10", WindowConfig{Rolling: time.Hour})})
	e.Accrue(charge(t0, "5", "a"))
	clock.Set(t0.Add(30 * time.Minute))
	e.Accrue(charge(clock.Now(), "3", "a"))
	assert.Equal(t, usd("8"), spendOf(e, "r"))
	clock.Set(t0.Add(61 * time.Minute))
	assert.Equal(t, usd("3"), spendOf(e, "r"), "the first charge left the window")
	clock.Set(t0.Add(91 * time.Minute))
	assert.True(t, spendOf(e, "r").IsZero())
	// A charge older than the window never counts.
	e.Accrue(charge(t0, "4", "a"))
	assert.True(t, spendOf(e, "r").IsZero())
	// A charge without a time counts now.
	e.Accrue(charge(time.Time{}, "2", "a"))
	assert.Equal(t, usd("2"), spendOf(e, "r"))
}

func TestThresholdsFireOncePerWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	e := newTestExt(t, clock, []BudgetConfig{budgetCfg("d", "10", WindowConfig{Calendar: PeriodDay},
		func(b *BudgetConfig) { b.ProjectedAlert = false })})
	kinds := func(evs []alertEvent) []float64 {
		var out []float64
		for _, ev := range evs {
			require.Equal(t, kindThreshold, ev.Kind)
			out = append(out, ev.Threshold)
		}
		return out
	}
	assert.Empty(t, e.evaluate(clock.Now()))
	e.Accrue(charge(t0, "5", "a"))
	evs := e.evaluate(clock.Now())
	assert.Equal(t, []float64{0.5}, kinds(evs))
	assert.Equal(t, "5.000000000000", evs[0].Spend.String())
	assert.Empty(t, e.evaluate(clock.Now()), "no re-fire")
	e.Accrue(charge(t0, "6", "a")) // 11: crosses 0.8 and 1.0 at once
	assert.Equal(t, []float64{0.8, 1.0}, kinds(e.evaluate(clock.Now())))
	e.Accrue(charge(t0, "6", "a"))
	assert.Empty(t, e.evaluate(clock.Now()))
	assert.Equal(t, []string{"0.5", "0.8", "1"}, e.firedLabels("d"))

	clock.Set(time.Date(2026, 11, 30, 0, 0, 1, 0, time.UTC))
	assert.Empty(t, e.evaluate(clock.Now()))
	e.Accrue(charge(clock.Now(), "5", "a"))
	assert.Equal(t, []float64{0.5}, kinds(e.evaluate(clock.Now())), "fires again in the next window")
}

func TestRollingThresholdRearmsAfterWindowLength(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	e := newTestExt(t, clock, []BudgetConfig{budgetCfg("r", "10", WindowConfig{Rolling: time.Hour},
		func(b *BudgetConfig) { b.AlertThresholds = []float64{0.5} })})
	e.Accrue(charge(t0, "6", "a"))
	assert.Len(t, e.evaluate(clock.Now()), 1)
	clock.Set(t0.Add(30 * time.Minute))
	e.Accrue(charge(clock.Now(), "6", "a"))
	assert.Empty(t, e.evaluate(clock.Now()))
	clock.Set(t0.Add(61 * time.Minute)) // 6 still in the window, an hour after firing
	assert.Len(t, e.evaluate(clock.Now()), 1)
}

func TestProjectedExhaustionAlert(t *testing.T) {
	// November 2026 in UTC: 30 days. After 6 days (20%) spend is 30% of the
	// limit: the rate exhausts the limit after 20 days, before the end.
	ws := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: ws.Add(2 * 24 * time.Hour)}
	e := newTestExt(t, clock, []BudgetConfig{budgetCfg("m", "100", WindowConfig{Calendar: PeriodMonth},
		func(b *BudgetConfig) { b.AlertThresholds = []float64{0.9}; b.ProjectedAlertMinElapsed = 0.1 })})
	e.Accrue(charge(clock.Now(), "30", "a"))
	assert.Empty(t, e.evaluate(clock.Now()), "only 6.7% of the window elapsed: too early to project")
	clock.Set(ws.Add(6 * 24 * time.Hour))
	evs := e.evaluate(clock.Now())
	require.Len(t, evs, 1)
	assert.Equal(t, kindProjected, evs[0].Kind)
	assert.True(t, evs[0].ProjectedExhaustion.Equal(ws.Add(20*24*time.Hour)), "exhaustion at %s", evs[0].ProjectedExhaustion)
	clock.Add(time.Hour)
	e.Accrue(charge(clock.Now(), "1", "a"))
	assert.Empty(t, e.evaluate(clock.Now()), "projected alert fires once per window")

	// A slow spender is not projected to exhaust.
	clock2 := &fakeClock{t: ws.Add(15 * 24 * time.Hour)}
	e2 := newTestExt(t, clock2, []BudgetConfig{budgetCfg("m", "100", WindowConfig{Calendar: PeriodMonth},
		func(b *BudgetConfig) { b.AlertThresholds = []float64{0.9} })})
	e2.Accrue(charge(clock2.Now(), "40", "a"))
	assert.Empty(t, e2.evaluate(clock2.Now()))
}

func TestSuspendThenResume(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 22, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	e := newTestExt(t, clock, []BudgetConfig{
		budgetCfg("team-a", "10", WindowConfig{Calendar: PeriodDay}, func(b *BudgetConfig) {
			b.Action = ActionSuspend
			b.Scope = map[string]string{"team": "a"}
		}),
		budgetCfg("alert-only", "1", WindowConfig{Calendar: PeriodDay}),
	})
	id := &Identity{Team: "a", AgentID: "agent-1"}
	d, res := e.Check(id, nil)
	assert.Equal(t, Allow, d.Outcome)
	require.Len(t, res, 2)

	_, err := e.Resume("team-a")
	assert.ErrorIs(t, err, errNotSuspended, "no resumption in advance")

	e.Accrue(charge(t0, "10", "a"))
	d, res = e.Check(id, res[:0])
	assert.Equal(t, Deny, d.Outcome)
	assert.Equal(t, 2*time.Hour, d.RetryAfter, "until the window ends")
	assert.Equal(t, ReasonSuspended, res[0].Reason)
	assert.True(t, res[0].Suspended)
	assert.Equal(t, ReasonLimitReached, res[1].Reason, "the alert-only budget is over its limit but allows")
	assert.Equal(t, Allow, res[1].Outcome)

	// Another team is not involved in team-a's budget.
	d, _ = e.Check(&Identity{Team: "b"}, nil)
	assert.Equal(t, Allow, d.Outcome)

	_, err = e.Resume("alert-only")
	assert.ErrorIs(t, err, errNotSuspendable)
	_, err = e.Resume("nope")
	assert.ErrorIs(t, err, errUnknownBudget)
	r, err := e.Resume("team-a")
	require.NoError(t, err)
	r2, err := e.Resume("team-a")
	require.NoError(t, err, "resuming twice is a no-op")
	assert.Equal(t, r, r2)
	assert.Equal(t, Allow, r.Outcome)
	assert.Equal(t, ReasonResumed, r.Reason)
	e.Accrue(charge(t0, "5", "a"))
	d, _ = e.Check(id, nil)
	assert.Equal(t, Allow, d.Outcome, "resumed for the rest of the window")

	clock.Set(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	e.Accrue(charge(clock.Now(), "10", "a"))
	d, res = e.Check(id, nil)
	assert.Equal(t, Deny, d.Outcome, "a resumption lasts one window")
	assert.False(t, res[0].Resumed)
}

func TestThrottleAction(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	e := newTestExt(t, clock, []BudgetConfig{budgetCfg("t", "1", WindowConfig{Calendar: PeriodDay},
		func(b *BudgetConfig) { b.Action = ActionThrottle; b.ThrottleDelay = 750 * time.Millisecond })})
	e.Accrue(charge(t0, "0.999999999999", "a"))
	d, _ := e.Check(&Identity{Team: "a"}, nil)
	assert.Equal(t, Allow, d.Outcome, "one pico-dollar below the limit")
	e.Accrue(charge(t0, "0.000000000001", "a"))
	d, _ = e.Check(&Identity{Team: "a"}, nil)
	assert.Equal(t, Throttle, d.Outcome)
	assert.Equal(t, 750*time.Millisecond, d.Delay)
	assert.Zero(t, d.RetryAfter)
}

func TestFailOpenAndClosed(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	withLedger := func(c *Config) { c.ClickHouse.Endpoint = "clickhouse://127.0.0.1:1" }
	e := newTestExt(t, clock, []BudgetConfig{
		budgetCfg("open", "10", WindowConfig{Calendar: PeriodDay}, func(b *BudgetConfig) { b.Scope = map[string]string{"team": "a"} }),
		budgetCfg("closed", "10", WindowConfig{Calendar: PeriodDay}, func(b *BudgetConfig) {
			b.Scope = map[string]string{"team": "b"}
			b.FailMode = FailClosed
		}),
	}, withLedger)
	// Never reconciled: spend unknown.
	d, res := e.Check(&Identity{Team: "a"}, nil)
	assert.Equal(t, Allow, d.Outcome)
	assert.Equal(t, ReasonSpendUnknown, res[0].Reason)
	assert.False(t, res[0].SpendKnown)
	d, res = e.Check(&Identity{Team: "b"}, nil)
	assert.Equal(t, Deny, d.Outcome)
	assert.Equal(t, ReasonSpendUnknown, res[0].Reason)
	assert.Equal(t, e.cfg.ReconcileInterval, d.RetryAfter)

	// A successful reconcile makes it known...
	for _, b := range e.budgets.Load().list {
		b.mu.Lock()
		b.setLastOK(clock.Now())
		b.mu.Unlock()
	}
	d, _ = e.Check(&Identity{Team: "b"}, nil)
	assert.Equal(t, Allow, d.Outcome)
	// ...until it is older than stale_after.
	clock.Add(e.cfg.StaleAfter + time.Second)
	d, _ = e.Check(&Identity{Team: "b"}, nil)
	assert.Equal(t, Deny, d.Outcome)
	// Known local spend at the limit is enforced even when the ledger is unknown.
	e.Accrue(charge(clock.Now(), "10", "a"))
	_, res = e.Check(&Identity{Team: "a"}, nil)
	assert.Equal(t, ReasonLimitReached, res[0].Reason)
}

func TestScopeGlobAndAnd(t *testing.T) {
	sc, err := compileScope(map[string]string{"team": "ml-*", "provider": "openai", "agent_id": "bot-?"})
	require.NoError(t, err)
	assert.True(t, sc.match(&Identity{Team: "ml-research", Provider: "openai", AgentID: "bot-1"}))
	assert.False(t, sc.match(&Identity{Team: "ml-research", Provider: "anthropic", AgentID: "bot-1"}))
	assert.False(t, sc.match(&Identity{Team: "ml-research", Provider: "openai", AgentID: "bot-12"}))
	assert.False(t, sc.match(&Identity{Team: "web", Provider: "openai", AgentID: "bot-1"}))
	for _, tt := range []struct {
		p, s string
		ok   bool
	}{
		{"*", "", true}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"*x", "yyx", true},
		{"?", "", false}, {"a?c", "abc", true}, {"abc", "abc", true}, {"ab", "abc", false}, {"**", "q", true},
		{"a*a*a", "aaaa", true}, {"a*a*a", "aa", false},
	} {
		assert.Equal(t, tt.ok, glob.Match(tt.p, tt.s), "%q ~ %q", tt.p, tt.s)
	}
	assert.Equal(t, `ml\_%\%x_`, likePattern("ml_*%x?"))
	_, err = compileScope(map[string]string{"colour": "red"})
	assert.ErrorContains(t, err, `scope key "colour" is not one of agent_id`)
}

func TestRingNoDoubleCountAcrossCutoff(t *testing.T) {
	r := newRing(time.Second, 8)
	base := time.Unix(1_800_000_000, 0)
	r.advance(r.slotOf(base))
	for i := range 6 {
		folded, at := r.add(r.slotOf(base.Add(time.Duration(i)*time.Second)), usd("1"))
		assert.True(t, folded.IsZero())
		assert.Equal(t, emptySlot, at)
	}
	assert.Equal(t, usd("6"), r.total)
	dropped := r.advance(r.slotOf(base.Add(4 * time.Second)))
	assert.Equal(t, usd("4"), dropped)
	assert.Equal(t, usd("2"), r.total)
	// A charge far ahead grows the ring: nothing is pushed out, and the
	// older slots still drop exactly at a later cutoff.
	folded, at := r.add(r.slotOf(base.Add(20*time.Second)), usd("1"))
	assert.True(t, folded.IsZero())
	assert.Equal(t, emptySlot, at)
	assert.Greater(t, len(r.sums), 8)
	assert.Equal(t, usd("3"), r.total)
	assert.Equal(t, usd("2"), r.advance(r.slotOf(base.Add(6*time.Second))))
	assert.Equal(t, usd("1"), r.total)
	// Beyond maxRingSlots the oldest slots are pushed out for the caller to
	// keep, with the highest slot they came from.
	far := r.slotOf(base.Add(time.Duration(maxRingSlots+100) * time.Second))
	folded, at = r.add(far, usd("1"))
	assert.Equal(t, usd("1"), folded)
	assert.Equal(t, far-int64(len(r.sums)), at)
	assert.Len(t, r.sums, maxRingSlots)
	assert.Equal(t, usd("1"), r.total)
}

func TestMulFractionExact(t *testing.T) {
	assert.Equal(t, usd("8"), mulFraction(usd("10"), "0.8"))
	assert.Equal(t, usd("0.333333333333"), mulFraction(usd("1"), "0.333333333333"))
	assert.Equal(t, usd("15"), mulFraction(usd("10"), "1.5"))
}

// Cutoffs are slot boundaries counted from the Unix epoch, also for slot
// widths that do not divide the year-1 offset time.Truncate counts from (a
// 17 ms slot, reconcile_interval 30ms + reconcile_lag 250ms): a cutoff inside
// a slot would leave charges before it both in the ledger and in the ring.
func TestCutoffIsASlotBoundary(t *testing.T) {
	r := newRing(17*time.Millisecond, 8)
	now := time.Date(2026, 11, 29, 11, 0, 0, 123456789, time.UTC)
	s := r.slotOf(now)
	c := r.slotStart(s)
	assert.Equal(t, s, r.slotOf(c))
	assert.Equal(t, s-1, r.slotOf(c.Add(-time.Nanosecond)), "the cutoff starts its slot")
	assert.NotEqual(t, c, now.Truncate(17*time.Millisecond), "time.Truncate counts from year 1")
}
