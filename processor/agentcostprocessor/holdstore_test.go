package agentcostprocessor

import (
	"context"
	"encoding/binary"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/processor/agentcostprocessor/internal/metadata"
)

var storageID = component.MustNewID("file_storage")

// newFileStorage is a started file_storage extension on dir (fsync off, as
// by default), shut down at the end of the test.
func newFileStorage(t testing.TB, dir string) extension.Extension {
	t.Helper()
	return newFileStorageSync(t, dir, false)
}

func newFileStorageSync(t testing.TB, dir string, fsync bool) extension.Extension {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	cfg.FSync = fsync
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext
}

// recordingNext is a flakyNext that also keeps every batch it accepts.
type recordingNext struct {
	*flakyNext
	mu  sync.Mutex
	got []ptrace.Traces
}

func (r *recordingNext) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if err := r.flakyNext.ConsumeTraces(ctx, td); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := ptrace.NewTraces()
	td.CopyTo(cp)
	r.got = append(r.got, cp)
	return nil
}

// span is the delivered span with id 7:id (fails when not exactly once).
func (r *recordingNext) span(t *testing.T, id byte) ptrace.Span {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var found []ptrace.Span
	for _, td := range r.got {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					if sp.SpanID() == (pcommon.SpanID{7: id}) {
						found = append(found, sp)
					}
				}
			}
		}
	}
	require.Len(t, found, 1, "span %d delivered once", id)
	return found[0]
}

// newStorageRig is a processor with a budget accruer, self-metrics and
// hold.storage on ext (the processor's own ID is the default one, so a
// second rig on the same directory reads the first one's records).
func newStorageRig(t *testing.T, cfg *Config, next *flakyNext, c consumer.Traces, ext component.Component) *retryRig {
	t.Helper()
	budget := component.MustNewID("agentcost_budget")
	cfg.Budget = &budget
	cfg.Hold.Storage = &storageID
	if c == nil {
		c = next
	}
	r := &retryRig{next: next, acc: &fakeAccruer{}, tel: componenttest.NewTelemetry()}
	t.Cleanup(func() { require.NoError(t, r.tel.Shutdown(context.Background())) })
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = r.tel.NewTelemetrySettings()
	p, err := NewFactory().CreateTraces(context.Background(), set, cfg, c)
	require.NoError(t, err)
	r.p = p
	host := hostWithExtensions{componenttest.NewNopHost(), map[component.ID]component.Component{budget: r.acc, storageID: ext}}
	require.NoError(t, p.Start(context.Background(), host))
	return r
}

func (r *retryRig) inner() *agentcostProcessor { return r.p.(*committingTraces).p }

// records are the keys of the processor's hold.storage records.
func (r *retryRig) records(t *testing.T) []string {
	t.Helper()
	return walkKeys(t, r.inner().store.walker)
}

func walkKeys(t testing.TB, w storage.Walker) []string {
	t.Helper()
	var keys []string
	require.NoError(t, w.Walk(context.Background(), func(k string, _ []byte) ([]*storage.Operation, error) {
		keys = append(keys, k)
		return nil, nil
	}))
	sort.Strings(keys)
	return keys
}

// storedKeys opens the processor's storage on ext (while no processor
// has it open) and lists its records.
func storedKeys(t *testing.T, ext component.Component) []string {
	t.Helper()
	c, err := ext.(storage.Extension).GetClient(context.Background(), component.KindProcessor, component.NewID(metadata.Type), holdStorageName)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close(context.Background())) }()
	return walkKeys(t, c.(storage.Walker))
}

// crash abandons a processor as a SIGKILL would: no Shutdown, no flush;
// its release goroutine stops and its storage client is closed (the
// process's death releases the bbolt file lock).
func (r *retryRig) crash(t *testing.T) {
	t.Helper()
	p := r.inner()
	p.cancel()
	<-p.done
	require.NoError(t, p.store.client.Close(context.Background()))
}

