package agentcostclickhouseexporter

import (
	"context"
	"errors"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/consumer/consumererror"
)

// insertSettings are sent with every insert.
//
// Deduplication: a batch that exporterhelper retries (timeout, lost
// connection, server restart) may already have been written. Every insert
// carries insert_deduplication_token, a SHA-256 of the batch's rows (trace and
// span ids, start times, total costs), so the retry of the same batch is
// recognised by the server and dropped, and with
// deduplicate_blocks_in_dependent_materialized_views the rollups are not fed
// twice either. The tables keep the last 10000 block hashes
// (non_replicated_deduplication_window; replicated tables use Keeper's
// replicated_deduplication_window). A ReplacingMergeTree would collapse
// duplicate rows only at merge time and could not stop the materialized views
// from counting a retried batch twice, so it was not chosen.
//
// max_partitions_per_insert_block = 0 lets one batch span any number of
// months (partitions); each partition becomes one block with a derived token.
//
// optimize_on_insert = 0: the rollup tables are SummingMergeTree, whose
// writer would otherwise merge equal keys inside every inserted block. The
// views' GROUP BY already leaves one row per key and block, so that pass
// only costs server CPU (about 15 ms per 10k-row insert measured with the
// server's ProfileEvents, MergeTreeDataWriterMergingBlocksMicroseconds);
// the stored rows are the same, and readers always aggregate with sum().
func (e *costExporter) insertSettings(token string) clickhouse.Settings {
	s := clickhouse.Settings{
		"insert_deduplicate":                                 1,
		"insert_deduplication_token":                         token,
		"deduplicate_blocks_in_dependent_materialized_views": 1,
		"max_partitions_per_insert_block":                    0,
		"async_insert":                                       0,
		"optimize_on_insert":                                 0,
	}
	if e.schema.Cluster != "" {
		// Return only when every shard has the rows, so that a failed
		// insert is retried and a successful one is durable.
		s["distributed_foreground_insert"] = 1
	}
	return s
}

func (e *costExporter) insert(ctx context.Context, conn driver.Conn, r *rows) error {
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(e.insertSettings(r.token())))
	batch, err := conn.PrepareBatch(ctx, e.insertSQL)
	if err != nil {
		return fmt.Errorf("prepare insert: %w", err)
	}
	defer func() { _ = batch.Abort() }()
	names := insertColumns()
	col := 0
	appendCol := func(vals any) error {
		if err := batch.Column(col).Append(vals); err != nil {
			return fmt.Errorf("append column %q: %w", names[col], &conversionError{err})
		}
		col++
		return nil
	}
	// appendLC feeds a LowCardinality column row by row with interned
	// boxes: Append of a slice would reflect on every element.
	appendLC := func(k int, vals []string) error {
		c := batch.Column(col)
		for _, b := range r.boxed(k, vals) {
			if err := c.AppendRow(b); err != nil {
				return fmt.Errorf("append column %q: %w", names[col], &conversionError{err})
			}
		}
		col++
		return nil
	}
	if err := appendCol(r.eventTime); err != nil {
		return err
	}
	for _, ids := range [][]string{r.traceID, r.spanID, r.parentSpanID} {
		if err := appendCol(ids); err != nil {
			return err
		}
	}
	if err := appendLC(0, r.serviceName); err != nil {
		return err
	}
	if err := appendLC(1, r.environment); err != nil {
		return err
	}
	for i := range r.str {
		var err error
		if lowCardinality[i] {
			err = appendLC(i+2, r.str[i])
		} else {
			err = appendCol(r.str[i])
		}
		if err != nil {
			return err
		}
	}
	for i := range r.tokens {
		if err := appendCol(r.tokens[i]); err != nil {
			return err
		}
	}
	for i := range r.costs {
		if err := appendCol(r.costs[i]); err != nil {
			return err
		}
	}
	for i := range r.costsHi {
		if err := appendCol(r.costsHi[i]); err != nil {
			return err
		}
	}
	for _, c := range []any{r.durationNs, r.isError, r.extra} {
		if err := appendCol(c); err != nil {
			return err
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows: %w", r.len(), err)
	}
	return nil
}

// lowCardinality flags the strColumns that are LowCardinality(String).
var lowCardinality = func() [nStr]bool {
	var lc [nStr]bool
	for i, c := range strColumns {
		switch c.column {
		case "user_id", "conversation_id", "tool_call_hash":
		default:
			lc[i] = true
		}
	}
	return lc
}()

// maxInterned bounds the interned values kept between batches.
const maxInterned = 1 << 16

// boxed returns vals as interned interface values, one []any per column k
// (reused between batches). clickhouse-go's LowCardinality column stores any
// values; boxing each string would allocate once per value, a shared box
// costs nothing. Consecutive rows usually repeat a column's value (spans of
// one trace, one agent), so the previous value is checked before the map.
func (r *rows) boxed(k int, vals []string) []any {
	if r.interned == nil || len(r.interned) > maxInterned {
		r.interned = make(map[string]any, 1024)
	}
	if cap(r.boxes[k]) < len(vals) {
		r.boxes[k] = make([]any, len(vals))
	}
	out := r.boxes[k][:len(vals)]
	var last string
	var lastBox any
	for i, v := range vals {
		if lastBox != nil && v == last {
			out[i] = lastBox
			continue
		}
		b, ok := r.interned[v]
		if !ok {
			b = v
			r.interned[v] = b
		}
		out[i] = b
		last, lastBox = v, b
	}
	return out
}

// conversionError marks a client-side column conversion failure: the data
// does not fit the table and never will.
type conversionError struct{ err error }

func (c *conversionError) Error() string { return c.err.Error() }
func (c *conversionError) Unwrap() error { return c.err }

// permanentCodes are ClickHouse error codes that say the data or the schema
// is wrong: retrying the same batch cannot succeed.
var permanentCodes = map[int32]string{
	6:   "CANNOT_PARSE_TEXT",
	16:  "NO_SUCH_COLUMN_IN_TABLE",
	27:  "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
	36:  "BAD_ARGUMENTS",
	41:  "CANNOT_PARSE_DATETIME",
	43:  "ILLEGAL_TYPE_OF_ARGUMENT",
	44:  "ILLEGAL_COLUMN",
	47:  "UNKNOWN_IDENTIFIER",
	53:  "TYPE_MISMATCH",
	60:  "UNKNOWN_TABLE",
	62:  "SYNTAX_ERROR",
	69:  "ARGUMENT_OUT_OF_BOUND",
	70:  "CANNOT_CONVERT_TYPE",
	72:  "CANNOT_PARSE_NUMBER",
	81:  "UNKNOWN_DATABASE",
	115: "UNKNOWN_SETTING",
	117: "INCORRECT_DATA",
	407: "DECIMAL_OVERFLOW",
}

// classify marks errors that can never succeed as permanent; everything else
// (connection refused or reset, timeouts, server overload, too many parts)
// stays retryable for exporterhelper's retry sender.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if isPermanent(err) {
		return consumererror.NewPermanent(err)
	}
	return err
}

func isPermanent(err error) bool {
	var exc *clickhouse.Exception
	if errors.As(err, &exc) {
		_, ok := permanentCodes[exc.Code]
		return ok
	}
	var conv *conversionError
	if errors.As(err, &conv) {
		return true
	}
	var cce *column.ColumnConverterError
	if errors.As(err, &cce) {
		return true
	}
	var ute *column.UnsupportedColumnTypeError
	if errors.As(err, &ute) {
		return true
	}
	return false
}
