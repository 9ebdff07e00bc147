package agentcostclickhouseexporter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/agentcost/agentcost/internal/chtest"
	"github.com/agentcost/agentcost/pricing"
)

var t0 = time.Date(2026, 11, 2, 10, 15, 0, 123456789, time.UTC)

// TestRoundTrip writes rows and reads every column back exactly.
func TestRoundTrip(t *testing.T) {
	db := chtest.New(t)
	cfg := testConfig(db)
	cfg.ExtraDimensions = []string{"tenant.id", "k8s.namespace.name"}
	e := startDirect(t, cfg)

	big := call{
		traceID: "t1", spanID: "s1", parentID: "p1", start: t0, dur: 1500 * time.Millisecond,
		service: "support-bot", env: "prod",
		agent: "triage", agentName: "Triage Agent", root: "support", team: "cx", project: "helpdesk",
		bu: "ops", costCenter: "cc-42", user: "u-1", conversation: "conv-9",
		operation: "chat", provider: "openai", reqModel: "gpt-5", respModel: "gpt-5-2026-08-07", priceModel: "gpt-5",
		source: "catalog", priceID: "openai/gpt-5@2026-08",
		in: 1_000_000, out: 250_000, cacheRead: 400_000, cacheWrite: 10_000, reasoning: 50_000,
		inCost: "123456.789012345678", cacheReadCost: "0.000000000001", cacheWriteCost: "0.012500000000",
		outCost: "2.500000000000", reasoningCost: "0.500000000000", otherCost: "0.000000000000",
		total: "123459.801512345679",
		extra: map[string]string{"tenant.id": "acme", "not.allowed": "x"},
	}
	tool := call{
		traceID: "t1", spanID: "s2", parentID: "s1", start: t0.Add(time.Second), dur: time.Millisecond, isError: true,
		service: "support-bot", env: "prod", agent: "triage", root: "support", team: "cx",
		operation: "execute_tool", tool: "search", toolHash: "ab12", status: "not_billable", total: "0.000000000000",
	}
	unpriced := call{
		traceID: "t2", spanID: "s3", start: t0, service: "batch", agent: "x", team: "data",
		operation: "chat", provider: "acme-ai", reqModel: "mystery-1", status: "unpriced", reason: "unknown_model", in: 10, out: 5,
	}
	notCost := call{traceID: "t3", spanID: "s4", start: t0, noStatus: true}

	require.NoError(t, e.pushTraces(context.Background(), traces(big, tool, unpriced, notCost)))

	got := queryStrings(t, db.Conn, `SELECT toString(event_time), trace_id, span_id, parent_span_id, service_name, environment,
		agent_id, agent_name, root_agent_id, team, project, business_unit, cost_center, user_id, conversation_id,
		operation, provider, request_model, response_model, pricing_model, tool_name, tool_call_hash,
		toString(input_tokens), toString(output_tokens), toString(cache_read_tokens), toString(cache_write_tokens), toString(reasoning_tokens),
		toString(input_cost), toString(cache_read_cost), toString(cache_write_cost), toString(output_cost),
		toString(reasoning_cost), toString(other_cost), toString(total_cost), currency, cost_status, cost_reason, cost_source, price_id,
		toString(duration_ns), toString(is_error), toString(extra)
		FROM `+db.Name+`.cost_events ORDER BY span_id = '' , event_time, duration_ns DESC`)
	tid, sid, pid := traceIDOf("t1"), spanIDOf("s1"), spanIDOf("p1")
	require.Len(t, got, 3, "the span without agentcost.cost.status is not a cost event")
	// toString of Decimal(38, 12) prints every one of the 12 digits only when
	// they are significant; compare parsed Money for exactness.
	assert.Equal(t, "2026-11-02 10:15:00.123456789\t"+tid.String()+"\t"+sid.String()+"\t"+pid.String()+
		"\tsupport-bot\tprod\ttriage\tTriage Agent\tsupport\tcx\thelpdesk\tops\tcc-42\tu-1\tconv-9"+
		"\tchat\topenai\tgpt-5\tgpt-5-2026-08-07\tgpt-5\t\t"+
		"\t1000000\t250000\t400000\t10000\t50000"+
		"\t123456.789012345678\t0.000000000001\t0.0125\t2.5\t0.5\t0\t123459.801512345679"+
		"\tUSD\tpriced\t\tcatalog\topenai/gpt-5@2026-08\t1500000000\tfalse\t{'tenant.id':'acme'}", got[0])

	var total string
	require.NoError(t, db.Conn.QueryRow(context.Background(),
		"SELECT toString(sum(total_cost)) FROM "+db.Name+".cost_events").Scan(&total))
	assert.Equal(t, pricing.MustParseMoney(big.total).String(), pricing.MustParseMoney(total).String())

	rows := queryStrings(t, db.Conn, "SELECT if(span_id = '"+spanIDOf("s2").String()+"', 'tool', 'unpriced'), operation, tool_name, tool_call_hash, cost_status, cost_reason, toString(is_error), toString(total_cost), currency FROM "+db.Name+".cost_events WHERE span_id != ? ORDER BY 1", sid.String())
	assert.Equal(t, []string{
		"tool\texecute_tool\tsearch\tab12\tnot_billable\t\ttrue\t0\tUSD",
		"unpriced\tchat\t\t\tunpriced\tunknown_model\tfalse\t0\tUSD",
	}, rows)

	// Prompts and tool arguments are nowhere in the table.
	var leaks uint64
	require.NoError(t, db.Conn.QueryRow(context.Background(), "SELECT count() FROM "+db.Name+
		".cost_events WHERE position(toString(extra), 'secret') > 0 OR position(toString(tuple(*)), 'secret') > 0").Scan(&leaks))
	assert.Zero(t, leaks)
}

