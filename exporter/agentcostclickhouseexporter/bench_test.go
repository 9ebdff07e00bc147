package agentcostclickhouseexporter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentcost/agentcost/internal/chtest"
	"github.com/agentcost/agentcost/pricing"
)

// realisticTraces builds n cost spans shaped like the processor's output:
// about 40 attributes each (identity, usage, costs, provenance, plus the
// prompt attributes the exporter must skip), spread over agents, teams and
// models, 4 spans per trace. Seeded: the same n gives the same data.
func realisticTraces(n int) ptrace.Traces {
	rng := rand.New(rand.NewPCG(42, uint64(n)))
	teams := []string{"cx", "data", "ml", "growth", "platform"}
	models := []string{"gpt-5", "gpt-5-mini", "claude-sonnet-4-5", "gemini-2.5-pro"}
	var calls []call
	for i := 0; i < n; i++ {
		team := teams[rng.IntN(len(teams))]
		model := models[rng.IntN(len(models))]
		in, out, cr := int64(rng.IntN(20000)), int64(rng.IntN(2000)), int64(rng.IntN(5000))
		inCost := pricing.MoneyFromPico(uint64(in) * 1_250_000)
		outCost := pricing.MoneyFromPico(uint64(out) * 10_000_000)
		crCost := pricing.MoneyFromPico(uint64(cr) * 125_000)
		calls = append(calls, call{
			traceID: strconv.Itoa(i / 4), spanID: strconv.Itoa(i), parentID: strconv.Itoa(i - i%4),
			start: t0.Add(time.Duration(i) * time.Millisecond), dur: time.Duration(rng.IntN(5000)) * time.Millisecond,
			service: "svc-" + team, env: "prod",
			agent: team + "-agent-" + strconv.Itoa(rng.IntN(20)), agentName: "Agent", root: team + "-root",
			team: team, project: team + "-p" + strconv.Itoa(rng.IntN(3)), bu: "bu-" + team, costCenter: "cc-1",
			user: "user-" + strconv.Itoa(rng.IntN(1000)), conversation: "conv-" + strconv.Itoa(i/16),
			operation: "chat", provider: "openai", reqModel: model, respModel: model + "-2026", priceModel: model,
			source: "catalog", priceID: "openai/" + model + "@2026-11",
			in: in, out: out, cacheRead: cr, reasoning: int64(rng.IntN(500)),
			inCost: inCost.String(), outCost: outCost.String(), cacheReadCost: crCost.String(),
			cacheWriteCost: "0.000000000000", reasoningCost: "0.000000000000", otherCost: "0.000000000000",
			total: inCost.Add(outCost).Add(crCost).String(),
		})
	}
	return traces(calls...)
}

