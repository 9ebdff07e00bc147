package agentcostclickhouseexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/internal/metadatatest"
	"github.com/agentcost/agentcost/internal/chtest"
)

func TestSelfMetrics(t *testing.T) {
	db := chtest.New(t)
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	e, err := newExporter(testConfig(db), metadatatest.NewSettings(tt))
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })

	require.NoError(t, e.pushTraces(context.Background(), traces(
		call{traceID: "m", spanID: "1", start: t0, total: "1"},
		call{traceID: "m", spanID: "2", start: t0, total: "1"},
		call{traceID: "m", spanID: "3", start: t0, noStatus: true},
	)))
	metadatatest.AssertEqualAgentcostExporterRowsInserted(t, tt, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualAgentcostExporterSpansSkipped(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}