// A span held with storage survives a crash: a new processor on the same
// directory restores it, drops the client's retry of the batch that held
// it (not acknowledged before the crash), and releases it downstream once,
// as received plus the stamped attributes, with the agent that arrives
// later; its record is then deleted.
func TestHoldStorageCrashRestore(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	first := newStorageRig(t, cfg, newFlakyNext(0), nil, newFileStorage(t, dir))
	sent := chatTrace(1, 2, 1, "")
	sent.ResourceSpans().At(0).ScopeSpans().At(0).Scope().SetName("my.instrumentation")
	orig := ptrace.NewTraces()
	sent.CopyTo(orig)
	require.NoError(t, first.p.ConsumeTraces(context.Background(), sent)) // held, acknowledged
	require.Equal(t, []string{heldKey(1)}, first.records(t))
	first.crash(t)

	cfg = testConfig(t)
	cfg.Hold.Wait = time.Hour
	next := &recordingNext{flakyNext: newFlakyNext(0)}
	ext := newFileStorage(t, dir)
	second := newStorageRig(t, cfg, next.flakyNext, next, ext)
	assert.EqualValues(t, 1, second.counter("agentcost_spans_restored"))
	assert.EqualValues(t, 1, second.counter("agentcost_spans_held_current"))
	require.Equal(t, []string{heldKey(1)}, second.records(t))

	// The client's retry of a batch it saw acknowledged or not: a duplicate.
	require.NoError(t, second.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 1, "")))
	assert.EqualValues(t, 1, second.counter("agentcost_spans_duplicate"))
	assert.Equal(t, []string{heldKey(1)}, second.records(t), "no second record")
	assert.Zero(t, second.next.delivered(2))

	require.NoError(t, second.p.ConsumeTraces(context.Background(), invokeAgentTrace(1, 1))) // the agent
	assert.Equal(t, 1, second.next.delivered(2))
	assert.Empty(t, second.records(t), "record deleted once the release was accepted")
	assert.EqualValues(t, 1, second.counter("agentcost_spans_released"))
	assert.Equal(t, 1, second.charges())
	require.NoError(t, second.p.Shutdown(context.Background()))
	assert.Equal(t, 1, second.next.delivered(2), "delivered exactly once")
	assert.Empty(t, storedKeys(t, ext))

	got := next.span(t, 2)
	want := orig.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	assert.Equal(t, "a", got.Attributes().AsRaw()[attrs.AgentID])
	assert.Equal(t, attrs.IdentityInherited, got.Attributes().AsRaw()[attrs.IdentityStatus])
	assert.Equal(t, attrs.StatusPriced, got.Attributes().AsRaw()[attrs.CostStatus])
	assert.Equal(t, want.Name(), got.Name())
	assert.Equal(t, want.TraceID(), got.TraceID())
	assert.Equal(t, want.ParentSpanID(), got.ParentSpanID())
	assert.Equal(t, want.StartTimestamp(), got.StartTimestamp())
	for k, v := range want.Attributes().All() {
		gv, ok := got.Attributes().Get(k)
		require.True(t, ok, k)
		assert.True(t, v.Equal(gv), k)
	}
	next.mu.Lock()
	defer next.mu.Unlock()
	for _, td := range next.got {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				if ss.Spans().At(0).SpanID() == (pcommon.SpanID{7: 2}) {
					assert.Equal(t, "svc", rs.Resource().Attributes().AsRaw()["service.name"])
					assert.Equal(t, "my.instrumentation", ss.Scope().Name())
				}
			}
		}
	}
}

