package agentcostclickhouseexporter

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/internal/chtest"
	analystsql "github.com/agentcost/agentcost/sql"
)

// analystFixture is a small, hand-checked data set for the analyst queries.
// Day D = 2026-11-02, D+1 = 2026-11-03; one call on 2026-10-15 lies outside
// the November window.
func analystFixture() []call {
	d := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	d1 := d.AddDate(0, 0, 1)
	support := call{root: "support", team: "cx", project: "helpdesk", bu: "ops", service: "support-bot", env: "prod", provider: "openai"}
	etl := call{agent: "etl", root: "etl", team: "data", project: "lake", bu: "analytics", service: "etl", env: "prod"}
	with := func(base call, f func(c *call)) call { f(&base); return base }
	return []call{
		with(support, func(c *call) { // 1: root agent, cached prompt
			c.traceID, c.spanID, c.start = "T1", "1", d.Add(10*time.Hour+5*time.Minute)
			c.agent, c.operation, c.reqModel, c.priceModel, c.conversation = "support", "chat", "gpt-5", "gpt-5", "c1"
			c.in, c.cacheRead, c.out = 1000, 600, 100
			c.inCost, c.cacheReadCost, c.outCost, c.total = "0.000400000000", "0.000060000000", "0.001000000000", "0.001460000000"
		}),
		with(support, func(c *call) { // 2: sub-agent triage
			c.traceID, c.spanID, c.parentID, c.start = "T1", "2", "1", d.Add(10*time.Hour+6*time.Minute)
			c.agent, c.operation, c.reqModel, c.priceModel, c.conversation = "triage", "chat", "gpt-5-mini", "gpt-5-mini", "c1"
			c.in, c.out = 200, 50
			c.inCost, c.outCost, c.total = "0.000050000000", "0.000100000000", "0.000150000000"
		}),
		with(support, func(c *call) { // 3: sub-agent writer, other project
			c.traceID, c.spanID, c.parentID, c.start = "T1", "3", "1", d.Add(11*time.Hour)
			c.agent, c.project, c.operation, c.reqModel, c.priceModel, c.conversation = "writer", "kb", "chat", "gpt-5", "gpt-5", "c1"
			c.in, c.cacheRead, c.out = 2000, 1000, 200
			c.inCost, c.cacheReadCost, c.outCost, c.total = "0.001000000000", "0.000100000000", "0.002000000000", "0.003100000000"
		}),
		with(support, func(c *call) { // 4, 5: the same tool call twice in T1
			c.traceID, c.spanID, c.parentID, c.start, c.dur = "T1", "4", "2", d.Add(10*time.Hour+7*time.Minute), 2*time.Second
			c.agent, c.operation, c.tool, c.toolHash, c.status, c.total = "triage", "execute_tool", "search", "h1", "not_billable", "0"
		}),
		with(support, func(c *call) {
			c.traceID, c.spanID, c.parentID, c.start, c.dur = "T1", "5", "2", d.Add(10*time.Hour+8*time.Minute), 2*time.Second
			c.agent, c.operation, c.tool, c.toolHash, c.status, c.total = "triage", "execute_tool", "search", "h1", "not_billable", "0"
		}),
		with(support, func(c *call) { // 6: same tool, other arguments
			c.traceID, c.spanID, c.parentID, c.start, c.dur = "T1", "6", "2", d.Add(10*time.Hour+9*time.Minute), time.Second
			c.agent, c.operation, c.tool, c.toolHash, c.status, c.total = "triage", "execute_tool", "search", "h2", "not_billable", "0"
		}),
		with(etl, func(c *call) { // 7: small prompt on an expensive model
			c.traceID, c.spanID, c.start = "T2", "7", d1.Add(9*time.Hour)
			c.operation, c.provider, c.reqModel, c.priceModel, c.conversation = "chat", "anthropic", "claude-x", "claude-x", "c2"
			c.in, c.out = 50, 10
			c.inCost, c.outCost, c.total = "0.000750000000", "0.000750000000", "0.001500000000"
		}),
		with(etl, func(c *call) { // 8, 9: unpriced model
			c.traceID, c.spanID, c.start = "T2", "8", d1.Add(9*time.Hour+30*time.Minute)
			c.operation, c.provider, c.reqModel, c.conversation = "chat", "acme-ai", "mystery-1", "c2"
			c.status, c.reason, c.in, c.out = "unpriced", "unknown_model", 300, 20
		}),
		with(etl, func(c *call) {
			c.traceID, c.spanID, c.start = "T3", "9", d1.Add(10*time.Hour)
			c.operation, c.provider, c.reqModel = "chat", "acme-ai", "mystery-1"
			c.status, c.reason, c.in = "unpriced", "unknown_model", 100
		}),
		with(support, func(c *call) { // 10: outside the window
			c.traceID, c.spanID, c.start = "T0", "10", time.Date(2026, 10, 15, 12, 0, 0, 0, time.UTC)
			c.agent, c.operation, c.reqModel, c.priceModel = "support", "chat", "gpt-5", "gpt-5"
			c.in, c.total = 10, "5.000000000000"
		}),
		with(support, func(c *call) { // 11: small prompt on a cheap model
			c.traceID, c.spanID, c.parentID, c.start = "T4", "11", "", d.Add(15*time.Hour)
			c.agent, c.operation, c.reqModel, c.priceModel = "triage", "chat", "gpt-5-mini", "gpt-5-mini"
			c.in, c.out, c.total = 80, 20, "0.000030000000"
		}),
	}
}

