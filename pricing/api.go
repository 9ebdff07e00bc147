package pricing

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"
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

	// Audio durations in milliseconds, for models priced per hour of audio
	// (transcription, voice). AudioMs is the total; when 0 it is the sum of
	// InputAudioMs and OutputAudioMs.
	AudioMs, InputAudioMs, OutputAudioMs uint64
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
	// Reason is a short stable code when Status is not StatusPriced; "" when
	// priced. Unpriced: "unknown_provider", "unknown_model",
	// "no_price_in_effect", "no_supported_price" (the price entry has no
	// unit this engine bills), "no_price_for_usage" (nothing the usage holds
	// has a price). Usage errors:
	// "cache_read_exceeds_input", "cache_write_exceeds_input",
	// "cache_exceeds_input", "cache_write_1h_exceeds_cache_write",
	// "reasoning_exceeds_output", "modalities_exceed_input",
	// "modalities_exceed_output", "cache_audio_read_exceeds_parent",
	// "cache_image_read_exceeds_parent", "audio_parts_exceed_audio",
	// "parts_exceed_parent".
	Reason string

	// Cost components, each the cost of the tokens of that kind, whatever
	// price applied: Input is the input that is neither a cache read nor a
	// cache write (audio, image and video input included); CacheRead and
	// CacheWrite the cache parts (1 h writes included); Output the output
	// that is not reasoning; Reasoning the reasoning tokens (at the output
	// price when they have none of their own); Other the per-request, web
	// search, file search and tool call fees. Total is their exact sum.
	Input, CacheRead, CacheWrite, Output, Reasoning, Other, Total Money

	Currency string // "USD"

	// Provider, Model and PriceID are the catalog ids of what was used.
	// Provider is set when known even if the model is not.
	Provider, Model, PriceID string

	Match          MatchKind // how the model name was resolved
	CatalogVersion string    // Catalog.Version of the catalog used

	// ConditionFallback is true when the requested service tier or batch had
	// no price of its own and the standard price was used.
	ConditionFallback bool
}

// Catalog is an immutable, validated price catalog, safe for concurrent use.
// Build one with Default, Load or Parse.
type Catalog struct {
	version    string
	providers  []*provider
	provByName map[string]*provider
	serverPats []provPattern
	modelPats  []provPattern
	merged     *File
	cache      resolveCache
}

//go:embed catalog/default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default catalog file.
func DefaultYAML() []byte { return defaultYAML }

var (
	defaultOnce sync.Once
	defaultCat  *Catalog
	defaultErr  error

	defaultFileOnce sync.Once
	defaultFileVal  *File
	defaultFileErr  error
)

// defaultFile decodes the embedded catalog once; layering never modifies
// the decoded files, so Load with user files only decodes those.
func defaultFile() (*File, error) {
	defaultFileOnce.Do(func() { defaultFileVal, defaultFileErr = ParseFile(defaultYAML) })
	return defaultFileVal, defaultFileErr
}

func isDefaultYAML(b []byte) bool {
	return len(b) == len(defaultYAML) && len(b) > 0 && &b[0] == &defaultYAML[0]
}

// Default returns the catalog embedded in the binary, parsed once and cached.
func Default() (*Catalog, error) {
	defaultOnce.Do(func() { defaultCat, defaultErr = Parse(defaultYAML) })
	return defaultCat, defaultErr
}

// Load returns the default catalog with the user catalog files at paths
// layered over it, in order (a later file overrides an earlier one). See
// SCHEMA.md for the layering rules.
func Load(paths ...string) (*Catalog, error) {
	if len(paths) == 0 {
		return Default()
	}
	layers := make([][]byte, 0, len(paths)+1)
	layers = append(layers, defaultYAML)
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("load pricing catalog %q: %w", path, err)
		}
		layers = append(layers, b)
	}
	c, err := Parse(layers...)
	if err != nil {
		return nil, fmt.Errorf("load pricing catalog %q: %w", paths, err)
	}
	return c, nil
}

