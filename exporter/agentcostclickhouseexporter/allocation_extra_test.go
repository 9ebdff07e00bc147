package agentcostclickhouseexporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/internal/attrs"
)

// The allocation analyst queries (sql/queries) and their expected answers on
// analystFixture, registered with TestAnalystQueries. The fixture has no
// cache write; orchestrator = proportional moves the root agent support's
// own call in T1 (0.00146 = 1460000000 pico) to its sub-agents by direct
// cost (triage 0.00015, writer 0.0031; W = 3250000000 pico):
// triage floor(1460000000*150000000/W) = 67384615 (remainder 1250000000),
// writer 1392615384 (remainder 2000000000) + the one leftover pico.
func init() {
	analystCases["direct_vs_allocated_cost_per_agent"] = struct {
		params map[string]string
		want   []string
	}{
		params: map[string]string{"from": "2026-11-01", "to": "2026-12-01", "orchestrator": "proportional"},
		want: []string{
			"writer\tcx\t0.0031\t0.004492615385\t0.001392615385\t0.0009",
			"etl\tdata\t0.0015\t0.0015\t0\t0",
			"triage\tcx\t0.00018\t0.000247384615\t0.000067384615\t0",
			"support\tcx\t0.00146\t0\t-0.00146\t0.00054",
		},
	}
	analystCases["cache_write_beneficiaries"] = struct {
		params map[string]string
		want   []string
	}{
		params: map[string]string{"from": "2026-11-01", "to": "2026-12-01"},
		want:   nil, // no cache write in the fixture; allocation/clickhouse_test.go checks a workload with many
	}
}

// TestConvertKeepsAllocationAttributes: the beneficiary list and the 1-hour
// cache-write tokens reach the extra map without extra_dimensions.
func TestConvertKeepsAllocationAttributes(t *testing.T) {
	td := traces(call{traceID: "a", spanID: "1", start: t0, total: "1", extra: map[string]string{attrs.ShareBeneficiaries: "a=2,b"}})
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutInt(attrs.UsageCacheWrite1hTokens, 300)
	r := convertAll(t, nil, td)
	require.Equal(t, 1, r.len())
	assert.Equal(t, map[string]string{attrs.ShareBeneficiaries: "a=2,b", attrs.UsageCacheWrite1hTokens: "300"}, r.extra[0])

	r = convertAll(t, nil, traces(call{traceID: "a", spanID: "1", start: t0, total: "1"}))
	assert.Nil(t, r.extra[0], "no map when neither is set")
}
