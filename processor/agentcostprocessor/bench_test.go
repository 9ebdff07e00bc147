package agentcostprocessor

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/processor/agentcostprocessor/internal/metadata"
)

// mixedFixture builds a realistic batch: per trace a server root span, an
// invoke_agent span with aggregate usage, an OTel chat call with cache, an
// OpenInference LLM call, a Vercel outer/inner pair, a priced tool call and
// two plain HTTP client spans; every GenAI span resolves its agent within the
// batch (no holding). It returns the batch and its billable span count.
func mixedFixture(traces int) (ptrace.Traces, int) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "support-svc")
	rs.Resource().Attributes().PutStr("service.version", "1.2.3")
	rs.Resource().Attributes().PutStr("deployment.environment.name", "prod")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("opentelemetry.instrumentation.openai_v2")
	start := pcommon.NewTimestampFromTime(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC))
	billable := 0
	for i := range traces {
		tid := pcommon.TraceID{0: byte(i >> 8), 1: byte(i), 15: 1}
		n := byte(0)
		span := func(name string, parent byte, kind ptrace.SpanKind) pcommon.Map {
			n++
			sp := ss.Spans().AppendEmpty()
			sp.SetName(name)
			sp.SetTraceID(tid)
			sp.SetSpanID(pcommon.SpanID{0: byte(i >> 8), 1: byte(i), 7: n})
			if parent != 0 {
				sp.SetParentSpanID(pcommon.SpanID{0: byte(i >> 8), 1: byte(i), 7: parent})
			}
			sp.SetKind(kind)
			sp.SetStartTimestamp(start)
			sp.SetEndTimestamp(start + 1e9)
			return sp.Attributes()
		}
		a := span("POST /v1/chat", 0, ptrace.SpanKindServer)
		a.PutStr("http.request.method", "POST")
		a.PutStr("url.path", "/v1/chat")
		a.PutInt("http.response.status_code", 200)

		a = span("invoke_agent support-bot", 1, ptrace.SpanKindInternal)
		a.PutStr("gen_ai.operation.name", "invoke_agent")
		a.PutStr("gen_ai.agent.id", "support-bot")
		a.PutStr("gen_ai.agent.name", "Support Bot")
		a.PutInt("gen_ai.usage.input_tokens", 9000)
		a.PutInt("gen_ai.usage.output_tokens", 900)

		a = span("chat gpt-4o", 2, ptrace.SpanKindClient)
		a.PutStr("gen_ai.operation.name", "chat")
		a.PutStr("gen_ai.provider.name", "openai")
		a.PutStr("gen_ai.request.model", "gpt-4o")
		a.PutStr("gen_ai.response.model", "gpt-4o-2024-08-06")
		a.PutStr("gen_ai.response.id", "chatcmpl-abc123")
		a.PutStr("server.address", "api.openai.com")
		a.PutInt("server.port", 443)
		a.PutInt("gen_ai.usage.input_tokens", 3000)
		a.PutInt("gen_ai.usage.cache_read.input_tokens", 1000)
		a.PutInt("gen_ai.usage.output_tokens", 400)
		a.PutDouble("gen_ai.request.temperature", 0.2)
		a.PutStr("gen_ai.conversation.id", "conv-1")
		billable++

		a = span("ChatAnthropic", 2, ptrace.SpanKindClient)
		a.PutStr("openinference.span.kind", "LLM")
		a.PutStr("llm.provider", "anthropic")
		a.PutStr("llm.model_name", "claude-sonnet-4")
		a.PutInt("llm.token_count.prompt", 2000)
		a.PutInt("llm.token_count.completion", 300)
		a.PutInt("llm.token_count.total", 2300)
		a.PutInt("llm.token_count.prompt_details.cache_read", 1500)
		a.PutStr("session.id", "sess-1")
		billable++

		a = span("ai.generateText", 2, ptrace.SpanKindInternal)
		a.PutStr("ai.operationId", "ai.generateText")
		a.PutStr("ai.model.provider", "openai.chat")
		a.PutStr("ai.model.id", "o4-mini")
		a.PutInt("ai.usage.promptTokens", 500)
		a.PutInt("ai.usage.completionTokens", 200)
		a = span("ai.generateText.doGenerate", 6, ptrace.SpanKindClient)
		a.PutStr("ai.operationId", "ai.generateText.doGenerate")
		a.PutStr("ai.model.provider", "openai.chat")
		a.PutStr("ai.model.id", "o4-mini")
		a.PutInt("ai.usage.promptTokens", 500)
		a.PutInt("ai.usage.completionTokens", 200)
		a.PutStr("gen_ai.system", "openai.chat")
		a.PutStr("gen_ai.request.model", "o4-mini")
		billable++

		a = span("execute_tool web_search", 2, ptrace.SpanKindInternal)
		a.PutStr("gen_ai.operation.name", "execute_tool")
		a.PutStr("gen_ai.provider.name", "openai")
		a.PutStr("gen_ai.tool.name", "web_search")
		a.PutStr("gen_ai.tool.call.id", "call_1")
		billable++

		for range 2 {
			a = span("GET", 8, ptrace.SpanKindClient)
			a.PutStr("http.request.method", "GET")
			a.PutStr("server.address", "search.example.com")
			a.PutInt("http.response.status_code", 200)
		}
	}
	return td, billable
}

