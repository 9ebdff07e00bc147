package agentcostprocessor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/agentcost/agentcost/processor/agentcostprocessor/internal/metadata"
)

// Durable hold (`hold.storage`). A held span lives in memory, but the batch
// that held it has been acknowledged to the client: a crash would lose it.
// With a storage extension configured every held span is also a record in
// the extension's storage:
//
//   - the records of a batch's newly held spans are written, in one storage
//     Batch call, before the batch goes downstream; a failed write refuses
//     the batch (a retryable error: nothing sent, nothing held);
//   - they are deleted again when downstream refuses the batch, and when the
//     span's release has been accepted downstream (or the span is dropped
//     after releaseRetryFor or a permanent error);
//   - spans still refused downstream at shutdown stay in storage (they are
//     not dropped);
//   - at start every record is loaded and its span held again.
//
// A client's retry of a batch that was not acknowledged before a crash
// brings spans whose records were already written: they are recognised
// (by trace and span id) and removed from the batch, so the restored copy
// is the only one delivered. A crash between the acceptance of a release
// and the deletion of its record delivers that span again after restart
// (a window of one storage call).

// holdStorageName is the storage name the processor asks its extension for.
const holdStorageName = "hold"

// heldKeyPrefix starts every record key; the rest is the record's sequence
// number as 16 hex digits.
const heldKeyPrefix = "held/"

// heldRecordVersion is the first byte of every record written;
// heldRecordV1 records (without the arrival time) are still read.
const (
	heldRecordVersion byte = 2
	heldRecordV1      byte = 1
)

// heldKey is the storage key of the record with sequence number seq.
func heldKey(seq uint64) string {
	b := make([]byte, 0, len(heldKeyPrefix)+16)
	b = append(b, heldKeyPrefix...)
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, "0123456789abcdef"[seq>>uint(shift)&0xf])
	}
	return string(b)
}

// parseHeldKey is the sequence number of a record key.
func parseHeldKey(key string) (uint64, bool) {
	hex, ok := strings.CutPrefix(key, heldKeyPrefix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || seq == 0 {
		return 0, false
	}
	return seq, true
}

// encodeHeld is the record of a held span (format version 2):
//
//	version byte (2)
//	identity status byte
//	arrival: uvarint Unix nanoseconds of the processor's clock when the
//	  span was received (0: unknown)
//	5 strings, each a uvarint length then the bytes: fallback agent id,
//	  agent id, agent name, agent version, root agent id
//	the span as received: the OTLP protobuf of its one-span ptrace.Traces
//
// Version 1 (written before the arrival was kept) is the same without the
// arrival; decodeHeld reads both. The trace and parent ids are read back
// from the span itself.
func encodeHeld(hs *heldSpan) ([]byte, error) {
	var m ptrace.ProtoMarshaler
	span, err := m.MarshalTraces(hs.td)
	if err != nil {
		return nil, fmt.Errorf("encode held span: %w", err)
	}
	strs := [...]string{hs.fallbackID, hs.ident.agent.id, hs.ident.agent.name, hs.ident.agent.version, hs.ident.root}
	n := 2 + binary.MaxVarintLen64 + len(span)
	for _, s := range strs {
		n += binary.MaxVarintLen64 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, heldRecordVersion, hs.ident.status)
	var arrived uint64
	if !hs.arrived.IsZero() && hs.arrived.UnixNano() > 0 {
		arrived = uint64(hs.arrived.UnixNano())
	}
	b = binary.AppendUvarint(b, arrived)
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, span...), nil
}

// errBadRecord is wrapped by every decoding error.
var errBadRecord = errors.New("bad held span record")