// BenchmarkConvert measures span-to-row conversion alone.
//
//	go test -run '^$' -bench 'BenchmarkConvert' -benchmem -count 6 ./exporter/agentcostclickhouseexporter/ | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkConvert(b *testing.B) {
	for _, n := range []int{10_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			td := realisticTraces(n)
			conv := newConverter([]string{"tenant.id"})
			r := &rows{}
			r.reset()
			conv.convert(td, r)
			require.Equal(b, n, r.len())
			require.Equal(b, 0, r.invalid)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r.reset()
				conv.convert(td, r)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkConvertAllocs reports allocations per row of the conversion.
//
//	go test -run '^$' -bench 'BenchmarkConvertAllocs' -benchmem -count 6 ./exporter/agentcostclickhouseexporter/
func BenchmarkConvertAllocs(b *testing.B) {
	const n = 1000
	td := realisticTraces(n)
	conv := newConverter(nil)
	r := &rows{}
	r.reset()
	conv.convert(td, r)
	require.Equal(b, n, r.len())
	allocs := testing.AllocsPerRun(20, func() {
		r.reset()
		conv.convert(td, r)
	})
	b.ReportAllocs()
	for b.Loop() {
		r.reset()
		conv.convert(td, r)
	}
	b.ReportMetric(allocs/n, "allocs/row")
}

// BenchmarkInsert measures conversion plus native batch insert into the
// local ClickHouse (server and client share the machine), per batch size.
// Each iteration shifts every span's start time by a nanosecond, so that
// the rows are new to the stored-spans lookup (skip_stored_spans, on unless
// skip_stored=false) and the deduplication token changes: every batch is
// really written. Besides rows/s it
// reports the CPU time each side spends per insert, which depends far less
// on how busy the shared machine is: client-cpu-ms (this process, getrusage:
// conversion, column building, compression, GC) and server-cpu-ms (the
// insert query's user + system time from the ProfileEvents the server sends
// back: cost_events and both rollup views; background merges excluded).
// compression=none is the same insert without LZ4 on the wire.
//
//	make clickhouse
//	go test -run '^$' -bench 'BenchmarkInsert' -benchmem -count 6 -timeout 30m ./exporter/agentcostclickhouseexporter/ | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkInsert(b *testing.B) {
	type variant struct {
		rows        int
		compression string
		noLookup    bool
	}
	for _, v := range []variant{{1_000, "", false}, {10_000, "", false}, {10_000, "", true}, {10_000, "none", false}, {50_000, "", false}} {
		name := fmt.Sprintf("batch=%d/consumers=1", v.rows)
		if v.compression != "" {
			name += "/compression=" + v.compression
		}
		if v.noLookup {
			name += "/skip_stored=false"
		}
		b.Run(name, func(b *testing.B) {
			n := v.rows
			db := chtest.New(b)
			cfg := testConfig(db)
			if v.compression != "" {
				cfg.Compression = v.compression
			}
			cfg.SkipStoredSpans = !v.noLookup
			e := startDirect(b, cfg)
			td := realisticTraces(n)
			ctx := context.Background()
			require.NoError(b, e.pushTraces(ctx, td))
			var got uint64
			require.NoError(b, db.Conn.QueryRow(ctx, "SELECT count() FROM cost_events").Scan(&got))
			require.Equal(b, uint64(n), got)
			var server serverTime
			pctx := server.context(ctx)
			b.ReportAllocs()
			c0 := processCPU(b)
			b.ResetTimer()
			i := 0
			for b.Loop() {
				i++
				shiftStarts(td, 1)
				if err := e.pushTraces(pctx, td); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			client := processCPU(b) - c0
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(client.Microseconds())/1000/float64(b.N), "client-cpu-ms/insert")
			b.ReportMetric(float64(server.total().Microseconds())/1000/float64(b.N), "server-cpu-ms/insert")
			require.NoError(b, db.Conn.QueryRow(ctx, "SELECT count() FROM cost_events").Scan(&got))
			require.Equal(b, uint64(n*(i+1)), got, "every batch written once")
		})
	}
}

// processCPU returns the CPU time (user + system) this process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Skipf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverTime adds up the CPU time the server reports (ProfileEvents
// UserTimeMicroseconds + SystemTimeMicroseconds, query level) for the
// queries run with its context.
type serverTime struct{ us atomic.Int64 }

func (s *serverTime) context(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithProfileEvents(func(evs []clickhouse.ProfileEvent) {
		for _, ev := range evs {
			if ev.ThreadID != 0 {
				continue // per-thread detail; thread 0 carries the query totals
			}
			switch ev.Name {
			case "UserTimeMicroseconds", "SystemTimeMicroseconds":
				s.us.Add(ev.Value)
			}
		}
	}))
}

func (s *serverTime) total() time.Duration { return time.Duration(s.us.Load()) * time.Microsecond }

