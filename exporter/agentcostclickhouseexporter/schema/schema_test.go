package schema

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/internal/chtest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the rendered DDL")

// goldenCases are the option sets whose rendered DDL is pinned in testdata/golden.
var goldenCases = map[string]Options{
	"default": {},
	"prefix_ttl": {
		Database: "finops", TablePrefix: "acme_", TTL: 400 * 24 * time.Hour,
	},
	"cluster_replicated": {
		Database: "agentcost", Cluster: "prod", Replicated: true, OnCluster: true, TTL: 90 * time.Minute,
	},
	"cluster_sharded_only": {
		Cluster: "agentcost_test",
	},
}

func TestRenderGolden(t *testing.T) {
	for name, o := range goldenCases {
		t.Run(name, func(t *testing.T) {
			migs, err := Render(o)
			require.NoError(t, err)
			var b strings.Builder
			b.WriteString("-- golden: schema rendered for options " + name + "; regenerate with go test ./schema -run TestRenderGolden -update\n\n")
			for _, s := range o.migrationsTableDDL() {
				b.WriteString(s + ";\n\n")
			}
			for _, m := range migs {
				b.WriteString("-- ===== migration " + m.Name + " =====\n")
				b.WriteString(m.SQL() + "\n")
			}
			path := filepath.Join("testdata", "golden", name+".sql")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run with -update to create the golden file")
			assert.Equal(t, string(want), b.String(), "rendered DDL drifted from %s; if intended, run with -update and review the diff", path)
		})
	}
}

func TestRenderDeterministicAndOrdered(t *testing.T) {
	a, err := Render(goldenCases["cluster_replicated"])
	require.NoError(t, err)
	b, err := Render(goldenCases["cluster_replicated"])
	require.NoError(t, err)
	assert.Equal(t, a, b)
	for i, m := range a {
		assert.Equal(t, i+1, m.Version)
		assert.Len(t, m.Checksum, 64)
		for _, s := range m.Statements {
			if strings.HasPrefix(s, "INSERT INTO ") || strings.Contains(s, "\nINSERT INTO ") {
				// Data (0007's backfill) goes through the Distributed table.
				assert.Contains(t, s, "INSERT INTO `agentcost`.`cost_event_keys` ", "a cluster insert names the Distributed table")
				continue
			}
			assert.Contains(t, s, "ON CLUSTER `prod`", "every DDL statement of a cluster schema is ON CLUSTER")
			assert.NotContains(t, s, "{{", "template fully rendered")
		}
	}
	// Cluster mode: local tables use Replicated engines, readers get Distributed.
	all := a[0].SQL() + a[1].SQL()
	assert.Contains(t, all, "`agentcost`.`cost_events_local`")
	assert.Contains(t, all, "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')")
	assert.Contains(t, all, "ReplicatedSummingMergeTree(")
	assert.Contains(t, all, "Distributed('prod', 'agentcost', 'cost_events_local', cityHash64(`trace_id`))")
	assert.Contains(t, all, "Distributed('prod', 'agentcost', 'cost_hourly_local', rand())")
	assert.Contains(t, all, "TTL toDateTime(`event_time`) + toIntervalSecond(5400)")
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Database: "a-b"}, `database: "a-b" is not a valid identifier`},
		{Options{Database: "x`; DROP"}, `database: "x`},
		{Options{TablePrefix: "p."}, `table_prefix: "p." is not valid`},
		{Options{Cluster: "1c"}, `cluster_name: "1c" is not a valid identifier`},
		{Options{TTL: -time.Second}, `ttl: -1s is negative`},
	} {
		err := tc.o.Validate()
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
		_, err = Render(tc.o)
		assert.Error(t, err)
	}
	assert.NoError(t, Options{Database: "_db1", TablePrefix: "9x_", Cluster: "c_1"}.Validate())
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- header\n;\nSELECT 1\n;\n-- c\nSELECT ';'\n;\n\n")
	assert.Equal(t, []string{"SELECT 1", "-- c\nSELECT ';'"}, got)
}

