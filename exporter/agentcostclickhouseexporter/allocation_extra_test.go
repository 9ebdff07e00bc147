package agentcostclickhouseexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/schema"
	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/pricing"
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

// TestAllocationOnTwoShards: rows of one conversation land on both shards
// (cost_events is sharded by trace id, the conversation spans 40 traces);
// the allocated view read through the Distributed table on either node sees
// every cache write and its reader in another trace, and conserves the total.
func TestAllocationOnTwoShards(t *testing.T) {
	ports := freePorts(t, 2)
	cfgFile := filepath.Join(t.TempDir(), "cluster.xml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(clusterConfig, ports[0], ports[1])), 0o644))
	s1 := newServer(t, ports[0], cfgFile)
	s2 := newServer(t, ports[1], cfgFile)
	s1.start()
	s2.start()
	c1, c2 := s1.conn(), s2.conn()
	ctx := context.Background()
	o := schema.Options{Database: "agentcost", Cluster: "agentcost_test"}
	migrateEachNode(t, o, c1, c2)
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "tcp://" + s1.addr()
	cfg.ClusterName = "agentcost_test"
	cfg.CreateSchema = false
	e := startDirect(t, cfg)

	// 20 pairs: agent w writes a 5-minute cache in trace W<i> (cost 0.000004,
	// of which cache write 0.000003); agent r reads it one minute later in
	// trace R<i> (cost 0.000001). Same conversation, same model.
	base := call{conversation: "conv-1", root: "", team: "cx", provider: "anthropic", priceModel: "claude", operation: "chat"}
	var calls []call
	var direct pricing.Money
	for i := 0; i < 20; i++ {
		w, r := base, base
		w.traceID, w.spanID, w.agent, w.start = seqID("W", i), seqID("ws", i), "w", t0.Add(time.Duration(10*i)*time.Minute)
		w.in, w.cacheWrite, w.cacheWriteCost, w.total = 1000, 1000, "0.000003000000", "0.000004000000"
		r.traceID, r.spanID, r.agent, r.start = seqID("R", i), seqID("rs", i), "r", w.start.Add(time.Minute)
		r.in, r.cacheRead, r.total = 1000, 1000, "0.000001000000"
		calls = append(calls, w, r)
		direct = direct.Add(pricing.MustParseMoney(w.total)).Add(pricing.MustParseMoney(r.total))
	}
	require.NoError(t, e.pushTraces(ctx, traces(calls...)))
	n1 := scalar(t, c1, "SELECT toString(count()) FROM agentcost.cost_events_local")
	n2 := scalar(t, c2, "SELECT toString(count()) FROM agentcost.cost_events_local")
	require.NotEqual(t, "0", n1, "shard 1 holds rows")
	require.NotEqual(t, "0", n2, "shard 2 holds rows")

	const q = "SELECT toString(sumIf(cost, rule = 'cache_write')) || ' ' || toString(countIf(rule = 'cache_write')) || ' ' || " +
		"toString(sumIf(cost, agent_id = 'r')) || ' ' || toString(sum(cost)) " +
		"FROM agentcost.cost_allocations(from = '2026-11-01', to = '2026-11-30', orchestrator = 'keep')"
	// Cache writes 20 x 0.000003 all move to r; r: 0.00006 + its own 0.00002.
	want := "0.00006 20 0.00008 " + mustTrim(direct.String())
	assert.Equal(t, want, scalar(t, c1, q), "read on node 1")
	assert.Equal(t, want, scalar(t, c2, q), "read on node 2")
	t.Logf("rows per shard: %s + %s", n1, n2)
}

// mustTrim renders a 12-digit decimal as ClickHouse's toString does.
func mustTrim(s string) string {
	for len(s) > 0 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
