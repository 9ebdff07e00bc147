package agentcostbudgetextension

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/agentcost/agentcost/extension/agentcostbudgetextension/internal/metadatatest"
)

func TestSelfMetrics(t *testing.T) {
	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = ""
	cfg.Budgets = []BudgetConfig{budgetCfg("ml", "8", WindowConfig{Calendar: PeriodDay}, func(b *BudgetConfig) {
		b.Scope = map[string]string{"team": "ml"}
		b.Action = ActionSuspend
	})}
	e, err := newExtension(cfg, metadatatest.NewSettings(tt))
	require.NoError(t, err)
	e.useClock(clock.Now)
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()

	e.Accrue(charge(t0, "2", "ml"))
	e.Check(&Identity{Team: "ml"}, nil)
	e.Check(&Identity{Team: "ml"}, nil)
	e.Accrue(charge(t0, "6", "ml"))
	e.Check(&Identity{Team: "ml"}, nil)

	budget := attribute.NewSet(attribute.String("budget", "ml"))
	metadatatest.AssertEqualAgentcostBudgetSpend(t, tt, []metricdata.DataPoint[float64]{{Attributes: budget, Value: 8}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualAgentcostBudgetLimit(t, tt, []metricdata.DataPoint[float64]{{Attributes: budget, Value: 8}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualAgentcostBudgetUtilization(t, tt, []metricdata.DataPoint[float64]{{Attributes: budget, Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualAgentcostBudgetDecisions(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("outcome", "allow")), Value: 2},
		{Attributes: attribute.NewSet(attribute.String("outcome", "throttle")), Value: 0},
		{Attributes: attribute.NewSet(attribute.String("outcome", "deny")), Value: 1},
	}, metricdatatest.IgnoreTimestamp())
}