// Records follow the batches: a refused batch leaves no record of its
// newly held span, its accepted retry writes one, a refused release keeps
// it, an accepted release deletes it.
func TestHoldStorageFollowsDownstream(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	r := newStorageRig(t, cfg, newFlakyNext(1), nil, newFileStorage(t, t.TempDir()))
	batch := func() ptrace.Traces {
		td := chatTrace(1, 2, 1, "") // held
		chatTrace(2, 3, 0, "x").ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		return td
	}
	require.ErrorIs(t, r.p.ConsumeTraces(context.Background(), batch()), errRefused)
	assert.Empty(t, r.records(t), "a refused batch holds nothing, stores nothing")
	require.NoError(t, r.p.ConsumeTraces(context.Background(), batch())) // the client's retry
	assert.Len(t, r.records(t), 1)

	r.next.setFail(1)
	require.ErrorIs(t, r.p.ConsumeTraces(context.Background(), invokeAgentTrace(1, 1)), errRefused)
	assert.Len(t, r.records(t), 1, "a refused release keeps the record")
	require.NoError(t, r.p.ConsumeTraces(context.Background(), invokeAgentTrace(1, 1)))
	assert.Empty(t, r.records(t), "an accepted release deletes it")
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.Equal(t, 1, r.next.delivered(2))
	assert.Zero(t, r.counter("agentcost_hold_storage_errors"))
}

// A timed-out release: refused (record kept, with the identity found so
// far), then accepted (record deleted).
func TestHoldStorageTimedOutRelease(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = 20 * time.Millisecond
	r := newStorageRig(t, cfg, newFlakyNext(0), nil, newFileStorage(t, t.TempDir()))
	r.next.setFail(2)
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 1, "")))
	require.Eventually(t, func() bool { return r.next.delivered(2) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(r.records(t)) == 0 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.EqualValues(t, 1, r.counter("agentcost_spans_timed_out"))
}

// A span dropped after the retry window loses its record too.
func TestHoldStorageDroppedDeleted(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = 20 * time.Millisecond
	r := newStorageRig(t, cfg, newFlakyNext(-1), nil, newFileStorage(t, t.TempDir()))
	r.inner().hold.retryFor = 100 * time.Millisecond
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 1, "")))
	require.Eventually(t, func() bool { return r.counter("agentcost_spans_dropped") == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Empty(t, r.records(t))
	require.NoError(t, r.p.Shutdown(context.Background()))
}

// failingStorage wraps a real storage extension; its clients fail Batch
// while fail is set (Get, Set, Delete and Walk go to the real client).
type failingStorage struct {
	storage.Extension
	fail atomic.Bool
}

var errDiskFull = errors.New("disk full")

func (f *failingStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := f.Extension.GetClient(ctx, kind, id, name)
	if err != nil {
		return nil, err
	}
	return &failingClient{Client: c, Walker: c.(storage.Walker), fail: &f.fail}, nil
}

type failingClient struct {
	storage.Client
	storage.Walker
	fail *atomic.Bool
}

func (c *failingClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if c.fail.Load() {
		return errDiskFull
	}
	return c.Client.Batch(ctx, ops...)
}

// A storage write failure refuses the batch with a retryable error:
// nothing goes downstream, nothing is held; the retry succeeds.
func TestHoldStorageWriteFailureRefusesBatch(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	fs := &failingStorage{Extension: newFileStorage(t, t.TempDir()).(storage.Extension)}
	r := newStorageRig(t, cfg, newFlakyNext(0), nil, fs)
	batch := func() ptrace.Traces {
		td := chatTrace(1, 2, 1, "") // held
		chatTrace(2, 3, 0, "x").ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		return td
	}
	fs.fail.Store(true)
	err := r.p.ConsumeTraces(context.Background(), batch())
	require.ErrorIs(t, err, errDiskFull)
	assert.ErrorContains(t, err, "`hold.storage`")
	assert.False(t, consumererror.IsPermanent(err), "the client retries")
	assert.Zero(t, r.next.calls, "nothing sent downstream")
	assert.False(t, r.inner().hold.active(), "nothing held")
	assert.Zero(t, r.counter("agentcost_spans_held"))
	assert.EqualValues(t, 1, r.counter("agentcost_hold_storage_errors"))
	assert.Zero(t, r.charges())

	fs.fail.Store(false)
	require.NoError(t, r.p.ConsumeTraces(context.Background(), batch()))
	assert.Len(t, r.records(t), 1)
	assert.Equal(t, 1, r.next.delivered(3))
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.Equal(t, 1, r.next.delivered(2))
	assert.Equal(t, 2, r.charges())
}

// A failed delete after acceptance is counted and logged; the batch stands.
func TestHoldStorageDeleteFailureKeepsBatch(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	fs := &failingStorage{Extension: newFileStorage(t, t.TempDir()).(storage.Extension)}
	r := newStorageRig(t, cfg, newFlakyNext(0), nil, fs)
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 1, "")))
	fs.fail.Store(true)
	require.NoError(t, r.p.ConsumeTraces(context.Background(), invokeAgentTrace(1, 1)))
	assert.Equal(t, 1, r.next.delivered(2))
	assert.EqualValues(t, 1, r.counter("agentcost_hold_storage_errors"))
	fs.fail.Store(false)
	assert.Len(t, r.records(t), 1, "left behind by the failed delete")
	require.NoError(t, r.p.Shutdown(context.Background()))
}