// decodeHeld reads a record written by encodeHeld. It never panics; b is
// not retained.
func decodeHeld(b []byte) (heldSpan, error) {
	var hs heldSpan
	if len(b) < 2 {
		return hs, fmt.Errorf("%w: %d bytes", errBadRecord, len(b))
	}
	version := b[0]
	if version != heldRecordV1 && version != heldRecordVersion {
		return hs, fmt.Errorf("%w: unknown version %d", errBadRecord, b[0])
	}
	if b[1] > statusFallback {
		return hs, fmt.Errorf("%w: unknown identity status %d", errBadRecord, b[1])
	}
	hs.ident.status = b[1]
	b = b[2:]
	if version >= 2 {
		ns, w := binary.Uvarint(b)
		if w <= 0 || ns > math.MaxInt64 {
			return hs, fmt.Errorf("%w: arrival time", errBadRecord)
		}
		if ns > 0 {
			hs.arrived = time.Unix(0, int64(ns)).UTC()
		}
		b = b[w:]
	}
	var strs [5]string
	for i := range strs {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return hs, fmt.Errorf("%w: string %d truncated", errBadRecord, i)
		}
		strs[i] = string(b[w : w+int(n)])
		b = b[w+int(n):]
	}
	if strs[0] == "" {
		return hs, fmt.Errorf("%w: empty fallback agent id", errBadRecord)
	}
	hs.fallbackID = strs[0]
	hs.ident.agent = agentRef{id: strs[1], name: strs[2], version: strs[3]}
	hs.ident.root = strs[4]
	var u ptrace.ProtoUnmarshaler
	td, err := u.UnmarshalTraces(bytes.Clone(b))
	if err != nil {
		return hs, fmt.Errorf("%w: span: %w", errBadRecord, err)
	}
	if td.ResourceSpans().Len() != 1 || td.ResourceSpans().At(0).ScopeSpans().Len() != 1 ||
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().Len() != 1 {
		return hs, fmt.Errorf("%w: not exactly one span", errBadRecord)
	}
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	hs.td, hs.trace, hs.parent = td, span.TraceID(), span.ParentSpanID()
	return hs, nil
}

// heldSpanID is the span id of a held span.
func heldSpanID(hs *heldSpan) pcommon.SpanID {
	return hs.td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SpanID()
}

// holdStore is the processor's client of its `hold.storage` extension.
type holdStore struct {
	client storage.Client
	walker storage.Walker
	logger *zap.Logger
	tb     *metadata.TelemetryBuilder
}

// openHoldStore finds the storage extension ext and opens the processor's
// client on it.
func openHoldStore(ctx context.Context, host component.Host, ext, self component.ID, logger *zap.Logger, tb *metadata.TelemetryBuilder) (*holdStore, error) {
	c, ok := host.GetExtensions()[ext]
	if !ok {
		return nil, fmt.Errorf("`hold.storage`: extension %q is not configured in the service", ext.String())
	}
	se, ok := c.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("`hold.storage`: extension %q is not a storage extension", ext.String())
	}
	client, err := se.GetClient(ctx, component.KindProcessor, self, holdStorageName)
	if err != nil {
		return nil, fmt.Errorf("`hold.storage`: open storage client on %q: %w", ext.String(), err)
	}
	w, ok := client.(storage.Walker)
	if !ok {
		_ = client.Close(ctx)
		return nil, fmt.Errorf("`hold.storage`: extension %q cannot list its records (its client does not implement storage.Walker); use `file_storage`", ext.String())
	}
	return &holdStore{client: client, walker: w, logger: logger, tb: tb}, nil
}

// write stores the records of spans newly held, in one storage call.
func (st *holdStore) write(ctx context.Context, spans []heldSpan) error {
	ops := make([]*storage.Operation, len(spans))
	for i := range spans {
		b, err := encodeHeld(&spans[i])
		if err != nil {
			return err
		}
		ops[i] = storage.SetOperation(heldKey(spans[i].key), b)
	}
	if err := st.client.Batch(ctx, ops...); err != nil {
		st.tb.AgentcostHoldStorageErrors.Add(ctx, 1)
		return fmt.Errorf("`hold.storage`: write %d held spans: %w", len(spans), err)
	}
	return nil
}

// update rewrites the records of spans whose identity was found (an
// ancestry that would be lost with a restart) before they are held again.
func (st *holdStore) update(ctx context.Context, spans []heldSpan) {
	var ops []*storage.Operation
	for i := range spans {
		hs := &spans[i]
		if hs.key == 0 || hs.ident.status != statusInherited {
			continue
		}
		b, err := encodeHeld(hs)
		if err != nil {
			continue // kept as first written
		}
		ops = append(ops, storage.SetOperation(heldKey(hs.key), b))
	}
	if len(ops) == 0 {
		return
	}
	if err := st.client.Batch(ctx, ops...); err != nil {
		st.tb.AgentcostHoldStorageErrors.Add(ctx, 1)
		st.logger.Warn("`hold.storage`: recording the identity found for held spans failed; a restart would release them with the fallback",
			zap.Int("records", len(ops)), zap.Error(err))
	}
}

