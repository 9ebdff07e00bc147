package agentcostprocessor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/processor/agentcostprocessor/internal/metadata"
)

// errRefused stands for a next component that refuses a batch (a full
// sending queue): the client sends the same batch again.
var errRefused = errors.New("sending queue is full")

// flakyNext refuses the next fail batches, then accepts and counts every
// stamped span it receives, by span id.
type flakyNext struct {
	mu    sync.Mutex
	fail  int // batches still to refuse; -1 refuses all
	calls int
	spans map[pcommon.SpanID]int
	agent map[pcommon.SpanID]string // agentcost.agent.id as delivered
}

func newFlakyNext(fail int) *flakyNext {
	return &flakyNext{fail: fail, spans: map[pcommon.SpanID]int{}, agent: map[pcommon.SpanID]string{}}
}

func (f *flakyNext) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (f *flakyNext) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != 0 {
		if f.fail > 0 {
			f.fail--
		}
		return errRefused
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if _, ok := spans.At(k).Attributes().Get(attrs.CostStatus); ok {
					f.spans[spans.At(k).SpanID()]++
				}
				if v, ok := spans.At(k).Attributes().Get(attrs.AgentID); ok {
					f.agent[spans.At(k).SpanID()] = v.Str()
				}
			}
		}
	}
	return nil
}

func (f *flakyNext) setFail(n int) {
	f.mu.Lock()
	f.fail = n
	f.mu.Unlock()
}

// delivered is how many times the span with id 7:id reached the next component.
func (f *flakyNext) delivered(id byte) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.spans[pcommon.SpanID{7: id}]
}

// invokeAgentTrace is an invoke_agent span of agent "a" (not billable).
func invokeAgentTrace(trace, id byte) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("invoke_agent a")
	sp.SetTraceID(pcommon.TraceID{15: trace})
	sp.SetSpanID(pcommon.SpanID{7: id})
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)))
	sp.Attributes().PutStr("gen_ai.operation.name", "invoke_agent")
	sp.Attributes().PutStr("gen_ai.agent.id", "a")
	return td
}

// retryRig is a processor with a budget accruer and self-metrics.
type retryRig struct {
	p    processor.Traces
	next *flakyNext
	acc  *fakeAccruer
	tel  *componenttest.Telemetry
}

func newRetryRig(t *testing.T, cfg *Config, next *flakyNext) *retryRig {
	t.Helper()
	return newRetryRigWith(t, cfg, next, next)
}

// newRetryRigWith sends to c, a consumer that ends in next.
func newRetryRigWith(t *testing.T, cfg *Config, next *flakyNext, c consumer.Traces) *retryRig {
	t.Helper()
	id := component.MustNewID("agentcost_budget")
	cfg.Budget = &id
	r := &retryRig{next: next, acc: &fakeAccruer{}, tel: componenttest.NewTelemetry()}
	t.Cleanup(func() { require.NoError(t, r.tel.Shutdown(context.Background())) })
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = r.tel.NewTelemetrySettings()
	p, err := NewFactory().CreateTraces(context.Background(), set, cfg, c)
	require.NoError(t, err)
	r.p = p
	require.NoError(t, p.Start(context.Background(), hostWithExtensions{componenttest.NewNopHost(), map[component.ID]component.Component{id: r.acc}}))
	return r
}

func (r *retryRig) charges() int {
	r.acc.mu.Lock()
	defer r.acc.mu.Unlock()
	return len(r.acc.charges)
}