// At shutdown, spans downstream still refuses stay in storage (not
// dropped, no error) and come back at the next start.
func TestHoldStorageShutdownKeepsRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	ext := newFileStorage(t, dir)
	r := newStorageRig(t, cfg, newFlakyNext(-1), nil, ext)
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 1, "")))
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(2, 3, 1, "")))
	require.NoError(t, r.p.Shutdown(context.Background()), "nothing lost: no error")
	assert.Equal(t, shutdownAttempts, r.next.calls)
	assert.Zero(t, r.counter("agentcost_spans_dropped"))
	assert.Zero(t, r.counter("agentcost_spans_held_current"))
	assert.Equal(t, []string{heldKey(1), heldKey(2)}, storedKeys(t, ext))

	cfg = testConfig(t)
	cfg.Hold.Wait = 20 * time.Millisecond
	again := newStorageRig(t, cfg, newFlakyNext(0), nil, ext)
	assert.EqualValues(t, 2, again.counter("agentcost_spans_restored"))
	require.Eventually(t, func() bool { return again.next.delivered(2) == 1 && again.next.delivered(3) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, again.p.Shutdown(context.Background()))
	assert.Equal(t, 1, again.next.delivered(2))
	assert.Equal(t, 1, again.next.delivered(3))
	assert.Equal(t, 2, again.charges())
	assert.Empty(t, storedKeys(t, ext))
}

// Restored spans beyond the hold bounds are sent on the first tick.
func TestHoldStorageRestoreBeyondBounds(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	ext := newFileStorage(t, dir)
	r := newStorageRig(t, cfg, newFlakyNext(0), nil, ext)
	for i := byte(1); i <= 3; i++ {
		require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(i, 2, 1, "")))
	}
	r.crash(t)

	cfg = testConfig(t)
	cfg.Hold.Wait = time.Hour
	cfg.Hold.MaxTraces = 1
	again := newStorageRig(t, cfg, newFlakyNext(0), nil, ext)
	assert.EqualValues(t, 3, again.counter("agentcost_spans_restored"))
	require.Eventually(t, func() bool { return again.counter("agentcost_spans_timed_out") == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Len(t, again.records(t), 1, "the one within bounds waits")
	require.NoError(t, again.p.Shutdown(context.Background()))
	assert.Equal(t, 3, again.next.delivered(2), "one span per trace")
	assert.Empty(t, storedKeys(t, ext))
}

// Records that do not decode are logged, deleted and counted; the valid
// one is restored and the key sequence continues above it.
func TestHoldStorageCorruptRecords(t *testing.T) {
	ext := newFileStorage(t, t.TempDir())
	c, err := ext.(storage.Extension).GetClient(context.Background(), component.KindProcessor, component.NewID(metadata.Type), holdStorageName)
	require.NoError(t, err)
	td := chatTrace(1, 2, 1, "")
	good, err := encodeHeld(&heldSpan{td: td, fallbackID: "svc"})
	require.NoError(t, err)
	require.NoError(t, c.Batch(context.Background(),
		storage.SetOperation(heldKey(5), []byte{heldRecordVersion, 0, 200}), // truncated string
		storage.SetOperation(heldKey(6), []byte{99}),                        // unknown version
		storage.SetOperation(heldKey(7), good),
		storage.SetOperation("something-else", good),
	))
	require.NoError(t, c.Close(context.Background()))

	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	r := newStorageRig(t, cfg, newFlakyNext(0), nil, ext)
	assert.EqualValues(t, 3, r.counter("agentcost_hold_records_corrupt"))
	assert.EqualValues(t, 1, r.counter("agentcost_spans_restored"))
	assert.Equal(t, []string{heldKey(7)}, r.records(t))
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(2, 3, 1, "")))
	assert.Equal(t, []string{heldKey(7), heldKey(8)}, r.records(t), "the sequence continues above the highest key")
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.Equal(t, 1, r.next.delivered(2))
	assert.Equal(t, 1, r.next.delivered(3))
}