// BenchmarkProcess measures the processor, made by its factory, on a mixed
// batch of 100 traces (1,000 spans, 400 billable) that needs no holding.
// ns/span and allocs/span count every span of the batch; the copy of the
// fixture made before each iteration is not timed and not counted.
//
//	go test ./processor/agentcostprocessor -run '^$' -bench 'BenchmarkProcess' -benchmem -count 6 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkProcess(b *testing.B) {
	b.Run("fixture=mixed/holding=none", func(b *testing.B) { benchProcess(b, false) })
	// With the collector's alpha feature gate pdata.useProtoPooling on and
	// the batch's memory recycled between iterations (CopyTo into the same
	// Traces returns the previous values to pdata's pools), as in a pipeline
	// whose receiver and exporter use pooling.
	b.Run("fixture=mixed/holding=none/pdata_pooling=on", func(b *testing.B) {
		gate := "pdata.useProtoPooling"
		require.NoError(b, featuregate.GlobalRegistry().Set(gate, true))
		defer func() { require.NoError(b, featuregate.GlobalRegistry().Set(gate, false)) }()
		benchProcess(b, true)
	})
}

func benchProcess(b *testing.B, reuse bool) {
	{
		fixture, billable := mixedFixture(100)
		spans := fixture.SpanCount()
		cfg := createDefaultConfig().(*Config)
		cfg.DefaultCatalog = false
		cfg.Catalogs = []string{filepath.Join("testdata", "catalog.yaml")}
		cfg.Registry.Path = filepath.Join("testdata", "agents.yaml")
		cfg.Registry.ReloadInterval = 0
		sink := new(consumertest.TracesSink)
		p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
		require.NoError(b, err)
		require.NoError(b, p.Start(context.Background(), componenttest.NewNopHost()))
		defer func() { require.NoError(b, p.Shutdown(context.Background())) }()

		// Check the results once before timing.
		work := ptrace.NewTraces()
		fixture.CopyTo(work)
		require.NoError(b, p.ConsumeTraces(context.Background(), work))
		require.Equal(b, spans, sink.SpanCount(), "nothing held")
		priced := 0
		out := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for i := 0; i < out.Len(); i++ {
			if v, ok := out.At(i).Attributes().Get(attrs.CostStatus); ok && v.Str() == attrs.StatusPriced {
				priced++
			}
		}
		require.Equal(b, billable, priced)
		require.NoError(b, p.Shutdown(context.Background()))

		// Time a fresh processor whose output is dropped (a sink would keep
		// every batch alive and time the garbage collector instead).
		p, err = NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
		require.NoError(b, err)
		require.NoError(b, p.Start(context.Background(), componenttest.NewNopHost()))

		// Attributes the processor adds per span, for the pdata floor below.
		added := make([][]addedAttr, out.Len())
		orig := fixture.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for i := range added {
			for k, v := range out.At(i).Attributes().All() {
				if _, ok := orig.At(i).Attributes().Get(k); !ok {
					added[i] = append(added[i], newAddedAttr(k, v))
				}
			}
		}
		if !reuse {
			benchAdded = added
		}

		var ms runtime.MemStats
		var mallocs uint64
		var cpu time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		work = ptrace.NewTraces()
		for b.Loop() {
			b.StopTimer()
			if !reuse {
				work = ptrace.NewTraces()
			}
			fixture.CopyTo(work)
			runtime.ReadMemStats(&ms)
			before := ms.Mallocs
			cpu0 := cpuTime()
			b.StartTimer()
			if err := p.ConsumeTraces(context.Background(), work); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu += cpuTime() - cpu0
			runtime.ReadMemStats(&ms)
			mallocs += ms.Mallocs - before
			b.StartTimer()
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*spans), "cpu-ns/span")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
		b.ReportMetric(float64(mallocs)/float64(b.N*spans), "allocs/span")
		b.ReportMetric(float64(mallocs)/float64(b.N*billable), "allocs/billable-span")
	}
}

