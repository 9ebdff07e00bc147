// Package attrs names the span attributes that the agentcost processor writes
// and that the exporter and the budget extension read. It is the contract
// between the components: the processor normalises every dialect into these
// keys, so readers never look at dialect-specific names.
//
// Costs are decimal strings in USD with exactly 12 fractional digits
// (pricing.Money.String, e.g. "0.002500000000"), so they are exact; the one
// double is gen_ai.usage.cost, by convention of the tools that read it.
package attrs

// Cost attributes (decimal strings, USD, 12 fractional digits).
const (
	CostTotal      = "agentcost.cost.total"
	CostInput      = "agentcost.cost.input"
	CostCacheRead  = "agentcost.cost.cache_read"
	CostCacheWrite = "agentcost.cost.cache_write"
	CostOutput     = "agentcost.cost.output"
	CostReasoning  = "agentcost.cost.reasoning"
	CostOther      = "agentcost.cost.other"
	// CostReported is the provider- or instrumentation-reported cost, kept
	// beside the catalog cost whichever is the cost of record.
	CostReported = "agentcost.cost.reported"
	// CostCatalog is the catalog cost when the reported cost is of record.
	CostCatalog = "agentcost.cost.catalog"
	Currency    = "agentcost.currency"
	// CostStatus is one of the Status* values.
	CostStatus = "agentcost.cost.status"
	// CostReason explains an unpriced or usage_error status (a short code).
	CostReason = "agentcost.cost.reason"
	// CostSource is "catalog" or "provider_reported": which value is of record.
	CostSource = "agentcost.cost.source"
	// GenAIUsageCost is the cost of record as a double (OpenLIT, Langfuse).
	GenAIUsageCost = "gen_ai.usage.cost"
)

// Cost statuses.
const (
	StatusPriced           = "priced"
	StatusProviderReported = "provider_reported"
	StatusUnpriced         = "unpriced"
	StatusUsageError       = "usage_error"
	StatusNotBillable      = "not_billable"
)

// Cost sources.
const (
	SourceCatalog          = "catalog"
	SourceProviderReported = "provider_reported"
)

// Pricing provenance.
const (
	PricingProvider       = "agentcost.pricing.provider"
	PricingModel          = "agentcost.pricing.model"
	PricingPriceID        = "agentcost.pricing.price_id"
	PricingCatalogVersion = "agentcost.pricing.catalog_version"
	PricingMatch          = "agentcost.pricing.match"
	// PricingTimeSource is written only when the span has no start time:
	// PricingTimeEnd (priced at its end time) or PricingTimeProcessing
	// (no end time either: priced at the processor's clock, given in
	// PricingTime). Spans with a start time are priced at it.
	PricingTimeSource = "agentcost.pricing.time_source"
	// PricingTime is the time (int, Unix nanoseconds) a span without start
	// and end times was priced at; event-time readers use it for such spans.
	PricingTime = "agentcost.pricing.time_unix_nano"
)

// Pricing time sources (PricingTimeSource values).
const (
	PricingTimeEnd        = "end_time"
	PricingTimeProcessing = "processing_time"
)

// Normalised call dimensions.
const (
	Operation     = "agentcost.operation" // chat, embeddings, execute_tool, ...
	Provider      = "agentcost.provider"  // gen_ai.provider.name value, legacy names mapped
	RequestModel  = "agentcost.model.request"
	ResponseModel = "agentcost.model.response"
	ServiceTier   = "agentcost.service_tier"
	Batch         = "agentcost.batch" // bool
	ToolName      = "agentcost.tool.name"
	// ToolCallHash is a hex hash of the tool-call arguments; the arguments
	// themselves are never copied.
	ToolCallHash   = "agentcost.tool.call_hash"
	UserID         = "agentcost.user.id"
	ConversationID = "agentcost.conversation.id"
)

// Cost sharing (read by the allocation view, see docs/allocation.md).
const (
	// ShareBeneficiaries marks a call made on behalf of several agents: a
	// string of comma-separated agent ids, each optionally "=weight" (an
	// integer 1..999999999, default 1), e.g. "planner=3,researcher=1,writer".
	// Ids are distinct and hold no ',', '=' or space. The call's whole cost
	// is split among them by weight (allocation.ParseBeneficiaries); a
	// malformed list keeps the cost on the caller (rule invalid_share).
	// Instrumentation or a gateway sets it; the exporter stores it in the
	// extra map of cost_events.
	ShareBeneficiaries = "agentcost.share.beneficiaries"
)

// Normalised usage (int, tokens) in the pricing usage model: input includes
// cache reads and writes; output includes reasoning.
const (
	UsageInputTokens        = "agentcost.usage.input_tokens"
	UsageOutputTokens       = "agentcost.usage.output_tokens"
	UsageCacheReadTokens    = "agentcost.usage.cache_read_tokens"
	UsageCacheWriteTokens   = "agentcost.usage.cache_write_tokens"
	UsageCacheWrite1hTokens = "agentcost.usage.cache_write_1h_tokens"
	UsageReasoningTokens    = "agentcost.usage.reasoning_tokens"
	// UsageInputMode is "inclusive" or "exclusive": how the instrumentation
	// reported input tokens relative to cached tokens.
	UsageInputMode = "agentcost.usage.input_mode"
)

// Identity.
const (
	AgentID        = "agentcost.agent.id"
	AgentName      = "agentcost.agent.name"
	AgentVersion   = "agentcost.agent.version"
	RootAgentID    = "agentcost.root_agent.id"
	Team           = "agentcost.team"
	Project        = "agentcost.project"
	BusinessUnit   = "agentcost.business_unit"
	CostCenter     = "agentcost.cost_center"
	Owner          = "agentcost.owner"
	IdentityStatus = "agentcost.identity.status"
)

// Identity statuses.
const (
	IdentityRegistered   = "registered"   // agent found in the registry
	IdentityUnregistered = "unregistered" // agent known, not in the registry: defaults applied
	IdentityInherited    = "inherited"    // agent taken from the enclosing agent span
	IdentityFallback     = "fallback"     // no agent found (wait timed out or overflowed): fallback identity
)