// delete removes the records of spans (those with a key), in one storage
// call. A failure is logged and counted: the batch concerned has already
// been accepted (or refused) and its answer stands.
func (st *holdStore) delete(ctx context.Context, spans []heldSpan, after string) {
	var ops []*storage.Operation
	for i := range spans {
		if spans[i].key != 0 {
			ops = append(ops, storage.DeleteOperation(heldKey(spans[i].key)))
		}
	}
	st.deleteOps(ctx, ops, after)
}

func (st *holdStore) deleteKeys(ctx context.Context, keys []uint64, after string) {
	ops := make([]*storage.Operation, 0, len(keys))
	for _, k := range keys {
		ops = append(ops, storage.DeleteOperation(heldKey(k)))
	}
	st.deleteOps(ctx, ops, after)
}

func (st *holdStore) deleteOps(ctx context.Context, ops []*storage.Operation, after string) {
	if len(ops) == 0 {
		return
	}
	if err := st.client.Batch(ctx, ops...); err != nil {
		st.tb.AgentcostHoldStorageErrors.Add(ctx, 1)
		st.logger.Error("`hold.storage`: deleting held span records failed; after a restart their spans would be held and sent again",
			zap.Int("records", len(ops)), zap.String("after", after), zap.Error(err))
	}
}

// load reads every record. Records that do not decode (or whose key is not
// a record key) are logged, counted in corrupt and deleted in the same
// storage transaction. It returns the spans and the highest sequence number
// found.
func (st *holdStore) load(ctx context.Context) (spans []heldSpan, maxSeq uint64, corrupt int, err error) {
	// A span can have two records: a refused batch whose record could not
	// be deleted, then the client's accepted retry. The first record (the
	// walk is in key order: the oldest) is kept, the others deleted.
	seen := make(map[spanKey]struct{})
	err = st.walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		seq, ok := parseHeldKey(key)
		var hs heldSpan
		var derr error
		if !ok {
			derr = errors.New("not a held span record key")
		} else {
			hs, derr = decodeHeld(value)
		}
		if derr != nil {
			corrupt++
			st.logger.Warn("`hold.storage`: deleting a record that does not decode", zap.String("key", key), zap.Error(derr))
			return []*storage.Operation{storage.DeleteOperation(key)}, nil
		}
		maxSeq = max(maxSeq, seq)
		id := spanKey{hs.trace, heldSpanID(&hs)}
		if _, dup := seen[id]; dup {
			st.logger.Info("`hold.storage`: deleting a second record of a held span", zap.String("key", key))
			return []*storage.Operation{storage.DeleteOperation(key)}, nil
		}
		seen[id] = struct{}{}
		hs.key = seq
		spans = append(spans, hs)
		return nil, nil
	})
	if err != nil {
		return nil, 0, 0, err
	}
	return spans, maxSeq, corrupt, nil
}

func (st *holdStore) close(ctx context.Context) error {
	if err := st.client.Close(ctx); err != nil {
		return fmt.Errorf("`hold.storage`: close: %w", err)
	}
	return nil
}

// restore holds spans loaded from storage again, with a new wait and the
// identity recorded; it remembers their keys so that a client's retry of
// the batch that first held them is recognised. Spans beyond the hold
// bounds get an expired deadline: the first release tick sends them.
func (h *holder) restore(spans []heldSpan, maxSeq uint64, now time.Time) (overflow int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq = max(h.seq, maxSeq)
	if h.restored == nil {
		h.restored = make(map[spanKey]struct{}, len(spans))
	}
	for i := range spans {
		hs := spans[i]
		hs.deadline = now.Add(h.wait)
		if h.nSpans >= h.maxSpans || (h.traces[hs.trace] == nil && len(h.traces) >= h.maxTraces) {
			hs.deadline = time.Time{}
			overflow++
		}
		h.restored[spanKey{hs.trace, heldSpanID(&hs)}] = struct{}{}
		h.putBackLocked([]heldSpan{hs})
	}
	h.count.Store(int64(len(h.traces)))
	return overflow
}

// dropRestored marks the batch's billable spans that were restored from
// storage (the client's retry of a batch not acknowledged before a crash)
// as duplicates: the restored copy is the one delivered. h.restored is
// written only in Start.
func (h *holder) dropRestored(sc *scratch) {
	for i := range sc.spans {
		s := &sc.spans[i]
		if s.action != actStamp && s.action != actPending {
			continue
		}
		if _, ok := h.restored[spanKey{s.trace, s.id}]; !ok {
			continue
		}
		if s.action == actPending {
			sc.pending--
		}
		s.action = actDup
		sc.dups++
	}
}
