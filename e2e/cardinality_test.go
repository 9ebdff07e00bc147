package e2e

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/agentcost/agentcost/extension/agentcostbudgetextension"
	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/processor/agentcostprocessor"
)

// host gives the processor the budget extension.
type extHost map[component.ID]component.Component

func (h extHost) GetExtensions() map[component.ID]component.Component { return h }

// countingSink counts the spans and the agent ids it receives, keeping
// nothing.
type countingSink struct {
	spans, stamped int
}

func (s *countingSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }
func (s *countingSink) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		ss := rss.At(i).ScopeSpans()
		for j := 0; j < ss.Len(); j++ {
			spans := ss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s.spans++
				if _, ok := spans.At(k).Attributes().Get(attrs.AgentID); ok {
					s.stamped++
				}
			}
		}
	}
	return nil
}

func heapMiB() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

// TestMillionDistinctAgentIDs sends a million chat spans, each from a
// different agent id (none in the registry, a glob registry entry
// included so the glob cache is exercised), through the agentcost processor
// with a budget extension whose budgets have agent-scoped globs. Memory must
// stay bounded (heap after a million agents within 64 MiB of the heap after
// the first 100k) and the self-metrics must not grow with agent ids: the
// number of metric data points after a million agents equals the number
// after the first 100k.
//
// AGENTCOST_E2E_AGENTS overrides the count (the default is a million;
// under -short, 100k).
func TestMillionDistinctAgentIDs(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	if v := os.Getenv("AGENTCOST_E2E_AGENTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	const batch = 2000
	ctx := context.Background()
	dir := t.TempDir()
	reg := dir + "/registry.yaml"
	require.NoError(t, os.WriteFile(reg, []byte("agents:\n  - id: \"team-a-*\"\n    team: a\n  - id: known\n    team: b\n"), 0o644))

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(ctx) })

	bf := agentcostbudgetextension.NewFactory()
	bcfg := bf.CreateDefaultConfig().(*agentcostbudgetextension.Config)
	bcfg.HTTP.NetAddr.Endpoint = ""
	bcfg.Notifiers.Log = false
	month := map[string]any{"calendar": "month"}
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"budgets": []any{
		map[string]any{"name": "all", "limit": "1000000", "window": month},
		map[string]any{"name": "team-a", "limit": "10", "window": month, "scope": map[string]any{"agent_id": "team-a-*"}},
		map[string]any{"name": "one-agent", "limit": "10", "window": month, "scope": map[string]any{"agent_id": "agent-7"}},
	}}).Unmarshal(bcfg))
	require.NoError(t, bcfg.Validate())
	bset := extensiontest.NewNopSettings(bf.Type())
	bset.TelemetrySettings = tel.NewTelemetrySettings()
	bext, err := bf.Create(ctx, bset, bcfg)
	require.NoError(t, err)
	budgetID := component.MustNewID("agentcost_budget")
	host := extHost{budgetID: bext}
	require.NoError(t, bext.Start(ctx, host))
	t.Cleanup(func() { _ = bext.Shutdown(ctx) })

	pf := agentcostprocessor.NewFactory()
	pcfg := pf.CreateDefaultConfig().(*agentcostprocessor.Config)
	pcfg.Registry.Path = reg
	pcfg.Budget = &budgetID
	pset := processortest.NewNopSettings(pf.Type())
	pset.TelemetrySettings = tel.NewTelemetrySettings()
	sink := &countingSink{}
	p, err := pf.CreateTraces(ctx, pset, pcfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx, host))
	t.Cleanup(func() { _ = p.Shutdown(ctx) })

	now := pcommon.NewTimestampFromTime(time.Now())
	send := func(from, to int) {
		for b := from; b < to; b += batch {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", "fleet")
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for i := b; i < min(b+batch, to); i++ {
				s := spans.AppendEmpty()
				var tid pcommon.TraceID
				var sid pcommon.SpanID
				copy(tid[:], fmt.Sprintf("%016x", i))
				copy(sid[:], fmt.Sprintf("%08x", i))
				s.SetTraceID(tid)
				s.SetSpanID(sid)
				s.SetName("chat gpt-4o")
				s.SetKind(ptrace.SpanKindClient)
				s.SetStartTimestamp(now)
				s.SetEndTimestamp(now + 1e9)
				a := s.Attributes()
				a.PutStr("gen_ai.operation.name", "chat")
				a.PutStr("gen_ai.provider.name", "openai")
				a.PutStr("gen_ai.request.model", "gpt-4o")
				a.PutInt("gen_ai.usage.input_tokens", 100)
				a.PutInt("gen_ai.usage.output_tokens", 10)
				if i%2 == 0 {
					a.PutStr("gen_ai.agent.id", "team-a-"+strconv.Itoa(i))
				} else {
					a.PutStr("gen_ai.agent.id", "agent-"+strconv.Itoa(i))
				}
			}
			require.NoError(t, p.ConsumeTraces(ctx, td))
		}
	}
	points := func() int {
		var rm metricdata.ResourceMetrics
		require.NoError(t, tel.Reader.Collect(ctx, &rm))
		total := 0
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case metricdata.Sum[int64]:
					total += len(d.DataPoints)
				case metricdata.Sum[float64]:
					total += len(d.DataPoints)
				case metricdata.Gauge[int64]:
					total += len(d.DataPoints)
				case metricdata.Gauge[float64]:
					total += len(d.DataPoints)
				case metricdata.Histogram[float64]:
					total += len(d.DataPoints)
				case metricdata.Histogram[int64]:
					total += len(d.DataPoints)
				}
			}
		}
		return total
	}

	first := min(100_000, n)
	start := time.Now()
	send(0, first)
	heap1, points1 := heapMiB(), points()
	send(first, n)
	elapsed := time.Since(start)
	heap2, points2 := heapMiB(), points()
	t.Logf("%d distinct agents in %s: heap %.1f MiB after %d, %.1f MiB after %d; %d metric points after %d, %d after %d",
		n, elapsed.Round(time.Millisecond), heap1, first, heap2, n, points1, first, points2, n)

	assert.Equal(t, n, sink.spans, "every span passed on")
	assert.Equal(t, n, sink.stamped, "every span attributed")
	assert.Positive(t, points1)
	assert.Equal(t, points1, points2, "self-metric series do not grow with agent ids")
	assert.Less(t, heap2-heap1, 64.0, "heap growth from %d to %d agents (MiB)", first, n)
}
