// Package agentcostclickhouseexporter writes the spans priced by the agentcost
// processor to ClickHouse as attributed cost rows (table cost_events), keeps
// hourly and daily rollups by materialized views and a FOCUS 1.2 view, and
// manages that schema with versioned, embedded migrations. Every span is
// counted once: a retried batch by its insert deduplication token, a span
// that comes again in another batch (a queue replay after a crash, a
// client's resend) by the lookup of the keys already stored (stored.go).
//
// It reads only the normalised agentcost.* attributes of internal/attrs,
// span ids, times, status and the service and environment resource
// attributes; prompts, completions and tool arguments are never stored.
//
//go:generate ../../bin/mdatagen metadata.yaml
package agentcostclickhouseexporter // import "github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter"
