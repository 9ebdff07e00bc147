package agentcostclickhouseexporter

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/pricing"
)

func convertAll(t *testing.T, extra []string, td ptrace.Traces) *rows {
	t.Helper()
	r := &rows{}
	r.reset()
	newConverter(extra).convert(td, r)
	return r
}

func TestConvertSkipsNonCostSpans(t *testing.T) {
	r := convertAll(t, nil, traces(
		call{traceID: "a", spanID: "1", start: t0, total: "1"},
		call{traceID: "a", spanID: "2", start: t0, noStatus: true},
		call{traceID: "a", spanID: "3", start: t0, noStatus: true},
	))
	assert.Equal(t, 1, r.len())
	assert.Equal(t, 2, r.skipped)
	assert.Equal(t, 0, r.invalid)
}

func TestConvertColumnsLineUp(t *testing.T) {
	r := convertAll(t, nil, traces(call{traceID: "a", spanID: "1", start: t0, total: "1"}))
	// One slice per insert column, in order.
	n := 6 + len(r.str) + len(r.tokens) + len(r.costs) + len(r.costsHi) + 3
	assert.Len(t, insertColumns(), n)
	assert.Equal(t, "team", insertColumns()[6+4])
	assert.Equal(t, attrs.Team, strColumns[4].attr)
	assert.Equal(t, "cost_status", strColumns[strCostStatus].column)
	assert.Equal(t, "cost_reason", strColumns[strCostReason].column)
	assert.Equal(t, "currency", strColumns[strCurrency].column)
	assert.Equal(t, "total_cost_pico", costColumns[costTotal].column)
	assert.Equal(t, "total_cost_pico_hi", insertColumns()[6+nStr+nTok+nCost+costTotal])
}

// TestConvertLargeCosts: costs of 2^64 pico-USD (about 18.4M USD) and more
// travel as two words; past Decimal(38, 12)'s range the row is kept as
// usage_error; token counts stop at 2^64 - 1.
func TestConvertLargeCosts(t *testing.T) {
	for _, tc := range []struct {
		cost       string
		hi, lo     uint64
		wantReason string
	}{
		{cost: "18446744.073709551615", hi: 0, lo: math.MaxUint64},
		{cost: "18446744.073709551616", hi: 1, lo: 0},
		{cost: "27021597764.222976000000", hi: 1464, lo: 15564440312192434176}, // 2^53 tokens at 3 USD per million
		{cost: "99999999999999999999999999.999999999999", hi: 5421010862427522170, lo: 687399551400673279},
		{cost: "100000000000000000000000000", wantReason: "exporter_cost_overflow:" + attrs.CostTotal},
		{cost: "340282366920938463463374607.431768211456", wantReason: "exporter_invalid:" + attrs.CostTotal}, // 2^128 pico
	} {
		r := convertAll(t, nil, traces(call{traceID: "a", spanID: "1", start: t0, total: tc.cost}))
		require.Equal(t, 1, r.len(), tc.cost)
		assert.Equal(t, tc.wantReason, r.str[strCostReason][0], tc.cost)
		assert.Equal(t, tc.lo, r.costs[costTotal][0], tc.cost)
		assert.Equal(t, tc.hi, r.costsHi[costTotal][0], tc.cost)
		if tc.wantReason == "" {
			assert.Equal(t, pricing.MustParseMoney(tc.cost), pricing.MoneyFromPico128(tc.hi, tc.lo), tc.cost)
		}
	}
	// Same low word, other high word: another deduplication token.
	a := convertAll(t, nil, traces(call{traceID: "a", spanID: "1", start: t0, total: "0.000000000001"})).token()
	b := convertAll(t, nil, traces(call{traceID: "a", spanID: "1", start: t0, total: "18446744.073709551617"})).token()
	assert.NotEqual(t, a, b)

	for _, tc := range []struct {
		f  float64
		ok bool
	}{{f: 1 << 63, ok: true}, {f: math.Nextafter(1<<64, 0), ok: true}, {f: 1 << 64}, {f: math.MaxUint64}, {f: 1e300}} {
		n, ok := uintValue(pcommon.NewValueDouble(tc.f))
		assert.Equal(t, tc.ok, ok, "%g", tc.f)
		if ok {
			assert.Equal(t, tc.f, float64(n))
		}
	}
}

