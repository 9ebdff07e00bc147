package agentcostbudgetextension

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/agentcost/agentcost/pricing"
)

// ledger reads budget spend from the agentcost_clickhouse exporter's cost
// table and keeps fired alerts in a small table of its own.
type ledger struct {
	conn        driver.Conn
	costTable   string // quoted `db`.`{prefix}cost_events`
	alertTable  string // quoted `db`.`{prefix}budget_alerts`
	outboxTable string // quoted `db`.`{prefix}budget_alert_outbox`
	hourlyTable string // quoted `db`.`{prefix}cost_hourly`; empty: raw table only
	alertsReady atomic.Bool
}

func quoteIdent(s string) string { return "`" + s + "`" }

func openLedger(cfg ClickHouseConfig) (*ledger, error) {
	opts, err := clickhouse.ParseDSN(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("clickhouse.endpoint %q: %w", redactDSN(cfg.Endpoint), stripURL(err))
	}
	if cfg.Username != "" {
		opts.Auth.Username = cfg.Username
	}
	if cfg.Password != "" {
		opts.Auth.Password = string(cfg.Password)
	}
	opts.DialTimeout = cfg.Timeout
	opts.ReadTimeout = cfg.Timeout
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %q: %w", redactDSN(cfg.Endpoint), stripURL(err))
	}
	db := quoteIdent(cfg.Database)
	l := &ledger{
		conn:        conn,
		costTable:   db + "." + quoteIdent(cfg.TablePrefix+"cost_events"),
		alertTable:  db + "." + quoteIdent(cfg.TablePrefix+"budget_alerts"),
		outboxTable: db + "." + quoteIdent(cfg.TablePrefix+"budget_alert_outbox"),
	}
	if cfg.UseHourlyRollup {
		l.hourlyTable = db + "." + quoteIdent(cfg.TablePrefix+"cost_hourly")
	}
	return l, nil
}

func (l *ledger) close() error { return l.conn.Close() }

// alertsTableDDL (version 1) is the fired-alerts table: one row per alert
// (or resumption) per replica that fired it; a few rows per budget and
// window, expiring 400 days after firing. The earliest row of a key is the
// firing that notifies (see firstFiring). ReplacingMergeTree over the full
// key only folds exact re-inserts, and lets readers use FINAL.
const alertsTableDDL = `CREATE TABLE IF NOT EXISTS %s (
    budget       String,
    window_start DateTime64(3, 'UTC'),
    kind         LowCardinality(String),
    threshold    Float64,
    spend        Decimal(38, 12),
    limit_usd    Decimal(38, 12),
    fired_at     DateTime64(3, 'UTC'),
    replica      String
) ENGINE = ReplacingMergeTree
ORDER BY (budget, window_start, kind, threshold, fired_at, replica)
TTL toDateTime(fired_at) + INTERVAL 400 DAY`

// outboxTableDDL (version 2, added beside version 1) records webhook
// delivery apart from firing: a `delivered = 0` row with the payload when the
// notifying replica queues an alert for a webhook, a `delivered = 1` row when
// the webhook accepted it. An alert whose greatest `delivered` is 0 is still
// owed and is retried at every reconcile and after a restart, by the replica
// that fired it; `delivered = 2` marks an alert the webhook refused for good
// (HTTP 4xx), not retried.
const outboxTableDDL = `CREATE TABLE IF NOT EXISTS %s (
    replica      String,
    notifier     String,
    budget       String,
    window_start DateTime64(3, 'UTC'),
    kind         LowCardinality(String),
    threshold    Float64,
    fired_at     DateTime64(3, 'UTC'),
    delivered    UInt8,
    payload      String,
    updated_at   DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(delivered)
ORDER BY (replica, notifier, budget, window_start, kind, threshold, fired_at)
TTL toDateTime(fired_at) + INTERVAL 400 DAY`

// ensureAlertsTable creates the extension's tables (every version; each
// statement is idempotent and additive).
func (l *ledger) ensureAlertsTable(ctx context.Context) error {
	if err := l.conn.Exec(ctx, fmt.Sprintf(alertsTableDDL, l.alertTable)); err != nil {
		return fmt.Errorf("create alerts table %s: %w", l.alertTable, err)
	}
	if err := l.conn.Exec(ctx, fmt.Sprintf(outboxTableDDL, l.outboxTable)); err != nil {
		return fmt.Errorf("create alert outbox table %s: %w", l.outboxTable, err)
	}
	return nil
}

// outboxKey identifies one alert owed to one webhook.
type outboxKey struct {
	budget    string
	windowKey time.Time
	kind      string
	threshold float64
	firedAt   time.Time // truncated to milliseconds, as stored
	replica   string
}

func keyOf(ev alertEvent) outboxKey {
	return outboxKey{budget: ev.Budget, windowKey: ev.windowKey.UTC(), kind: ev.Kind, threshold: ev.Threshold,
		firedAt: ev.FiredAt.UTC().Truncate(time.Millisecond), replica: ev.Replica}
}