// counter is the sum of a self-metric's data points (0 when never recorded).
func (r *retryRig) counter(name string) int64 {
	m, err := r.tel.GetMetric("otelcol_" + name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}

// A batch whose held child is refused downstream and then retried by the
// client holds (and later delivers) the child once.
func TestRefusedBatchHoldsOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = 50 * time.Millisecond
	r := newRetryRig(t, cfg, newFlakyNext(1))
	batch := func() ptrace.Traces {
		td := chatTrace(1, 2, 1, "") // child of agent span 1, not yet seen: held
		chatTrace(2, 3, 0, "x").ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		return td
	}
	require.ErrorIs(t, r.p.ConsumeTraces(context.Background(), batch()), errRefused)
	assert.Zero(t, r.counter("agentcost_spans_held"), "a refused batch holds nothing")
	require.NoError(t, r.p.ConsumeTraces(context.Background(), batch())) // the client's retry
	assert.EqualValues(t, 1, r.counter("agentcost_spans_held"))
	require.Eventually(t, func() bool { return r.next.delivered(2) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.Equal(t, 1, r.next.delivered(2), "held span delivered once")
	assert.Equal(t, 1, r.next.delivered(3))
	assert.Equal(t, 2, r.charges(), "each span charged once")
	assert.EqualValues(t, 1, r.counter("agentcost_spans_timed_out"))
	assert.Zero(t, r.counter("agentcost_spans_held_current"))
}

// A held span released into a batch that downstream refuses goes back to
// the holder and is released again by the client's retry.
func TestRefusedBatchKeepsReleased(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	r := newRetryRig(t, cfg, newFlakyNext(0))
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 1, ""))) // held
	assert.Zero(t, r.charges(), "a held span is charged when released")
	r.next.setFail(1)
	require.ErrorIs(t, r.p.ConsumeTraces(context.Background(), invokeAgentTrace(1, 1)), errRefused)
	assert.Zero(t, r.counter("agentcost_spans_released"))
	assert.Zero(t, r.charges())
	require.NoError(t, r.p.ConsumeTraces(context.Background(), invokeAgentTrace(1, 1))) // the client's retry
	assert.Equal(t, 1, r.next.delivered(2))
	assert.EqualValues(t, 1, r.counter("agentcost_spans_released"))
	assert.Equal(t, 1, r.charges())
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.Equal(t, 1, r.next.delivered(2), "released span delivered once")
	assert.Equal(t, 1, r.charges())
	assert.Zero(t, r.counter("agentcost_spans_timed_out"))
	assert.Zero(t, r.counter("agentcost_spans_held_current"))
}

// A refused batch is charged to budgets only when its retry is accepted.
func TestRefusedBatchAccruedOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = 0
	r := newRetryRig(t, cfg, newFlakyNext(1))
	require.ErrorIs(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 1, 0, "support-bot")), errRefused)
	assert.Zero(t, r.charges())
	assert.Zero(t, r.counter("agentcost_spans_priced"), "nothing counted for a refused batch")
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 1, 0, "support-bot")))
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.Equal(t, 1, r.next.delivered(1))
	assert.Equal(t, 1, r.charges(), "span accrued once")
	assert.EqualValues(t, 1, r.counter("agentcost_spans_priced"))
}

// A timed-out held span that downstream refuses stays held and is retried
// on the next ticks until accepted: delivered and charged once.
func TestTimedOutReleaseRetried(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = 20 * time.Millisecond
	r := newRetryRig(t, cfg, newFlakyNext(0))
	r.next.setFail(3)
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 1, ""))) // held, parent never comes
	require.Eventually(t, func() bool { return r.next.delivered(2) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.Equal(t, 1, r.next.delivered(2))
	assert.GreaterOrEqual(t, r.next.calls, 4, "three refusals, then accepted")
	assert.Equal(t, 1, r.charges())
	assert.EqualValues(t, 1, r.counter("agentcost_spans_timed_out"))
	assert.Zero(t, r.counter("agentcost_spans_dropped"))
	assert.Zero(t, r.counter("agentcost_spans_held_current"))
}

// A timed-out held span that downstream keeps refusing past the retry
// window is dropped, counted, and never charged.
func TestTimedOutReleaseDroppedAfterRetryWindow(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = 20 * time.Millisecond
	r := newRetryRig(t, cfg, newFlakyNext(-1))
	r.p.(*committingTraces).p.hold.retryFor = 100 * time.Millisecond
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 1, "")))
	require.Eventually(t, func() bool { return r.counter("agentcost_spans_dropped") == 1 }, 5*time.Second, 5*time.Millisecond)
	r.next.mu.Lock()
	calls := r.next.calls
	r.next.mu.Unlock()
	assert.Greater(t, calls, 1, "retried before dropping")
	require.NoError(t, r.p.Shutdown(context.Background()), "nothing left to flush")
	assert.Zero(t, r.next.delivered(2))
	assert.Zero(t, r.charges(), "a dropped span is not charged")
	assert.EqualValues(t, 1, r.counter("agentcost_spans_dropped"))
	assert.Zero(t, r.counter("agentcost_spans_timed_out"))
	assert.Zero(t, r.counter("agentcost_spans_held_current"))
}