// TestLargeCostRoundTrip: a call costing more than 2^64 pico-USD (about
// 18.4M USD; here 2^53 tokens at real prices) is stored exactly in
// cost_events and adds up exactly in the rollups, beside ordinary rows.
func TestLargeCostRoundTrip(t *testing.T) {
	db := chtest.New(t)
	e := startDirect(t, testConfig(db))
	const tokens = 1 << 53
	inPrice := pricing.MustParseMoney("0.000003")  // 3 USD per million input tokens
	outPrice := pricing.MustParseMoney("0.000015") // 15 USD per million output tokens
	inCost, ok := inPrice.MulUint64(tokens)
	require.True(t, ok)
	outCost, ok := outPrice.MulUint64(tokens)
	require.True(t, ok)
	total := inCost.Add(outCost)
	_, fits := inCost.Pico()
	require.False(t, fits, "the fixture must exceed 2^64 pico-USD")
	small := pricing.MustParseMoney("0.000000000007")
	calls := []call{
		{traceID: "t", spanID: "huge", start: t0, team: "cx", agent: "a", operation: "chat", provider: "openai", priceModel: "gpt-x",
			in: tokens, out: tokens, inCost: inCost.String(), outCost: outCost.String(), total: total.String()},
		{traceID: "t", spanID: "small", start: t0.Add(time.Minute), team: "cx", agent: "a", operation: "chat", provider: "openai", priceModel: "gpt-x",
			in: 1, outCost: small.String(), total: small.String()},
	}
	require.NoError(t, e.pushTraces(context.Background(), traces(calls...)))

	got := queryStrings(t, db.Conn, "SELECT cost_status, cost_reason, toString(input_tokens), toString(input_cost), toString(output_cost), toString(total_cost) FROM "+
		db.Name+".cost_events WHERE span_id = ?", spanIDOf("huge").String())
	require.Len(t, got, 1)
	assert.Equal(t, "priced		9007199254740992	27021597764.222976	135107988821.11488	162129586585.337856", got[0])
	assert.Equal(t, "27021597764.222976000000", inCost.String(), "the expected text is the exact product")

	sum := total.Add(small).String()
	for _, q := range []string{
		"SELECT toString(sum(total_cost)) FROM " + db.Name + ".cost_events",
		"SELECT toString(sum(total_cost)) FROM " + db.Name + ".cost_hourly",
		"SELECT toString(sum(total_cost)) FROM " + db.Name + ".cost_daily",
	} {
		var s string
		require.NoError(t, db.Conn.QueryRow(context.Background(), q).Scan(&s), q)
		assert.Equal(t, sum, pricing.MustParseMoney(s).String(), q)
	}
	rollup := queryStrings(t, db.Conn, "SELECT toString(sum(input_cost)), toString(sum(output_cost)), toString(sum(input_tokens)) FROM "+db.Name+".cost_hourly")
	assert.Equal(t, []string{"27021597764.222976	135107988821.114880000007	9007199254740993"}, rollup)
}