// Outbox states (the `delivered` column; the greatest row wins).
const (
	outboxOwed      uint8 = 0 // queued for the notifier, not accepted yet
	outboxDelivered uint8 = 1 // accepted by the notifier
	outboxRefused   uint8 = 2 // refused for good (HTTP 4xx): not retried
)

// outboxWrite records the delivery state of an alert for notifiers.
func (l *ledger) outboxWrite(ctx context.Context, ev alertEvent, notifiers []string, state uint8) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	batch, err := l.conn.PrepareBatch(ctx, "INSERT INTO "+l.outboxTable+
		" (replica, notifier, budget, window_start, kind, threshold, fired_at, delivered, payload, updated_at)")
	if err != nil {
		return fmt.Errorf("write alert outbox %s: %w", l.outboxTable, err)
	}
	k := keyOf(ev)
	for _, n := range notifiers {
		if err := batch.Append(k.replica, n, k.budget, k.windowKey, k.kind, k.threshold, k.firedAt, state, string(payload), time.Now().UTC()); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("write alert outbox %s: %w", l.outboxTable, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("write alert outbox %s: %w", l.outboxTable, err)
	}
	return nil
}

// undelivered returns the alerts replica still owes to notifier, fired
// since `since`, oldest first.
func (l *ledger) undelivered(ctx context.Context, replica, notifier string, since time.Time) ([]alertEvent, error) {
	q := "SELECT budget, window_start, kind, threshold, fired_at, argMin(payload, delivered) FROM " + l.outboxTable +
		" WHERE replica = {replica:String} AND notifier = {notifier:String} AND fired_at >= {since:DateTime64(3, 'UTC')}" +
		" GROUP BY budget, window_start, kind, threshold, fired_at HAVING max(delivered) = 0 ORDER BY fired_at, budget"
	params := clickhouse.Parameters{"replica": replica, "notifier": notifier, "since": chTime(since)}
	rows, err := l.conn.Query(clickhouse.Context(ctx, clickhouse.WithParameters(params)), q)
	if err != nil {
		return nil, fmt.Errorf("read alert outbox %s: %w", l.outboxTable, err)
	}
	defer rows.Close()
	var out []alertEvent
	for rows.Next() {
		var (
			k       outboxKey
			payload string
			ev      alertEvent
		)
		if err := rows.Scan(&k.budget, &k.windowKey, &k.kind, &k.threshold, &k.firedAt, &payload); err != nil {
			return nil, fmt.Errorf("read alert outbox %s: %w", l.outboxTable, err)
		}
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			return nil, fmt.Errorf("read alert outbox %s: alert %q: %w", l.outboxTable, k.budget, err)
		}
		// The key columns are authoritative (the payload's times may carry
		// more precision than the stored ones).
		ev.Budget, ev.windowKey, ev.Kind, ev.Threshold, ev.FiredAt, ev.Replica = k.budget, k.windowKey.UTC(), k.kind, k.threshold, k.firedAt.UTC(), replica
		out = append(out, ev)
	}
	return out, rows.Err()
}

const chTimeLayout = "2006-01-02 15:04:05.000000000"

func chTime(t time.Time) string { return t.UTC().Format(chTimeLayout) }

// scopeFilter appends " AND col = {pN:String}" (or LIKE for globs) for each
// selector: identifiers are fixed column names, every value a parameter.
func scopeFilter(b *strings.Builder, sc scope, params clickhouse.Parameters) {
	for i, sel := range sc {
		name := fmt.Sprintf("p%d", i)
		col := quoteIdent(ledgerColumns[sel.field])
		if sel.glob {
			fmt.Fprintf(b, " AND %s LIKE {%s:String}", col, name)
			params[name] = likePattern(sel.pattern)
		} else {
			fmt.Fprintf(b, " AND %s = {%s:String}", col, name)
			params[name] = sel.pattern
		}
	}
}

// sumQuery builds the parameterised spend query for a scope over
// [from, to). With an hourly rollup and at least one whole UTC hour inside
// the range, the whole hours [h1, h2) are read from the rollup and only the
// partial hours at both ends from cost_events; otherwise cost_events alone.
func sumQuery(raw, hourly string, sc scope, from, to time.Time) (string, clickhouse.Parameters) {
	var b strings.Builder
	params := clickhouse.Parameters{"from": chTime(from), "to": chTime(to)}
	h1, h2 := from.UTC().Truncate(time.Hour), to.UTC().Truncate(time.Hour)
	if h1.Before(from) {
		h1 = h1.Add(time.Hour)
	}
	if hourly == "" || !h1.Before(h2) {
		b.WriteString("SELECT toString(sum(total_cost)) FROM ")
		b.WriteString(raw)
		b.WriteString(" WHERE event_time >= {from:DateTime64(9, 'UTC')} AND event_time < {to:DateTime64(9, 'UTC')}")
		scopeFilter(&b, sc, params)
		return b.String(), params
	}
	params["h1"] = h1.Format(time.DateTime)
	params["h2"] = h2.Format(time.DateTime)
	b.WriteString("SELECT toString((SELECT sum(total_cost) FROM ")
	b.WriteString(hourly)
	b.WriteString(" WHERE hour >= {h1:DateTime('UTC')} AND hour < {h2:DateTime('UTC')}")
	scopeFilter(&b, sc, params)
	b.WriteString(") + (SELECT sum(total_cost) FROM ")
	b.WriteString(raw)
	b.WriteString(" WHERE ((event_time >= {from:DateTime64(9, 'UTC')} AND event_time < {h1:DateTime64(9, 'UTC')})" +
		" OR (event_time >= {h2:DateTime64(9, 'UTC')} AND event_time < {to:DateTime64(9, 'UTC')}))")
	scopeFilter(&b, sc, params)
	b.WriteString("))")
	return b.String(), params
}