// BenchmarkInsertParallel is BenchmarkInsert with two batches in flight at
// once, as the exporter's default sending_queue.num_consumers: 2 does.
//
//	go test -run '^$' -bench 'BenchmarkInsertParallel' -benchmem -count 6 ./exporter/agentcostclickhouseexporter/
func BenchmarkInsertParallel(b *testing.B) {
	for _, n := range []int{10_000, 50_000} {
		b.Run(fmt.Sprintf("batch=%d/consumers=2", n), func(b *testing.B) {
			db := chtest.New(b)
			e := startDirect(b, testConfig(db))
			base := realisticTraces(n)
			ctx := context.Background()
			var worker atomic.Int64
			var batches atomic.Int64
			b.SetParallelism(1) // GOMAXPROCS goroutines: 2 on the reference machine
			// One copy of the batch per worker, made before the timer
			// starts (copying 50k spans costs as much as inserting them).
			workers := make([]ptrace.Traces, runtime.GOMAXPROCS(0))
			for i := range workers {
				workers[i] = ptrace.NewTraces()
				base.CopyTo(workers[i])
				// Distinct per worker: no two batches share a span or a
				// dedup token.
				shiftStarts(workers[i], pcommon.Timestamp(uint64(i+1)<<32))
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				td := workers[worker.Add(1)-1]
				for pb.Next() {
					shiftStarts(td, 1)
					if err := e.pushTraces(ctx, td); err != nil {
						b.Error(err)
						return
					}
					batches.Add(1)
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
			var got uint64
			require.NoError(b, db.Conn.QueryRow(ctx, "SELECT count() FROM cost_events").Scan(&got))
			require.Equal(b, uint64(n)*uint64(batches.Load()), got, "every batch written once")
		})
	}
}

// serverCPU returns the CPU time (user + system) used so far by process pid.
func serverCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
}

// BenchmarkServerCPU inserts into a ClickHouse server of its own (chlocal on
// private ports) and reports the server's CPU time per insert and per row,
// with the rollup views (the real schema) and without them: what an insert
// costs the server, independent of how busy the machine is. server-ms is the
// whole server process (/proc) from the first insert until the background
// merges the inserts caused have finished (waited for, up to 15 s);
// query-ms is the insert queries alone (their ProfileEvents user + system
// time: cost_events and the views, no merges). The difference is what the
// background merges of the new parts cost.
//
//	go test -run '^$' -bench 'BenchmarkServerCPU' -benchtime 20x -count 3 ./exporter/agentcostclickhouseexporter/
func BenchmarkServerCPU(b *testing.B) {
	s := newServer(b, freePorts(b, 1)[0], "")
	s.start()
	raw, err := os.ReadFile(filepath.Join(s.dir, "server.pid"))
	require.NoError(b, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(b, err)
	conn := s.conn()
	run := 0
	for _, n := range []int{1_000, 10_000} {
		for _, rollups := range []bool{true, false} {
			b.Run(fmt.Sprintf("batch=%d/rollups=%t", n, rollups), func(b *testing.B) {
				ctx := context.Background()
				cfg := createDefaultConfig().(*Config)
				cfg.Endpoint = "tcp://" + s.addr()
				run++ // -count runs each sub-benchmark again: a fresh database each time
				cfg.Database = fmt.Sprintf("cpu_%d_%t_%d", n, rollups, run)
				e := startDirect(b, cfg)
				if !rollups {
					for _, v := range []string{"cost_daily_mv", "cost_hourly_mv"} {
						require.NoError(b, conn.Exec(ctx, "DROP VIEW "+cfg.Database+"."+v))
					}
				}
				td := realisticTraces(n)
				require.NoError(b, e.pushTraces(ctx, td))
				var query serverTime
				qctx := query.context(ctx)
				c0 := serverCPU(b, pid)
				for b.Loop() {
					shiftStarts(td, 1)
					if err := e.pushTraces(qctx, td); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				waitMerges(b, conn, cfg.Database)
				cpu := serverCPU(b, pid) - c0
				b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "server-ms/insert")
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "server-us/row")
				b.ReportMetric(float64(query.total().Microseconds())/1000/float64(b.N), "query-ms/insert")
			})
		}
	}
}

// waitMerges waits until database has had no running merge for a second
// (at most 15 s).
func waitMerges(b *testing.B, conn driver.Conn, database string) {
	quiet := 0
	for i := 0; i < 150 && quiet < 10; i++ {
		time.Sleep(100 * time.Millisecond)
		var running uint64
		require.NoError(b, conn.QueryRow(context.Background(),
			"SELECT count() FROM system.merges WHERE database = ?", database).Scan(&running))
		if running == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}

// shiftStarts moves every span of td d nanoseconds later: new keys for the
// stored-spans lookup and a new deduplication token.
func shiftStarts(td ptrace.Traces, d pcommon.Timestamp) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				sp.SetStartTimestamp(sp.StartTimestamp() + d)
				sp.SetEndTimestamp(sp.EndTimestamp() + d)
			}
		}
	}
}