func TestConvertValues(t *testing.T) {
	td := traces(call{traceID: "a", spanID: "1", parentID: "0", start: t0, team: "cx", in: 7, total: "0.000000000003", isError: true,
		extra: map[string]string{"tenant.id": "span-level"}})
	rs := td.ResourceSpans().At(0)
	rs.Resource().Attributes().PutStr("tenant.id", "resource-level")
	rs.Resource().Attributes().PutStr("k8s.namespace.name", "ns1")
	rs.Resource().Attributes().PutStr("deployment.environment", "legacy-env")
	span := rs.ScopeSpans().At(0).Spans().At(0)
	span.Attributes().PutDouble(attrs.UsageOutputTokens, 12)   // integral double accepted
	span.Attributes().PutStr(attrs.UsageReasoningTokens, "5")  // decimal string accepted
	span.Attributes().PutStr(attrs.UsageCacheReadTokens, "-1") // rejected
	r := convertAll(t, []string{"tenant.id", "k8s.namespace.name"}, td)
	require.Equal(t, 1, r.len())
	assert.Equal(t, traceIDOf("a").String(), r.traceID[0])
	assert.Equal(t, spanIDOf("1").String(), r.spanID[0])
	assert.Equal(t, spanIDOf("0").String(), r.parentSpanID[0])
	assert.Equal(t, "legacy-env", r.environment[0], "deprecated deployment.environment is the fallback")
	assert.Equal(t, uint64(7), r.tokens[0][0])
	assert.Equal(t, uint64(12), r.tokens[1][0])
	assert.Equal(t, uint64(5), r.tokens[4][0])
	assert.Equal(t, uint64(3), r.costs[costTotal][0])
	assert.True(t, r.isError[0])
	assert.Equal(t, map[string]string{"tenant.id": "span-level", "k8s.namespace.name": "ns1"}, r.extra[0], "span attributes override resource ones")
	assert.Equal(t, 1, r.invalid)
	assert.Equal(t, "usage_error", r.str[strCostStatus][0])
	assert.Equal(t, "exporter_invalid:"+attrs.UsageCacheReadTokens, r.str[strCostReason][0])
	for _, col := range r.str {
		assert.NotContains(t, col[0], "secret", "prompt content is never copied")
	}
	for _, v := range r.extra[0] {
		assert.NotContains(t, v, "secret")
	}
}

func TestDedupTokenFollowsContent(t *testing.T) {
	mk := func(total string, spans ...string) string {
		var calls []call
		for _, s := range spans {
			calls = append(calls, call{traceID: "t", spanID: s, start: t0, total: total})
		}
		return convertAll(t, nil, traces(calls...)).token()
	}
	a := mk("1", "1", "2")
	assert.Equal(t, a, mk("1", "1", "2"), "same batch, same token")
	assert.NotEqual(t, a, mk("1", "2", "1"), "other order is another block")
	assert.NotEqual(t, a, mk("2", "1", "2"), "other cost")
	assert.NotEqual(t, a, mk("1", "1"), "subset")
	assert.Regexp(t, `^agentcost-[0-9a-f]{64}$`, a)
}

func TestConvertTimeOutOfRange(t *testing.T) {
	far := time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC)
	td := traces(call{traceID: "a", spanID: "1", start: far, total: "1"})
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(t0)) // a valid end time
	r := convertAll(t, nil, td)
	require.Equal(t, 1, r.len())
	assert.Equal(t, t0, r.eventTime[0].UTC(), "kept at its end time, never wrapped around")
	assert.Equal(t, "usage_error", r.str[strCostStatus][0])
	assert.Equal(t, "exporter_invalid:start_time", r.str[strCostReason][0])
	assert.Equal(t, uint64(1_000_000_000_000), r.costs[costTotal][0], "the cost is kept")

	span.SetEndTimestamp(span.StartTimestamp())
	r = convertAll(t, nil, td)
	assert.Equal(t, time.Unix(0, 0).UTC(), r.eventTime[0].UTC(), "no valid time at all: 1970-01-01, deterministic for retries")
	assert.Equal(t, "exporter_invalid:start_time", r.str[strCostReason][0])
}

// TestConvertNoTimesUsesPricingTime: a span with neither start nor end time
// is stored at the instant the processor priced (and charged) it, which it
// stamps on the span, so the row and the budget agree and a retry converts
// identically.
func TestConvertNoTimesUsesPricingTime(t *testing.T) {
	td := traces(call{traceID: "a", spanID: "1", start: t0, total: "1"})
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	span.SetStartTimestamp(0)
	span.SetEndTimestamp(0)
	priced := t0.Add(90 * time.Minute)
	span.Attributes().PutInt(attrs.PricingTime, priced.UnixNano())
	r := convertAll(t, nil, td)
	require.Equal(t, 1, r.len())
	assert.Equal(t, priced, r.eventTime[0].UTC())

	span.Attributes().Remove(attrs.PricingTime)
	r = convertAll(t, nil, td)
	assert.Equal(t, time.Unix(0, 0).UTC(), r.eventTime[0].UTC(), "without any time: 1970-01-01, deterministic")
}
