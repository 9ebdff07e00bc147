package allocation

import (
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/agentcost/agentcost/pricing"
)

// Rule names why an allocation row holds its amount (column rule of the
// ClickHouse view cost_allocations).
type Rule string

// Rules.
const (
	// RuleDirect: the amount stays with the agent that made the call.
	RuleDirect Rule = "direct"
	// RuleSharedCall: split among the call's listed beneficiaries.
	RuleSharedCall Rule = "shared_call"
	// RuleInvalidShare: the beneficiary list is malformed; the whole cost
	// stays with the caller.
	RuleInvalidShare Rule = "invalid_share"
	// RuleCacheWrite: cache-write cost moved to the agents that read the cache.
	RuleCacheWrite Rule = "cache_write"
	// RuleOrchestrator: a root agent's own cost spread over its sub-agents.
	RuleOrchestrator Rule = "orchestrator"
)

// Orchestrator selects how a root agent's own calls are allocated.
type Orchestrator string

// Orchestrator modes.
const (
	OrchestratorKeep         Orchestrator = "keep"
	OrchestratorProportional Orchestrator = "proportional"
	OrchestratorEven         Orchestrator = "even"
)

// ParseOrchestrator validates a mode name.
func ParseOrchestrator(s string) (Orchestrator, error) {
	switch o := Orchestrator(s); o {
	case OrchestratorKeep, OrchestratorProportional, OrchestratorEven:
		return o, nil
	}
	return "", fmt.Errorf("orchestrator: %q is not valid (want keep, proportional or even)", s)
}

// Cache lifetimes by write type.
const (
	CacheTTL5m = 5 * time.Minute
	CacheTTL1h = time.Hour
)

// Row is one direct cost row (a cost_events row) with the fields the rules use.
type Row struct {
	Time           time.Time
	TraceID        string
	SpanID         string
	ConversationID string
	AgentID        string
	RootAgentID    string
	Provider       string
	// Model is the pricing model, else the request model.
	Model string
	// Total is the cost of record; CacheWrite its cache-write component
	// (only min(CacheWrite, Total) is ever moved).
	Total      pricing.Money
	CacheWrite pricing.Money
	// CacheReadTokens weigh a reader's share of earlier writes.
	CacheReadTokens uint64
	// CacheWrite1hTokens > 0 makes the write's lifetime one hour (else 5 min).
	CacheWrite1hTokens uint64
	// Beneficiaries is the attrs.ShareBeneficiaries value ("" when not shared).
	Beneficiaries string
}

// ShareGroup is the row's cache share group: "c:" + conversation id, else
// "t:" + root agent + ":" + trace id, else "" (no group: no cache sharing).
func (r Row) ShareGroup() string {
	switch {
	case r.ConversationID != "":
		return "c:" + r.ConversationID
	case r.TraceID != "":
		return "t:" + r.RootAgentID + ":" + r.TraceID
	}
	return ""
}

