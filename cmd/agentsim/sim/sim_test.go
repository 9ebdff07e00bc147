package sim

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentcost/agentcost/internal/genai"
	"github.com/agentcost/agentcost/pricing"
)

var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return t0 }

func runInMemory(t *testing.T, seed uint64, traces int) (*Expectation, []sdktrace.ReadOnlySpan) {
	t.Helper()
	pr, err := NewPricer(nil, true, map[string]string{"web_search": "0.010", "run_sql": "0.0004"})
	require.NoError(t, err)
	mem := tracetest.NewInMemoryExporter()
	want, err := Run(context.Background(), Config{Seed: seed, Rate: 1e6, Traces: traces, KeepCalls: true}, mem, pr, fixedClock)
	require.NoError(t, err)
	stubs := mem.GetSpans()
	out := make([]sdktrace.ReadOnlySpan, len(stubs))
	for i := range stubs {
		out[i] = stubs.Snapshots()[i]
	}
	return want, out
}

type spanKey struct {
	trace, span, parent, name string
	start, end                time.Time
	attrs                     string
}

func keys(spans []sdktrace.ReadOnlySpan) []spanKey {
	out := make([]spanKey, len(spans))
	for i, s := range spans {
		out[i] = spanKey{
			trace: s.SpanContext().TraceID().String(), span: s.SpanContext().SpanID().String(),
			parent: s.Parent().SpanID().String(), name: s.Name(), start: s.StartTime(), end: s.EndTime(),
			attrs: fmt.Sprint(s.Attributes()),
		}
	}
	return out
}

func TestDeterministic(t *testing.T) {
	a, sa := runInMemory(t, 7, 60)
	b, sb := runInMemory(t, 7, 60)
	require.Equal(t, len(sa), a.Spans, "every planned span was exported")
	assert.Equal(t, keys(sa), keys(sb), "same seed, same spans (ids, names, times, attributes)")
	assert.Equal(t, a.Total, b.Total)
	assert.Equal(t, a.ByAgent, b.ByAgent)

	c, sc := runInMemory(t, 8, 60)
	assert.NotEqual(t, keys(sa), keys(sc), "another seed gives other traffic")
	assert.NotEqual(t, a.Total.InputTokens, c.Total.InputTokens)
}

func TestPlanPrefixStable(t *testing.T) {
	// Sending more traces extends the plan: the first traces are the same.
	short := NewPlanner(3).Plan(20)
	long := NewPlanner(3).Plan(40)
	for i := range short {
		assert.True(t, reflect.DeepEqual(short[i], long[i]), "trace %d", i)
	}
}

func TestExpectedTotalsAreSumOfCalls(t *testing.T) {
	want, _ := runInMemory(t, 11, 200)
	pr, err := NewPricer(nil, true, map[string]string{"web_search": "0.010", "run_sql": "0.0004"})
	require.NoError(t, err)
	cat := pr.Catalog
	fees := 0
	var total pricing.Money
	perTeam := map[string]pricing.Money{}
	perAgent := map[string]pricing.Money{}
	calls, unpriced := 0, 0
	for _, c := range want.Calls {
		calls++
		// Price the call again, independently of the expectation's sums.
		again := Price(pr, c.Span, c.At)
		require.Equal(t, c.Cost, again.Cost)
		if c.Span.Kind == KindTool && c.Status == StatusPriced {
			fees++
			require.Equal(t, pr.ToolPrices[c.Span.Tool.Name], c.Cost)
		}
		if c.Span.Kind != KindTool {
			r := cat.Price(c.Query, c.Span.Usage)
			if r.Status != pricing.StatusPriced {
				unpriced++
				continue
			}
			require.Equal(t, r.Total, c.Cost)
		}
		total = total.Add(c.Cost)
		perTeam[c.Span.Agent.Team] = perTeam[c.Span.Agent.Team].Add(c.Cost)
		perAgent[c.Span.Agent.ID] = perAgent[c.Span.Agent.ID].Add(c.Cost)
	}
	assert.Equal(t, want.BillableSpans, calls)
	assert.Equal(t, total, want.Total.Cost)
	assert.Equal(t, unpriced, want.Total.Unpriced)
	for team, b := range want.ByTeam {
		assert.Equal(t, perTeam[team], b.Cost, "team %s", team)
	}
	for agent, b := range want.ByAgent {
		assert.Equal(t, perAgent[agent], b.Cost, "agent %s", agent)
	}
	// Buckets partition the calls.
	for name, m := range map[string]map[string]*Bucket{"team": want.ByTeam, "project": want.ByProject, "agent": want.ByAgent, "model": want.ByModel} {
		var sum pricing.Money
		n := 0
		for _, b := range m {
			sum = sum.Add(b.Cost)
			n += b.Calls
		}
		assert.Equal(t, want.Total.Cost, sum, name)
		assert.Equal(t, want.BillableSpans, n, name)
	}
	assert.Positive(t, want.Total.Unpriced, "the unknown models are sent")
	assert.Positive(t, fees, "tool fees are charged")
	assert.Positive(t, want.Total.Priced-fees, "model calls are priced")
	assert.Positive(t, want.Total.NotBillable, "tools without a fee")
	assert.Equal(t, want.BillableSpans, want.Total.Priced+want.Total.Unpriced+want.Total.NotBillable)
}