// addedAttr is one attribute the processor added to a fixture span, with
// the value it wrote, copied (so the floor benchmark keeps no processed
// batch alive: a larger live heap would space out garbage collections and
// flatter it).
type addedAttr struct {
	k, s string
	t    pcommon.ValueType
	i    int64
	d    float64
	b    bool
}

func newAddedAttr(k string, v pcommon.Value) addedAttr {
	a := addedAttr{k: strings.Clone(k), t: v.Type()}
	switch a.t {
	case pcommon.ValueTypeInt:
		a.i = v.Int()
	case pcommon.ValueTypeDouble:
		a.d = v.Double()
	case pcommon.ValueTypeBool:
		a.b = v.Bool()
	default:
		a.s = strings.Clone(v.AsString())
	}
	return a
}

var benchAdded [][]addedAttr

// BenchmarkPdataFloor writes on each span of the fixture exactly the
// attributes BenchmarkProcess adds to it (it must run after it, same -bench
// pattern): the same keys, types and values, with one EnsureCapacity and
// the same pcommon.Map Put calls, and nothing else. It is the cost of
// pdata's attribute API alone for the attribute contract, which allocates
// one value box per attribute and scans the map on every Put.
//
//	go test ./processor/agentcostprocessor -run '^$' -bench 'BenchmarkProcess|BenchmarkPdataFloor' -benchmem -count 6
func BenchmarkPdataFloor(b *testing.B) {
	if benchAdded == nil {
		b.Skip("run together with BenchmarkProcess")
	}
	fixture, _ := mixedFixture(100)
	spans := fixture.SpanCount()
	var ms runtime.MemStats
	var mallocs uint64
	var cpu time.Duration
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		work := ptrace.NewTraces()
		fixture.CopyTo(work)
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		cpu0 := cpuTime()
		b.StartTimer()
		sp := work.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for i := 0; i < sp.Len(); i++ {
			m := sp.At(i).Attributes()
			add := benchAdded[i]
			m.EnsureCapacity(m.Len() + len(add))
			for _, a := range add {
				switch a.t {
				case pcommon.ValueTypeInt:
					m.PutInt(a.k, a.i)
				case pcommon.ValueTypeDouble:
					m.PutDouble(a.k, a.d)
				case pcommon.ValueTypeBool:
					m.PutBool(a.k, a.b)
				default:
					m.PutStr(a.k, a.s)
				}
			}
		}
		b.StopTimer()
		cpu += cpuTime() - cpu0
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*spans), "cpu-ns/span")
	b.ReportMetric(float64(mallocs)/float64(b.N*spans), "allocs/span")
}

// cpuTime is the process's user+system CPU time. On this shared 2-core box
// wall-clock time includes time the benchmark was descheduled; CPU time is
// far less inflated by other work (it includes the GC's background work).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