// TestMigrateReal applies the schema to a real ClickHouse database twice and
// checks what it recorded and created.
func TestMigrateReal(t *testing.T) {
	db := chtest.New(t)
	ctx := context.Background()
	o := Options{Database: db.Name, TablePrefix: "t_", TTL: 30 * 24 * time.Hour}
	res, err := Migrate(ctx, db.Conn, o)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7}, res.Versions)
	assert.Equal(t, 7, res.Current)

	var tables []string
	rows, err := db.Conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? ORDER BY name", db.Name)
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"t_cost_allocated_daily", "t_cost_allocations", "t_cost_daily", "t_cost_daily_mv",
		"t_cost_direct_vs_allocated_daily", "t_cost_event_keys", "t_cost_event_keys_mv", "t_cost_events", "t_cost_hourly", "t_cost_hourly_mv", "t_focus_v1", "t_schema_migrations"}, tables)

	var ttl string
	require.NoError(t, db.Conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = 't_cost_events'", db.Name).Scan(&ttl))
	assert.Contains(t, ttl, "TTL toDateTime(event_time) + toIntervalDay(30)")
	assert.Contains(t, ttl, "PARTITION BY toYYYYMM(event_time)")

	// Migration 0006: each cost column derives from both pico words and
	// keeps its codec.
	var costDDL string
	require.NoError(t, db.Conn.QueryRow(ctx, "SELECT concat(type, ' ', default_kind, ' ', default_expression, ' ', compression_codec) FROM system.columns WHERE database = ? AND table = 't_cost_events' AND name = 'total_cost'", db.Name).Scan(&costDDL))
	assert.Equal(t, "Decimal(38, 12) DEFAULT ((toDecimal128(total_cost_pico_hi, 0) * toDecimal128('18446744073709551616', 0)) + toDecimal128(total_cost_pico, 0)) * toDecimal128('0.000000000001', 12) CODEC(ZSTD(1))", costDDL)
	var hiCols uint64
	require.NoError(t, db.Conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = 't_cost_events' AND name LIKE '%\\_cost\\_pico\\_hi' AND type = 'UInt64' AND default_kind = 'EPHEMERAL'", db.Name).Scan(&hiCols))
	assert.Equal(t, uint64(7), hiCols)

	// Migration 0007: the keys table is fed from cost_events and keeps a
	// day's keys for 7 days after their insert.
	var keysDDL string
	require.NoError(t, db.Conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = 't_cost_event_keys'", db.Name).Scan(&keysDDL))
	assert.Contains(t, keysDDL, "ORDER BY (event_time, span_key)")
	assert.Contains(t, keysDDL, "TTL inserted_at + toIntervalDay(7)")
	require.NoError(t, db.Conn.Exec(ctx, "INSERT INTO t_cost_events (event_time, trace_id, span_id, team) VALUES ('2026-01-02 03:04:05.123456789', 'aa', 'bb', 'x')"))
	var keyRow string
	require.NoError(t, db.Conn.QueryRow(ctx, "SELECT concat(toString(event_time), ' ', toString(span_key = cityHash64('aabb')), ' ', toString(inserted_at > now() - 60)) FROM t_cost_event_keys").Scan(&keyRow))
	assert.Equal(t, "2026-01-02 03:04:05.123456789 1 1", keyRow)

	// Migration 0007 copies the keys of the recent spans stored before it.
	require.NoError(t, db.Conn.Exec(ctx, "INSERT INTO t_cost_events (event_time, trace_id, span_id, team) VALUES (now64(9) - INTERVAL 1 DAY, 'cc', 'dd', 'x'), (now64(9) - INTERVAL 8 DAY, 'ee', 'ff', 'x')"))
	require.NoError(t, db.Conn.Exec(ctx, "TRUNCATE TABLE t_cost_event_keys"))
	require.NoError(t, db.Conn.Exec(ctx, "DELETE FROM t_schema_migrations WHERE version = 7"))
	res, err = Migrate(ctx, db.Conn, o)
	require.NoError(t, err)
	assert.Equal(t, []int{7}, res.Versions)
	var backfilled string
	require.NoError(t, db.Conn.QueryRow(ctx, "SELECT toString(groupArray(span_key = cityHash64('ccdd'))) FROM t_cost_event_keys").Scan(&backfilled))
	assert.Equal(t, "[1]", backfilled, "the span of the last 7 days, not the older one nor the one before 2026-01")

	// Second run: nothing to do.
	res, err = Migrate(ctx, db.Conn, o)
	require.NoError(t, err)
	assert.Empty(t, res.Versions)
	assert.Equal(t, 7, res.Current)
	var n uint64
	require.NoError(t, db.Conn.QueryRow(ctx, "SELECT count() FROM t_schema_migrations FINAL").Scan(&n))
	assert.Equal(t, uint64(7), n)

	// An edited old migration is refused.
	require.NoError(t, db.Conn.Exec(ctx, "INSERT INTO t_schema_migrations VALUES (2, 'rollups', 'edited', now64(3) + 1)"))
	_, err = Migrate(ctx, db.Conn, o)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrChecksum), "got %v", err)
	assert.Contains(t, err.Error(), "0002_rollups")
}
