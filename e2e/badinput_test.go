package e2e

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentcost/agentcost/pricing"
)

// chatSpan is a client chat span with its own agent identity: it is priced
// and attributed from its own attributes, never held.
func chatSpan(i int, start time.Time, agent, model string, in, out int64, extra ...attribute.KeyValue) tracetest.SpanStub {
	var tid trace.TraceID
	var sid trace.SpanID
	binary.BigEndian.PutUint64(tid[:8], 0xfeed)
	binary.BigEndian.PutUint64(tid[8:], uint64(i)+1)
	binary.BigEndian.PutUint64(sid[:], uint64(i)+1)
	return tracetest.SpanStub{
		Name:        "chat " + model,
		SpanKind:    trace.SpanKindClient,
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
		StartTime:   start,
		EndTime:     start.Add(1500 * time.Millisecond),
		Attributes: append([]attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.provider.name", "openai"),
			attribute.String("gen_ai.request.model", model),
			attribute.String("gen_ai.agent.id", agent),
			attribute.Int64("gen_ai.usage.input_tokens", in),
			attribute.Int64("gen_ai.usage.output_tokens", out),
		}, extra...),
		Resource: sdkresource.NewSchemaless(attribute.String("service.name", "badinput")),
	}
}

func exportStubs(t *testing.T, c *collector, stubs tracetest.SpanStubs) {
	t.Helper()
	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(c.grpc), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithTimeout(time.Minute)) // megabytes of attributes under -race on a busy box
	require.NoError(t, err)
	defer exp.Shutdown(ctx)
	require.NoError(t, exp.ExportSpans(ctx, stubs.Snapshots()))
}

type storedRow struct {
	status, reason, cost, agent, model string
	eventTime                          time.Time
}

func storedRows(t *testing.T, c *collector) map[string]storedRow {
	t.Helper()
	rows, err := c.db.Conn.Query(context.Background(),
		"SELECT span_id, cost_status, cost_reason, toString(total_cost), agent_id, request_model, event_time FROM cost_events")
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]storedRow{}
	for rows.Next() {
		var id string
		var r storedRow
		require.NoError(t, rows.Scan(&id, &r.status, &r.reason, &r.cost, &r.agent, &r.model, &r.eventTime))
		out[id] = r
	}
	require.NoError(t, rows.Err())
	return out
}

// TestBadInputFarPastAndFuture sends one OTLP request whose spans start on
// the first of every month from 2012 to 2037 (312 months, more than
// ClickHouse's default limit of 100 partitions per insert) plus one day in
// 2200. Every span must be stored, each priced with the catalog price in
// effect at its own start (unpriced before the model had a price), the total
// exact. (Start times past DateTime64(9)'s range, after 2262-04-11, cannot be
// sent with the Go SDK, whose UnixNano wraps; the exporter's own tests cover
// them.)
func TestBadInputFarPastAndFuture(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs ClickHouse")
	}
	c := startCollector(t)
	cat, err := pricing.Load("examples/catalog.yaml")
	require.NoError(t, err)

	type sent struct {
		at     time.Time
		status string
		cost   pricing.Money
	}
	want := map[string]sent{}
	var stubs tracetest.SpanStubs
	var total pricing.Money
	costs := map[string]bool{}
	add := func(at time.Time) {
		i := len(stubs)
		s := chatSpan(i, at, "time-traveller", "gpt-4o", 1000+int64(i), 100+int64(i))
		stubs = append(stubs, s)
		r := cat.Price(pricing.Query{Provider: "openai", Model: "gpt-4o", At: at}, pricing.Usage{InputTokens: uint64(1000 + i), OutputTokens: uint64(100 + i)})
		id := s.SpanContext.SpanID()
		w := sent{at: at, status: r.Status.String(), cost: r.Total}
		want[hex.EncodeToString(id[:])] = w
		total = total.Add(r.Total)
		costs[w.status+r.Total.String()] = true
	}
	for y := 2012; y <= 2037; y++ {
		for m := time.January; m <= time.December; m++ {
			add(time.Date(y, m, 1, 12, 0, 0, 0, time.UTC))
		}
	}
	add(time.Date(2200, 6, 1, 0, 0, 0, 0, time.UTC))
	require.GreaterOrEqual(t, len(costs), 3, "the range crosses price changes and unpriced months: %v", costs)

	exportStubs(t, c, stubs)
	c.waitRows(t, len(stubs))
	got := storedRows(t, c)
	require.Len(t, got, len(stubs))
	for id, w := range want {
		g, ok := got[id]
		require.True(t, ok, "span %s (%s) stored", id, w.at)
		assert.Equal(t, w.status, g.status, "status at %s", w.at)
		gc, err := pricing.ParseMoney(g.cost)
		require.NoError(t, err)
		assert.Equal(t, w.cost.String(), gc.String(), "cost at %s", w.at)
		assert.True(t, g.eventTime.Equal(w.at), "event_time %s, want %s", g.eventTime, w.at)
	}
	var sum string
	require.NoError(t, c.db.Conn.QueryRow(context.Background(), "SELECT toString(sum(total_cost)) FROM cost_events").Scan(&sum))
	gotTotal, err := pricing.ParseMoney(sum)
	require.NoError(t, err)
	assert.Equal(t, total.String(), gotTotal.String(), "total cost")
	var months uint64
	require.NoError(t, c.db.Conn.QueryRow(context.Background(), "SELECT uniqExact(toYYYYMM(event_time)) FROM cost_events").Scan(&months))
	assert.Greater(t, months, uint64(300), "rows span more than 300 monthly partitions")
}

