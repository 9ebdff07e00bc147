// Package agentcostprocessor implements the `agentcost` processor: it finds
// the billable GenAI spans of every instrumentation dialect (model calls,
// embeddings, tool calls), prices them exactly with the agentcost pricing
// catalog, and attributes them to the agent, root agent, team, project,
// business unit and cost centre that own them. Billable spans that wait for
// their agent span are held (identity.go), in memory or, with hold.storage,
// also in a storage extension so that a crash loses none (holdstore.go).
// See README.md.
package agentcostprocessor // import "github.com/agentcost/agentcost/processor/agentcostprocessor"

//go:generate mdatagen metadata.yaml
