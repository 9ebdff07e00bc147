package agentcostprocessor

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/pricing"
)

var fuzzKeys = []string{
	"gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model", "gen_ai.response.model",
	"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
	"gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.reasoning.output_tokens",
	"gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens", "gen_ai.usage.cost", "gen_ai.cost.total_cost",
	"llm.cost.total", "llm.token_count.prompt", "openinference.span.kind", "traceloop.span.kind", "ai.operationId",
	"ai.usage.inputTokens", "gen_ai.agent.id", "gen_ai.tool.name", "openai.response.service_tier", "agentcost.batch",
}

// FuzzProcess sends one span with fuzzed attributes (known GenAI keys with
// values of every type, and arbitrary keys) through the processor made by
// the factory, and checks it never panics, never drops the span, and that a
// priced span's total is the exact sum of its parts.
//
// Bounded run: go test ./processor/agentcostprocessor -run '^$' -fuzz '^FuzzProcess$' -fuzztime 30s
func FuzzProcess(f *testing.F) {
	f.Add(uint8(0), "chat", uint8(5), int64(1000), 0.5, "gpt-4o", "openai", "x.y")
	f.Add(uint8(5), "-12", uint8(6), int64(-1), math.NaN(), "claude-sonnet-4", "anthropic", "")
	f.Add(uint8(7), "1e400", uint8(13), int64(math.MaxInt64), math.Inf(1), "gpt-4o", "OpenAI", "agentcost.cost.total")
	f.Add(uint8(18), "LLM", uint8(16), int64(3), 1e19, "o4-mini", "openai", "gen_ai.usage.input_tokens")
	f.Add(uint8(21), "execute_tool", uint8(22), int64(7), 0.0, "web_search", "openai", "gen_ai.tool.name")
	f.Add(uint8(19), "ai.generateText.doGenerate", uint8(20), int64(18446744), 2.5, "gpt-4o", "openai.chat", "ai.model.id")

	cfg := createDefaultConfig().(*Config)
	cfg.DefaultCatalog = false
	cfg.Catalogs = []string{"testdata/catalog.yaml"}
	cfg.Hold.Wait = 0
	sink := new(consumertest.TracesSink)
	p, err := NewFactory().CreateTraces(context.Background(), testSettings(), cfg, sink)
	require.NoError(f, err)
	require.NoError(f, p.Start(context.Background(), componenttest.NewNopHost()))
	f.Cleanup(func() { require.NoError(f, p.Shutdown(context.Background())) })

	f.Fuzz(func(t *testing.T, k1 uint8, s string, k2 uint8, i int64, d float64, model, provider, freeKey string) {
		sink.Reset()
		td := ptrace.NewTraces()
		sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1})
		sp.SetSpanID(pcommon.SpanID{1})
		m := sp.Attributes()
		m.PutStr("gen_ai.operation.name", "chat")
		m.PutStr("gen_ai.request.model", model)
		m.PutStr("gen_ai.provider.name", provider)
		m.PutInt("gen_ai.usage.input_tokens", 100)
		m.PutStr(fuzzKeys[int(k1)%len(fuzzKeys)], s)
		switch k2 % 3 {
		case 0:
			m.PutInt(fuzzKeys[int(k2)%len(fuzzKeys)], i)
		case 1:
			m.PutDouble(fuzzKeys[int(k2)%len(fuzzKeys)], d)
		case 2:
			m.PutBool(fuzzKeys[int(k2)%len(fuzzKeys)], i%2 == 0)
		}
		if freeKey != "" {
			m.PutDouble(freeKey, d)
		}
		require.NoError(t, p.ConsumeTraces(context.Background(), td))
		require.Equal(t, 1, sink.SpanCount(), "span dropped")
		out := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
		st, ok := out.Get(attrs.CostStatus)
		if !ok {
			return // not billable kind, or priced upstream
		}
		switch st.Str() {
		case attrs.StatusPriced, attrs.StatusProviderReported, attrs.StatusUnpriced, attrs.StatusUsageError, attrs.StatusNotBillable:
		default:
			t.Fatalf("unknown status %q", st.Str())
		}
		if st.Str() != attrs.StatusPriced {
			return
		}
		total := money(t, out, attrs.CostTotal)
		if src, _ := out.Get(attrs.CostSource); src.Str() != attrs.SourceCatalog {
			return // reported cost of record: no breakdown
		}
		var sum pricing.Money
		for _, k := range []string{attrs.CostInput, attrs.CostCacheRead, attrs.CostCacheWrite, attrs.CostOutput, attrs.CostReasoning, attrs.CostOther} {
			sum = sum.Add(money(t, out, k))
		}
		require.Equal(t, 0, total.Cmp(sum), "total %s != sum %s", total, sum)
	})
}

// money reads a cost attribute; a missing part is zero.
func money(t *testing.T, m pcommon.Map, k string) pricing.Money {
	v, ok := m.Get(k)
	if !ok {
		return pricing.Money{}
	}
	mo, err := pricing.ParseMoney(v.Str())
	require.NoError(t, err, k)
	return mo
}
