package agentcostclickhouseexporter

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/internal/metadatatest"
	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/schema"
	"github.com/agentcost/agentcost/internal/chtest"
)

// overlapCalls returns calls lo..hi-1, over three months, costing
// 0.100000000001 USD and 10 input tokens each.
func overlapCalls(lo, hi int) []call {
	var calls []call
	for i := lo; i < hi; i++ {
		calls = append(calls, call{traceID: seqID("t", i/4), spanID: seqID("s", i), start: t0.AddDate(0, -(i % 3), 0),
			team: "cx", agent: "a", in: 10, total: "0.100000000001"})
	}
	return calls
}

// withoutIDs appends n cost spans with empty trace and span ids to td: they
// cannot be recognised, so they are always written.
func withoutIDs(td ptrace.Traces, n int) ptrace.Traces {
	extra := traces(overlapCalls(1000, 1000+n)...)
	spans := extra.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		spans.At(i).SetTraceID(pcommon.NewTraceIDEmpty())
		spans.At(i).SetSpanID(pcommon.NewSpanIDEmpty())
	}
	extra.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	return td
}

// TestSkipStoredSpans sends overlapping batches, as a persistent queue
// replaying re-batched requests or a client resending does, over both
// protocols: every span is stored once in cost_events and counted once in
// the rollups, and the rows left out are counted.
func TestSkipStoredSpans(t *testing.T) {
	for _, proto := range []string{"native", "http"} {
		t.Run("protocol="+proto, func(t *testing.T) {
			var addr string
			if proto == "http" {
				addr = httpAddr(t)
			}
			db := chtest.New(t)
			cfg := testConfig(db)
			if proto == "http" {
				cfg.Endpoint = "http://" + addr
			}
			tt := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
			e, err := newExporter(cfg, metadatatest.NewSettings(tt))
			require.NoError(t, err)
			require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
			t.Cleanup(func() { _ = e.shutdown(context.Background()) })
			ctx := context.Background()

			// Batch A: spans 0..99, span 7 twice, two spans without ids.
			a := overlapCalls(0, 100)
			a = append(a, a[7])
			require.NoError(t, e.pushTraces(ctx, withoutIDs(traces(a...), 2)))
			assert.Equal(t, "102\t10.200000000102\t(102,10.200000000102,1020)\t(102,10.200000000102)", totals(t, db)[0])

			// Batch B: spans 50..149 (50 stored) and the two without ids again.
			b := withoutIDs(traces(overlapCalls(50, 150)...), 2)
			require.NoError(t, e.pushTraces(ctx, b))
			assert.Equal(t, "154\t15.400000000154\t(154,15.400000000154,1540)\t(154,15.400000000154)", totals(t, db)[0])

			// B again: its 100 keyed spans are stored and left out. The two
			// without ids cannot be looked up and now travel in a smaller
			// block with another token: they are written again (the
			// documented limit for spans without ids).
			require.NoError(t, e.pushTraces(ctx, b))
			assert.Equal(t, "156\t15.600000000156\t(156,15.600000000156,1560)\t(156,15.600000000156)", totals(t, db)[0])

			got := queryStrings(t, db.Conn, "SELECT toString(count()), toString(uniqExact(trace_id, span_id)) FROM cost_events WHERE span_id != ''")
			assert.Equal(t, []string{"150\t150"}, got, "every keyed span stored once")

			// Left out: the repeat of span 7, the 50 of B, then the 100 of B.
			metadatatest.AssertEqualAgentcostExporterRowsAlreadyStored(t, tt,
				[]metricdata.DataPoint[int64]{{Value: 151}}, metricdatatest.IgnoreTimestamp())
			metadatatest.AssertEqualAgentcostExporterRowsInserted(t, tt,
				[]metricdata.DataPoint[int64]{{Value: 102 + 52 + 2}}, metricdatatest.IgnoreTimestamp())
		})
	}
}

// TestSkipStoredSpansSameIDsOtherTime: the key includes event_time, so a
// span that reuses another's ids at another time is a different row.
func TestSkipStoredSpansSameIDsOtherTime(t *testing.T) {
	db := chtest.New(t)
	e := startDirect(t, testConfig(db))
	c := call{traceID: "t", spanID: "s", start: t0, team: "cx", total: "1"}
	require.NoError(t, e.pushTraces(context.Background(), traces(c)))
	c.start = t0.Add(1) // one nanosecond later
	require.NoError(t, e.pushTraces(context.Background(), traces(c)))
	require.NoError(t, e.pushTraces(context.Background(), traces(c, c)))
	assert.Equal(t, []string{"2\t2"}, queryStrings(t, db.Conn, "SELECT toString(count()), toString(sum(total_cost)) FROM cost_events"))
}

