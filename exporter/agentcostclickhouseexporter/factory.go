package agentcostclickhouseexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/internal/metadata"
)

// ClickHouse-friendly defaults: few, large inserts (ClickHouse wants about
// one insert per second per table, thousands of rows each), a timeout that
// covers a 50k-row insert on a busy server, a queue counted in rows.
const (
	defaultTimeout       = 30 * time.Second
	defaultQueueRows     = 1_000_000
	defaultConsumers     = 2
	defaultBatchMinRows  = 10_000
	defaultBatchMaxRows  = 50_000
	defaultFlushInterval = 5 * time.Second
)

// NewFactory returns the agentcost_clickhouse exporter factory.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(createTracesExporter, metadata.TracesStability),
	)
}

func defaultQueueConfig() exporterhelper.QueueBatchConfig {
	q := exporterhelper.NewDefaultQueueConfig()
	q.Sizer = exporterhelper.RequestSizerTypeItems
	q.QueueSize = defaultQueueRows
	q.NumConsumers = defaultConsumers
	b := exporterhelper.NewDefaultBatchConfig()
	b.Sizer = exporterhelper.RequestSizerTypeItems
	b.MinSize = defaultBatchMinRows
	b.MaxSize = defaultBatchMaxRows
	b.FlushTimeout = defaultFlushInterval
	q.Batch = configoptional.Some(b)
	return q
}

func createDefaultConfig() component.Config {
	timeout := exporterhelper.NewDefaultTimeoutConfig()
	timeout.Timeout = defaultTimeout
	return &Config{
		TimeoutConfig:   timeout,
		QueueConfig:     configoptional.Some(defaultQueueConfig()),
		BackOffConfig:   configretry.NewDefaultBackOffConfig(),
		Database:        "agentcost",
		Compression:     "lz4",
		CreateSchema:    true,
		SkipStoredSpans: true,
	}
}

func createTracesExporter(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set)
	if err != nil {
		return nil, err
	}
	return wrapTraces(ctx, set, c, e, e.pushTraces)
}

// wrapTraces puts push (e.pushTraces, or a test's wrapper of it) behind
// exporterhelper's queue, batching, retry and timeout as configured.
func wrapTraces(ctx context.Context, set exporter.Settings, c *Config, e *costExporter, push consumer.ConsumeTracesFunc) (exporter.Traces, error) {
	return exporterhelper.NewTraces(ctx, set, c, push,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithQueue(c.QueueConfig),
		exporterhelper.WithRetry(c.BackOffConfig),
	)
}