func toMap(kvs []attribute.KeyValue) pcommon.Map {
	m := pcommon.NewMap()
	for _, kv := range kvs {
		k := string(kv.Key)
		switch kv.Value.Type() {
		case attribute.STRING:
			m.PutStr(k, kv.Value.AsString())
		case attribute.INT64:
			m.PutInt(k, kv.Value.AsInt64())
		case attribute.BOOL:
			m.PutBool(k, kv.Value.AsBool())
		case attribute.FLOAT64:
			m.PutDouble(k, kv.Value.AsFloat64())
		case attribute.STRINGSLICE:
			s := m.PutEmptySlice(k)
			for _, v := range kv.Value.AsStringSlice() {
				s.AppendEmpty().SetStr(v)
			}
		}
	}
	return m
}

// TestDialectsNormalise checks every planned span against the collector's
// own normaliser (internal/genai): the kind, provider, model, tier, agent and
// usage it reads back from the dialect's attributes are what was planned.
func TestDialectsNormalise(t *testing.T) {
	p := NewPlanner(5)
	seen := map[Dialect]map[SpanKind]int{}
	for _, tr := range p.Plan(300) {
		tr.Walk(func(s, parent *Span) {
			name, _, kvs := spanShape(tr, s)
			var c genai.Call
			genai.Extract(&c, name, toMap(kvs))
			d := s.Agent.Dialect
			if seen[d] == nil {
				seen[d] = map[SpanKind]int{}
			}
			seen[d][s.Kind]++
			where := fmt.Sprintf("%s %s span %q of %s", d, s.Kind, name, s.Agent.ID)
			switch s.Kind {
			case KindAgent:
				if d == DialectVercel {
					assert.Equal(t, genai.KindNone, c.Kind, where)
					return
				}
				assert.Equal(t, genai.KindAgent, c.Kind, where)
				assert.Equal(t, s.Agent.ID, c.AgentID, where)
			case KindWrapper:
				assert.False(t, c.Kind.Billable(), where)
			case KindTool:
				assert.Equal(t, genai.KindTool, c.Kind, where)
				assert.Equal(t, s.Tool.Name, c.ToolName, where)
			case KindChat, KindEmbedding:
				wantKind := genai.KindInference
				if s.Kind == KindEmbedding {
					wantKind = genai.KindEmbedding
				}
				assert.Equal(t, wantKind, c.Kind, where)
				assert.Equal(t, QueryProvider(d, s.Model), c.Provider, where)
				assert.Equal(t, s.Model.Name, c.RequestModel, where)
				assert.Equal(t, s.Tier, c.ServiceTier, where)
				u, _ := c.Usage(genai.InputAuto)
				assert.Equal(t, s.Usage, u, where)
				if d == DialectVercel {
					assert.Equal(t, s.Agent.ID, c.AgentID, where)
				}
			}
			if parent != nil {
				assert.LessOrEqual(t, parent.Start, s.Start, where)
				assert.Less(t, s.End, parent.End, "%s: children end before their parent", where)
			}
		})
	}
	for _, d := range Dialects {
		assert.Positive(t, seen[d][KindChat], "%s chat spans", d)
	}
	for _, d := range []Dialect{DialectOTel, DialectOTelDeprecated, DialectOpenInference} {
		assert.Positive(t, seen[d][KindAgent], "%s agent spans", d)
		assert.Positive(t, seen[d][KindTool], "%s tool spans", d)
		assert.Positive(t, seen[d][KindEmbedding], "%s embedding spans", d)
	}
	assert.Positive(t, seen[DialectVercel][KindWrapper])
}