// sum returns the ledger's spend for sc over [from, to).
func (l *ledger) sum(ctx context.Context, sc scope, from, to time.Time) (pricing.Money, error) {
	if !from.Before(to) {
		return pricing.Money{}, nil
	}
	q, params := sumQuery(l.costTable, l.hourlyTable, sc, from, to)
	var s string
	if err := l.conn.QueryRow(clickhouse.Context(ctx, clickhouse.WithParameters(params)), q).Scan(&s); err != nil {
		return pricing.Money{}, fmt.Errorf("sum spend from %s: %w", l.costTable, err)
	}
	m, err := pricing.ParseMoney(s)
	if err != nil {
		return pricing.Money{}, fmt.Errorf("sum spend from %s: %w", l.costTable, err)
	}
	return m, nil
}

// firedRow is a persisted alert.
type firedRow struct {
	kind      string
	threshold float64
	firedAt   time.Time
}

// fired returns the alerts persisted for a budget's window; for rolling
// windows (windowKey at the epoch) only those fired since `since`.
func (l *ledger) fired(ctx context.Context, budget string, windowKey, since time.Time) ([]firedRow, error) {
	q := "SELECT kind, threshold, max(fired_at) FROM " + l.alertTable +
		" WHERE budget = {budget:String} AND window_start = {ws:DateTime64(3, 'UTC')} AND fired_at >= {since:DateTime64(3, 'UTC')}" +
		" GROUP BY kind, threshold ORDER BY kind, threshold"
	params := clickhouse.Parameters{"budget": budget, "ws": chTime(windowKey), "since": chTime(since)}
	rows, err := l.conn.Query(clickhouse.Context(ctx, clickhouse.WithParameters(params)), q)
	if err != nil {
		return nil, fmt.Errorf("read fired alerts from %s: %w", l.alertTable, err)
	}
	defer rows.Close()
	var out []firedRow
	for rows.Next() {
		var r firedRow
		if err := rows.Scan(&r.kind, &r.threshold, &r.firedAt); err != nil {
			return nil, fmt.Errorf("read fired alerts from %s: %w", l.alertTable, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func moneyDecimal(m pricing.Money) decimal.Decimal {
	return decimal.NewFromBigInt(m.BigInt(), -pricing.MoneyScale)
}

// record persists an alert or a resumption.
func (l *ledger) record(ctx context.Context, ev alertEvent) error {
	batch, err := l.conn.PrepareBatch(ctx, "INSERT INTO "+l.alertTable+" (budget, window_start, kind, threshold, spend, limit_usd, fired_at, replica)")
	if err != nil {
		return fmt.Errorf("record alert in %s: %w", l.alertTable, err)
	}
	if err := batch.Append(ev.Budget, ev.windowKey.UTC(), ev.Kind, ev.Threshold, moneyDecimal(ev.Spend),
		moneyDecimal(ev.Limit), ev.FiredAt.UTC(), ev.Replica); err != nil {
		_ = batch.Abort()
		return fmt.Errorf("record alert in %s: %w", l.alertTable, err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("record alert in %s: %w", l.alertTable, err)
	}
	return nil
}

// firstFiring reports whether ev is the earliest persisted firing of its
// alert (by fired_at, then replica name) among those since ev.since: of
// several replicas that fire the same alert, only that one notifies.
func (l *ledger) firstFiring(ctx context.Context, ev alertEvent) (bool, error) {
	q := "SELECT replica, fired_at FROM " + l.alertTable +
		" WHERE budget = {budget:String} AND window_start = {ws:DateTime64(3, 'UTC')} AND kind = {kind:String}" +
		" AND threshold = {th:Float64} AND fired_at >= {since:DateTime64(3, 'UTC')}" +
		" ORDER BY fired_at, replica LIMIT 1"
	params := clickhouse.Parameters{"budget": ev.Budget, "ws": chTime(ev.windowKey), "kind": ev.Kind,
		"th": strconv.FormatFloat(ev.Threshold, 'g', -1, 64), "since": chTime(ev.since)}
	var replica string
	var at time.Time
	if err := l.conn.QueryRow(clickhouse.Context(ctx, clickhouse.WithParameters(params)), q).Scan(&replica, &at); err != nil {
		return false, fmt.Errorf("read first firing from %s: %w", l.alertTable, err)
	}
	return replica == ev.Replica && at.Equal(ev.FiredAt.Truncate(time.Millisecond)), nil
}
