package e2e

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentcost/agentcost/cmd/agentsim/sim"
	"github.com/agentcost/agentcost/pricing"
)

// heldTrace builds trace i: a chat call without an agent of its own, child
// of an invoke_agent span of agent "agent-<i%5>". The call is billable and is
// held by the processor until its parent arrives (or hold.wait passes).
func heldTrace(i int, at time.Time) (call, agent tracetest.SpanStub) {
	var tid trace.TraceID
	binary.BigEndian.PutUint64(tid[:8], 0x401d)
	binary.BigEndian.PutUint64(tid[8:], uint64(i)+1)
	var callID, agentID trace.SpanID
	binary.BigEndian.PutUint64(callID[:], uint64(2*i)+1)
	binary.BigEndian.PutUint64(agentID[:], uint64(2*i)+2)
	res := sdkresource.NewSchemaless(attribute.String("service.name", "hold-e2e"))
	agentSC := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: agentID, TraceFlags: trace.FlagsSampled})
	call = tracetest.SpanStub{
		Name:        "chat gpt-4o",
		SpanKind:    trace.SpanKindClient,
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: callID, TraceFlags: trace.FlagsSampled}),
		Parent:      agentSC,
		StartTime:   at,
		EndTime:     at.Add(time.Second),
		Attributes: []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.provider.name", "openai"),
			attribute.String("gen_ai.request.model", "gpt-4o"),
			attribute.Int64("gen_ai.usage.input_tokens", int64(1000+i)),
			attribute.Int64("gen_ai.usage.output_tokens", int64(100+i)),
		},
		Resource: res,
	}
	agent = tracetest.SpanStub{
		Name:        "invoke_agent",
		SpanKind:    trace.SpanKindInternal,
		SpanContext: agentSC,
		StartTime:   at.Add(-time.Second),
		EndTime:     at.Add(2 * time.Second),
		Attributes: []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "invoke_agent"),
			attribute.String("gen_ai.agent.id", fmt.Sprintf("agent-%d", i%5)),
		},
		Resource: res,
	}
	return call, agent
}

// TestFaultCollectorKilledHoldingSpans: the processor holds acknowledged
// calls whose agent span has not arrived, in its storage extension
// (hold.storage: file_storage). The collector gets SIGKILL while it holds
// them and restarts on the same directory. The agent spans of half the
// traces then arrive: those calls are released with their agent (inherited);
// the others when hold.wait passes, with the fallback agent. Every call is
// stored exactly once, with the right agent and the exact cost.
func TestFaultCollectorKilledHoldingSpans(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: needs ClickHouse and about 40 s")
	}
	srv := startCHServer(t)
	db := srv.newDB(t)
	dir := t.TempDir()
	ch := startChild(t, db, append(persistentQueue(dir, true),
		"yaml:processors::agentcost::hold::storage: file_storage",
		"yaml:processors::agentcost::hold::wait: 15s")...)
	pr, err := sim.PricerFromCollectorConfig(demoConfig)
	require.NoError(t, err)

	const n = 200
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	var calls, agents tracetest.SpanStubs
	want := map[string]string{} // call span id -> agent id
	var total pricing.Money
	for i := 0; i < n; i++ {
		c, a := heldTrace(i, at)
		calls = append(calls, c)
		id := c.SpanContext.SpanID()
		if i%2 == 0 {
			agents = append(agents, a)
			want[hex.EncodeToString(id[:])] = fmt.Sprintf("agent-%d", i%5)
		} else {
			want[hex.EncodeToString(id[:])] = "hold-e2e" // service.name fallback
		}
		r := pr.Catalog.Price(pricing.Query{Provider: "openai", Model: "gpt-4o", At: at},
			pricing.Usage{InputTokens: uint64(1000 + i), OutputTokens: uint64(100 + i)})
		require.Equal(t, pricing.StatusPriced, r.Status)
		total = total.Add(r.Total)
	}

	// Acknowledged, then held: nothing reaches ClickHouse before the kill.
	exportStubs(t, ch.c, calls)
	time.Sleep(time.Second)
	var stored uint64
	require.NoError(t, db.Conn.QueryRow(context.Background(), "SELECT count() FROM cost_events").Scan(&stored))
	require.Zero(t, stored, "the calls are held for their agent spans")
	ch.kill(t)
	t.Log("collector killed while holding the calls")
	for attempt := 1; ; attempt++ {
		if !srv.answers() {
			srv.start(t)
		}
		err := ch.tryStart()
		if err == nil {
			break
		}
		require.Less(t, attempt, 3, "restart the collector: %v", err)
		time.Sleep(time.Second)
	}
	t.Log("collector restarted")
	exportStubs(t, ch.c, agents)

	ch.c.waitRows(t, n)
	time.Sleep(2 * time.Second) // anything released twice would show now
	got := storedRows(t, ch.c)
	require.Len(t, got, n)
	var rows, distinct uint64
	require.NoError(t, db.Conn.QueryRow(context.Background(), "SELECT count(), uniqExact(trace_id, span_id) FROM cost_events").Scan(&rows, &distinct))
	assert.Equal(t, uint64(n), rows, "rows")
	assert.Equal(t, uint64(n), distinct, "no call stored twice")
	for id, agent := range want {
		assert.Equal(t, agent, got[id].agent, "agent of call %s", id)
		assert.Equal(t, "priced", got[id].status, "status of call %s", id)
	}
	var sum string
	require.NoError(t, db.Conn.QueryRow(context.Background(), "SELECT toString(sum(total_cost)) FROM cost_events").Scan(&sum))
	gotTotal, err := pricing.ParseMoney(sum)
	require.NoError(t, err)
	assert.Equal(t, total.String(), gotTotal.String(), "total cost")
}
