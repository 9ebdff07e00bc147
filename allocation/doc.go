// Package allocation implements agentcost's fair allocation of shared and
// cached cost across agents: the reference implementation of the rules that
// the ClickHouse view cost_allocations (exporter schema migration 0004)
// applies to cost_events, and the exact apportionment both use.
//
// A direct cost row is charged to the agent that made the call. The
// allocated view moves (parts of) a row's cost to the agents it served:
//
//   - shared_call: a call whose span carries attrs.ShareBeneficiaries is
//     split among the listed agents by weight;
//   - cache_write: the cache-write cost of a call is split among the agents
//     that read that cache (same share group, provider and model) within its
//     lifetime, by read tokens; unread or expired writes stay with the writer;
//   - orchestrator: what stays on a root agent's own call is kept (default),
//     or split across the trace's sub-agents in proportion to their direct
//     cost, or evenly;
//   - direct: whatever is left stays with the caller; invalid_share marks a
//     call kept whole because its beneficiary list is malformed.
//
// Every split is exact in pico-USD (10^-12 USD, pricing.Money) by the largest
// remainder method (Apportion), so the allocations of a row add up to its
// cost to the last digit and, as every allocation keeps its source row's
// day and share group, the allocated total of a share group and of a day
// equals the direct total. docs/allocation.md states the rules, formulas
// and a worked example.
package allocation
