package allocation

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/pricing"
)

// workedExample is the example of docs/allocation.md: one conversation, root
// agent planner, sub-agents research and writer, one model.
func workedExample() []Row {
	at := func(hms string) time.Time {
		t, err := time.Parse(time.DateTime, "2026-11-02 "+hms)
		if err != nil {
			panic(err)
		}
		return t
	}
	r := func(hms, agent, total, cw string, read, w1h uint64, ben string) Row {
		cwm := pricing.Money{}
		if cw != "" {
			cwm = usd(cw)
		}
		return Row{Time: at(hms), TraceID: "T", ConversationID: "conv-7", AgentID: agent, RootAgentID: "planner",
			Provider: "anthropic", Model: "claude-sonnet", Total: usd(total), CacheWrite: cwm,
			CacheReadTokens: read, CacheWrite1hTokens: w1h, Beneficiaries: ben}
	}
	return []Row{
		r("10:00:00", "planner", "0.012000", "0.009375", 0, 0, ""),            // 1: writes a 5-minute cache
		r("10:01:00", "research", "0.004000", "", 2500, 0, ""),                // 2: reads it
		r("10:02:30", "writer", "0.006000", "", 2500, 0, ""),                  // 3: reads it
		r("10:03:00", "planner", "0.001500", "", 2500, 0, ""),                 // 4: the writer reads it too
		r("10:09:00", "research", "0.003000", "", 2500, 0, ""),                // 5: reads after expiry
		r("10:10:00", "planner", "0.001000", "", 0, 0, "research=2,writer=1"), // 6: shared call
		r("10:20:00", "writer", "0.020000", "0.015000", 0, 2500, ""),          // 7: 1-hour cache nobody reads
	}
}

func TestWorkedExample(t *testing.T) {
	rows := workedExample()
	want := map[Orchestrator][]string{
		OrchestratorKeep: {
			"1 cache_write planner 0.003125000000", "1 cache_write research 0.003125000000", "1 cache_write writer 0.003125000000",
			"1 direct planner 0.002625000000",
			"2 direct research 0.004000000000", "3 direct writer 0.006000000000", "4 direct planner 0.001500000000",
			"5 direct research 0.003000000000",
			"6 shared_call research 0.000666666667", "6 shared_call writer 0.000333333333",
			"7 direct writer 0.020000000000",
		},
		OrchestratorProportional: {
			"1 cache_write planner 0.003125000000", "1 cache_write research 0.003125000000", "1 cache_write writer 0.003125000000",
			"1 orchestrator research 0.000556818182", "1 orchestrator writer 0.002068181818",
			"2 direct research 0.004000000000", "3 direct writer 0.006000000000",
			"4 orchestrator research 0.000318181818", "4 orchestrator writer 0.001181818182",
			"5 direct research 0.003000000000",
			"6 shared_call research 0.000666666667", "6 shared_call writer 0.000333333333",
			"7 direct writer 0.020000000000",
		},
		OrchestratorEven: {
			"1 cache_write planner 0.003125000000", "1 cache_write research 0.003125000000", "1 cache_write writer 0.003125000000",
			"1 orchestrator research 0.001312500000", "1 orchestrator writer 0.001312500000",
			"2 direct research 0.004000000000", "3 direct writer 0.006000000000",
			"4 orchestrator research 0.000750000000", "4 orchestrator writer 0.000750000000",
			"5 direct research 0.003000000000",
			"6 shared_call research 0.000666666667", "6 shared_call writer 0.000333333333",
			"7 direct writer 0.020000000000",
		},
	}
	perAgent := map[Orchestrator]map[string]string{
		OrchestratorKeep:         {"planner": "0.007250000000", "research": "0.010791666667", "writer": "0.029458333333"},
		OrchestratorProportional: {"planner": "0.003125000000", "research": "0.011666666667", "writer": "0.032708333333"},
		OrchestratorEven:         {"planner": "0.003125000000", "research": "0.012854166667", "writer": "0.031520833333"},
	}
	direct := map[string]pricing.Money{}
	for _, r := range rows {
		direct[r.AgentID] = direct[r.AgentID].Add(r.Total)
	}
	assert.Equal(t, "0.014500000000", direct["planner"].String())
	assert.Equal(t, "0.007000000000", direct["research"].String())
	assert.Equal(t, "0.026000000000", direct["writer"].String())
	for mode, w := range want {
		as, err := Allocate(rows, mode)
		require.NoError(t, err)
		var got []string
		for _, a := range as {
			got = append(got, string(rune('1'+a.Source))+" "+string(a.Rule)+" "+a.Agent+" "+a.Amount.String())
		}
		assert.Equal(t, w, got, "mode %s", mode)
		sums := map[string]pricing.Money{}
		for _, a := range as {
			sums[a.Agent] = sums[a.Agent].Add(a.Amount)
		}
		for agent, v := range perAgent[mode] {
			assert.Equal(t, v, sums[agent].String(), "%s %s", mode, agent)
		}
		assertConserved(t, rows, as)
	}
}