// Parse builds a catalog from YAML layers; the first layer is the base and
// each later layer is merged over it. The result is validated (see Validate);
// a catalog with problems is an error.
func Parse(layers ...[]byte) (*Catalog, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("%w: no catalog layers", ErrInvalidCatalog)
	}
	files := make([]*File, 0, len(layers))
	for i, l := range layers {
		var f *File
		var err error
		if isDefaultYAML(l) {
			f, err = defaultFile()
		} else {
			f, err = ParseFile(l)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: layer %d: %w", ErrInvalidCatalog, i, err)
		}
		files = append(files, f)
	}
	c, err := compile(mergeLayers(files), contentHash(layers))
	if err != nil {
		return nil, err
	}
	if problems := c.Validate(); len(problems) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCatalog, errors.Join(problems...))
	}
	return c, nil
}

// Version returns the catalog's content hash ("sha256:" and 16 hex digits),
// carried on every Result.
func (c *Catalog) Version() string { return c.version }

// Price prices usage u for query q. It never panics and never returns a
// silent zero: an unknown provider or model gives StatusUnpriced with a
// Reason, an inconsistent usage gives StatusUsageError. For a model already
// resolved once it does not allocate.
func (c *Catalog) Price(q Query, u Usage) (r Result) {
	r.Status, r.Currency, r.CatalogVersion = StatusUnpriced, "USD", c.version
	res := c.resolve(&q)
	if res.prov != nil {
		r.Provider = res.prov.id
	}
	if res.m == nil {
		r.Reason = res.reason
		return r
	}
	r.Provider, r.Model, r.Match = res.m.prov.id, res.m.id, res.kind
	v := usageValues(&u)
	if reason := checkUsage(&v); reason != "" {
		r.Status, r.Reason = StatusUsageError, reason
		return r
	}
	p, fellBack := selectPrice(res.m, &q)
	if p == nil {
		r.Reason = "no_price_in_effect"
		return r
	}
	r.PriceID, r.ConditionFallback = p.id, fellBack
	if p.priced == 0 {
		r.Reason = "no_supported_price"
		return r
	}
	r.Status = StatusPriced
	compute(p, &v, &r)
	return r
}

// ToolPrice returns the per-call fee of a provider's tool (e.g. "web_search")
// if the catalog has one. The provider name is normalized like
// NormalizeProvider; at is reserved for dated tool fees.
func (c *Catalog) ToolPrice(provider, tool string, at time.Time) (price Money, priceID string, ok bool) {
	p := c.providerByName(provider)
	if p == nil || p.tools == nil {
		return Money{}, "", false
	}
	f, ok := p.tools[tool]
	if !ok {
		f, ok = p.tools[strings.ToLower(tool)]
	}
	return f.price, f.id, ok
}

// NormalizeProvider maps a gen_ai.provider.name or legacy gen_ai.system value
// to the catalog's provider id; "" if unknown.
func (c *Catalog) NormalizeProvider(name string) string {
	if p := c.providerByName(name); p != nil {
		return p.id
	}
	return ""
}

// ModelInfo describes a catalog model as a lookup resolved it.
type ModelInfo struct {
	Provider, Model string    // catalog ids
	Match           MatchKind // how the name was resolved
	Entry           FileModel // the merged catalog entry
}

// Lookup resolves a provider and model name the way Price does, without
// pricing, and returns the catalog entry.
func (c *Catalog) Lookup(provider, model string) (ModelInfo, bool) {
	res := c.resolveSlow(provider, model, "")
	if res.m == nil {
		return ModelInfo{}, false
	}
	return ModelInfo{Provider: res.m.prov.id, Model: res.m.id, Match: res.kind, Entry: *res.m.file}, true
}

// File returns the merged catalog (all layers applied) in file form. The
// caller must not modify it.
func (c *Catalog) File() *File { return c.merged }
