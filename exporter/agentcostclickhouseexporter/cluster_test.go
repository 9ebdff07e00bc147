package agentcostclickhouseexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/schema"
	"github.com/agentcost/agentcost/pricing"
)

const clusterConfig = `<clickhouse>
  <remote_servers>
    <agentcost_test>
      <shard><replica><host>127.0.0.1</host><port>%d</port></replica></shard>
      <shard><replica><host>127.0.0.1</host><port>%d</port></replica></shard>
    </agentcost_test>
  </remote_servers>
</clickhouse>
`

// TestTwoShardCluster builds the cluster schema on two local servers and
// writes through the Distributed table; totals read back through the
// Distributed tables are exact and both shards hold rows, also after the
// same spans came again in other batch shapes (the stored-spans lookup
// across shards).
//
// Limitation of the embedded engine (clickhouse-local in libchdb): it has no
// ClickHouse Keeper, so ON CLUSTER fails with QUERY_IS_PROHIBITED ("Replicated
// DDL queries are disabled") and Replicated* engines with NO_ZOOKEEPER. The
// test therefore renders the cluster schema with plain MergeTree /
// SummingMergeTree shards under Distributed tables (schema.Options with
// Replicated and OnCluster off) and applies it on each node; the Replicated*
// and ON CLUSTER rendering is covered by schema's golden files.
func TestTwoShardCluster(t *testing.T) {
	ports := freePorts(t, 2)
	cfgFile := filepath.Join(t.TempDir(), "cluster.xml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(clusterConfig, ports[0], ports[1])), 0o644))
	s1 := newServer(t, ports[0], cfgFile)
	s2 := newServer(t, ports[1], cfgFile)
	s1.start()
	s2.start()
	c1, c2 := s1.conn(), s2.conn()
	ctx := context.Background()

	// The production path needs Keeper; record what the engine says.
	prod := schema.Options{Database: "agentcost_prod", Cluster: "agentcost_test", Replicated: true, OnCluster: true}
	if _, err := schema.Migrate(ctx, c1, prod); err != nil {
		t.Logf("ON CLUSTER + Replicated on the embedded engine (expected without Keeper): %v", err)
	}

	o := schema.Options{Database: "agentcost", Cluster: "agentcost_test"}
	migrateEachNode(t, o, c1, c2)

	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "tcp://" + s1.addr()
	cfg.ClusterName = "agentcost_test"
	cfg.CreateSchema = false // applied per node above
	e := startDirect(t, cfg)

	var calls []call
	var want pricing.Money
	for i := 0; i < 400; i++ {
		c := call{traceID: seqID("t", i), spanID: seqID("s", i), start: t0.Add(time.Duration(i) * time.Minute),
			team: []string{"cx", "data"}[i%2], agent: seqID("a", i%5), root: "r", provider: "openai", priceModel: "gpt-5",
			operation: "chat", in: int64(i), total: pricing.MoneyFromPico(uint64(1_000_000_007 * (i + 1))).String()}
		if i == 7 {
			// Above 2^64 pico-USD (2^53 tokens at 3 USD per million):
			// the high words pass through the Distributed table too.
			c.in, c.total = 1<<53, "27021597764.222976000000"
		}
		want = want.Add(pricing.MustParseMoney(c.total))
		calls = append(calls, c)
	}
	td := traces(calls...)
	require.NoError(t, e.pushTraces(ctx, td))
	require.NoError(t, e.pushTraces(ctx, td), "a retried batch through the Distributed table")
	// The same spans in other batch shapes (a replay re-batched, a client's
	// resend): the stored-spans lookup runs through the Distributed keys
	// table, whose batch keys travel to both shards as an external table.
	require.NoError(t, e.pushTraces(ctx, traces(calls[:150]...)))
	require.NoError(t, e.pushTraces(ctx, traces(calls[100:]...)))
	assert.Equal(t, "400", scalar(t, c2, "SELECT toString(count()) FROM agentcost.cost_event_keys"), "keys of both shards")

	assert.Equal(t, "400", scalar(t, c1, "SELECT toString(count()) FROM agentcost.cost_events"))
	assert.Equal(t, "27021597764.222976", scalar(t, c2, "SELECT toString(total_cost) FROM agentcost.cost_events WHERE input_tokens = 9007199254740992"))
	assert.Equal(t, want.String(), pricing.MustParseMoney(scalar(t, c1, "SELECT toString(sum(total_cost)) FROM agentcost.cost_events")).String())
	assert.Equal(t, want.String(), pricing.MustParseMoney(scalar(t, c2, "SELECT toString(sum(total_cost)) FROM agentcost.cost_hourly")).String(),
		"rollups through the Distributed table, read from the other node")
	assert.Equal(t, "400", scalar(t, c1, "SELECT toString(sum(calls)) FROM agentcost.cost_daily"))
	assert.Equal(t, want.String(), pricing.MustParseMoney(scalar(t, c1, "SELECT toString(sum(BilledCost)) FROM agentcost.focus_v1")).String())

	n1 := scalar(t, c1, "SELECT toString(count()) FROM agentcost.cost_events_local")
	n2 := scalar(t, c2, "SELECT toString(count()) FROM agentcost.cost_events_local")
	assert.NotEqual(t, "0", n1, "shard 1 holds rows")
	assert.NotEqual(t, "0", n2, "shard 2 holds rows")
	t.Logf("rows per shard: %s + %s", n1, n2)
	// Local sums add up to the distributed total.
	l1 := pricing.MustParseMoney(scalar(t, c1, "SELECT toString(sum(total_cost)) FROM agentcost.cost_hourly_local"))
	l2 := pricing.MustParseMoney(scalar(t, c2, "SELECT toString(sum(total_cost)) FROM agentcost.cost_hourly_local"))
	assert.Equal(t, want.String(), l1.Add(l2).String())
}

// migrateEachNode applies the schema on every node in turn, as the embedded
// engine needs (no ON CLUSTER without Keeper). Migration 0007's backfill
// reads the Distributed cost_events, so it needs every node's tables: on the
// first node it fails until the others have them. The first pass creates
// them (errors logged), the second completes every node and must succeed.
// With ON CLUSTER (production) each DDL statement runs on all nodes before
// the next, and one pass is enough.
func migrateEachNode(t *testing.T, o schema.Options, conns ...driver.Conn) {
	t.Helper()
	ctx := context.Background()
	for i, c := range conns {
		if _, err := schema.Migrate(ctx, c, o); err != nil {
			t.Logf("node %d, first pass (other nodes not migrated yet): %v", i+1, firstLineOf(err.Error()))
		}
	}
	for _, c := range conns {
		_, err := schema.Migrate(ctx, c, o)
		require.NoError(t, err)
	}
}

func firstLineOf(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