// TestHoldStorageDuplicateRecords: two records of one span (a refused
// batch whose record could not be deleted, then the accepted retry) restore
// one held span, and the second record is deleted.
func TestHoldStorageDuplicateRecords(t *testing.T) {
	ext := newFileStorage(t, t.TempDir())
	c, err := ext.(storage.Extension).GetClient(context.Background(), component.KindProcessor, component.NewID(metadata.Type), holdStorageName)
	require.NoError(t, err)
	rec, err := encodeHeld(&heldSpan{td: chatTrace(1, 2, 1, ""), fallbackID: "svc"})
	require.NoError(t, err)
	require.NoError(t, c.Batch(context.Background(),
		storage.SetOperation(heldKey(3), rec),
		storage.SetOperation(heldKey(4), rec),
	))
	require.NoError(t, c.Close(context.Background()))

	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	r := newStorageRig(t, cfg, newFlakyNext(0), nil, ext)
	assert.EqualValues(t, 1, r.counter("agentcost_spans_restored"))
	assert.Equal(t, []string{heldKey(3)}, r.records(t), "the first record kept, the second deleted")
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(2, 3, 1, "")))
	assert.Equal(t, []string{heldKey(3), heldKey(5)}, r.records(t), "the sequence continues above every key found")
	require.NoError(t, r.p.Shutdown(context.Background()))
	assert.Equal(t, 1, r.next.delivered(2), "the span is delivered once")
}

// TestHoldStorageArrivalTimeSurvivesCrash: a held span without start and
// end time is priced at the processor's clock when it arrived, also when it
// is released by the next process after a crash, so that a second release
// prices and stores it at the same time as the first would have.
func TestHoldStorageArrivalTimeSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	first := newStorageRig(t, cfg, newFlakyNext(0), nil, newFileStorage(t, dir))
	sent := chatTrace(1, 2, 1, "")
	sent.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetStartTimestamp(0)
	before := time.Now()
	require.NoError(t, first.p.ConsumeTraces(context.Background(), sent)) // held
	after := time.Now()
	first.crash(t)
	time.Sleep(20 * time.Millisecond) // the release happens measurably later

	next := &recordingNext{flakyNext: newFlakyNext(0)}
	second := newStorageRig(t, cfg, next.flakyNext, next, newFileStorage(t, dir))
	require.NoError(t, second.p.ConsumeTraces(context.Background(), invokeAgentTrace(1, 1)))
	released := time.Now()
	require.NoError(t, second.p.Shutdown(context.Background()))
	got := next.span(t, 2).Attributes().AsRaw()
	assert.Equal(t, attrs.PricingTimeProcessing, got[attrs.PricingTimeSource])
	at, ok := got[attrs.PricingTime].(int64)
	require.True(t, ok, "%v", got[attrs.PricingTime])
	assert.GreaterOrEqual(t, at, before.UnixNano())
	assert.LessOrEqual(t, at, after.UnixNano(), "priced at its arrival in the first process, not at the release (%d)", released.UnixNano())
}

