package agentcostclickhouseexporter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/go-faster/city"
	"go.uber.org/zap"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/schema"
)

// Spans already stored (skip_stored_spans).
//
// The insert deduplication token recognises a batch sent again as it was
// (insert.go). Two cases bring stored spans back in a batch never seen
// before: a persistent sending queue with batching replays, after a crash,
// requests that were written but not yet marked done, merged with other
// requests into a different batch; and a client resends a request whose
// answer it lost, which the queue may batch with others. Before each insert
// the exporter sends the batch's keys (event_time, span_key) as an external
// table, asks cost_event_keys (migration 0007, fed by a view from every
// cost_events insert) which of them are stored, and leaves those rows out,
// as well as rows whose key repeats an earlier row of the same batch. Rows
// without a trace or span id cannot be recognised and are always inserted.
//
// span_key is cityHash64 of the hex trace id followed by the hex span id,
// the same function the view applies to the stored strings (ClickHouse's
// CityHash64 variant, github.com/go-faster/city CH64).
//
// The token of a batch that lost rows is the batch's digest followed by the
// positions left out: a retry of the same batch that finds the same rows
// stored sends the same token, so a first attempt still in flight (not yet
// visible to the lookup) is deduplicated by the server as before.

// batchKeysTable is the external table that carries the batch's keys.
const batchKeysTable = "_agentcost_batch"

// storedSpansQuery selects the keys of the batch that cost_event_keys holds.
func storedSpansQuery(o schema.Options) string {
	return "SELECT `event_time`, `span_key` FROM " + o.Table(schema.KeysTable) +
		" WHERE (`event_time`, `span_key`) IN (SELECT `event_time`, `span_key` FROM " +
		schema.Quote(batchKeysTable) + ")"
}

// spanKey identifies a cost row's span: its span_key and event_time.
type spanKey struct {
	hash uint64
	time int64 // event_time, Unix nanoseconds
}

// spanKeyHash is the span_key of hex ids trace and span, computed in buf
// (returned for reuse) without allocating.
func spanKeyHash(buf []byte, trace, span string) (uint64, []byte) {
	buf = append(append(buf[:0], trace...), span...)
	return city.CH64(buf), buf
}

// skipStored removes from r the rows whose span is already stored or
// repeats an earlier row of the batch, and returns how many it removed.
// Before its lookup it claims the batch's keys (e.inflight), waiting for any
// other batch of this exporter that carries one of them to finish its
// insert; the caller releases the claim (e.inflight.release(r)) once its
// insert has ended, whatever the outcome. When the lookup cannot be used
// (lookupUnusable) the batch goes on without it.
func (e *costExporter) skipStored(ctx context.Context, conn driver.Conn, r *rows) (int, error) {
	n := r.len()
	if r.seen == nil {
		r.seen = make(map[spanKey]int, n)
	}
	clear(r.seen)
	r.drop = resize(r.drop, n)
	clear(r.drop)
	r.keyTimes, r.keyHashes, r.claimKeys = r.keyTimes[:0], r.keyHashes[:0], r.claimKeys[:0]
	removed := 0
	var h uint64
	for i := 0; i < n; i++ {
		if r.traceID[i] == "" || r.spanID[i] == "" {
			continue
		}
		h, r.keyBuf = spanKeyHash(r.keyBuf, r.traceID[i], r.spanID[i])
		k := spanKey{h, r.eventTime[i].UnixNano()}
		if _, dup := r.seen[k]; dup {
			r.drop[i] = true
			removed++
			continue
		}
		r.seen[k] = i
		r.keyTimes = append(r.keyTimes, r.eventTime[i])
		r.keyHashes = append(r.keyHashes, h)
		r.claimKeys = append(r.claimKeys, k)
	}
	if len(r.claimKeys) > 0 {
		done, err := e.inflight.claim(ctx, r.claimKeys)
		if err != nil {
			return 0, fmt.Errorf("wait for a batch with the same spans: %w", err)
		}
		r.claimed = done
		stored, err := e.lookupStored(ctx, conn, r)
		switch {
		case err == nil:
			removed += stored
		case !e.lookupUnusable(err):
			return 0, err
		}
	}
	if removed > 0 {
		r.compact()
	}
	return removed, nil
}

// lookupStored asks ClickHouse which of the keys in r.keyTimes/r.keyHashes
// are stored, marks their rows in r.drop and returns how many it marked.
func (e *costExporter) lookupStored(ctx context.Context, conn driver.Conn, r *rows) (int, error) {
	tbl, err := ext.NewTable(batchKeysTable,
		ext.Column("event_time", "DateTime64(9, 'UTC')"),
		ext.Column("span_key", "UInt64"),
	)
	if err != nil {
		return 0, fmt.Errorf("stored spans lookup: %w", err)
	}
	cols := tbl.Block().Columns
	if _, err := cols[0].Append(r.keyTimes); err != nil {
		return 0, fmt.Errorf("stored spans lookup: %w", err)
	}
	if _, err := cols[1].Append(r.keyHashes); err != nil {
		return 0, fmt.Errorf("stored spans lookup: %w", err)
	}
	res, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(tbl)), e.storedSQL)
	if err != nil {
		return 0, fmt.Errorf("look up stored spans: %w", err)
	}
	defer res.Close()
	marked := 0
	var (
		t time.Time
		h uint64
	)
	for res.Next() {
		if err := res.Scan(&t, &h); err != nil {
			return 0, fmt.Errorf("look up stored spans: %w", err)
		}
		if i, ok := r.seen[spanKey{h, t.UnixNano()}]; ok && !r.drop[i] {
			r.drop[i] = true
			marked++
		}
	}
	if err := res.Err(); err != nil {
		return 0, fmt.Errorf("look up stored spans: %w", err)
	}
	return marked, nil
}

