package pricing

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SchemaVersion is the catalog file format version this package reads and writes.
const SchemaVersion = 1

// File is one catalog file (a layer) in the YAML format documented in
// SCHEMA.md. It is exported for importers and tools; most users only call
// Load or Parse.
type File struct {
	SchemaVersion int            `yaml:"schema_version"`
	Description   string         `yaml:"description,omitempty"`
	Attribution   []Source       `yaml:"attribution,omitempty"`
	Providers     []FileProvider `yaml:"providers"`
}

// Source names upstream data a catalog was built from.
type Source struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version,omitempty"`
	URL     string `yaml:"url,omitempty"`
	License string `yaml:"license,omitempty"`
}

// FileProvider is a provider entry of a catalog file.
type FileProvider struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name,omitempty"`
	// Aliases are other names of the provider (legacy gen_ai.system values,
	// upstream ids), matched case-insensitively.
	Aliases []string `yaml:"aliases,omitempty"`
	// ServerAddressPatterns are anchored regular expressions over
	// server.address used when the span names no known provider.
	ServerAddressPatterns []string `yaml:"server_address_patterns,omitempty"`
	// ModelPatterns are anchored regular expressions over the lowercased model
	// name used to guess the provider when the span names none.
	ModelPatterns []string `yaml:"model_patterns,omitempty"`
	// Fallbacks are providers searched, in order and one step deep, for a
	// model this provider does not list (e.g. azure.ai.openai -> openai).
	Fallbacks []string `yaml:"fallbacks,omitempty"`
	// Tools are per-call tool fees (USD per call) by tool name.
	Tools      map[string]string `yaml:"tools,omitempty"`
	PricingURL string            `yaml:"pricing_url,omitempty"`
	Models     []FileModel       `yaml:"models,omitempty"`
	// Remove deletes the provider from the layers below.
	Remove bool `yaml:"remove,omitempty"`
}

// FileModel is a model entry of a catalog file.
type FileModel struct {
	ID      string   `yaml:"id"`
	Name    string   `yaml:"name,omitempty"`
	Aliases []string `yaml:"aliases,omitempty"`
	// Patterns are anchored regular expressions (^...$) over the lowercased
	// model name, tried in order after exact, alias and snapshot lookup.
	Patterns []FilePattern `yaml:"patterns,omitempty"`
	// Source is "genai-prices", "litellm" (a model genai-prices lacks) or
	// empty/"user" for hand-written entries.
	Source     string      `yaml:"source,omitempty"`
	Provenance *Provenance `yaml:"provenance,omitempty"`
	Notes      string      `yaml:"notes,omitempty"`
	Prices     []FilePrice `yaml:"prices,omitempty"`
	Remove     bool        `yaml:"remove,omitempty"`
}

// FilePattern is an anchored regular expression, optionally with an
// anchored exclusion. In YAML it is a string or {match, exclude}.
type FilePattern struct {
	Match   string `yaml:"match"`
	Exclude string `yaml:"exclude,omitempty"`
}

// UnmarshalYAML accepts a plain string or a mapping.
func (p *FilePattern) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		p.Match = n.Value
		return nil
	}
	type plain FilePattern
	return n.Decode((*plain)(p))
}

// MarshalYAML writes a plain string when there is no exclusion.
func (p FilePattern) MarshalYAML() (any, error) {
	if p.Exclude == "" {
		return p.Match, nil
	}
	type plain FilePattern
	return plain(p), nil
}

// Provenance says where a price comes from.
type Provenance struct {
	SourceURL    string `yaml:"source_url,omitempty"`
	Checked      string `yaml:"checked,omitempty"`
	ImportedFrom string `yaml:"imported_from,omitempty"`
}

// FilePrice is one price entry of a model: a set of unit prices with the
// conditions under which they apply.
type FilePrice struct {
	// ID names the price in results; default "<provider>/<model>#<index>".
	ID string `yaml:"id,omitempty"`
	// EffectiveFrom/EffectiveTo bound the half-open UTC period
	// [from, to) in which the price is in force; empty means unbounded.
	// RFC 3339 or a date (midnight UTC).
	EffectiveFrom string `yaml:"effective_from,omitempty"`
	EffectiveTo   string `yaml:"effective_to,omitempty"`
	// TimeOfDay restricts the price to a daily UTC window [start, end),
	// which wraps midnight when end < start.
	TimeOfDay *TimeWindow `yaml:"time_of_day,omitempty"`
	// ServiceTier is "" (standard) or a tier such as "flex" or "priority".
	ServiceTier string `yaml:"service_tier,omitempty"`
	// Batch marks batch-API prices.
	Batch bool `yaml:"batch,omitempty"`
	// MinimumAudioSeconds bills a shorter (non-zero) audio duration as this
	// many seconds (e.g. Groq's 10 s minimum for transcription).
	MinimumAudioSeconds uint64 `yaml:"minimum_audio_seconds,omitempty"`
	// Source and Provenance override the model's for this price.
	Source     string      `yaml:"source,omitempty"`
	Provenance *Provenance `yaml:"provenance,omitempty"`
	// Units maps a price key (see SCHEMA.md, e.g. input_mtok) to its price.
	Units map[string]PriceValue `yaml:",inline"`
}

// TimeWindow is a daily UTC time window "HH:MM[:SS]" [Start, End).
type TimeWindow struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// PriceValue is a unit price: a decimal string, or a base price with cliff
// tiers chosen by total input tokens.
type PriceValue struct {
	Base  string `yaml:"base"`
	Tiers []Tier `yaml:"tiers,omitempty"`
}

// Tier applies Price to every unit when total input tokens (cache included)
// are strictly greater than AboveInputTokens.
type Tier struct {
	AboveInputTokens uint64 `yaml:"above_input_tokens"`
	Price            string `yaml:"price"`
}

// UnmarshalYAML accepts a scalar decimal or {base, tiers}.
func (v *PriceValue) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		v.Base = n.Value
		v.Tiers = nil
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a price must be a decimal string or {base, tiers}", n.Line)
	}
	type plain PriceValue
	return n.Decode((*plain)(v))
}

// MarshalYAML writes a plain string when there are no tiers.
func (v PriceValue) MarshalYAML() (any, error) {
	if len(v.Tiers) == 0 {
		return v.Base, nil
	}
	type plain PriceValue
	return plain(v), nil
}

// ParseFile decodes one catalog file strictly (unknown keys are errors).
func ParseFile(data []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode catalog: %w", err)
	}
	if f.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("schema_version: got %d, want %d", f.SchemaVersion, SchemaVersion)
	}
	return &f, nil
}

// Marshal encodes f as YAML.
func (f *File) Marshal() ([]byte, error) {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}
