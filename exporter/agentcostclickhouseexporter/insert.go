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
func (e *costExporter) insertSettings(token string) clickhouse.Settings {
	s := clickhouse.Settings{
		"insert_deduplicate":                                 1,
		"insert_deduplication_token":                         token,
		"deduplicate_blocks_in_dependent_materialized_views": 1,
		"max_partitions_per_insert_block":                    0,
		"async_insert":                                       0,
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
	cols := []any{r.eventTime, r.traceID, r.spanID, r.parentSpanID, r.boxed(-2, r.serviceName), r.boxed(-1, r.environment)}
	for i := range r.str {
		if lowCardinality[i] {
			cols = append(cols, r.boxed(i, r.str[i]))
		} else {
			cols = append(cols, r.str[i])
		}
	}
	for i := range r.tokens {
		cols = append(cols, r.tokens[i])
	}
	for i := range r.costs {
		cols = append(cols, r.costs[i])
	}
	cols = append(cols, r.durationNs, r.isError, r.extra)
	for i, c := range cols {
		if err := batch.Column(i).Append(c); err != nil {
			return fmt.Errorf("append column %q: %w", insertColumns()[i], &conversionError{err})
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

// boxed returns vals as []any whose elements are interned interface values.
// clickhouse-go's LowCardinality Append boxes every element of a []string
// (one allocation per value); a []any of shared boxes costs none.
func (r *rows) boxed(col int, vals []string) []any {
	if r.interned == nil || len(r.interned) > maxInterned {
		r.interned = make(map[string]any, 1024)
	}
	k := col + 2
	if cap(r.boxes[k]) < len(vals) {
		r.boxes[k] = make([]any, len(vals))
	}
	out := r.boxes[k][:len(vals)]
	for i, v := range vals {
		b, ok := r.interned[v]
		if !ok {
			b = v
			r.interned[v] = b
		}
		out[i] = b
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