// TestRollupsEqualRawSums checks cost_hourly and cost_daily against cost_events.
func TestRollupsEqualRawSums(t *testing.T) {
	db := chtest.New(t)
	e := startDirect(t, testConfig(db))
	var calls []call
	teams := []string{"cx", "data", "ml"}
	for i := 0; i < 600; i++ {
		calls = append(calls, call{
			traceID: seqID("t", i/3), spanID: seqID("s", i), start: t0.Add(time.Duration(i) * 7 * time.Minute),
			team: teams[i%3], project: teams[(i/3)%3] + "-p", agent: seqID("a", i%7), root: seqID("a", i%2),
			provider: "openai", priceModel: []string{"gpt-5", "gpt-5-mini"}[i%2], operation: "chat",
			in: int64(100 + i), out: int64(i % 50), cacheRead: int64(i % 30),
			inCost:  pricing.MoneyFromPico(uint64(1_000_003 * (i + 1))).String(),
			outCost: pricing.MoneyFromPico(uint64(999_999_999_999 * (i % 5))).String(),
			total:   pricing.MoneyFromPico(uint64(1_000_003*(i+1)) + uint64(999_999_999_999*(i%5))).String(),
			isError: i%11 == 0,
		})
	}
	// Two pushes so that the rollups have several parts to add up.
	require.NoError(t, e.pushTraces(context.Background(), traces(calls[:250]...)))
	require.NoError(t, e.pushTraces(context.Background(), traces(calls[250:]...)))

	raw := queryStrings(t, db.Conn, `SELECT team, toString(toStartOfHour(event_time)), toString(count()), toString(countIf(is_error)),
		toString(sum(input_tokens)), toString(sum(cache_read_tokens)), toString(sum(input_cost)), toString(sum(output_cost)), toString(sum(total_cost))
		FROM `+db.Name+`.cost_events GROUP BY 1, 2 ORDER BY 1, 2`)
	hourly := queryStrings(t, db.Conn, `SELECT team, toString(hour), toString(sum(calls)), toString(sum(error_calls)),
		toString(sum(input_tokens)), toString(sum(cache_read_tokens)), toString(sum(input_cost)), toString(sum(output_cost)), toString(sum(total_cost))
		FROM `+db.Name+`.cost_hourly GROUP BY 1, 2 ORDER BY 1, 2`)
	require.NotEmpty(t, raw)
	assert.Equal(t, raw, hourly)

	rawDaily := queryStrings(t, db.Conn, `SELECT team, project, agent_id, toString(toDate(event_time)), toString(count()), toString(sum(total_cost))
		FROM `+db.Name+`.cost_events GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`)
	daily := queryStrings(t, db.Conn, `SELECT team, project, agent_id, toString(day), toString(sum(calls)), toString(sum(total_cost))
		FROM `+db.Name+`.cost_daily GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`)
	assert.Equal(t, rawDaily, daily)

	var want pricing.Money
	for _, c := range calls {
		want = want.Add(pricing.MustParseMoney(c.total))
	}
	var got string
	require.NoError(t, db.Conn.QueryRow(context.Background(), "SELECT toString(sum(total_cost)) FROM "+db.Name+".cost_daily").Scan(&got))
	assert.Equal(t, want.String(), pricing.MustParseMoney(got).String())
}

