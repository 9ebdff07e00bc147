package agentcostprocessor

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/agentcost/agentcost/internal/attrs"
)

// datedCatalog prices gpt-4o at 1 USD/Mtok before 2026 and 2 USD/Mtok from
// 2026-01-01 on.
const datedCatalog = `schema_version: 1
providers:
  - id: openai
    models:
      - id: gpt-4o
        prices:
          - id: gpt-4o-2025
            effective_to: "2026-01-01"
            input_mtok: "1"
            output_mtok: "1"
          - id: gpt-4o-2026
            effective_from: "2026-01-01"
            input_mtok: "2"
            output_mtok: "2"
`

// A span without a start time is priced at its end time (where the
// exporter stores its row), or at the processor's clock when it has no end
// time either; never at year 1. The span says which, and the budget charge
// carries the same time.
func TestPricedWithoutStartTime(t *testing.T) {
	end := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name       string
		start, end time.Time
		source     string // expected agentcost.pricing.time_source, "" for none
	}{
		{"start time", time.Date(2025, 12, 31, 23, 59, 0, 0, time.UTC), end, ""},
		{"end time only", time.Time{}, end, attrs.PricingTimeEnd},
		{"no times", time.Time{}, time.Time{}, attrs.PricingTimeProcessing},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "catalog.yaml")
			require.NoError(t, os.WriteFile(path, []byte(datedCatalog), 0o600))
			cfg := testConfig(t)
			cfg.Catalogs = []string{path}
			cfg.Hold.Wait = 0
			id := component.MustNewID("agentcost_budget")
			cfg.Budget = &id
			acc := &fakeAccruer{}
			sink := new(consumertest.TracesSink)
			p := newTestProcessor(t, cfg, sink)
			require.NoError(t, p.Start(context.Background(), hostWithExtensions{componenttest.NewNopHost(), map[component.ID]component.Component{id: acc}}))
			t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })

			td := chatTrace(1, 1, 0, "support-bot")
			sp := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			sp.SetStartTimestamp(0)
			if !tt.start.IsZero() {
				sp.SetStartTimestamp(pcommon.NewTimestampFromTime(tt.start))
			}
			if !tt.end.IsZero() {
				sp.SetEndTimestamp(pcommon.NewTimestampFromTime(tt.end))
			}
			before := time.Now()
			require.NoError(t, p.ConsumeTraces(context.Background(), td))
			after := time.Now()

			m := firstSpanAttrs(t, sink)
			require.Len(t, acc.charges, 1)
			charge := acc.charges[0]
			src, hasSrc := m.Get(attrs.PricingTimeSource)
			nanos, hasNanos := m.Get(attrs.PricingTime)
			switch tt.source {
			case "":
				assert.False(t, hasSrc)
				assert.False(t, hasNanos)
				assert.Equal(t, "gpt-4o-2025", str(t, m, attrs.PricingPriceID))
				assert.Equal(t, "0.001100000000", str(t, m, attrs.CostTotal))
				assert.True(t, charge.Time.Equal(tt.start))
			case attrs.PricingTimeEnd:
				require.True(t, hasSrc)
				assert.Equal(t, attrs.PricingTimeEnd, src.Str())
				assert.False(t, hasNanos)
				assert.Equal(t, "gpt-4o-2026", str(t, m, attrs.PricingPriceID))
				assert.Equal(t, "0.002200000000", str(t, m, attrs.CostTotal))
				assert.True(t, charge.Time.Equal(tt.end), "charged at %v", charge.Time)
			case attrs.PricingTimeProcessing:
				require.True(t, hasSrc)
				assert.Equal(t, attrs.PricingTimeProcessing, src.Str())
				require.True(t, hasNanos)
				at := time.Unix(0, nanos.Int())
				assert.False(t, at.Before(before.Truncate(0)) || at.After(after), "priced at %v", at)
				assert.Equal(t, "gpt-4o-2026", str(t, m, attrs.PricingPriceID))
				assert.True(t, charge.Time.Equal(at), "charged at %v, stamped %v", charge.Time, at)
			}
		})
	}
}