// TestHeldRecordVersion1 reads a record written before the arrival time was
// kept (format version 1): the span comes back without an arrival.
func TestHeldRecordVersion1(t *testing.T) {
	hs := heldSpan{td: chatTrace(1, 2, 1, ""), fallbackID: "svc", ident: identity{agent: agentRef{id: "a"}, root: "r", status: statusInherited}}
	var m ptrace.ProtoMarshaler
	span, err := m.MarshalTraces(hs.td)
	require.NoError(t, err)
	b := []byte{heldRecordV1, statusInherited}
	for _, s := range []string{"svc", "a", "", "", "r"} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	got, err := decodeHeld(append(b, span...))
	require.NoError(t, err)
	assert.Equal(t, "svc", got.fallbackID)
	assert.Equal(t, "a", got.ident.agent.id)
	assert.Equal(t, "r", got.ident.root)
	assert.True(t, got.arrived.IsZero())
	assert.Equal(t, pcommon.SpanID{7: 2}, heldSpanID(&got))
}

// noWalkStorage hands out clients that cannot list their records.
type noWalkStorage struct{ storage.Extension }

func (n noWalkStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := n.Extension.GetClient(ctx, kind, id, name)
	if err != nil {
		return nil, err
	}
	return struct{ storage.Client }{c}, nil
}

func TestHoldStorageStartErrors(t *testing.T) {
	fs := newFileStorage(t, t.TempDir()).(storage.Extension)
	for name, tc := range map[string]struct {
		ext  map[component.ID]component.Component
		want string
	}{
		"missing":    {map[component.ID]component.Component{}, `extension "file_storage" is not configured`},
		"wrong type": {map[component.ID]component.Component{storageID: &notAnAccruer{}}, `extension "file_storage" is not a storage extension`},
		"no walk":    {map[component.ID]component.Component{storageID: noWalkStorage{fs}}, "storage.Walker"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Hold.Storage = &storageID
			p := newTestProcessor(t, cfg, new(consumertest.TracesSink))
			err := p.Start(context.Background(), hostWithExtensions{componenttest.NewNopHost(), tc.ext})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "`hold.storage`")
			assert.Contains(t, err.Error(), tc.want)
			require.NoError(t, p.Shutdown(context.Background()))
		})
	}
	// The no-walk client was closed: the file can be opened again.
	c, err := fs.GetClient(context.Background(), component.KindProcessor, component.NewID(metadata.Type), holdStorageName)
	require.NoError(t, err)
	require.NoError(t, c.Close(context.Background()))
}

func TestHeldRecordRoundTrip(t *testing.T) {
	td := chatTrace(3, 4, 9, "")
	in := heldSpan{
		td: td, fallbackID: "svc",
		ident: identity{agent: agentRef{id: "a", name: "Agent A", version: "v2"}, root: "r", status: statusInherited},
	}
	b, err := encodeHeld(&in)
	require.NoError(t, err)
	require.Equal(t, heldRecordVersion, b[0])
	out, err := decodeHeld(b)
	require.NoError(t, err)
	assert.Equal(t, in.ident, out.ident)
	assert.Equal(t, "svc", out.fallbackID)
	assert.Equal(t, pcommon.TraceID{15: 3}, out.trace)
	assert.Equal(t, pcommon.SpanID{7: 9}, out.parent)
	assert.Equal(t, pcommon.SpanID{7: 4}, heldSpanID(&out))
	assert.Equal(t, td, out.td)
	for i := range b {
		_, err := decodeHeld(b[:i])
		require.ErrorIs(t, err, errBadRecord, "truncated at %d", i)
	}
}

func TestHeldKey(t *testing.T) {
	assert.Equal(t, "held/00000000000000ff", heldKey(255))
	assert.Equal(t, "held/ffffffffffffffff", heldKey(^uint64(0)))
	for _, seq := range []uint64{1, 255, 1 << 40, ^uint64(0)} {
		got, ok := parseHeldKey(heldKey(seq))
		assert.True(t, ok)
		assert.Equal(t, seq, got)
	}
	for _, k := range []string{"held/0000000000000000", "held/xyz", "held/00000000000000ff0", "other/00000000000000ff", ""} {
		_, ok := parseHeldKey(k)
		assert.False(t, ok, k)
	}
}

