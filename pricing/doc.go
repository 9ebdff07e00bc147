// Package pricing prices LLM usage exactly, by provider, model and moment,
// from a dated price catalog. It imports nothing from the OpenTelemetry
// Collector.
//
// # Use
//
//	cat, err := pricing.Default() // the embedded catalog; or pricing.Load("negotiated.yaml")
//	if err != nil { ... }
//	r := cat.Price(pricing.Query{
//		Provider: "openai", // gen_ai.provider.name, or a legacy gen_ai.system value
//		Model:    "gpt-4o-2024-08-06",
//		At:       spanStart,
//	}, pricing.Usage{InputTokens: 1000, CacheReadTokens: 300, OutputTokens: 200})
//	switch r.Status {
//	case pricing.StatusPriced:     // r.Total (exact, 12 fractional digits of USD), r.Input, r.CacheRead, ...
//	case pricing.StatusUnpriced:   // r.Reason: unknown_provider, unknown_model, no_price_in_effect, ...
//	case pricing.StatusUsageError: // r.Reason: cache_read_exceeds_input, reasoning_exceeds_output, ...
//	}
//
// A Catalog is immutable and safe for concurrent use. Price does not
// allocate once a (provider, model) pair has been resolved.
//
// # Usage model
//
// InputTokens is the total input, cache reads and cache writes included;
// CacheWriteTokens includes CacheWrite1hTokens; OutputTokens includes
// ReasoningTokens; audio, image and video tokens are parts of the input or
// output they belong to. Each token is billed once, at the price of the most
// specific unit that has a price: a part with no price of its own is billed
// at its parent's price (reasoning at the output price, cache reads at the
// input price). A part larger than its parent is a usage error, never a
// negative cost. Result reports each kind of token in its own component
// whatever price applied, and Total is the exact sum of the components.
//
// # Prices
//
// Prices are decimals in USD per 1M tokens (per 1k for requests, web
// searches and file searches, per hour for audio durations), held exactly (up to 18 fractional digits) and
// multiplied in 128-bit integer arithmetic. Each unit's cost is rounded half
// up to 10^-12 USD; for tokens and counts that only ever happens for prices
// with more than 6 fractional digits per 1M tokens (9 per 1k), for audio
// priced per hour it can (an hour is 3.6e6 ms). The components are sums of
// those rounded costs, and Total is their exact sum.
//
// Cliff tiers: when the total input tokens (cache included) are strictly
// greater than a tier's threshold, every token of that unit is billed at the
// tier's price (the tier is chosen by total input even for output prices).
//
// A model's prices are entries with conditions: a half-open UTC period
// [effective_from, effective_to), an optional daily UTC time-of-day window
// (which may wrap midnight), a service tier ("flex", "priority") and batch.
// The entry in force at Query.At is used, so history is priced as it was
// billed; an entry with a time-of-day window wins over one without. When the
// requested service tier or batch has no entry, the standard entry is used
// and Result.ConditionFallback is set.
//
// # Resolution
//
// The provider is found by id or alias (legacy gen_ai.system values such as
// "xai", "vertex_ai", "gemini", "az.ai.openai" are aliases), else by
// server.address pattern; with no provider given, a router prefix naming a
// provider ("anthropic/claude-...") or the providers' model patterns decide.
// The model is then found, in order, by exact id, exact alias (both
// case-insensitive, O(1)), dated snapshot (a name ending in -YYYY-MM-DD,
// -YYYYMMDD or -MMDD whose stem is a model; a snapshot with a price of its
// own is an id or alias and so never falls into its stem), anchored patterns
// in catalog order, a stripped router prefix ("openai/gpt-4o",
// "models/gemini-2.5-pro"), a stripped cloud variant (Bedrock region prefix
// "us.", version suffix "-v1:0", Vertex "@001"), and finally the provider's
// one-step fallback providers (azure.ai.openai -> openai). Result.Match says
// which rule matched.
//
// # Catalogs
//
// Catalog files are YAML in the format described in SCHEMA.md (type File).
// The default catalog, generated from genai-prices (primary) and LiteLLM by
// internal/gencatalog, is embedded; Load and Parse layer user files over it
// (overrides, negotiated discounts, private models). Parse validates: no
// overlapping prices for the same conditions, ascending tiers, unique
// aliases, every model reachable by its id and aliases, anchored patterns,
// known price keys, and parent units priced.
package pricing

//go:generate go run ./internal/gencatalog -genai-prices ../../shared/pricing-data/genai-prices/embedded-providers.json -litellm ../../shared/pricing-data/litellm/model_prices_and_context_window.json -o catalog/default.yaml
