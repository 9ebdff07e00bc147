package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/agentcost/agentcost/budgetclient"
	"github.com/agentcost/agentcost/cmd/agentsim/sim"
	"github.com/agentcost/agentcost/internal/chtest"
	"github.com/agentcost/agentcost/pricing"
)

// demoConfig is the collector config the pipeline test runs: the demo's own.
const demoConfig = "examples/demo/config.yaml"

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// collector is an in-process otelcol-agentcost running the demo config.
type collector struct {
	grpc, http, budget string
	db                 *chtest.DB
}

// startCollector runs examples/demo/config.yaml in-process through the real
// factories and otelcol, on free ports, writing to a fresh database.
func startCollector(t testing.TB) *collector {
	t.Helper()
	return startCollectorWith(t, chtest.New(t))
}

// startCollectorWith runs the demo config in-process writing to db, with
// overrides (confmap URIs such as "yaml:processors::agentcost::hold::wait: 1s")
// merged over it in order.
func startCollectorWith(t testing.TB, db *chtest.DB, overrides ...string) *collector {
	t.Helper()
	t.Chdir(repoRoot(t))
	c := &collector{grpc: freeAddr(t), http: freeAddr(t), budget: freeAddr(t), db: db}
	t.Setenv("AGENTCOST_OTLP_GRPC_ENDPOINT", c.grpc)
	t.Setenv("AGENTCOST_OTLP_HTTP_ENDPOINT", c.http)
	t.Setenv("AGENTCOST_BUDGET_ENDPOINT", c.budget)
	t.Setenv("AGENTCOST_DEMO_DB", c.db.Name)
	t.Setenv("AGENTCOST_CLICKHOUSE_ENDPOINT", "tcp://"+c.db.Options.Addr[0])

	logger := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		BuildInfo:               component.BuildInfo{Command: "otelcol-agentcost-e2e", Version: "test"},
		Factories:               func() (otelcol.Factories, error) { return componentsWithLogger(logger) },
		DisableGracefulShutdown: true,
		SkipSettingGRPCLogger:   true,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs:              append([]string{"file:" + demoConfig}, overrides...),
			ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory(), yamlprovider.NewFactory()},
			DefaultScheme:     "env",
		}},
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- col.Run(context.Background()) }()
	t.Cleanup(func() {
		col.Shutdown()
		select {
		case err := <-done:
			assert.NoError(t, err, "collector run")
		case <-time.After(time.Minute):
			t.Error("collector did not shut down within a minute")
		}
	})
	deadline := time.Now().Add(time.Minute)
	for col.GetState() != otelcol.StateRunning {
		select {
		case err := <-done:
			t.Fatalf("collector stopped while starting: %v", err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "collector not running after a minute (state %v)", col.GetState())
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// send runs the simulator against the collector over protocol.
func (c *collector) send(t testing.TB, protocol string, cfg sim.Config, pr *sim.Pricer) *sim.Expectation {
	t.Helper()
	ctx := context.Background()
	var inner sdktrace.SpanExporter
	var err error
	if protocol == "grpc" {
		inner, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(c.grpc), otlptracegrpc.WithInsecure())
	} else {
		inner, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(c.http), otlptracehttp.WithInsecure())
	}
	require.NoError(t, err)
	exp := &sim.CountingExporter{SpanExporter: inner}
	want, err := sim.Run(ctx, cfg, exp, pr, nil)
	require.NoError(t, err)
	require.NoError(t, inner.Shutdown(ctx))
	exported, failed, lastErr := exp.Counts()
	require.Zero(t, failed, "spans failed to export: %v", lastErr)
	require.Equal(t, want.Spans, exported, "every span sent over %s", protocol)
	return want
}

// merge adds the expectations of several runs.
func merge(es ...*sim.Expectation) *sim.Expectation {
	out := &sim.Expectation{ByTeam: map[string]*sim.Bucket{}, ByAgent: map[string]*sim.Bucket{}, ByProject: map[string]*sim.Bucket{}, ByModel: map[string]*sim.Bucket{}}
	add := func(dst *sim.Bucket, src *sim.Bucket) {
		dst.Cost = dst.Cost.Add(src.Cost)
		dst.Calls += src.Calls
		dst.Priced += src.Priced
		dst.Unpriced += src.Unpriced
		dst.NotBillable += src.NotBillable
		dst.InputTokens += src.InputTokens
		dst.OutputTokens += src.OutputTokens
	}
	for _, e := range es {
		out.Traces += e.Traces
		out.Spans += e.Spans
		out.BillableSpans += e.BillableSpans
		add(&out.Total, &e.Total)
		for _, pair := range [][2]map[string]*sim.Bucket{{out.ByTeam, e.ByTeam}, {out.ByAgent, e.ByAgent}, {out.ByProject, e.ByProject}, {out.ByModel, e.ByModel}} {
			for k, b := range pair[1] {
				if pair[0][k] == nil {
					pair[0][k] = &sim.Bucket{}
				}
				add(pair[0][k], b)
			}
		}
		out.Calls = append(out.Calls, e.Calls...)
	}
	return out
}