// FuzzDecodeHeld feeds arbitrary bytes to the record decoder: it must
// return a span or an error, never panic.
//
//	go test ./processor/agentcostprocessor -run '^$' -fuzz FuzzDecodeHeld -fuzztime 30s
func FuzzDecodeHeld(f *testing.F) {
	good, err := encodeHeld(&heldSpan{td: chatTrace(1, 2, 1, ""), fallbackID: "svc", ident: identity{agent: agentRef{id: "a"}, status: statusInherited}})
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{heldRecordVersion, 0, 3, 's', 'v', 'c', 0, 0, 0, 0})
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		hs, err := decodeHeld(b)
		if err != nil {
			require.ErrorIs(t, err, errBadRecord)
			return
		}
		require.NotEmpty(t, hs.fallbackID)
		require.Equal(t, 1, hs.td.SpanCount())
		_ = heldSpanID(&hs)
		// What decodes encodes again.
		_, err = encodeHeld(&hs)
		require.NoError(t, err)
	})
}

// The identity found for a held span whose timed-out release downstream
// refused is recorded: after a crash the restored span is released with
// it, although the ancestry that gave it (a plain span and the agent
// span, remembered only in memory) is gone.
func TestHoldStorageRecordsIdentityFound(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.Hold.Wait = 200 * time.Millisecond
	ext := newFileStorage(t, dir)
	r := newStorageRig(t, cfg, newFlakyNext(0), nil, ext)
	require.NoError(t, r.p.ConsumeTraces(context.Background(), chatTrace(1, 2, 5, ""))) // held
	require.NoError(t, r.p.ConsumeTraces(context.Background(), agentBelowMissingTop())) // still held: the top is missing
	r.next.setFail(-1)
	calls := func() int {
		r.next.mu.Lock()
		defer r.next.mu.Unlock()
		return r.next.calls
	}
	// The agent batch, then two refused releases: the first one's record
	// update is done when the second is sent (one release goroutine).
	require.Eventually(t, func() bool { return calls() >= 3 }, 5*time.Second, 5*time.Millisecond, "the timed-out release refused")
	r.crash(t)

	cfg = testConfig(t)
	cfg.Hold.Wait = 20 * time.Millisecond
	again := newStorageRig(t, cfg, newFlakyNext(0), nil, ext)
	require.Eventually(t, func() bool { return again.next.delivered(2) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, again.p.Shutdown(context.Background()))
	again.next.mu.Lock()
	defer again.next.mu.Unlock()
	assert.Equal(t, "a", again.next.agent[pcommon.SpanID{7: 2}], "the identity recorded before the crash")
	assert.Empty(t, storedKeys(t, ext))
}

// Concurrent batches, refusals and timed-out releases with storage (run
// with -race): every span is delivered once and no record is left.
func TestHoldStorageConcurrent(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = 20 * time.Millisecond
	ext := newFileStorage(t, t.TempDir())
	next := newFlakyNext(0)
	r := newStorageRig(t, cfg, next, &everyNth{flakyNext: next, n: 7}, ext)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				trace := byte(g*50 + i + 1)
				for {
					td := chatTrace(trace, 2, 1, "") // held
					if i%2 == 1 {
						invokeAgentTrace(trace-1, 1).ResourceSpans().MoveAndAppendTo(td.ResourceSpans()) // releases the previous one
					}
					if r.p.ConsumeTraces(context.Background(), td) == nil {
						break // refused: the client retries
					}
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, r.p.Shutdown(context.Background()))
	next.mu.Lock()
	defer next.mu.Unlock()
	require.Len(t, next.spans, 1, "one span id (7:2) in every trace")
	assert.Equal(t, 200, next.spans[pcommon.SpanID{7: 2}], "each trace's call delivered once")
	assert.Empty(t, storedKeys(t, ext))
	assert.Zero(t, r.counter("agentcost_spans_dropped"))
}

// everyNth refuses every nth batch, then passes on to flakyNext.
type everyNth struct {
	*flakyNext
	n     int
	count atomic.Int64
}

func (e *everyNth) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if e.count.Add(1)%int64(e.n) == 0 {
		return errRefused
	}
	return e.flakyNext.ConsumeTraces(ctx, td)
}
