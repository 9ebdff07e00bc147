package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/agentcost/agentcost/cmd/agentsim/sim"
)

// BenchmarkPipeline measures the whole pipeline in-process: agentsim sends 2,000
// traces (about 18,700 spans, 14,300 cost rows) over OTLP gRPC as fast as it
// can, and an operation ends when ClickHouse holds every cost row. The demo
// config's exporter batches flush after 1 s, which is part of the latency.
// Reported: spans/s received and priced, rows/s stored.
//
//	go test -run '^$' -bench BenchmarkPipeline -benchtime 5x -count 3 ./e2e | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkPipeline(b *testing.B) {
	c := startCollector(b)
	pr, err := sim.PricerFromCollectorConfig(demoConfig)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rows, spans := 0, 0
	seed := uint64(1)
	var elapsed time.Duration
	for b.Loop() {
		start := time.Now()
		want := c.send(b, "grpc", sim.Config{Seed: seed, Rate: 1e6, Traces: 2000}, pr)
		rows += want.BillableSpans
		spans += want.Spans
		for {
			var n uint64
			if err := c.db.Conn.QueryRow(ctx, "SELECT count() FROM cost_events").Scan(&n); err != nil {
				b.Fatal(err)
			}
			if n >= uint64(rows) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		elapsed += time.Since(start)
		seed++
	}
	b.ReportMetric(float64(spans)/elapsed.Seconds(), "spans/s")
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
}