// totals returns the row count and cost sums of the three tables.
func totals(t *testing.T, db *chtest.DB) []string {
	return queryStrings(t, db.Conn, `SELECT toString(count()), toString(sum(total_cost)),
		(SELECT toString((sum(calls), sum(total_cost), sum(input_tokens))) FROM `+db.Name+`.cost_hourly),
		(SELECT toString((sum(calls), sum(total_cost))) FROM `+db.Name+`.cost_daily)
		FROM `+db.Name+`.cost_events`)
}

// TestRetriedBatchCountsOnce pushes the same batch twice (what a retry
// does) and checks that no total moves: the insert deduplication token
// alone, with skip_stored_spans off; a different batch then still counts
// (stored_test.go has the same with the lookup on).
func TestRetriedBatchCountsOnce(t *testing.T) {
	db := chtest.New(t)
	cfg := testConfig(db)
	cfg.SkipStoredSpans = false
	e := startDirect(t, cfg)
	var calls []call
	for i := 0; i < 100; i++ {
		// Rows over three months: the batch is split into three blocks,
		// each deduplicated on its own.
		calls = append(calls, call{traceID: seqID("t", i), spanID: seqID("s", i), start: t0.AddDate(0, -(i % 3), 0),
			team: "cx", agent: "a", in: 10, total: "0.100000000001"})
	}
	td := traces(calls...)
	require.NoError(t, e.pushTraces(context.Background(), td))
	first := totals(t, db)
	assert.Equal(t, "100\t10.0000000001\t(100,10.0000000001,1000)\t(100,10.0000000001)", first[0])

	require.NoError(t, e.pushTraces(context.Background(), td))
	assert.Equal(t, first, totals(t, db), "the same batch pushed twice leaves every total unchanged")

	// Same spans in another batch shape (a subset) are a different block:
	// without the lookup, they are stored twice.
	require.NoError(t, e.pushTraces(context.Background(), traces(calls[:1]...)))
	assert.Equal(t, "101\t10.100000000101\t(101,10.100000000101,1010)\t(101,10.100000000101)", totals(t, db)[0])
}

// TestManyMonthsInOneBatch writes one batch whose rows span 150 months,
// past ClickHouse's default limit of 100 partitions per insert.
func TestManyMonthsInOneBatch(t *testing.T) {
	db := chtest.New(t)
	e := startDirect(t, testConfig(db))
	var calls []call
	for i := 0; i < 150; i++ {
		calls = append(calls, call{traceID: seqID("t", i), spanID: seqID("s", i), start: t0.AddDate(0, -i, 0),
			team: "cx", total: "1.000000000000"})
	}
	require.NoError(t, e.pushTraces(context.Background(), traces(calls...)))
	got := queryStrings(t, db.Conn, "SELECT toString(count()), toString(uniqExact(toYYYYMM(event_time))), toString(sum(total_cost)) FROM "+db.Name+".cost_events")
	assert.Equal(t, []string{"150\t150\t150"}, got)
}

// TestErrorClassification: schema errors are permanent, connection errors retryable.
func TestErrorClassification(t *testing.T) {
	db := chtest.New(t)
	cfg := testConfig(db)
	cfg.CreateSchema = false // the table does not exist
	e := startDirect(t, cfg)
	err := e.pushTraces(context.Background(), traces(call{traceID: "t", spanID: "s", start: t0, total: "1"}))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err), "unknown table is permanent: %v", err)

	// Nothing listens on port 1 (never in a test server's port range):
	// retryable.
	cfg2 := createDefaultConfig().(*Config)
	cfg2.Endpoint = "tcp://127.0.0.1:1?dial_timeout=1s"
	cfg2.CreateSchema = false
	e2 := startDirect(t, cfg2)
	err = e2.pushTraces(context.Background(), traces(call{traceID: "t", spanID: "s", start: t0, total: "1"}))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "connection refused is retryable: %v", err)

	// A type error in the data (an invalid cost) is not an insert error at all:
	// the row is kept with an explicit usage_error status.
	db2 := chtest.New(t)
	e3 := startDirect(t, testConfig(db2))
	require.NoError(t, e3.pushTraces(context.Background(), traces(
		call{traceID: "t", spanID: "s", start: t0, total: "1.5e3", in: 3},
		call{traceID: "t", spanID: "s2", start: t0, total: "100000000000000000000000000.000000000000"}, // past Decimal(38, 12)
	)))
	got := queryStrings(t, db2.Conn, "SELECT cost_status, cost_reason, toString(total_cost), toString(input_tokens) FROM "+db2.Name+".cost_events ORDER BY cost_reason")
	assert.Equal(t, []string{
		"usage_error\texporter_cost_overflow:agentcost.cost.total\t0\t0",
		"usage_error\texporter_invalid:agentcost.cost.total\t0\t3",
	}, got)
	assert.False(t, errors.Is(err, context.Canceled))
}