// permanentNext refuses every batch with a permanent error.
type permanentNext struct{ calls int }

func (p *permanentNext) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }
func (p *permanentNext) ConsumeTraces(context.Context, ptrace.Traces) error {
	p.calls++
	return consumererror.NewPermanent(errRefused)
}

// A timed-out release refused with a permanent error is dropped at once
// (and counted): retrying cannot help.
func TestTimedOutReleasePermanentErrorDropped(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = 20 * time.Millisecond
	next := &permanentNext{}
	r := newRetryRigWith(t, cfg, newFlakyNext(0), next)
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 1, "")))
	require.Eventually(t, func() bool { return r.counter("agentcost_spans_dropped") == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, r.p.Shutdown(context.Background()), "nothing left to flush")
	assert.Equal(t, 1, next.calls, "no retry")
	assert.Zero(t, r.charges())
	assert.Zero(t, r.counter("agentcost_spans_held_current"))
}

// At shutdown, spans still held that downstream refuses are retried a few
// times, then dropped and counted; shutdown reports the error.
func TestShutdownDropsRefusedHeldCounted(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	r := newRetryRig(t, cfg, newFlakyNext(-1))
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 1, "")))
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(2, 3, 1, "")))
	err := r.p.Shutdown(context.Background())
	require.ErrorIs(t, err, errRefused)
	assert.Equal(t, shutdownAttempts, r.next.calls)
	assert.EqualValues(t, 2, r.counter("agentcost_spans_dropped"))
	assert.Zero(t, r.charges())
	assert.Zero(t, r.counter("agentcost_spans_held_current"))
}

// At shutdown a refusal followed by acceptance loses nothing.
func TestShutdownRetriesRefusedHeld(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	r := newRetryRig(t, cfg, newFlakyNext(0))
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 1, "")))
	r.next.setFail(1)
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.Equal(t, 1, r.next.delivered(2))
	assert.Equal(t, 1, r.charges())
	assert.Zero(t, r.counter("agentcost_spans_dropped"))
}

// The self-metrics of a refused batch are recorded once, when its retry is
// accepted (here an unknown model: unpriced and unknown-models counts).
func TestRefusedBatchCountedOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = 0
	r := newRetryRig(t, cfg, newFlakyNext(1))
	batch := func() ptrace.Traces {
		td := chatTrace(1, 1, 0, "support-bot")
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("gen_ai.request.model", "gpt-unknown")
		return td
	}
	require.ErrorIs(t, r.p.ConsumeTraces(context.Background(), batch()), errRefused)
	assert.Zero(t, r.counter("agentcost_unknown_models"))
	assert.Zero(t, r.counter("agentcost_spans_unpriced"))
	require.NoError(t, r.p.ConsumeTraces(context.Background(), batch()))
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.EqualValues(t, 1, r.counter("agentcost_unknown_models"))
	assert.EqualValues(t, 1, r.counter("agentcost_spans_unpriced"))
	assert.Zero(t, r.charges(), "unpriced: nothing to charge")
}