// waitRows waits until the cost_events table holds want rows, then checks
// that the count stays there (nothing arrives twice).
func (c *collector) waitRows(t testing.TB, want int) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	var n uint64
	for {
		err := c.db.Conn.QueryRow(ctx, "SELECT count() FROM cost_events").Scan(&n)
		if err == nil && n >= uint64(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cost_events has %d rows after 2 minutes, want %d (err %v)", n, want, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(6 * time.Second) // longer than the processor's hold (5 s) and the exporter's flush (1 s)
	require.NoError(t, c.db.Conn.QueryRow(ctx, "SELECT count() FROM cost_events").Scan(&n))
	require.Equal(t, uint64(want), n, "rows = billable spans sent: none lost, none counted twice")
}

type groupRow struct {
	cost                                 string
	calls, priced, unpriced, notBillable uint64
	input, output                        uint64
}

// groups reads cost rows grouped by column from table.
func (c *collector) groups(t *testing.T, column, table string) map[string]groupRow {
	t.Helper()
	q := fmt.Sprintf(`SELECT %s, toString(sum(total_cost)), count(), countIf(cost_status = 'priced'),
		countIf(cost_status = 'unpriced'), countIf(cost_status = 'not_billable'), sum(input_tokens), sum(output_tokens)
		FROM %s GROUP BY %s ORDER BY %s`, column, table, column, column)
	if table != "cost_events" {
		q = fmt.Sprintf(`SELECT %s, toString(sum(total_cost)), sum(calls), toUInt64(0), toUInt64(0), toUInt64(0), sum(input_tokens), sum(output_tokens)
			FROM %s GROUP BY %s ORDER BY %s`, column, table, column, column)
	}
	rows, err := c.db.Conn.Query(context.Background(), q)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]groupRow{}
	for rows.Next() {
		var k string
		var r groupRow
		require.NoError(t, rows.Scan(&k, &r.cost, &r.calls, &r.priced, &r.unpriced, &r.notBillable, &r.input, &r.output))
		out[k] = r
	}
	require.NoError(t, rows.Err())
	return out
}

func assertGroups(t *testing.T, what string, want map[string]*sim.Bucket, got map[string]groupRow, statuses bool) {
	t.Helper()
	wantKeys := sim.Keys(want)
	gotKeys := make([]string, 0, len(got))
	for k := range got {
		gotKeys = append(gotKeys, k)
	}
	sort.Strings(gotKeys)
	assert.Equal(t, wantKeys, gotKeys, "%s values", what)
	for _, k := range wantKeys {
		w, g := want[k], got[k]
		gc, err := pricing.ParseMoney(g.cost)
		require.NoError(t, err)
		assert.Equal(t, w.Cost.String(), gc.String(), "%s %q: cost", what, k)
		assert.Equal(t, uint64(w.Calls), g.calls, "%s %q: rows", what, k)
		assert.Equal(t, w.InputTokens, g.input, "%s %q: input tokens", what, k)
		assert.Equal(t, w.OutputTokens, g.output, "%s %q: output tokens", what, k)
		if statuses {
			assert.Equal(t, uint64(w.Priced), g.priced, "%s %q: priced rows", what, k)
			assert.Equal(t, uint64(w.Unpriced), g.unpriced, "%s %q: unpriced rows", what, k)
			assert.Equal(t, uint64(w.NotBillable), g.notBillable, "%s %q: not_billable rows", what, k)
		}
	}
}