// TestBadInputOversizedAttributes sends spans whose model name, agent id,
// user id and an unrelated attribute are hundreds of KiB long (the whole
// request stays under the OTLP receiver's 4 MiB gRPC limit). Nothing may be
// dropped: each span is one row, the oversized model is unpriced (no such
// model), and a normal span sent in the same request is priced exactly.
func TestBadInputOversizedAttributes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs ClickHouse")
	}
	c := startCollector(t)
	cat, err := pricing.Load("examples/catalog.yaml")
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Microsecond)
	huge := func(ch string, n int) string { return strings.Repeat(ch, n) }
	stubs := tracetest.SpanStubs{
		chatSpan(0, now, "agent-big-model", "gpt-4o"+huge("x", 512<<10), 1000, 100),
		chatSpan(1, now, huge("a", 256<<10), "gpt-4o", 1000, 100),
		chatSpan(2, now, "agent-big-user", "gpt-4o", 1000, 100, attribute.String("user.id", huge("u", 256<<10)),
			attribute.String("gen_ai.prompt", huge("p", 512<<10))),
		chatSpan(3, now, "agent-normal", "gpt-4o", 1000, 100),
	}
	exportStubs(t, c, stubs)
	c.waitRows(t, len(stubs))
	got := storedRows(t, c)
	require.Len(t, got, len(stubs))
	r := cat.Price(pricing.Query{Provider: "openai", Model: "gpt-4o", At: now}, pricing.Usage{InputTokens: 1000, OutputTokens: 100})
	require.Equal(t, pricing.StatusPriced, r.Status)
	byAgent := map[string]storedRow{}
	for _, g := range got {
		key := g.agent
		if len(key) > 64 {
			key = "huge:" + key[:1]
		}
		byAgent[key] = g
	}
	assert.Equal(t, "unpriced", byAgent["agent-big-model"].status)
	for _, a := range []string{"huge:a", "agent-big-user", "agent-normal"} {
		g, ok := byAgent[a]
		require.True(t, ok, "row of %s", a)
		assert.Equal(t, "priced", g.status, a)
		gc, err := pricing.ParseMoney(g.cost)
		require.NoError(t, err)
		assert.Equal(t, r.Total.String(), gc.String(), a)
	}
	t.Logf("stored lengths: model %d, agent %d", len(byAgent["agent-big-model"].model), len(byAgent["huge:a"].agent))
}
