package pricing

import (
	"sync"
	"time"
)

// Usage is one call's usage in the pricing usage model.
//
// InputTokens is the total input, cache reads and cache writes included;
// CacheWriteTokens is the total of cache writes, CacheWrite1hTokens included;
// OutputTokens includes ReasoningTokens. Audio and image token counts are
// parts of the input or output total they belong to. A part with no price of
// its own is billed at its parent's price; a part larger than its parent is a
// usage error.
type Usage struct {
	InputTokens, CacheReadTokens, CacheWriteTokens, CacheWrite1hTokens uint64
	OutputTokens, ReasoningTokens                                      uint64

	InputAudioTokens, OutputAudioTokens, InputImageTokens, OutputImageTokens uint64

	Requests    uint64 // number of requests; 0 means 1 (one span = one call)
	WebSearches uint64 // web search calls
	ToolCalls   uint64 // other billable tool calls

	// Finer parts, all optional: cache reads of audio/image input (parts of
	// both CacheReadTokens and the modality's input), video tokens, and
	// file-search (storage search) calls.
	CacheAudioReadTokens, CacheImageReadTokens uint64
	InputVideoTokens, OutputVideoTokens        uint64
	FileSearches                               uint64
}

// Query says what to price: which provider and model, under which
// conditions, at which moment.
type Query struct {
	Provider      string    // gen_ai.provider.name or a legacy gen_ai.system value (mapped)
	Model         string    // request or response model name as seen on the span
	ServerAddress string    // optional, for provider detection by host pattern
	ServiceTier   string    // "", "default", "flex", "priority", ...
	Batch         bool      // the call went through a batch API
	At            time.Time // span start; zero means now
}

// Status is the outcome of a price computation.
type Status uint8

const (
	// StatusPriced: the result carries the cost.
	StatusPriced Status = iota
	// StatusUnpriced: the catalog has no price for this provider, model or
	// moment; Result.Reason says why. The cost is unknown, not zero.
	StatusUnpriced
	// StatusUsageError: the usage is inconsistent (a part larger than its
	// parent); Result.Reason says which.
	StatusUsageError
)

// String returns "priced", "unpriced" or "usage_error".
func (s Status) String() string {
	switch s {
	case StatusPriced:
		return "priced"
	case StatusUnpriced:
		return "unpriced"
	case StatusUsageError:
		return "usage_error"
	}
	return "unknown"
}

// MatchKind says how the model name of a query was resolved to a catalog model.
type MatchKind uint8

const (
	// MatchNone: no model was resolved.
	MatchNone MatchKind = iota
	// MatchExact: the name equals the model id (case-insensitive).
	MatchExact
	// MatchAlias: the name equals one of the model's aliases (case-insensitive).
	MatchAlias
	// MatchSnapshot: the name is a dated snapshot (model id plus a date
	// suffix such as -2024-08-06 or -20240806) of a model with no price of its own.
	MatchSnapshot
	// MatchPattern: the name matched one of the model's anchored patterns.
	MatchPattern
	// MatchRouterPrefix: the name carried a router prefix ("openai/gpt-4o",
	// "models/gemini-2.5-pro") that was stripped.
	MatchRouterPrefix
	// MatchCloudVariant: the name is a cloud variant (Bedrock region prefix
	// "us.", version suffix "-v1:0", Vertex "@date").
	MatchCloudVariant
	// MatchFallbackProvider: the model was found under the provider's
	// fallback provider (e.g. azure -> openai).
	MatchFallbackProvider
)

var matchNames = [...]string{"none", "exact", "alias", "snapshot", "pattern", "router_prefix", "cloud_variant", "fallback_provider"}

// String returns the snake_case name of the match kind.
func (k MatchKind) String() string {
	if int(k) < len(matchNames) {
		return matchNames[k]
	}
	return "unknown"
}

// Result is the priced cost of one call, broken down, with its provenance.
// Total is the exact sum of Input, CacheRead, CacheWrite, Output, Reasoning
// and Other.
type Result struct {
	Status Status
	// Reason is a short stable code when Status is not StatusPriced:
	// "unknown_provider", "unknown_model", "no_price_in_effect",
	// "cache_exceeds_input", "reasoning_exceeds_output", ...; "" when priced.
	Reason string
	// Cost components. Input is the uncached, non-cache-write input (audio and
	// image input included); Output excludes reasoning; Other holds per
	// request, web search and tool call fees.
	Input, CacheRead, CacheWrite, Output, Reasoning, Other, Total Money
	Currency                                                      string // "USD"
	Provider, Model, PriceID                                      string // catalog ids of what was used
	Match                                                         MatchKind
	CatalogVersion                                                string
}

// Catalog is an immutable, validated price catalog, safe for concurrent use.
type Catalog struct {
	version string
	cache   sync.Map
}

var (
	defaultOnce sync.Once
	defaultCat  *Catalog
	defaultErr  error
)

// Default returns the catalog embedded in the binary, parsed once and cached.
func Default() (*Catalog, error) {
	defaultOnce.Do(func() { defaultCat, defaultErr = Parse() })
	return defaultCat, defaultErr
}

// Load returns the default catalog with the user catalog files at paths
// layered over it, in order (a later file overrides an earlier one).
func Load(paths ...string) (*Catalog, error) { return Parse() }

// Parse builds a catalog from YAML layers; the first layer is the base and
// each later layer is merged over it.
func Parse(layers ...[]byte) (*Catalog, error) { return &Catalog{}, nil }

// Version returns the catalog's content hash, carried on every Result.
func (c *Catalog) Version() string { return c.version }

// Price prices usage u for query q. It never panics and never returns a
// silent zero: an unknown provider or model gives StatusUnpriced with a
// Reason. For a model already resolved once it does not allocate.
func (c *Catalog) Price(q Query, u Usage) Result {
	return Result{Status: StatusUnpriced, Reason: "unknown_provider", Currency: "USD", CatalogVersion: c.version}
}

// ToolPrice returns the per-call fee of a provider's tool at time at, if the
// catalog has one.
func (c *Catalog) ToolPrice(provider, tool string, at time.Time) (price Money, priceID string, ok bool) {
	return Money{}, "", false
}

// NormalizeProvider maps a gen_ai.provider.name or legacy gen_ai.system value
// to the catalog's provider id; "" if unknown.
func (c *Catalog) NormalizeProvider(name string) string { return "" }