// compact removes the rows marked in r.drop from every column and adds
// their positions to the batch digest (see the token rule above).
func (r *rows) compact() {
	var pos [4]byte
	_, _ = r.digest.Write([]byte("skip"))
	for i, d := range r.drop[:r.len()] {
		if d {
			binary.LittleEndian.PutUint32(pos[:], uint32(i))
			_, _ = r.digest.Write(pos[:])
		}
	}
	drop := r.drop[:r.len()]
	r.eventTime = compactSlice(r.eventTime, drop)
	r.traceID = compactSlice(r.traceID, drop)
	r.spanID = compactSlice(r.spanID, drop)
	r.parentSpanID = compactSlice(r.parentSpanID, drop)
	r.serviceName = compactSlice(r.serviceName, drop)
	r.environment = compactSlice(r.environment, drop)
	for i := range r.str {
		r.str[i] = compactSlice(r.str[i], drop)
	}
	for i := range r.tokens {
		r.tokens[i] = compactSlice(r.tokens[i], drop)
	}
	for i := range r.costs {
		r.costs[i] = compactSlice(r.costs[i], drop)
		r.costsHi[i] = compactSlice(r.costsHi[i], drop)
	}
	r.durationNs = compactSlice(r.durationNs, drop)
	r.isError = compactSlice(r.isError, drop)
	r.extra = compactSlice(r.extra, drop)
}

// compactSlice keeps the elements of s whose drop flag is false, in order,
// and clears the tail.
func compactSlice[T any](s []T, drop []bool) []T {
	kept := s[:0]
	for i, v := range s {
		if !drop[i] {
			kept = append(kept, v)
		}
	}
	clear(s[len(kept):])
	return kept
}

// lookupUnusable reports whether err says the lookup can never work as
// configured: the keys table is missing (create_schema off and migration
// 0007 not applied), has another shape, or the user may not read it (an
// error that classify would call permanent, or ACCESS_DENIED). The batch is
// then inserted without the lookup, so nothing is lost, and the first time
// an error says why; later batches try again, so fixing the schema or the
// grants turns the lookup back on. Other errors (connection, timeout) fail
// the batch, which exporterhelper retries.
func (e *costExporter) lookupUnusable(err error) bool {
	var exc *clickhouse.Exception
	if !errors.As(err, &exc) {
		return false
	}
	if _, permanent := permanentCodes[exc.Code]; !permanent && exc.Code != codeAccessDenied {
		return false
	}
	if !e.noKeysWarned.Swap(true) {
		e.logger.Error("skip_stored_spans: the stored-spans lookup fails; inserting without it until it works (apply the schema migrations with create_schema: true, grant SELECT on the keys table, or set skip_stored_spans: false)",
			zap.String("table", e.schema.Table(schema.KeysTable)), zap.Int32("code", exc.Code), zap.Error(err))
	}
	return true
}

// codeAccessDenied is ClickHouse's ACCESS_DENIED error code.
const codeAccessDenied = 497

// inflight holds the span keys of this exporter's batches that are between
// their lookup and the end of their insert. Two batches carrying the same
// span (a client's resend beside its original, with two queue consumers)
// would otherwise both look it up before either inserts it, and both write
// it: the second waits for the first, then looks up.
type inflight struct {
	mu   sync.Mutex
	keys map[spanKey]chan struct{}
}

// claim takes every key of keys for the caller, first waiting (without
// holding any key, so two batches never wait for each other) until none is
// held by another batch. The returned channel is passed to release.
func (f *inflight) claim(ctx context.Context, keys []spanKey) (chan struct{}, error) {
	for {
		f.mu.Lock()
		if f.keys == nil {
			f.keys = make(map[spanKey]chan struct{})
		}
		var busy chan struct{}
		for _, k := range keys {
			if ch, ok := f.keys[k]; ok {
				busy = ch
				break
			}
		}
		if busy == nil {
			done := make(chan struct{})
			for _, k := range keys {
				f.keys[k] = done
			}
			f.mu.Unlock()
			return done, nil
		}
		f.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// release gives back the keys r claimed, if it claimed any.
func (f *inflight) release(r *rows) {
	if r.claimed == nil {
		return
	}
	f.mu.Lock()
	for _, k := range r.claimKeys {
		if f.keys[k] == r.claimed {
			delete(f.keys, k)
		}
	}
	f.mu.Unlock()
	close(r.claimed)
	r.claimed = nil
}
