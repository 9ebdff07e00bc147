package agentcostbudgetextension

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// registerMetrics registers the asynchronous self-metrics: per-budget spend,
// limit and utilisation (one series per configured budget name: bounded by
// configuration) and decisions by outcome (three series).
func (e *budgetExtension) registerMetrics() error {
	perBudget := func(value func(r Result) float64) metric.Float64Callback {
		return func(_ context.Context, o metric.Float64Observer) error {
			for _, r := range e.statuses() {
				o.Observe(value(r), metric.WithAttributes(attribute.String("budget", r.Budget)))
			}
			return nil
		}
	}
	if err := e.tel.RegisterAgentcostBudgetSpendCallback(perBudget(func(r Result) float64 { return r.Spend.Float64() })); err != nil {
		return fmt.Errorf("register spend metric: %w", err)
	}
	if err := e.tel.RegisterAgentcostBudgetLimitCallback(perBudget(func(r Result) float64 { return r.Limit.Float64() })); err != nil {
		return fmt.Errorf("register limit metric: %w", err)
	}
	if err := e.tel.RegisterAgentcostBudgetUtilizationCallback(perBudget(func(r Result) float64 { return utilization(r.Spend, r.Limit) })); err != nil {
		return fmt.Errorf("register utilization metric: %w", err)
	}
	return e.tel.RegisterAgentcostBudgetDecisionsCallback(func(_ context.Context, o metric.Int64Observer) error {
		for _, oc := range []Outcome{Allow, Throttle, Deny} {
			o.Observe(e.decided[oc].Load(), metric.WithAttributes(attribute.String("outcome", oc.String())))
		}
		return nil
	})
}
