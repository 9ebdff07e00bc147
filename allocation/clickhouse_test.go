package allocation

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/schema"
	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/internal/chtest"
	"github.com/agentcost/agentcost/pricing"
	analystsql "github.com/agentcost/agentcost/sql"
)

// insertWorkload migrates db and inserts rows into cost_events the way the
// exporter does (exact pico-USD into the EPHEMERAL columns, the share and
// 1-hour write attributes in extra).
func insertWorkload(t testing.TB, ctx context.Context, db *chtest.DB, rows []genRow) {
	t.Helper()
	insertWorkloadPrefix(t, ctx, db, "", rows)
}

func insertWorkloadPrefix(t testing.TB, ctx context.Context, db *chtest.DB, prefix string, rows []genRow) {
	t.Helper()
	_, err := schema.Migrate(ctx, db.Conn, schema.Options{Database: db.Name, TablePrefix: prefix})
	require.NoError(t, err)
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+prefix+"cost_events (event_time, trace_id, span_id, agent_id, root_agent_id, "+
		"team, project, business_unit, conversation_id, provider, request_model, pricing_model, cache_read_tokens, "+
		"cache_write_tokens, total_cost_pico, cache_write_cost_pico, cost_status, extra)")
	require.NoError(t, err)
	for _, r := range rows {
		extra := map[string]string{}
		if r.Beneficiaries != "" {
			extra[attrs.ShareBeneficiaries] = r.Beneficiaries
		}
		if r.CacheWrite1hTokens > 0 {
			extra[attrs.UsageCacheWrite1hTokens] = strconv.FormatUint(r.CacheWrite1hTokens, 10)
		}
		total, ok := r.Total.Pico()
		require.True(t, ok)
		cw, ok := r.CacheWrite.Pico()
		require.True(t, ok)
		status := attrs.StatusPriced
		if r.priceModel == "" {
			status = attrs.StatusUnpriced
		}
		require.NoError(t, batch.Append(r.Time, r.TraceID, r.SpanID, r.AgentID, r.RootAgentID, r.team, r.project, r.bu,
			r.ConversationID, r.Provider, r.requestModel, r.priceModel, r.CacheReadTokens, r.cacheWriteTokens, total, cw, status, extra))
	}
	require.NoError(t, batch.Send())
}

