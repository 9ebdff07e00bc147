package allocation

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/agentcost/agentcost/pricing"
)

// identity is an agent's team, project and business unit in the workload.
type identity struct{ team, project, bu string }

var workloadAgents = map[string]identity{
	"planner":  {"platform", "copilot", "eng"},
	"router":   {"platform", "helpdesk", "ops"},
	"research": {"search", "copilot", "eng"},
	"coder":    {"dev", "copilot", "eng"},
	"reviewer": {"dev", "copilot", "eng"},
	"writer":   {"content", "helpdesk", "ops"},
	"triage":   {"cx", "helpdesk", "ops"},
}

var (
	workloadRoots = []string{"planner", "router"}
	workloadSubs  = []string{"research", "coder", "reviewer", "writer", "triage"}
	workloadModel = [][2]string{{"anthropic", "claude-sonnet"}, {"anthropic", "claude-haiku"}, {"openai", "gpt-5"}}
	workloadDay0  = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
)

// genRow is a generated cost_events row: the fields Allocate reads plus the
// columns the view reads.
type genRow struct {
	Row
	team, project, bu        string
	requestModel, priceModel string
	cacheWriteTokens         uint64
}

// workload generates a seeded multi-agent workload over two days (and a few
// traces running past midnight) with prompt caching: cache writes of 5
// minutes and 1 hour, reads by other agents and by the writer, reads after
// expiry, caches nobody reads, conversations spanning traces, explicit
// shares (weighted, with an unknown agent, malformed), reported costs below
// their cache-write part, zero-cost rows, rows without trace or conversation
// and duplicated rows.
func workload(seed uint64, traces int) []genRow {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var out []genRow
	pico := func(max uint64) pricing.Money { return pricing.MoneyFromPico(rng.Uint64N(max)) }
	for i := 0; i < traces; i++ {
		root := workloadRoots[rng.IntN(len(workloadRoots))]
		subs := rng.Perm(len(workloadSubs))[:rng.IntN(4)]
		conv := ""
		if rng.IntN(10) < 6 {
			conv = fmt.Sprintf("conv-%d", rng.IntN(traces/3+1))
		}
		trace := fmt.Sprintf("t%05d", i)
		if rng.IntN(40) == 0 {
			trace = "" // no trace id
		}
		at := workloadDay0.Add(time.Duration(rng.Int64N(int64(47 * time.Hour))))
		if rng.IntN(8) == 0 { // just before midnight
			at = workloadDay0.Add(time.Duration(23+24*rng.IntN(2))*time.Hour + time.Duration(50+rng.IntN(9))*time.Minute)
		}
		pm := workloadModel[rng.IntN(len(workloadModel))]
		calls := 3 + rng.IntN(9)
		for c := 0; c < calls; c++ {
			agent := root
			if c > 0 && len(subs) > 0 && rng.IntN(4) != 0 {
				agent = workloadSubs[subs[rng.IntN(len(subs))]]
			}
			if c > 0 {
				at = at.Add(time.Duration(rng.Int64N(int64(4 * time.Minute))))
				if rng.IntN(6) == 0 {
					at = at.Add(time.Duration(40+rng.IntN(40)) * time.Minute)
				}
			}
			m := pm
			if rng.IntN(6) == 0 {
				m = workloadModel[rng.IntN(len(workloadModel))]
			}
			id := workloadAgents[agent]
			r := genRow{team: id.team, project: id.project, bu: id.bu, requestModel: m[1], priceModel: m[1]}
			r.Time = at.Add(time.Duration(rng.IntN(1000)) * time.Microsecond)
			r.TraceID, r.SpanID, r.ConversationID = trace, fmt.Sprintf("s%05d-%02d", i, c), conv
			r.AgentID, r.RootAgentID, r.Provider, r.Model = agent, root, m[0], m[1]
			r.Total = pico(5_000_000_000)
			if c == 0 || rng.IntN(4) == 0 {
				r.CacheWrite = pricing.MoneyFromPico(rng.Uint64N(r.Total.BigInt().Uint64() + 1))
				if rng.IntN(30) == 0 {
					r.CacheWrite = r.CacheWrite.Add(r.Total) // reported total below the cache-write part
				}
				r.cacheWriteTokens = 1 + rng.Uint64N(20000)
				if rng.IntN(3) == 0 {
					r.CacheWrite1hTokens = 1 + rng.Uint64N(r.cacheWriteTokens)
				}
			}
			if c > 0 && rng.IntN(10) < 7 {
				r.CacheReadTokens = 1 + rng.Uint64N(30000)
			}
			switch n := rng.IntN(50); {
			case n < 3:
				r.Beneficiaries = fmt.Sprintf("research=%d, writer=%d,ghost", 1+rng.IntN(5), 1+rng.IntN(5))
			case n < 5:
				r.Beneficiaries = workloadSubs[rng.IntN(len(workloadSubs))] + "," + root
			case n < 6:
				r.Beneficiaries = "research,,writer"
			}
			if rng.IntN(25) == 0 { // unpriced: no cost, no pricing model
				r.Total, r.CacheWrite, r.priceModel, r.Model = pricing.Money{}, pricing.Money{}, "", m[1]
			}
			out = append(out, r)
			if rng.IntN(80) == 0 {
				out = append(out, r) // the same span twice
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

func rowsOf(g []genRow) []Row {
	out := make([]Row, len(g))
	for i := range g {
		out[i] = g[i].Row
	}
	return out
}