// TestSkipStoredSpansWithoutKeysTable: with the keys table missing (schema
// not migrated to 0007) nothing is lost: batches are inserted without the
// lookup, and one error says why.
func TestSkipStoredSpansWithoutKeysTable(t *testing.T) {
	db := chtest.New(t)
	ctx := context.Background()
	o := schema.Options{Database: db.Name}
	_, err := schema.Migrate(ctx, db.Conn, o)
	require.NoError(t, err)
	require.NoError(t, db.Conn.Exec(ctx, "DROP VIEW "+o.Table("cost_event_keys_mv")))
	require.NoError(t, db.Conn.Exec(ctx, "DROP TABLE "+o.Table(schema.KeysTable)))

	cfg := testConfig(db)
	cfg.CreateSchema = false
	core, logs := observer.New(zap.ErrorLevel)
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	set.Logger = zap.New(core)
	e, err := newExporter(cfg, set)
	require.NoError(t, err)
	require.NoError(t, e.start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { _ = e.shutdown(ctx) })

	require.NoError(t, e.pushTraces(ctx, traces(overlapCalls(0, 10)...)))
	require.NoError(t, e.pushTraces(ctx, traces(overlapCalls(5, 15)...)))
	assert.Equal(t, []string{"20"}, queryStrings(t, db.Conn, "SELECT toString(count()) FROM cost_events"),
		"without the keys table the overlap is stored twice, and nothing is lost")
	require.Equal(t, 1, logs.Len(), "one error, not one per batch")
	assert.Contains(t, logs.All()[0].Message, "skip_stored_spans: the stored-spans lookup fails")
	assert.EqualValues(t, 60, logs.All()[0].ContextMap()["code"], "UNKNOWN_TABLE")

	// A keys table of another shape: the lookup fails for good
	// (UNKNOWN_IDENTIFIER), and batches still go in.
	require.NoError(t, db.Conn.Exec(ctx, "CREATE TABLE "+o.Table(schema.KeysTable)+" (`x` UInt8) ENGINE = MergeTree ORDER BY `x`"))
	require.NoError(t, e.pushTraces(ctx, traces(overlapCalls(100, 110)...)))
	assert.Equal(t, []string{"30"}, queryStrings(t, db.Conn, "SELECT toString(count()) FROM cost_events"))
	assert.Equal(t, 1, logs.Len(), "still one error")
}

// TestSkipStoredSpansConcurrentBatches: two consumers push batches that
// share spans at the same moment (a client's resend beside its original);
// each span is stored once: the second batch waits for the first one's
// insert before its lookup.
func TestSkipStoredSpansConcurrentBatches(t *testing.T) {
	db := chtest.New(t)
	e := startDirect(t, testConfig(db))
	ctx := context.Background()
	const workers, rounds = 2, 10
	errs := make(chan error, workers*rounds)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				// Round i of both workers: spans i*300 .. i*300+499,
				// in other batch shapes (worker 1 starts 100 later).
				lo := i*300 + w*100
				errs <- e.pushTraces(ctx, traces(overlapCalls(lo, lo+400)...))
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// Spans 0 .. 9*300+499 = 3199, each once.
	assert.Equal(t, []string{"3200\t3200"}, queryStrings(t, db.Conn, "SELECT toString(count()), toString(uniqExact(trace_id, span_id)) FROM cost_events"))
	assert.Empty(t, e.inflight.keys, "every claim released")
}

// TestStoredSpansQuery pins the lookup's SQL.
func TestStoredSpansQuery(t *testing.T) {
	assert.Equal(t,
		"SELECT `event_time`, `span_key` FROM `agentcost`.`acme_cost_event_keys` "+
			"WHERE (`event_time`, `span_key`) IN (SELECT `event_time`, `span_key` FROM `_agentcost_batch`)",
		storedSpansQuery(schema.Options{Database: "agentcost", TablePrefix: "acme_"}))
}

// TestSpanKeyMatchesServer: the span_key the exporter computes is the one
// the keys view computes from the stored strings.
func TestSpanKeyMatchesServer(t *testing.T) {
	db := chtest.New(t)
	var buf []byte
	for _, ids := range [][2]string{
		{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"},
		{"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"},
		{"", "b7ad6b7169203331"},
		{"00000000000000000000000000000001", "0000000000000001"},
	} {
		var want uint64
		require.NoError(t, db.Conn.QueryRow(context.Background(), "SELECT cityHash64(concat(?, ?))", ids[0], ids[1]).Scan(&want))
		var got uint64
		got, buf = spanKeyHash(buf, ids[0], ids[1])
		assert.Equal(t, want, got, "%v", ids)
	}
}
