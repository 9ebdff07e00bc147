package sim

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkPlan measures planning one trace (about 9 spans) and pricing its
// billable calls: the simulator's own cost per trace, which bounds the rate it
// can drive.
//
//	go test -run '^$' -bench 'BenchmarkPlan|BenchmarkEmit' -benchmem -count 6 ./cmd/agentsim/sim | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkPlan(b *testing.B) {
	pr, err := DefaultPricer()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("stage=plan", func(b *testing.B) {
		p := NewPlanner(42)
		if tr := p.Next(); tr.Root == nil || len(tr.Root.Children) == 0 {
			b.Fatal("empty trace")
		}
		b.ReportAllocs()
		for b.Loop() {
			p.Next()
		}
	})
	b.Run("stage=plan+price", func(b *testing.B) {
		p := NewPlanner(42)
		e := NewExpectation(42, pr)
		e.KeepCalls = false
		e.Add(pr, p.Next(), t0)
		if e.BillableSpans == 0 {
			b.Fatal("no billable span")
		}
		b.ReportAllocs()
		for b.Loop() {
			e.Add(pr, p.Next(), t0)
		}
	})
}

// BenchmarkEmit measures turning one planned trace into SDK spans (attributes
// per dialect, span start/end, batch processor) with an in-memory exporter.
// Command: see BenchmarkPlan.
func BenchmarkEmit(b *testing.B) {
	mem := tracetest.NewInMemoryExporter()
	em := NewEmitter(mem, 42)
	p := NewPlanner(42)
	traces := p.Plan(256)
	ctx := context.Background()
	em.Emit(ctx, traces[0], t0)
	if err := em.ForceFlush(ctx); err != nil || len(mem.GetSpans()) == 0 {
		b.Fatalf("no span exported: %v", err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		em.Emit(ctx, traces[i%len(traces)], t0)
		i++
		if i%256 == 0 {
			_ = em.ForceFlush(ctx)
			mem.Reset()
		}
	}
	b.StopTimer()
	_ = em.Shutdown(ctx)
}