func TestFocusView(t *testing.T) {
	db := chtest.New(t)
	e := startDirect(t, testConfig(db))
	require.NoError(t, e.pushTraces(context.Background(), traces(
		call{traceID: "t", spanID: "a", start: t0, agent: "triage", agentName: "Triage", root: "support", team: "cx", project: "hd", bu: "ops",
			provider: "openai", priceModel: "gpt-5", priceID: "p1", operation: "chat", in: 100, out: 20, total: "0.250000000000"},
		call{traceID: "t", spanID: "b", start: t0.Add(time.Minute), agent: "triage", agentName: "Triage", root: "support", team: "cx", project: "hd", bu: "ops",
			provider: "openai", priceModel: "gpt-5", priceID: "p1", operation: "chat", in: 50, out: 10, total: "0.125000000000"},
		call{traceID: "t", spanID: "c", start: t0.Add(2 * time.Hour), agent: "writer", root: "support", team: "cx", project: "hd", bu: "ops",
			provider: "anthropic", priceModel: "claude-x", priceID: "p2", operation: "chat", in: 10, out: 1, total: "1.000000000001"},
	)))
	got := queryStrings(t, db.Conn, `SELECT toString(BilledCost), toString(EffectiveCost), toString(ListCost), BillingCurrency,
		toString(ChargePeriodStart), toString(ChargePeriodEnd), toString(BillingPeriodStart), toString(BillingPeriodEnd),
		ChargeCategory, ServiceName, ServiceCategory, ResourceId, ResourceName, SkuId, SkuPriceId,
		toString(ConsumedQuantity), ConsumedUnit, BillingAccountId, SubAccountId, Tags['x_agent_id'], Tags['x_team'], Tags['x_root_agent_id']
		FROM `+db.Name+`.focus_v1 ORDER BY ChargePeriodStart`)
	assert.Equal(t, []string{
		"0.375\t0.375\t0.375\tUSD\t2026-11-02 10:00:00\t2026-11-02 11:00:00\t2026-11-01 00:00:00\t2026-12-01 00:00:00\tUsage\topenai\tAI and Machine Learning\ttriage\tTriage\tgpt-5\tp1\t180\tTokens\tops\thd\ttriage\tcx\tsupport",
		"1.000000000001\t1.000000000001\t1.000000000001\tUSD\t2026-11-02 12:00:00\t2026-11-02 13:00:00\t2026-11-01 00:00:00\t2026-12-01 00:00:00\tUsage\tanthropic\tAI and Machine Learning\twriter\t\tclaude-x\tp2\t11\tTokens\tops\thd\twriter\tcx\tsupport",
	}, got)
	// FOCUS: BilledCost is never negative and ChargePeriodEnd > Start.
	var bad uint64
	require.NoError(t, db.Conn.QueryRow(context.Background(), "SELECT count() FROM "+db.Name+
		".focus_v1 WHERE BilledCost < 0 OR ChargePeriodEnd <= ChargePeriodStart OR BillingPeriodEnd <= BillingPeriodStart").Scan(&bad))
	assert.Zero(t, bad)
}
