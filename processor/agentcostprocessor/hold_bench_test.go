package agentcostprocessor

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/processor/agentcostprocessor/internal/metadata"
)

// holdBenchTraces is the number of traces in each benchmark batch.
const holdBenchTraces = 100

// holdBenchBatches are the two batches of one hold round: the chat calls
// of holdBenchTraces traces whose agent span has not arrived (every one is
// held), then those agent spans (every held call is released into that
// batch). round makes the trace ids distinct per round.
func holdBenchBatches(round uint64) (calls, agents ptrace.Traces) {
	calls, agents = ptrace.NewTraces(), ptrace.NewTraces()
	cs := calls.ResourceSpans().AppendEmpty()
	cs.Resource().Attributes().PutStr("service.name", "svc")
	css := cs.ScopeSpans().AppendEmpty().Spans()
	as := agents.ResourceSpans().AppendEmpty()
	as.Resource().Attributes().PutStr("service.name", "svc")
	ass := as.ScopeSpans().AppendEmpty().Spans()
	start := pcommon.NewTimestampFromTime(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC))
	for i := range holdBenchTraces {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], round)
		binary.BigEndian.PutUint64(tid[8:], uint64(i))
		sp := css.AppendEmpty()
		sp.SetName("chat gpt-4o")
		sp.SetTraceID(tid)
		sp.SetSpanID(pcommon.SpanID{7: 2})
		sp.SetParentSpanID(pcommon.SpanID{7: 1})
		sp.SetKind(ptrace.SpanKindClient)
		sp.SetStartTimestamp(start)
		sp.SetEndTimestamp(start + 1e9)
		a := sp.Attributes()
		a.PutStr("gen_ai.operation.name", "chat")
		a.PutStr("gen_ai.provider.name", "openai")
		a.PutStr("gen_ai.request.model", "gpt-4o")
		a.PutInt("gen_ai.usage.input_tokens", 3000)
		a.PutInt("gen_ai.usage.output_tokens", 400)

		ag := ass.AppendEmpty()
		ag.SetName("invoke_agent support-bot")
		ag.SetTraceID(tid)
		ag.SetSpanID(pcommon.SpanID{7: 1})
		ag.SetKind(ptrace.SpanKindServer)
		ag.SetStartTimestamp(start)
		ag.SetEndTimestamp(start + 2e9)
		ag.Attributes().PutStr("gen_ai.operation.name", "invoke_agent")
		ag.Attributes().PutStr("gen_ai.agent.id", "support-bot")
	}
	return calls, agents
}

// BenchmarkHoldStorage measures holding without and with hold.storage
// (file_storage in a temporary directory, fsync off as by default, and on:
// every storage call waits for the disk). One op
// is one hold round of two batches: 100 chat calls whose agent span has not
// arrived (all held; with storage, their 100 records written in one storage
// call before the batch goes on), then the 100 agent spans (every call
// released into that batch; with storage, their records deleted in one call
// once it is accepted). ns/held-span divides by the 100 calls. Building the
// batches is not timed and not counted.
//
//	go test ./processor/agentcostprocessor -run '^$' -bench 'BenchmarkHoldStorage' -benchmem -count 6 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkHoldStorage(b *testing.B) {
	b.Run("hold_storage=none", func(b *testing.B) { benchHold(b, false, false) })
	b.Run("hold_storage=file/fsync=off", func(b *testing.B) { benchHold(b, true, false) })
	b.Run("hold_storage=file/fsync=on", func(b *testing.B) { benchHold(b, true, true) })
}

func benchHold(b *testing.B, durable, fsync bool) {
	cfg := testConfig(b)
	cfg.Hold.Wait = time.Hour
	host := component.Host(componenttest.NewNopHost())
	var ext component.Component
	if durable {
		ext = newFileStorageSync(b, b.TempDir(), fsync)
		cfg.Hold.Storage = &storageID
		host = hostWithExtensions{host, map[component.ID]component.Component{storageID: ext}}
	}
	newProc := func(next consumer.Traces) processor.Traces {
		p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, next)
		require.NoError(b, err)
		require.NoError(b, p.Start(context.Background(), host))
		return p
	}

	// Check one round before timing.
	sink := new(consumertest.TracesSink)
	p := newProc(sink)
	calls, agents := holdBenchBatches(0)
	require.NoError(b, p.ConsumeTraces(context.Background(), calls))
	require.Zero(b, sink.SpanCount(), "every call held")
	if durable {
		require.Len(b, walkKeysB(b, p), holdBenchTraces)
	}
	require.NoError(b, p.ConsumeTraces(context.Background(), agents))
	require.Equal(b, 2*holdBenchTraces, sink.SpanCount())
	inherited := 0
	for _, sp := range sink.AllTraces()[0].ResourceSpans().All() {
		for _, ss := range sp.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				if v, ok := s.Attributes().Get(attrs.IdentityStatus); ok && v.Str() == attrs.IdentityInherited {
					inherited++
				}
			}
		}
	}
	require.Equal(b, holdBenchTraces, inherited)
	if durable {
		require.Empty(b, walkKeysB(b, p), "records deleted after the release")
	}
	require.NoError(b, p.Shutdown(context.Background()))

	p = newProc(consumertest.NewNop())
	defer func() { require.NoError(b, p.Shutdown(context.Background())) }()
	round := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		round++
		calls, agents := holdBenchBatches(round)
		b.StartTimer()
		if err := p.ConsumeTraces(context.Background(), calls); err != nil {
			b.Fatal(err)
		}
		if err := p.ConsumeTraces(context.Background(), agents); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*holdBenchTraces), "ns/held-span")
}

func walkKeysB(b *testing.B, p processor.Traces) []string {
	return walkKeys(b, p.(*committingTraces).p.store.walker)
}
