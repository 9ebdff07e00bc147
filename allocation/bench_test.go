package allocation

import (
	"context"
	"fmt"
	"math/big"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/internal/chtest"
	"github.com/agentcost/agentcost/pricing"
)

// BenchmarkApportion times one exact split.
//
//	go test ./allocation -run '^$' -bench 'BenchmarkApportion' -count 6 | tee new.txt; benchstat new.txt
func BenchmarkApportion(b *testing.B) {
	for _, n := range []int{2, 8, 64} {
		b.Run(fmt.Sprintf("parts=%d", n), func(b *testing.B) {
			parts := make([]Part, n)
			for i := range parts {
				parts[i] = Part{Agent: fmt.Sprintf("agent-%02d", i), Weight: big.NewInt(int64(1000 + 37*i))}
			}
			total := pricing.MustParseMoney("12.345678901234")
			ps, err := Apportion(total, parts)
			require.NoError(b, err)
			var sum pricing.Money
			for _, p := range ps {
				sum = sum.Add(p.Amount)
			}
			require.Equal(b, total, sum)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Apportion(total, parts)
			}
		})
	}
}

// BenchmarkAllocate times the Go reference on the generated workload.
//
//	go test ./allocation -run '^$' -bench 'BenchmarkAllocate' -count 6 | tee new.txt; benchstat new.txt
func BenchmarkAllocate(b *testing.B) {
	for _, traces := range []int{100, 1000} {
		rows := rowsOf(workload(42, traces))
		b.Run(fmt.Sprintf("rows=%d/mode=proportional", len(rows)), func(b *testing.B) {
			as, err := Allocate(rows, OrchestratorProportional)
			require.NoError(b, err)
			require.NotEmpty(b, as)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Allocate(rows, OrchestratorProportional)
			}
		})
	}
}

// BenchmarkView times one read of the cost_allocations view summed per
// agent (the server does the work; client and server share the machine) on
// the generated workload.
//
//	go test ./allocation -run '^$' -bench 'BenchmarkView' -count 6 -benchtime 5x | tee new.txt; benchstat new.txt
func BenchmarkView(b *testing.B) {
	ctx := context.Background()
	for _, traces := range []int{1000, 10000} {
		gen := workload(42, traces)
		db := chtest.New(b)
		insertWorkload(b, ctx, db, gen)
		var direct pricing.Money
		for _, r := range gen {
			direct = direct.Add(r.Total)
		}
		for _, mode := range []Orchestrator{OrchestratorKeep, OrchestratorProportional} {
			b.Run(fmt.Sprintf("rows=%d/mode=%s", len(gen), mode), func(b *testing.B) {
				qctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"mode": string(mode)}))
				q := "SELECT toString(sum(cost)) FROM cost_allocations(from = '2026-11-01', to = '2026-11-08', orchestrator = {mode:String})"
				var s string
				require.NoError(b, db.Conn.QueryRow(qctx, q).Scan(&s))
				m, err := pricing.ParseMoney(s)
				require.NoError(b, err)
				require.Equal(b, direct.String(), m.String(), "conserved")
				b.ReportAllocs()
				for b.Loop() {
					require.NoError(b, db.Conn.QueryRow(qctx, q).Scan(&s))
				}
				b.ReportMetric(float64(len(gen))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
