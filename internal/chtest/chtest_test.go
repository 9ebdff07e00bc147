package chtest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/internal/chtest"
)

// TestRoundTrip inserts rows with the column types the cost table uses over
// the native protocol and reads them back exactly.
func TestRoundTrip(t *testing.T) {
	db := chtest.New(t)
	ctx := context.Background()
	require.NoError(t, db.Conn.Exec(ctx, `CREATE TABLE rt (
		ts DateTime64(9, 'UTC'),
		team LowCardinality(String),
		cost Decimal(38, 12),
		tokens UInt64,
		dims Map(LowCardinality(String), String)
	) ENGINE = MergeTree ORDER BY (team, ts)`))

	const n = 10000
	base := time.Date(2026, 11, 1, 0, 0, 0, 123456789, time.UTC)
	want := decimal.Zero
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO rt")
	require.NoError(t, err)
	for i := range n {
		// 0.000000000001 * (i+1) * 1_000_003: exercises all 12 fractional digits.
		c := decimal.New(int64(i+1)*1_000_003, -12)
		want = want.Add(c)
		require.NoError(t, batch.Append(
			base.Add(time.Duration(i)*time.Nanosecond),
			fmt.Sprintf("team-%d", i%7),
			c,
			uint64(1)<<53+uint64(i),
			map[string]string{"k": fmt.Sprint(i)},
		))
	}
	require.NoError(t, batch.Send())

	var count uint64
	var sum decimal.Decimal
	require.NoError(t, db.Conn.QueryRow(ctx, "SELECT count(), sum(cost) FROM rt").Scan(&count, &sum))
	require.Equal(t, uint64(n), count)
	require.True(t, want.Equal(sum), "sum(cost) = %s, want %s", sum, want)

	var ts time.Time
	var team string
	var cost decimal.Decimal
	var tokens uint64
	var dims map[string]string
	qctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"t": fmt.Sprint(uint64(1)<<53 + 4242)}))
	require.NoError(t, db.Conn.QueryRow(qctx,
		"SELECT ts, team, cost, tokens, dims FROM rt WHERE tokens = {t:UInt64}").Scan(&ts, &team, &cost, &tokens, &dims))
	require.True(t, base.Add(4242*time.Nanosecond).Equal(ts), "ts = %s", ts)
	require.Equal(t, "team-0", team) // 4242 % 7 == 0
	require.Equal(t, "0.004243012729", cost.StringFixed(12))
	require.Equal(t, map[string]string{"k": "4242"}, dims)
}
