package agentcostclickhouseexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/internal/metadata"
	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/schema"
)

// costExporter writes cost rows with the native batch API.
type costExporter struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	conv      *converter
	schema    schema.Options
	insertSQL string
	storedSQL string

	mu   sync.Mutex // guards conn across Start/Shutdown
	conn driver.Conn

	pool sync.Pool // *rows

	noKeysWarned atomic.Bool // an unusable stored-spans lookup was logged
	inflight     inflight    // span keys of batches being looked up and inserted
}

func newExporter(cfg *Config, set exporter.Settings) (*costExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &costExporter{
		cfg:       cfg,
		logger:    set.Logger,
		telemetry: tb,
		conv:      newConverter(cfg.ExtraDimensions),
		schema:    cfg.schemaOptions(),
	}
	e.insertSQL = insertStatement(e.schema)
	e.storedSQL = storedSpansQuery(e.schema)
	e.pool.New = func() any { return &rows{} }
	return e, nil
}

// insertStatement names the table and columns; values travel as native
// columns, never in the SQL text.
func insertStatement(o schema.Options) string {
	cols := insertColumns()
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = schema.Quote(c)
	}
	return "INSERT INTO " + o.Table(schema.EventsTable) + " (" + strings.Join(quoted, ", ") + ")"
}

// start connects and, with create_schema, applies the migrations.
func (e *costExporter) start(ctx context.Context, _ component.Host) error {
	opts, err := e.cfg.clickhouseOptions()
	if err != nil {
		return err
	}
	if opts.TLS, err = e.cfg.tlsConfig(ctx, opts); err != nil {
		return err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return fmt.Errorf("open clickhouse %q: %w", redact(e.cfg.Endpoint), err)
	}
	if e.cfg.CreateSchema {
		res, err := schema.Migrate(ctx, conn, e.schema)
		if err != nil {
			_ = conn.Close()
			return fmt.Errorf("create_schema: %w", err)
		}
		e.logger.Info("agentcost schema ready",
			zap.String("database", e.cfg.database()), zap.Int("version", res.Current), zap.Ints("applied", res.Versions))
	}
	e.mu.Lock()
	e.conn = conn
	e.mu.Unlock()
	return nil
}

func (e *costExporter) shutdown(context.Context) error {
	e.mu.Lock()
	conn := e.conn
	e.conn = nil
	e.mu.Unlock()
	var err error
	if conn != nil {
		err = conn.Close()
	}
	e.telemetry.Shutdown()
	return err
}

func (e *costExporter) connection() (driver.Conn, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == nil {
		return nil, errors.New("exporter not started")
	}
	return e.conn, nil
}

// pushTraces converts td and inserts its cost rows in one native batch.
func (e *costExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	r := e.pool.Get().(*rows)
	defer e.pool.Put(r)
	r.reset()
	e.conv.convert(td, r)
	if r.skipped > 0 {
		e.telemetry.AgentcostExporterSpansSkipped.Add(ctx, int64(r.skipped))
		e.logger.Debug("spans without agentcost.cost.status skipped", zap.Int("spans", r.skipped))
	}
	if r.invalid > 0 {
		e.logger.Debug("cost rows kept with usage_error: unusable numeric attributes", zap.Int("rows", r.invalid))
	}
	if r.len() == 0 {
		return nil
	}
	conn, err := e.connection()
	if err != nil {
		return err
	}
	if e.cfg.SkipStoredSpans {
		// A failed lookup is retried like a failed insert, never permanent;
		// a lookup that cannot work only disables itself (lookupUnusable).
		defer e.inflight.release(r)
		n, err := e.skipStored(ctx, conn, r)
		if err != nil {
			return err
		}
		if n > 0 {
			e.telemetry.AgentcostExporterRowsAlreadyStored.Add(ctx, int64(n))
			e.logger.Debug("rows left out: span already stored or repeated in the batch", zap.Int("rows", n))
		}
		if r.len() == 0 {
			return nil
		}
	}
	if err := e.insert(ctx, conn, r); err != nil {
		return classify(err)
	}
	e.telemetry.AgentcostExporterRowsInserted.Add(ctx, int64(r.len()))
	return nil
}