// Day is the UTC day of the row: allocations keep it.
func (r Row) Day() time.Time {
	y, m, d := r.Time.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (r Row) lifetime() time.Duration {
	if r.CacheWrite1hTokens > 0 {
		return CacheTTL1h
	}
	return CacheTTL5m
}

func (r Row) isRoot() bool {
	return r.AgentID != "" && r.AgentID == r.RootAgentID && r.TraceID != ""
}

// Allocation is one piece of a row's cost charged to one agent.
type Allocation struct {
	// Source indexes the row in the slice given to Allocate.
	Source int
	// Agent is the beneficiary; Payer the agent that made the call.
	Agent, Payer string
	Rule         Rule
	// Weight is the beneficiary's weight in the split (read tokens for
	// cache_write, pico-USD of direct cost or 1 for orchestrator, the listed
	// weight for shared_call, 1 for direct).
	Weight *big.Int
	Amount pricing.Money
}

// Allocate applies the rules to rows (one day or more, all rows of every
// share group and trace-day they touch, and the reads up to one hour after
// the last write) and returns the non-zero allocations, by source row, then
// rule, then agent. For every row the amounts add up to its Total.
//
// Per row, in order: a valid beneficiary list splits the whole Total
// (shared_call), a malformed one keeps it (invalid_share); otherwise the
// cache-write cost moves to the readers of that cache within its lifetime
// (cache_write), and the rest stays with the caller (direct) unless the
// caller is the trace's root agent and mode spreads it over the sub-agents
// that ran on the same UTC day in that trace (orchestrator).
func Allocate(rows []Row, mode Orchestrator) ([]Allocation, error) {
	if _, err := ParseOrchestrator(string(mode)); err != nil {
		return nil, err
	}
	subs := subAgentWeights(rows, mode)
	reads := readIndex(rows)
	var out []Allocation
	for i, r := range rows {
		emit := func(rule Rule, total pricing.Money, parts []Part) error {
			ps, err := Apportion(total, parts)
			if err != nil {
				return fmt.Errorf("row %d (%s): %w", i, rule, err)
			}
			for j, p := range ps {
				if !p.Amount.IsZero() {
					out = append(out, Allocation{Source: i, Agent: p.Agent, Payer: r.AgentID, Rule: rule, Weight: parts[j].Weight, Amount: p.Amount})
				}
			}
			return nil
		}
		self := []Part{{Agent: r.AgentID, Weight: big.NewInt(1)}}
		if r.Beneficiaries != "" {
			shares, err := ParseBeneficiaries(r.Beneficiaries)
			if err != nil {
				if err := emit(RuleInvalidShare, r.Total, self); err != nil {
					return nil, err
				}
				continue
			}
			parts := make([]Part, len(shares))
			for j, s := range shares {
				parts[j] = Part{Agent: s.Agent, Weight: new(big.Int).SetUint64(s.Weight)}
			}
			if err := emit(RuleSharedCall, r.Total, parts); err != nil {
				return nil, err
			}
			continue
		}
		rest := r.Total
		if readers := cacheReaders(rows, reads, i); len(readers) > 0 {
			cw := r.CacheWrite
			if cw.Cmp(r.Total) > 0 {
				cw = r.Total
			}
			if err := emit(RuleCacheWrite, cw, readers); err != nil {
				return nil, err
			}
			rest, _ = r.Total.Sub(cw) // cw <= Total
		}
		if r.isRoot() && mode != OrchestratorKeep {
			if parts := subs[traceDay{r.TraceID, r.Day(), r.AgentID}]; len(parts) > 0 {
				if err := emit(RuleOrchestrator, rest, parts); err != nil {
					return nil, err
				}
				continue
			}
		}
		if err := emit(RuleDirect, rest, self); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cacheReaders returns, by agent, the read tokens of the rows that read the
// cache row w wrote: same share group, provider and model, cache reads, and
// w.Time < r.Time <= w.Time + lifetime. Nil when w writes nothing.
func cacheReaders(rows []Row, reads map[cacheKey][]int, w int) []Part {
	wr := rows[w]
	g := wr.ShareGroup()
	if wr.CacheWrite.IsZero() || g == "" {
		return nil
	}
	end := wr.Time.Add(wr.lifetime())
	tokens := map[string]uint64{}
	for _, j := range reads[cacheKey{g, wr.Provider, wr.Model}] {
		r := rows[j]
		if j == w || !r.Time.After(wr.Time) || r.Time.After(end) {
			continue
		}
		tokens[r.AgentID] += r.CacheReadTokens
	}
	return sortedParts(tokens, func(v uint64) *big.Int { return new(big.Int).SetUint64(v) })
}

// cacheKey is what a cache is shared by: share group, provider and model.
type cacheKey struct{ group, provider, model string }

// readIndex lists, per cacheKey, the rows that read cached tokens.
func readIndex(rows []Row) map[cacheKey][]int {
	m := map[cacheKey][]int{}
	for i, r := range rows {
		if g := r.ShareGroup(); g != "" && r.CacheReadTokens > 0 {
			k := cacheKey{g, r.Provider, r.Model}
			m[k] = append(m[k], i)
		}
	}
	return m
}

type traceDay struct {
	trace string
	day   time.Time
	root  string
}

// subAgentWeights returns, per trace, UTC day and root agent, the sub-agents
// and their orchestrator weights: direct cost in pico-USD (proportional) or 1
// (even). Proportional groups whose sub-agents cost nothing are left out, so
// the root keeps its cost.
func subAgentWeights(rows []Row, mode Orchestrator) map[traceDay][]Part {
	if mode == OrchestratorKeep {
		return nil
	}
	costs := map[traceDay]map[string]*big.Int{}
	for _, r := range rows {
		if r.TraceID == "" || r.AgentID == "" || r.RootAgentID == "" || r.AgentID == r.RootAgentID {
			continue
		}
		k := traceDay{r.TraceID, r.Day(), r.RootAgentID}
		m := costs[k]
		if m == nil {
			m = map[string]*big.Int{}
			costs[k] = m
		}
		c := m[r.AgentID]
		if c == nil {
			c = new(big.Int)
			m[r.AgentID] = c
		}
		c.Add(c, r.Total.BigInt())
	}
	out := make(map[traceDay][]Part, len(costs))
	for k, m := range costs {
		parts := sortedParts(m, func(v *big.Int) *big.Int {
			if mode == OrchestratorEven {
				return big.NewInt(1)
			}
			return v
		})
		sum := new(big.Int)
		for _, p := range parts {
			sum.Add(sum, p.Weight)
		}
		if sum.Sign() > 0 {
			out[k] = parts
		}
	}
	return out
}

func sortedParts[V any](m map[string]V, weight func(V) *big.Int) []Part {
	if len(m) == 0 {
		return nil
	}
	parts := make([]Part, 0, len(m))
	for a, v := range m {
		parts = append(parts, Part{Agent: a, Weight: weight(v)})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Agent < parts[j].Agent })
	return parts
}