var (
	novFrom = "2026-11-01 00:00:00"
	novTo   = "2026-12-01 00:00:00"
)

// analystCases holds every analyst query's parameters and expected answer
// (tab-separated columns; decimals without trailing zeros).
var analystCases = map[string]struct {
	params map[string]string
	want   []string
}{
	"top_agents_by_cost": {
		params: map[string]string{"from": novFrom, "to": novTo, "limit": "10"},
		want: []string{
			"writer\tcx\t1\t2000\t200\t0.0031",
			"etl\tdata\t3\t450\t30\t0.0015",
			"support\tcx\t1\t1000\t100\t0.00146",
			"triage\tcx\t5\t280\t70\t0.00018",
		},
	},
	"cost_per_team_per_day": {
		params: map[string]string{"from": "2026-11-01", "to": "2026-12-01"},
		want: []string{
			"2026-11-02\tcx\t7\t3280\t370\t0.00474",
			"2026-11-03\tdata\t3\t450\t30\t0.0015",
		},
	},
	"cost_per_project_per_day": {
		params: map[string]string{"from": "2026-11-01", "to": "2026-12-01"},
		want: []string{
			"2026-11-02\tkb\t1\t2000\t200\t0.0031",
			"2026-11-02\thelpdesk\t6\t1280\t170\t0.00164",
			"2026-11-03\tlake\t3\t450\t30\t0.0015",
		},
	},
	"cost_per_business_unit_per_day": {
		params: map[string]string{"from": "2026-11-01", "to": "2026-12-01"},
		want: []string{
			"2026-11-02\tops\t7\t3280\t370\t0.00474",
			"2026-11-03\tanalytics\t3\t450\t30\t0.0015",
		},
	},
	"cost_per_conversation": {
		params: map[string]string{"from": novFrom, "to": novTo, "limit": "10"},
		want: []string{
			"c1\t3\t3\t2026-11-02 10:05:00\t2026-11-02 11:00:00\t0.00471",
			"c2\t2\t1\t2026-11-03 09:00:00\t2026-11-03 09:30:00\t0.0015",
		},
	},
	"cache_hit_ratio_per_agent": {
		params: map[string]string{"from": novFrom, "to": novTo},
		want: []string{
			"writer\t2000\t1000\t0.5\t0.0001\t0.0009",
			"support\t1000\t600\t0.6\t0.00006\t0.00054",
			"etl\t450\t0\t0\t0\t0",
			"triage\t280\t0\t0\t0\t0",
		},
	},
	"models_per_agent": {
		params: map[string]string{"from": novFrom, "to": novTo},
		want: []string{
			"etl\tanthropic\tclaude-x\t1\t0.0015\t2",
			"etl\tacme-ai\tmystery-1\t2\t0\t2",
			"support\topenai\tgpt-5\t1\t0.00146\t1",
			"triage\topenai\tgpt-5-mini\t2\t0.00018\t1",
			"writer\topenai\tgpt-5\t1\t0.0031\t1",
		},
	},
	"unpriced_volume_by_model": {
		params: map[string]string{"from": novFrom, "to": novTo},
		want:   []string{"acme-ai\tmystery-1\tunpriced\tunknown_model\t2\t400\t20\t1"},
	},
	"repeated_tool_calls": {
		params: map[string]string{"from": novFrom, "to": novTo},
		want:   []string{traceIDOf("T1").String() + "\ttriage\tsearch\th1\t2\t1\t4000000000\t0"},
	},
	"expensive_models_on_small_prompts": {
		params: map[string]string{"from": novFrom, "to": novTo, "max_input_tokens": "100", "min_usd_per_mtok": "10"},
		want:   []string{"etl\tanthropic\tclaude-x\t1\t50\t0.0015\t25"},
	},
	"root_vs_subagent_cost": {
		params: map[string]string{"from": novFrom, "to": novTo},
		want: []string{
			"support\t0.00146\t0.00328\t0.00474\t2",
			"etl\t0.0015\t0\t0.0015\t0",
		},
	},
	"scope_spend_in_window": {
		params: map[string]string{"team": "cx", "from": "2026-10-01 00:00:00", "to": novTo},
		want:   []string{"5.00474\t8"},
	},
}