func query(t *testing.T, ctx context.Context, db *chtest.DB, params clickhouse.Parameters, q string) []string {
	t.Helper()
	rows, err := db.Conn.Query(clickhouse.Context(ctx, clickhouse.WithParameters(params)), q)
	require.NoError(t, err, q)
	defer rows.Close()
	var out []string
	types := rows.ColumnTypes()
	for rows.Next() {
		ptrs := make([]any, len(types))
		for i, ct := range types {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		require.NoError(t, rows.Scan(ptrs...))
		cells := make([]string, len(ptrs))
		for i, p := range ptrs {
			v := reflect.ValueOf(p).Elem()
			for v.Kind() == reflect.Pointer && !v.IsNil() {
				v = v.Elem()
			}
			cells[i] = fmt.Sprint(v.Interface())
		}
		out = append(out, strings.Join(cells, "\t"))
	}
	require.NoError(t, rows.Err())
	return out
}

// usdText normalises a decimal rendered by ClickHouse to 12 digits.
func usdText(t *testing.T, s string) string {
	t.Helper()
	m, err := pricing.ParseMoney(s)
	require.NoError(t, err, s)
	return m.String()
}

// TestViewMatchesReference runs the cost_allocations view on a generated
// multi-agent workload with prompt caching and checks, for every orchestrator
// mode: that every piece equals the reference implementation's, that the
// allocated total of every share group and of every day equals the direct
// total exactly, that reading day by day gives the same pieces as reading
// the whole window, and the rollups by team, project, business unit and agent.
func TestViewMatchesReference(t *testing.T) {
	ctx := context.Background()
	db := chtest.New(t)
	gen := workload(42, 400)
	insertWorkload(t, ctx, db, gen)
	rows := rowsOf(gen)

	var nCache, nShared, nInvalid, nOrch int
	for _, mode := range []Orchestrator{OrchestratorKeep, OrchestratorProportional, OrchestratorEven} {
		t.Run(string(mode), func(t *testing.T) {
			ref, err := Allocate(rows, mode)
			require.NoError(t, err)
			var want []string
			for _, a := range ref {
				r := rows[a.Source]
				want = append(want, strings.Join([]string{r.TraceID, r.SpanID, string(a.Rule), a.Agent, a.Payer, a.Weight.String(), a.Amount.String()}, "\t"))
				switch a.Rule {
				case RuleCacheWrite:
					nCache++
				case RuleSharedCall:
					nShared++
				case RuleInvalidShare:
					nInvalid++
				case RuleOrchestrator:
					nOrch++
				}
			}
			sort.Strings(want)

			pieces := func(from, to string) []string {
				got := query(t, ctx, db, clickhouse.Parameters{"from": from, "to": to, "mode": string(mode)},
					"SELECT trace_id, span_id, rule, agent_id, payer_agent_id, toString(weight), toString(cost) "+
						"FROM cost_allocations(from = {from:Date}, to = {to:Date}, orchestrator = {mode:String})")
				for i, line := range got {
					f := strings.Split(line, "\t")
					f[6] = usdText(t, f[6])
					got[i] = strings.Join(f, "\t")
				}
				sort.Strings(got)
				return got
			}
			got := pieces("2026-11-01", "2026-11-08")
			if !assert.Equal(t, want, got, "view pieces equal the reference implementation's") {
				onlyWant, onlyGot := diff(want, got)
				t.Fatalf("%d pieces only in the reference, e.g. %q; %d only in the view, e.g. %q", len(onlyWant), head(onlyWant), len(onlyGot), head(onlyGot))
			}

			// Day by day gives the same pieces.
			var byDay []string
			for d := 1; d < 8; d++ {
				byDay = append(byDay, pieces(fmt.Sprintf("2026-11-%02d", d), fmt.Sprintf("2026-11-%02d", d+1))...)
			}
			sort.Strings(byDay)
			assert.Equal(t, got, byDay, "a day's allocation does not depend on the window")

			p := clickhouse.Parameters{"mode": string(mode)}
			// Conservation per share group and day, and per day.
			mismatch := query(t, ctx, db, p, `
				SELECT toString(d.day), d.g, toString(d.direct), toString(a.allocated)
				FROM (
					SELECT toDate(event_time) AS day,
						multiIf(conversation_id != '', concat('c:', conversation_id), trace_id != '', concat('t:', root_agent_id, ':', trace_id), '') AS g,
						sum(total_cost) AS direct
					FROM cost_events GROUP BY day, g) AS d
				FULL OUTER JOIN (
					SELECT day, share_group AS g, sum(cost) AS allocated
					FROM cost_allocations(from = '2026-11-01', to = '2026-11-08', orchestrator = {mode:String})
					GROUP BY day, g) AS a
				ON d.day = a.day AND d.g = a.g
				WHERE d.direct != a.allocated`)
			assert.Empty(t, mismatch, "allocated total == direct total per share group and day")
			perDay := query(t, ctx, db, p, `
				SELECT toString(day), toString(sum(direct_cost)), toString(sum(allocated_cost)),
					toString((SELECT sum(total_cost) FROM cost_daily AS c WHERE c.day = v.day))
				FROM cost_direct_vs_allocated_daily(from = '2026-11-01', to = '2026-11-08', orchestrator = {mode:String}) AS v
				GROUP BY day ORDER BY day`)
			require.GreaterOrEqual(t, len(perDay), 3, "at least three days of traffic")
			for _, line := range perDay {
				f := strings.Split(line, "\t")
				assert.Equal(t, f[3], f[1], "direct side == cost_daily on %s", f[0])
				assert.Equal(t, f[3], f[2], "allocated == direct on %s", f[0])
			}

			// Rollups: allocated cost per agent and per team / project /
			// business unit equals the reference's; direct per agent equals cost_events.
			wantAgent := map[string]pricing.Money{}
			wantTeam := map[string]pricing.Money{}
			for _, a := range ref {
				wantAgent[a.Agent] = wantAgent[a.Agent].Add(a.Amount)
				id := workloadAgents[a.Agent]
				if a.Rule == RuleDirect || a.Rule == RuleInvalidShare {
					g := gen[a.Source]
					id = identity{g.team, g.project, g.bu}
				}
				k := id.team + "/" + id.project + "/" + id.bu
				wantTeam[k] = wantTeam[k].Add(a.Amount)
			}
			for _, line := range query(t, ctx, db, p, `
				SELECT agent_id, toString(sum(cost)) FROM cost_allocated_daily(from = '2026-11-01', to = '2026-11-08', orchestrator = {mode:String})
				GROUP BY agent_id`) {
				f := strings.Split(line, "\t")
				assert.Equal(t, wantAgent[f[0]].String(), usdText(t, f[1]), "allocated cost of agent %q", f[0])
				delete(wantAgent, f[0])
			}
			assert.Empty(t, wantAgent, "every agent with an allocation appears")
			for _, line := range query(t, ctx, db, p, `
				SELECT concat(team, '/', project, '/', business_unit), toString(sum(allocated_cost))
				FROM cost_direct_vs_allocated_daily(from = '2026-11-01', to = '2026-11-08', orchestrator = {mode:String})
				GROUP BY 1 HAVING sum(allocated_cost) != 0`) {
				f := strings.Split(line, "\t")
				assert.Equal(t, wantTeam[f[0]].String(), usdText(t, f[1]), "allocated cost of %q", f[0])
				delete(wantTeam, f[0])
			}
			assert.Empty(t, wantTeam)
			directMismatch := query(t, ctx, db, p, `
				SELECT d.agent_id FROM (SELECT agent_id, team, project, business_unit, sum(total_cost) AS c FROM cost_daily GROUP BY ALL) AS d
				FULL OUTER JOIN (SELECT agent_id, team, project, business_unit, sum(direct_cost) AS c
					FROM cost_direct_vs_allocated_daily(from = '2026-11-01', to = '2026-11-08', orchestrator = {mode:String}) GROUP BY ALL) AS v
				USING (agent_id, team, project, business_unit)
				WHERE d.c != v.c`)
			assert.Empty(t, directMismatch, "direct side of the rollup equals cost_daily by agent, team, project, business unit")

			// Analyst query: direct vs allocated per agent and team.
			q, err := analystsql.Get("direct_vs_allocated_cost_per_agent")
			require.NoError(t, err)
			wantDirect, wantAlloc := map[string]pricing.Money{}, map[string]pricing.Money{}
			for _, a := range ref {
				g := gen[a.Source]
				wantDirect[g.AgentID+"/"+g.team] = wantDirect[g.AgentID+"/"+g.team].Add(a.Amount)
				team := workloadAgents[a.Agent].team
				if a.Rule == RuleDirect || a.Rule == RuleInvalidShare {
					team = g.team
				}
				wantAlloc[a.Agent+"/"+team] = wantAlloc[a.Agent+"/"+team].Add(a.Amount)
			}
			lines := query(t, ctx, db, clickhouse.Parameters{"from": "2026-11-01", "to": "2026-11-08", "orchestrator": string(mode)}, q.SQL)
			require.NotEmpty(t, lines)
			for _, line := range lines {
				f := strings.Split(line, "\t")
				k := f[0] + "/" + f[1]
				assert.Equal(t, wantDirect[k].String(), usdText(t, f[2]), "direct of %s", k)
				assert.Equal(t, wantAlloc[k].String(), usdText(t, f[3]), "allocated of %s", k)
			}
		})
	}
	// Analyst query: who benefits from whose cache writes.
	q, err := analystsql.Get("cache_write_beneficiaries")
	require.NoError(t, err)
	ref, err := Allocate(rows, OrchestratorKeep)
	require.NoError(t, err)
	type pair struct{ writer, reader string }
	wantCost, wantN := map[pair]pricing.Money{}, map[pair]int{}
	for _, a := range ref {
		if a.Rule == RuleCacheWrite {
			k := pair{a.Payer, a.Agent}
			wantCost[k] = wantCost[k].Add(a.Amount)
			wantN[k]++
		}
	}
	lines := query(t, ctx, db, clickhouse.Parameters{"from": "2026-11-01", "to": "2026-11-08"}, q.SQL)
	require.Len(t, lines, len(wantCost))
	for _, line := range lines {
		f := strings.Split(line, "\t")
		k := pair{f[0], f[2]}
		assert.Equal(t, workloadAgents[f[0]].team, f[1])
		assert.Equal(t, workloadAgents[f[2]].team, f[3])
		assert.Equal(t, strconv.Itoa(wantN[k]), f[4], "writes of %v", k)
		assert.Equal(t, wantCost[k].String(), usdText(t, f[6]), "cache-write cost of %v", k)
	}

	// The workload exercised every rule.
	assert.Positive(t, nCache)
	assert.Positive(t, nShared)
	assert.Positive(t, nInvalid)
	assert.Positive(t, nOrch)
	t.Logf("%d rows; pieces over three modes: %d cache_write, %d shared_call, %d invalid_share, %d orchestrator", len(rows), nCache, nShared, nInvalid, nOrch)
}

// TestViewWithPrefix checks that the views find each other and their tables
// under a table prefix.
func TestViewWithPrefix(t *testing.T) {
	ctx := context.Background()
	db := chtest.New(t)
	gen := workload(3, 20)
	insertWorkloadPrefix(t, ctx, db, "p_", gen)
	var direct pricing.Money
	for _, r := range gen {
		direct = direct.Add(r.Total)
	}
	got := query(t, ctx, db, nil, "SELECT toString(sum(direct_cost)), toString(sum(allocated_cost)) "+
		"FROM p_cost_direct_vs_allocated_daily(from = '2026-11-01', to = '2026-11-08', orchestrator = 'even')")
	require.Len(t, got, 1)
	f := strings.Split(got[0], "\t")
	assert.Equal(t, direct.String(), usdText(t, f[0]))
	assert.Equal(t, direct.String(), usdText(t, f[1]))
}

// TestSchemaUsesSameContract pins the constants that migration 0004 repeats
// as literals: the attribute keys and the beneficiary item pattern.
func TestSchemaUsesSameContract(t *testing.T) {
	migs, err := schema.Render(schema.Options{})
	require.NoError(t, err)
	var sql string
	for _, m := range migs {
		if m.Name == "cost_allocations" {
			sql = m.SQL()
		}
	}
	require.NotEmpty(t, sql, "migration 0004_cost_allocations")
	assert.Contains(t, sql, "`extra`['"+attrs.ShareBeneficiaries+"']")
	assert.Contains(t, sql, "`extra`['"+attrs.UsageCacheWrite1hTokens+"']")
	assert.Contains(t, sql, "extractGroups(x, '"+ItemPattern+"')")
	assert.Contains(t, sql, "length(`items`) <= "+strconv.Itoa(MaxBeneficiaries))
	assert.Contains(t, sql, "toIntervalSecond(if(`w`.`long_ttl`, "+strconv.Itoa(int(CacheTTL1h.Seconds()))+", "+strconv.Itoa(int(CacheTTL5m.Seconds()))+"))")
	for _, r := range []Rule{RuleDirect, RuleSharedCall, RuleInvalidShare, RuleCacheWrite, RuleOrchestrator} {
		assert.Contains(t, sql, "'"+string(r)+"'")
	}
}

func TestViewRejectsUnknownMode(t *testing.T) {
	ctx := context.Background()
	db := chtest.New(t)
	insertWorkload(t, ctx, db, workload(7, 3))
	rows, err := db.Conn.Query(ctx, "SELECT count() FROM cost_allocations(from = '2026-11-01', to = '2026-11-08', orchestrator = 'fair')")
	if err == nil {
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "orchestrator must be keep, proportional or even")
}

// diff returns the lines only in a and only in b (sorted inputs).
func diff(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			onlyA = append(onlyA, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			onlyB = append(onlyB, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return onlyA, onlyB
}

func head(s []string) []string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}