// TestPipelineTotalsExact runs the demo collector in-process, sends the
// simulator's traffic over OTLP gRPC and HTTP, and checks that ClickHouse
// holds exactly what the simulator priced: per team, project, agent and
// model; rows, statuses, tokens and cost to the pico-dollar; in cost_events
// and in the hourly and daily rollups; no span lost or counted twice; and that
// the budget extension saw the same spend.
func TestPipelineTotalsExact(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs ClickHouse and about a minute")
	}
	c := startCollector(t)
	pr, err := sim.PricerFromCollectorConfig(demoConfig)
	require.NoError(t, err)

	a := c.send(t, "grpc", sim.Config{Seed: 20261129, Rate: 400, Traces: 400, KeepCalls: true}, pr)
	b := c.send(t, "http", sim.Config{Seed: 7, Rate: 400, Traces: 150, KeepCalls: true}, pr)
	want := merge(a, b)
	require.Positive(t, want.Total.Priced)
	require.Positive(t, want.Total.Unpriced)
	require.Positive(t, want.Total.NotBillable)
	t.Logf("sent %d traces, %d spans, %d billable; expected %s USD", want.Traces, want.Spans, want.BillableSpans, want.Total.Cost)

	c.waitRows(t, want.BillableSpans)
	ctx := context.Background()

	var rows, distinct uint64
	require.NoError(t, c.db.Conn.QueryRow(ctx, "SELECT count(), uniqExact(trace_id, span_id) FROM cost_events").Scan(&rows, &distinct))
	assert.Equal(t, rows, distinct, "every row is a distinct span")

	var total string
	require.NoError(t, c.db.Conn.QueryRow(ctx, "SELECT toString(sum(total_cost)) FROM cost_events").Scan(&total))
	gotTotal, err := pricing.ParseMoney(total)
	require.NoError(t, err)
	assert.Equal(t, want.Total.Cost.String(), gotTotal.String(), "total cost")

	var focus string
	require.NoError(t, c.db.Conn.QueryRow(ctx, "SELECT toString(sum(BilledCost)) FROM focus_v1").Scan(&focus))
	gotFocus, err := pricing.ParseMoney(focus)
	require.NoError(t, err)
	assert.Equal(t, want.Total.Cost.String(), gotFocus.String(), "FOCUS view billed cost")

	assertGroups(t, "team", want.ByTeam, c.groups(t, "team", "cost_events"), true)
	assertGroups(t, "project", want.ByProject, c.groups(t, "project", "cost_events"), true)
	assertGroups(t, "agent", want.ByAgent, c.groups(t, "agent_id", "cost_events"), true)
	assertGroups(t, "team (hourly rollup)", want.ByTeam, c.groups(t, "team", "cost_hourly"), false)
	assertGroups(t, "agent (daily rollup)", want.ByAgent, c.groups(t, "agent_id", "cost_daily"), false)

	// Per model: model calls by pricing model name are checked through the
	// request model; tool rows by tool name.
	byModel := c.groups(t, "if(operation = 'execute_tool', concat('tool:', tool_name), request_model)", "cost_events")
	assertGroups(t, "model", want.ByModel, byModel, true)

	// Identity: every call found its agent (none fell back to the fallback
	// identity because its agent span came late), and the root agent of
	// every sub-agent call is its orchestrator.
	var fallback uint64
	require.NoError(t, c.db.Conn.QueryRow(ctx, "SELECT count() FROM cost_events WHERE identity_status = 'fallback'").Scan(&fallback))
	assert.Zero(t, fallback, "calls billed to the fallback identity")
	roots := map[string]string{}
	for _, call := range want.Calls {
		roots[call.Span.Agent.ID] = call.Span.Root.ID
	}
	r, err := c.db.Conn.Query(ctx, "SELECT DISTINCT agent_id, root_agent_id FROM cost_events ORDER BY agent_id")
	require.NoError(t, err)
	got := map[string]string{}
	for r.Next() {
		var agent, root string
		require.NoError(t, r.Scan(&agent, &root))
		got[agent] = root
	}
	require.NoError(t, r.Err())
	r.Close()
	assert.Equal(t, roots, got, "root agent of each agent")

	// The budget extension accrued the same spend as ClickHouse holds.
	c.assertBudgets(t, want)

	// Every dashboard panel query runs on this data.
	t.Run("dashboard", func(t *testing.T) { checkDashboardQueries(t, c) })
}

func (c *collector) assertBudgets(t *testing.T, want *sim.Expectation) {
	t.Helper()
	// Wait for a reconcile that covers every charge (reconcile_interval 5s,
	// reconcile_lag 10s in the demo config) and compare: the spend of a
	// budget must not depend on whether a charge was counted locally or read
	// back from the ledger.
	wantSpend := map[string]string{
		"org-monthly":       want.Total.Cost.String(),
		"research-hourly":   want.ByTeam["research"].Cost.String(),
		"engineering-daily": want.ByTeam["engineering"].Cost.String(),
		"shadow-it-daily":   want.ByTeam["unassigned"].Cost.String(),
	}
	var last map[string]budgetclient.BudgetStatus
	deadline := time.Now().Add(40 * time.Second)
	for {
		last = map[string]budgetclient.BudgetStatus{}
		resp, err := getBudgets("http://" + c.budget + "/v1/budgets")
		if err == nil {
			for _, b := range resp.Budgets {
				last[b.Name] = b
			}
			ok := true
			for name, spend := range wantSpend {
				if last[name].Spend != spend {
					ok = false
				}
			}
			if ok {
				break
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for name, spend := range wantSpend {
		assert.Equal(t, spend, last[name].Spend, "budget %s spend", name)
	}
	// research-hourly (12 USD) is exceeded by this traffic: suspended.
	require.Positive(t, want.ByTeam["research"].Cost.Cmp(pricing.MustParseMoney("12")))
	assert.True(t, last["research-hourly"].Suspended, "research-hourly suspended")
	assert.Contains(t, last["research-hourly"].AlertsFired, "1")
}

func getBudgets(url string) (*budgetclient.BudgetsResponse, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var out budgetclient.BudgetsResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, errors.Join(fmt.Errorf("decode %s", url), err)
	}
	return &out, nil
}
