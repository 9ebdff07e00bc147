package agentcostclickhouseexporter

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/internal/chtest"
)

// httpAddr is the HTTP interface of the test server (AGENTCOST_CLICKHOUSE_HTTP,
// default 127.0.0.1:8123, the port of `make clickhouse`).
func httpAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("AGENTCOST_CLICKHOUSE_HTTP")
	if addr == "" {
		addr = "127.0.0.1:8123"
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/ping")
	if err == nil {
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET /ping: %s", resp.Status)
		}
	}
	if err != nil {
		// Like internal/chtest: fail under CI=true, skip otherwise, and
		// say how to start a server.
		msg := fmt.Sprintf("no ClickHouse HTTP interface at %s (run `make clickhouse` or set AGENTCOST_CLICKHOUSE_HTTP): %v", addr, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return addr
}

// TestHTTPEndpoint writes and migrates over the HTTP protocol.
func TestHTTPEndpoint(t *testing.T) {
	addr := httpAddr(t) // before chtest.New: no database left behind when it fails
	db := chtest.New(t)
	cfg := testConfig(db)
	cfg.Endpoint = "http://" + addr
	cfg.Compression = "gzip"
	e := startDirect(t, cfg)
	td := traces(
		call{traceID: "h", spanID: "1", start: t0, team: "cx", in: 5, total: "0.000000000007"},
		call{traceID: "h", spanID: "2", start: t0, team: "cx", in: 6, total: "2.5"},
	)
	require.NoError(t, e.pushTraces(context.Background(), td))
	require.NoError(t, e.pushTraces(context.Background(), td), "retry")
	got := queryStrings(t, db.Conn, "SELECT toString(count()), toString(sum(total_cost)), toString(sum(input_tokens)) FROM cost_events")
	assert.Equal(t, []string{"2\t2.500000000007\t11"}, got)
}