func TestPlanCoverage(t *testing.T) {
	p := NewPlanner(1)
	var cacheRead, cacheWrite, reasoning, unknown, exclusive, fees int
	tiers := map[string]int{}
	providers := map[string]int{}
	subAgents := 0
	for _, tr := range p.Plan(300) {
		tr.Walk(func(s, parent *Span) {
			if s.Kind == KindAgent && parent != nil {
				subAgents++
				assert.Equal(t, tr.Root.Agent.Team, s.Agent.Team, "a sub-agent works for its orchestrator's team")
			}
			if s.Kind != KindChat && s.Kind != KindEmbedding {
				if s.Kind == KindTool && s.Tool.Provider != "" {
					fees++
				}
				return
			}
			providers[s.Model.Provider]++
			tiers[s.Tier]++
			if s.Usage.CacheReadTokens > 0 {
				cacheRead++
			}
			if s.Usage.CacheWriteTokens > 0 {
				cacheWrite++
			}
			if s.Usage.ReasoningTokens > 0 {
				reasoning++
			}
			if s.Model.Unknown {
				unknown++
			}
			if exclusiveInput(s) {
				exclusive++
			}
		})
	}
	for _, n := range []int{cacheRead, cacheWrite, reasoning, unknown, exclusive, fees, subAgents} {
		assert.Positive(t, n)
	}
	for _, tier := range []string{"default", "flex", "priority"} {
		assert.Positive(t, tiers[tier], tier)
	}
	for _, prov := range []string{"openai", "anthropic", "gcp.gemini", "aws.bedrock", "mistral_ai"} {
		assert.Positive(t, providers[prov], prov)
	}
}

func TestConfigValidate(t *testing.T) {
	assert.ErrorContains(t, Config{Rate: 0, Duration: time.Second}.Validate(), "rate must be positive")
	assert.ErrorContains(t, Config{Rate: 1}.Validate(), "duration must be positive")
	assert.ErrorContains(t, Config{Rate: 1, Traces: -1}.Validate(), "traces must not be negative")
	assert.NoError(t, Config{Rate: 1, Traces: 3}.Validate())
	assert.Equal(t, 60, Config{Rate: 2, Duration: 30 * time.Second}.TraceCount())
}

func TestExpectationJSONRoundTrip(t *testing.T) {
	want, _ := runInMemory(t, 2, 30)
	path := t.TempDir() + "/want.json"
	require.NoError(t, want.WriteJSON(path))
	got, err := ReadExpectation(path)
	require.NoError(t, err)
	assert.Equal(t, want.Total, got.Total)
	assert.Equal(t, want.ByTeam, got.ByTeam)
	assert.Equal(t, want.ByAgent, got.ByAgent)
	assert.Equal(t, want.BillableSpans, got.BillableSpans)
}

func TestPricerFromCollectorConfig(t *testing.T) {
	dir := t.TempDir()
	cat := dir + "/extra.yaml"
	require.NoError(t, os.WriteFile(cat, []byte("schema_version: 1\nproviders:\n  - id: openai\n    tools:\n      code_interpreter: \"0.03\"\n"), 0o644))
	t.Setenv("SIM_TEST_DIR", dir)
	cfg := dir + "/config.yaml"
	require.NoError(t, os.WriteFile(cfg, []byte(`
processors:
  memory_limiter: {}
  agentcost:
    catalogs: ["${env:SIM_TEST_DIR}/extra.yaml"]
    tool_prices:
      web_search: "0.01"
`), 0o644))
	pr, err := PricerFromCollectorConfig(cfg)
	require.NoError(t, err)
	fee, ok := pr.ToolFee("openai", "web_search", t0)
	assert.True(t, ok)
	assert.Equal(t, pricing.MustParseMoney("0.01"), fee)
	fee, ok = pr.ToolFee("openai", "code_interpreter", t0)
	assert.True(t, ok, "tool fee from the catalog layer")
	assert.Equal(t, pricing.MustParseMoney("0.03"), fee)
	_, ok = pr.ToolFee("", "kb_lookup", t0)
	assert.False(t, ok)

	require.NoError(t, os.WriteFile(cfg, []byte("processors:\n  batch: {}\n"), 0o644))
	_, err = PricerFromCollectorConfig(cfg)
	assert.ErrorContains(t, err, "has no agentcost processor")
}