// agentBelowMissingTop is trace 1's agent span (span 1, agent "a") below a
// parent (span 9) that never arrives, and a plain span 5 below the agent:
// the ancestry of chatTrace(1, 2, 5, "") without the trace's top.
func agentBelowMissingTop() ptrace.Traces {
	td := invokeAgentTrace(1, 1)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetParentSpanID(pcommon.SpanID{7: 9}) // never arrives
	plain := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty()
	plain.SetName("http handler")
	plain.SetTraceID(pcommon.TraceID{15: 1})
	plain.SetSpanID(pcommon.SpanID{7: 5})
	plain.SetParentSpanID(pcommon.SpanID{7: 1})
	return td
}

// A timed-out span retried after a refused send keeps the identity its
// ancestry gave it: here through a plain span that only the held trace
// remembers (the agent span arrived, the trace's top never did).
func TestTimedOutRetryKeepsIdentity(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = 300 * time.Millisecond
	r := newRetryRig(t, cfg, newFlakyNext(0))
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 5, ""))) // held
	require.NoError(t, r.p.ConsumeTraces(context.Background(), agentBelowMissingTop())) // still held: the top is missing
	r.next.setFail(2)                                                                   // the first two timed-out sends
	require.Eventually(t, func() bool { return r.next.delivered(2) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, r.p.Shutdown(context.Background()))
	r.next.mu.Lock()
	defer r.next.mu.Unlock()
	assert.Equal(t, "a", r.next.agent[pcommon.SpanID{7: 2}], "inherited from the agent span")
	assert.Equal(t, 1, r.next.spans[pcommon.SpanID{7: 2}])
}

// gatedNext holds the first batch until released, then answers it with
// firstErr; later batches pass straight to flakyNext.
type gatedNext struct {
	*flakyNext
	once     sync.Once
	entered  chan struct{}
	gate     chan struct{}
	firstErr error
}

func (g *gatedNext) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		<-g.gate
		if g.firstErr != nil {
			return g.firstErr
		}
	}
	return g.flakyNext.ConsumeTraces(ctx, td)
}

// While the batch that held a span is still on its way downstream, another
// batch that completes the span's ancestry does not release it; whether the
// first batch is then accepted or refused (and retried), the span is
// delivered once, with the inherited agent.
func TestInFlightHeldSpanDeliveredOnce(t *testing.T) {
	for _, refused := range []bool{false, true} {
		name := "accepted"
		if refused {
			name = "refused"
		}
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Hold.Wait = 50 * time.Millisecond
			g := &gatedNext{flakyNext: newFlakyNext(0), entered: make(chan struct{}), gate: make(chan struct{})}
			if refused {
				g.firstErr = errRefused
			}
			r := newRetryRigWith(t, cfg, g.flakyNext, g)
			batch := func() ptrace.Traces {
				td := chatTrace(1, 2, 1, "") // child of agent span 1, not yet seen: held
				chatTrace(2, 3, 0, "x").ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
				return td
			}
			errA := make(chan error, 1)
			go func() { errA <- r.p.ConsumeTraces(context.Background(), batch()) }()
			<-g.entered
			require.NoError(t, r.p.ConsumeTraces(context.Background(), invokeAgentTrace(1, 1))) // the parent, a top span
			assert.Zero(t, g.delivered(2), "not released while its batch is in flight")
			close(g.gate)
			if refused {
				require.ErrorIs(t, <-errA, errRefused)
				require.NoError(t, r.p.ConsumeTraces(context.Background(), batch())) // the client's retry
			} else {
				require.NoError(t, <-errA)
			}
			require.Eventually(t, func() bool { return g.delivered(2) == 1 }, 5*time.Second, 5*time.Millisecond)
			require.NoError(t, r.p.Shutdown(context.Background()))
			g.mu.Lock()
			defer g.mu.Unlock()
			assert.Equal(t, 1, g.spans[pcommon.SpanID{7: 2}])
			assert.Equal(t, 1, g.spans[pcommon.SpanID{7: 3}])
			assert.Equal(t, "a", g.agent[pcommon.SpanID{7: 2}])
			assert.Equal(t, 2, r.charges())
		})
	}
}