// TestAnalystQueries runs every query of sql/queries against the fixture
// and compares the full answer.
func TestAnalystQueries(t *testing.T) {
	db := chtest.New(t)
	e := startDirect(t, testConfig(db))
	require.NoError(t, e.pushTraces(context.Background(), traces(analystFixture()...)))

	all := analystsql.All()
	require.Len(t, all, len(analystCases), "every analyst query needs a test case here")
	for _, q := range all {
		t.Run(q.Name, func(t *testing.T) {
			tc, ok := analystCases[q.Name]
			require.True(t, ok, "no test case for sql/queries/%s.sql", q.Name)
			assert.NotEmpty(t, q.Question, "each file states its question")
			params := clickhouse.Parameters{}
			for k, v := range tc.params {
				params[k] = v
			}
			ctx := clickhouse.Context(context.Background(), clickhouse.WithParameters(params))
			got := queryAny(t, ctx, db, q.SQL)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestCacheSavingsMultiplyFirst: with 10 pico-USD for 3 uncached tokens the
// per-token price is not a 12-digit decimal. Dividing first
// (input_cost / uncached * cache_read) truncates it to 3 pico and reports
// 8999 pico of savings for 3000 cached tokens; multiplying first gives the
// right 10 * 3000 / 3 - 1 = 9999 pico. Both queries that estimate savings
// are checked, and the old form is run too to show the fixture tells them
// apart.
func TestCacheSavingsMultiplyFirst(t *testing.T) {
	db := chtest.New(t)
	e := startDirect(t, testConfig(db))
	d := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	require.NoError(t, e.pushTraces(context.Background(), traces(call{
		traceID: "T", spanID: "1", start: d, agent: "odd", root: "odd", team: "cx", operation: "chat",
		provider: "openai", reqModel: "m", priceModel: "m",
		in: 3003, cacheRead: 3000, inCost: "0.000000000010", cacheReadCost: "0.000000000001", total: "0.000000000011",
	})))
	const (
		oldForm = "input_cost / (input_tokens - cache_read_tokens - cache_write_tokens) * cache_read_tokens"
		newForm = "input_cost * cache_read_tokens / (input_tokens - cache_read_tokens - cache_write_tokens)"
	)
	for _, tc := range []struct {
		name   string
		params clickhouse.Parameters
		want   string
	}{
		{"cache_hit_ratio_per_agent", clickhouse.Parameters{"from": "2026-11-01 00:00:00", "to": "2026-12-01 00:00:00"},
			"odd	3003	3000	0.999	0.000000000001	0.000000009999"},
		{"direct_vs_allocated_cost_per_agent", clickhouse.Parameters{"from": "2026-11-01", "to": "2026-12-01", "orchestrator": "keep"},
			"odd	cx	0.000000000011	0.000000000011	0	0.000000009999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := analystsql.Get(tc.name)
			require.NoError(t, err)
			require.Contains(t, q.SQL, newForm)
			ctx := clickhouse.Context(context.Background(), clickhouse.WithParameters(tc.params))
			assert.Equal(t, []string{tc.want}, queryAny(t, ctx, db, q.SQL))

			old := queryAny(t, ctx, db, strings.ReplaceAll(q.SQL, newForm, oldForm))
			require.Len(t, old, 1)
			assert.True(t, strings.HasSuffix(old[0], "\t0.000000008999"), "dividing first truncates: %q", old[0])
		})
	}
}

// queryAny runs q and renders every row tab-separated, whatever the types.
func queryAny(t *testing.T, ctx context.Context, db *chtest.DB, q string) []string {
	t.Helper()
	rows, err := db.Conn.Query(ctx, q)
	require.NoError(t, err)
	defer rows.Close()
	types := rows.ColumnTypes()
	var out []string
	for rows.Next() {
		ptrs := make([]any, len(types))
		for i, ct := range types {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		require.NoError(t, rows.Scan(ptrs...))
		cells := make([]string, len(ptrs))
		for i, p := range ptrs {
			v := reflect.ValueOf(p).Elem().Interface()
			switch x := v.(type) {
			case time.Time:
				if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && types[i].DatabaseTypeName() == "Date" {
					cells[i] = x.Format(time.DateOnly)
				} else {
					cells[i] = x.UTC().Format(time.DateTime)
				}
			default:
				cells[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(cells, "\t"))
	}
	require.NoError(t, rows.Err())
	return out
}
