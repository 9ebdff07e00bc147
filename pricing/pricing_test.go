package pricing

import (
	"errors"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func rulesCatalog(t testing.TB, extra ...string) *Catalog {
	t.Helper()
	b, err := os.ReadFile("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	layers := [][]byte{b}
	for _, e := range extra {
		layers = append(layers, []byte(e))
	}
	c, err := Parse(layers...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var day = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

func mustPriced(t *testing.T, r Result) {
	t.Helper()
	if r.Status != StatusPriced {
		t.Fatalf("status %s reason %q, want priced", r.Status, r.Reason)
	}
	sum := r.Input.Add(r.CacheRead).Add(r.CacheWrite).Add(r.Output).Add(r.Reasoning).Add(r.Other)
	if sum != r.Total {
		t.Fatalf("total %s is not the sum of the parts %s", r.Total, sum)
	}
}

func TestProviderNormalization(t *testing.T) {
	c := rulesCatalog(t)
	for in, want := range map[string]string{
		"openai": "openai", "OpenAI": "openai", "openai_legacy": "openai", "xai": "x_ai", "x_ai": "x_ai",
		"vertex_ai": "gcp.vertex_ai", "gemini": "gcp.gemini", "az.ai.openai": "azure.ai.openai",
		"aws_bedrock": "aws.bedrock", "nobody": "", "": "",
	} {
		if got := c.NormalizeProvider(in); got != want {
			t.Errorf("NormalizeProvider(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolution(t *testing.T) {
	c := rulesCatalog(t)
	for _, tc := range []struct {
		provider, model, server string
		wantProv, wantModel     string
		kind                    MatchKind
	}{
		{"openai", "gpt-4o", "", "openai", "gpt-4o", MatchExact},
		{"openai", "GPT-4o", "", "openai", "gpt-4o", MatchExact},
		{"openai", "gpt4o-latest", "", "openai", "gpt-4o", MatchAlias},
		{"openai", "gpt-4o-2024-08-06", "", "openai", "gpt-4o", MatchAlias},
		// A snapshot with a price of its own never falls into its alias.
		{"openai", "gpt-4o-2024-05-13", "", "openai", "gpt-4o-2024-05-13", MatchExact},
		{"openai", "gpt-4o-2024-11-20", "", "openai", "gpt-4o", MatchSnapshot},
		{"openai", "gpt-4o-20241120", "", "openai", "gpt-4o", MatchSnapshot},
		{"openai", "o3-0416", "", "openai", "o3", MatchSnapshot},
		{"openai", "gpt-tiny-fast", "", "openai", "gpt-tiny", MatchPattern},
		{"openai", "gpt-excl-x", "", "openai", "gpt-excl", MatchPattern},
		{"openai", "openai/gpt-4o", "", "openai", "gpt-4o", MatchRouterPrefix},
		{"gcp.gemini", "models/gemini-2.5-pro", "", "gcp.gemini", "gemini-2.5-pro", MatchRouterPrefix},
		{"aws.bedrock", "us.anthropic.claude-3-haiku-20240307-v1:0", "", "aws.bedrock", "anthropic.claude-3-haiku-20240307", MatchCloudVariant},
		{"aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "", "aws.bedrock", "anthropic.claude-3-haiku-20240307", MatchCloudVariant},
		{"gcp.vertex_ai", "gemini-2.5-pro@001", "", "gcp.gemini", "gemini-2.5-pro", MatchFallbackProvider},
		{"az.ai.openai", "gpt-4o", "", "openai", "gpt-4o", MatchFallbackProvider},
		{"vertex_ai", "claude-sonnet-4", "", "anthropic", "claude-sonnet-4", MatchFallbackProvider},
		// No provider: server address, then router prefix, then model patterns.
		{"", "gpt-4o", "api.openai.com", "openai", "gpt-4o", MatchExact},
		{"", "anthropic/claude-plain", "", "anthropic", "claude-plain", MatchRouterPrefix},
		{"", "gpt-4o", "", "openai", "gpt-4o", MatchExact},
	} {
		r := c.Price(Query{Provider: tc.provider, Model: tc.model, ServerAddress: tc.server, At: day}, Usage{InputTokens: 1})
		if r.Status != StatusPriced || r.Provider != tc.wantProv || r.Model != tc.wantModel || r.Match != tc.kind {
			t.Errorf("%s/%s (server %q): got %s %s/%s %s (%q), want %s/%s %s",
				tc.provider, tc.model, tc.server, r.Status, r.Provider, r.Model, r.Match, r.Reason, tc.wantProv, tc.wantModel, tc.kind)
		}
	}
	// The exclusion keeps a name out of a pattern.
	if r := c.Price(Query{Provider: "openai", Model: "gpt-excl-x-tts", At: day}, Usage{}); r.Status != StatusUnpriced || r.Reason != "unknown_model" {
		t.Errorf("excluded name: %s %q", r.Status, r.Reason)
	}
}

func TestUnknowns(t *testing.T) {
	c := rulesCatalog(t)
	for _, tc := range []struct {
		q      Query
		reason string
	}{
		{Query{Provider: "nobody", Model: "gpt-4o"}, "unknown_provider"},
		{Query{Provider: "", Model: ""}, "unknown_provider"},
		{Query{Provider: "", Model: "mystery"}, "unknown_provider"},
		{Query{Provider: "openai", Model: "davinci-9"}, "unknown_model"},
		{Query{Provider: "openai", Model: ""}, "unknown_model"},
	} {
		r := c.Price(tc.q, Usage{InputTokens: 100})
		if r.Status != StatusUnpriced || r.Reason != tc.reason || !r.Total.IsZero() || r.CatalogVersion == "" {
			t.Errorf("%+v: %s %q total %s, want unpriced %q", tc.q, r.Status, r.Reason, r.Total, tc.reason)
		}
	}
	if StatusUnpriced.String() != "unpriced" || StatusUsageError.String() != "usage_error" || StatusPriced.String() != "priced" {
		t.Error("status names")
	}
}

func TestBreakdownAndParentPrice(t *testing.T) {
	c := rulesCatalog(t)
	// gpt-4o: input 2.5, cache read 1.25, output 10 per 1M; no reasoning
	// price, so reasoning bills at the output price but is reported apart.
	r := c.Price(Query{Provider: "openai", Model: "gpt-4o", At: day},
		Usage{InputTokens: 1000, CacheReadTokens: 300, OutputTokens: 200, ReasoningTokens: 50, WebSearches: 2})
	mustPriced(t, r)
	for name, pair := range map[string][2]string{
		"input":      {r.Input.String(), "0.001750000000"},
		"cache read": {r.CacheRead.String(), "0.000375000000"},
		"output":     {r.Output.String(), "0.001500000000"},
		"reasoning":  {r.Reasoning.String(), "0.000500000000"},
		"other":      {r.Other.String(), "0.020000000000"},
		"total":      {r.Total.String(), "0.024125000000"},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s = %s, want %s", name, pair[0], pair[1])
		}
	}
	if r.PriceID != "openai/gpt-4o#0" || r.Currency != "USD" || r.CatalogVersion != c.Version() {
		t.Errorf("provenance: %q %q %q", r.PriceID, r.Currency, r.CatalogVersion)
	}
	// claude-plain has no cache prices: cache reads and writes bill at the
	// input price, reported in their own components.
	r = c.Price(Query{Provider: "anthropic", Model: "claude-plain", At: day},
		Usage{InputTokens: 1000, CacheReadTokens: 200, CacheWriteTokens: 300, OutputTokens: 0})
	mustPriced(t, r)
	if r.Input.String() != "0.000500000000" || r.CacheRead.String() != "0.000200000000" || r.CacheWrite.String() != "0.000300000000" || r.Total.String() != "0.001000000000" {
		t.Errorf("parent price: %+v", r)
	}
	// A reasoning price of its own.
	r = c.Price(Query{Provider: "openai", Model: "o-reasoner", At: day}, Usage{OutputTokens: 1000, ReasoningTokens: 600})
	mustPriced(t, r)
	if r.Output.String() != "0.001600000000" || r.Reasoning.String() != "0.003600000000" {
		t.Errorf("own reasoning price: output %s reasoning %s", r.Output, r.Reasoning)
	}
	// 1 h cache writes at their own price, inside cache writes.
	r = c.Price(Query{Provider: "anthropic", Model: "claude-sonnet-4", At: day},
		Usage{InputTokens: 2000, CacheWriteTokens: 1000, CacheWrite1hTokens: 400, OutputTokens: 10})
	mustPriced(t, r)
	// 600*3.75 + 400*6 = 4650 per 1M
	if r.CacheWrite.String() != "0.004650000000" || r.Input.String() != "0.003000000000" {
		t.Errorf("cache write 1h: %s input %s", r.CacheWrite, r.Input)
	}
}

func TestUsageErrors(t *testing.T) {
	c := rulesCatalog(t)
	q := Query{Provider: "openai", Model: "gpt-4o", At: day}
	for _, tc := range []struct {
		u      Usage
		reason string
	}{
		{Usage{InputTokens: 1, CacheReadTokens: 2}, "cache_read_exceeds_input"},
		{Usage{InputTokens: 1, CacheWriteTokens: 2}, "cache_write_exceeds_input"},
		{Usage{InputTokens: 3, CacheReadTokens: 2, CacheWriteTokens: 2}, "cache_exceeds_input"},
		{Usage{InputTokens: ^uint64(0), CacheReadTokens: ^uint64(0), CacheWriteTokens: ^uint64(0)}, "cache_exceeds_input"},
		{Usage{InputTokens: 10, CacheWriteTokens: 2, CacheWrite1hTokens: 3}, "cache_write_1h_exceeds_cache_write"},
		{Usage{OutputTokens: 1, ReasoningTokens: 2}, "reasoning_exceeds_output"},
		{Usage{InputTokens: 5, InputAudioTokens: 3, InputImageTokens: 3}, "modalities_exceed_input"},
		{Usage{OutputTokens: 5, OutputAudioTokens: 6}, "modalities_exceed_output"},
		{Usage{InputTokens: 5, InputAudioTokens: 2, CacheReadTokens: 1, CacheAudioReadTokens: 2}, "cache_audio_read_exceeds_parent"},
	} {
		r := c.Price(q, tc.u)
		if r.Status != StatusUsageError || r.Reason != tc.reason || !r.Total.IsZero() {
			t.Errorf("%+v: %s %q, want usage_error %q", tc.u, r.Status, r.Reason, tc.reason)
		}
	}
	// Equal to the parent is fine.
	r := c.Price(q, Usage{InputTokens: 2, CacheReadTokens: 2, OutputTokens: 3, ReasoningTokens: 3})
	mustPriced(t, r)
}

func TestBoundaries(t *testing.T) {
	c := rulesCatalog(t)
	q := Query{Provider: "openai", Model: "gpt-4o", At: day}
	// 0 tokens: priced at zero (the usage is known to be empty).
	if r := c.Price(q, Usage{}); r.Status != StatusPriced || !r.Total.IsZero() {
		t.Errorf("zero usage: %s %s", r.Status, r.Total)
	}
	// 1 token of input at $2.50/M = $0.0000025.
	if r := c.Price(q, Usage{InputTokens: 1}); r.Total.String() != "0.000002500000" {
		t.Errorf("1 token: %s", r.Total)
	}
	// 2^53 tokens, exact: 2^53 * 2.5 / 1e6 and * 10 / 1e6.
	n := uint64(1) << 53
	r := c.Price(q, Usage{InputTokens: n, OutputTokens: n})
	mustPriced(t, r)
	want := new(big.Int).Mul(new(big.Int).SetUint64(n), big.NewInt(12_500_000)) // pico: n * 12.5 * 1e6 / 1e6
	if r.Total.BigInt().Cmp(want) != 0 {
		t.Errorf("2^53 tokens: %s, want %s pico", r.Total, want)
	}
	// The largest counts do not overflow: 2^64-1 tokens at $10/M.
	r = c.Price(q, Usage{OutputTokens: ^uint64(0)})
	mustPriced(t, r)
	want = new(big.Int).Mul(new(big.Int).SetUint64(^uint64(0)), big.NewInt(10_000_000))
	if r.Total.BigInt().Cmp(want) != 0 {
		t.Errorf("2^64-1 tokens: %s, want %s pico", r.Total, want)
	}
}

func TestCliffTiers(t *testing.T) {
	c := rulesCatalog(t)
	q := Query{Provider: "anthropic", Model: "claude-sonnet-4", At: day}
	for _, tc := range []struct {
		u    Usage
		want string
	}{
		// At the threshold: base rates (3 in, 15 out per 1M).
		{Usage{InputTokens: 200000, OutputTokens: 1000}, "0.615000000000"},
		// One above: every token at the tier rates (6 in, 22.5 out).
		{Usage{InputTokens: 200001, OutputTokens: 1000}, "1.222506000000"},
		// Cache reads count towards the threshold (total input).
		{Usage{InputTokens: 200001, CacheReadTokens: 100000, OutputTokens: 0}, "0.630006000000"},
	} {
		r := c.Price(q, tc.u)
		mustPriced(t, r)
		if r.Total.String() != tc.want {
			t.Errorf("%+v: %s, want %s", tc.u, r.Total, tc.want)
		}
	}
}

func TestPeriodsWindowsTiers(t *testing.T) {
	c := rulesCatalog(t)
	change := time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC)
	u := Usage{InputTokens: 1_000_000}
	for _, tc := range []struct {
		q       Query
		want    string
		price   string
		fellBak bool
	}{
		{Query{Provider: "openai", Model: "o3", At: change.Add(-time.Nanosecond)}, "10.000000000000", "openai/o3#0", false},
		{Query{Provider: "openai", Model: "o3", At: change}, "2.000000000000", "openai/o3#1", false},
		// Window 16:30-00:30 wraps midnight: [16:30, 00:30).
		{Query{Provider: "deepseek", Model: "deepseek-chat", At: time.Date(2026, 1, 1, 16, 29, 59, 0, time.UTC)}, "0.270000000000", "deepseek/deepseek-chat#0", false},
		{Query{Provider: "deepseek", Model: "deepseek-chat", At: time.Date(2026, 1, 1, 16, 30, 0, 0, time.UTC)}, "0.135000000000", "deepseek/deepseek-chat#1", false},
		{Query{Provider: "deepseek", Model: "deepseek-chat", At: time.Date(2026, 1, 1, 23, 59, 59, 0, time.UTC)}, "0.135000000000", "deepseek/deepseek-chat#1", false},
		{Query{Provider: "deepseek", Model: "deepseek-chat", At: time.Date(2026, 1, 2, 0, 29, 59, 0, time.UTC)}, "0.135000000000", "deepseek/deepseek-chat#1", false},
		{Query{Provider: "deepseek", Model: "deepseek-chat", At: time.Date(2026, 1, 2, 0, 30, 0, 0, time.UTC)}, "0.270000000000", "deepseek/deepseek-chat#0", false},
		// Service tier and batch.
		{Query{Provider: "openai", Model: "gpt-4o", At: day, Batch: true}, "1.250000000000", "openai/gpt-4o#1", false},
		{Query{Provider: "openai", Model: "gpt-4o", At: day, ServiceTier: "flex"}, "1.250000000000", "openai/gpt-4o#2", false},
		{Query{Provider: "openai", Model: "gpt-4o", At: day, ServiceTier: "Default"}, "2.500000000000", "openai/gpt-4o#0", false},
		{Query{Provider: "openai", Model: "gpt-4o", At: day, ServiceTier: "priority"}, "2.500000000000", "openai/gpt-4o#0", true},
		{Query{Provider: "openai", Model: "o3", At: day, Batch: true}, "2.000000000000", "openai/o3#1", true},
	} {
		r := c.Price(tc.q, u)
		mustPriced(t, r)
		if r.Total.String() != tc.want || r.PriceID != tc.price || r.ConditionFallback != tc.fellBak {
			t.Errorf("%s %s at %s tier %q batch %v: %s %s fallback=%v, want %s %s %v",
				tc.q.Provider, tc.q.Model, tc.q.At.Format(time.RFC3339), tc.q.ServiceTier, tc.q.Batch,
				r.Total, r.PriceID, r.ConditionFallback, tc.want, tc.price, tc.fellBak)
		}
	}
	// Before any period: no price in effect.
	only := `schema_version: 1
providers:
  - id: openai
    models:
      - id: future-model
        prices:
          - effective_from: "2030-01-01"
            input_mtok: "1"
`
	c2 := rulesCatalog(t, only)
	if r := c2.Price(Query{Provider: "openai", Model: "future-model", At: day}, u); r.Status != StatusUnpriced || r.Reason != "no_price_in_effect" {
		t.Errorf("before period: %s %q", r.Status, r.Reason)
	}
}

func TestRoundingAndFinePrices(t *testing.T) {
	c := rulesCatalog(t)
	q := Query{Provider: "openai", Model: "gpt-tiny", At: day}
	// input $0.0000005/M: 1 token = 5e-13 USD, rounds half up to 1 pico.
	if r := c.Price(q, Usage{InputTokens: 1}); r.Input.String() != "0.000000000001" {
		t.Errorf("half-up rounding: %s", r.Input)
	}
	// output $0.0833333333333333/M (16 digits, kept exactly): 12 tokens =
	// 0.9999999999999996e-6 USD -> 0.000001000000 after rounding.
	if r := c.Price(q, Usage{OutputTokens: 12}); r.Output.String() != "0.000001000000" {
		t.Errorf("fine price: %s", r.Output)
	}
	// Per-request fee: 0 requests means 1 (per 1k requests: $2/1k).
	r := c.Price(Query{Provider: "openai", Model: "per-request", At: day}, Usage{})
	if r.Other.String() != "0.002000000000" {
		t.Errorf("request fee: %s", r.Other)
	}
	r = c.Price(Query{Provider: "openai", Model: "per-request", At: day}, Usage{Requests: 3})
	if r.Other.String() != "0.006000000000" {
		t.Errorf("3 requests: %s", r.Other)
	}
}

func TestAudioDurationAndUncoveredUsage(t *testing.T) {
	c := rulesCatalog(t)
	q := Query{Provider: "openai", Model: "transcribe", At: day}
	for _, tc := range []struct {
		u            Usage
		total, state string
	}{
		{Usage{AudioMs: 95_000, InputAudioMs: 95_000}, "0.009500000000", "priced"}, // 95 s at $0.36/h
		{Usage{InputAudioMs: 95_000}, "0.009500000000", "priced"},                  // total derived from parts
		{Usage{AudioMs: 4_000}, "0.001000000000", "priced"},                        // 10 s minimum
		{Usage{AudioMs: 1}, "0.001000000000", "priced"},
		{Usage{}, "0.000000000000", "priced"},
		{Usage{InputTokens: 1000}, "", "unpriced"}, // tokens: no price covers them
		{Usage{AudioMs: 1000, InputAudioMs: 2000}, "", "usage_error"},
	} {
		r := c.Price(q, tc.u)
		if r.Status.String() != tc.state || (tc.total != "" && r.Total.String() != tc.total) {
			t.Errorf("%+v: %s %s %q, want %s %s", tc.u, r.Status, r.Total, r.Reason, tc.state, tc.total)
		}
	}
	// Output tokens sent to an input-only model are not billed (as upstream),
	// since the input is.
	r := c.Price(Query{Provider: "openai", Model: "embed-only", At: day}, Usage{InputTokens: 1_000_000, OutputTokens: 5})
	if r.Status != StatusPriced || r.Total.String() != "0.020000000000" {
		t.Errorf("embedding: %s %s", r.Status, r.Total)
	}
	if r := c.Price(Query{Provider: "openai", Model: "embed-only", At: day}, Usage{OutputTokens: 5}); r.Reason != "no_price_for_usage" {
		t.Errorf("output only to an input-priced model: %s %q", r.Status, r.Reason)
	}
}

func TestToolPrice(t *testing.T) {
	c := rulesCatalog(t)
	p, id, ok := c.ToolPrice("openai_legacy", "web_search", day)
	if !ok || p.String() != "0.010000000000" || id != "openai/tool:web_search" {
		t.Errorf("ToolPrice = %s %q %v", p, id, ok)
	}
	if _, _, ok := c.ToolPrice("openai", "code_interpreter", day); ok {
		t.Error("unknown tool priced")
	}
	if _, _, ok := c.ToolPrice("nobody", "web_search", day); ok {
		t.Error("unknown provider priced")
	}
}

func TestLayering(t *testing.T) {
	base := rulesCatalog(t)
	layer := `schema_version: 1
providers:
  - id: openai
    tools: {file_search: "0.0025"}
    models:
      - id: gpt-4o
        aliases: [my-4o]
        prices:
          - input_mtok: "2"
            output_mtok: "8"
      - id: gpt-4o-2024-05-13
        remove: true
      - id: gpt-4o-2024-08-06
        prices:
          - input_mtok: "2.25"
      - id: my-finetune
        patterns: ['^ft:gpt-tiny:.*$']
        prices:
          - input_mtok: "3"
  - id: deepseek
    remove: true
  - id: private
    aliases: [corp]
    models:
      - id: corp-llm
        prices:
          - input_mtok: "0.5"
`
	c := rulesCatalog(t, layer)
	if c.Version() == base.Version() {
		t.Error("layering did not change the catalog version")
	}
	u := Usage{InputTokens: 1_000_000}
	for _, tc := range []struct {
		provider, model, want, wantModel string
		kind                             MatchKind
	}{
		{"openai", "gpt-4o", "2.000000000000", "gpt-4o", MatchExact},                       // override
		{"openai", "my-4o", "2.000000000000", "gpt-4o", MatchAlias},                        // alias added
		{"openai", "gpt4o-latest", "2.000000000000", "gpt-4o", MatchAlias},                 // base alias kept
		{"openai", "gpt-4o-2024-08-06", "2.250000000000", "gpt-4o-2024-08-06", MatchExact}, // a layer model takes a base alias
		{"openai", "gpt-4o-2024-05-13", "2.000000000000", "gpt-4o", MatchSnapshot},         // removed snapshot falls to its model
		{"openai", "ft:gpt-tiny:acme", "3.000000000000", "my-finetune", MatchPattern},      // layer pattern first
		{"openai", "gpt-tiny-x", "0.000000500000", "gpt-tiny", MatchPattern},
		{"corp", "corp-llm", "0.500000000000", "corp-llm", MatchExact},
	} {
		r := c.Price(Query{Provider: tc.provider, Model: tc.model, At: day}, u)
		mustPriced(t, r)
		if r.Total.String() != tc.want || r.Model != tc.wantModel || r.Match != tc.kind {
			t.Errorf("%s/%s: %s %s %s, want %s %s %s", tc.provider, tc.model, r.Total, r.Model, r.Match, tc.want, tc.wantModel, tc.kind)
		}
	}
	if r := c.Price(Query{Provider: "deepseek", Model: "deepseek-chat"}, u); r.Reason != "unknown_provider" {
		t.Errorf("removed provider: %q", r.Reason)
	}
	if _, _, ok := c.ToolPrice("openai", "web_search", day); !ok {
		t.Error("base tool lost by layering")
	}
	if p, _, ok := c.ToolPrice("openai", "file_search", day); !ok || p.String() != "0.002500000000" {
		t.Error("layer tool missing")
	}
	// Base catalog unchanged.
	if r := base.Price(Query{Provider: "openai", Model: "gpt-4o", At: day}, u); r.Total.String() != "2.500000000000" {
		t.Errorf("base changed: %s", r.Total)
	}
}

func TestLoadLayersFiles(t *testing.T) {
	path := t.TempDir() + "/user.yaml"
	if err := os.WriteFile(path, []byte("schema_version: 1\nproviders:\n  - id: openai\n    models:\n      - id: gpt-4o\n        prices:\n          - input_mtok: \"1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Price(Query{Provider: "openai", Model: "gpt-4o", At: day}, Usage{InputTokens: 1_000_000})
	if r.Total.String() != "1.000000000000" {
		t.Errorf("Load override: %s", r.Total)
	}
	// Other default models still present.
	if r := c.Price(Query{Provider: "anthropic", Model: "claude-sonnet-4-5"}, Usage{InputTokens: 1}); r.Status != StatusPriced {
		t.Errorf("default content lost: %s %q", r.Status, r.Reason)
	}
	if _, err := Load(t.TempDir() + "/missing.yaml"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestValidatorRejects(t *testing.T) {
	head := "schema_version: 1\nproviders:\n  - id: p\n    models:\n"
	for name, tc := range map[string]struct{ yaml, want string }{
		"overlap": {head + `      - id: m
        prices:
          - {effective_from: "2025-01-01", input_mtok: "1"}
          - {effective_from: "2025-03-01", input_mtok: "2"}
`, "overlap"},
		"window overlap": {head + `      - id: m
        prices:
          - {time_of_day: {start: "22:00", end: "02:00"}, input_mtok: "1"}
          - {time_of_day: {start: "01:00", end: "03:00"}, input_mtok: "2"}
`, "overlap"},
		"duplicate alias": {head + `      - id: a
        aliases: [x]
        prices: [{input_mtok: "1"}]
      - id: b
        aliases: [X]
        prices: [{input_mtok: "1"}]
`, `alias "X" is already used by model "a"`},
		"id shadowed by alias": {head + `      - id: a
        aliases: [b]
        prices: [{input_mtok: "1"}]
      - id: b
        prices: [{input_mtok: "1"}]
`, `id "b" is already used`},
		"unanchored": {head + `      - id: a
        patterns: ['gpt.*']
        prices: [{input_mtok: "1"}]
`, "not anchored"},
		"unknown key": {head + `      - id: a
        prices: [{inptu_mtok: "1"}]
`, `unknown key "inptu_mtok"`},
		"tiers descending": {head + `      - id: a
        prices: [{input_mtok: {base: "1", tiers: [{above_input_tokens: 200, price: "2"}, {above_input_tokens: 100, price: "3"}]}}]
`, "ascend"},
		"parent unpriced": {head + `      - id: a
        prices: [{cache_read_mtok: "1"}]
`, "parent input_mtok"},
		"join missing": {head + `      - id: a
        prices: [{input_mtok: "1", cache_read_mtok: "0.1", input_audio_mtok: "3"}]
`, "cache_audio_read_mtok must be priced"},
		"bad decimal": {head + `      - id: a
        prices: [{input_mtok: "1,5"}]
`, "invalid amount"},
		"negative": {head + `      - id: a
        prices: [{input_mtok: "-1"}]
`, "invalid amount"},
		"empty window": {head + `      - id: a
        prices: [{time_of_day: {start: "10:00", end: "10:00"}, input_mtok: "1"}]
`, "empty window"},
		"bad period": {head + `      - id: a
        prices: [{effective_from: "2025-02-01", effective_to: "2025-01-01", input_mtok: "1"}]
`, "not after"},
		"unknown field": {head + `      - id: a
        prize: [{input_mtok: "1"}]
`, "prize"},
		"bad fallback":   {"schema_version: 1\nproviders:\n  - id: p\n    fallbacks: [q]\n", `unknown provider "q"`},
		"schema version": {"schema_version: 2\nproviders: []\n", "schema_version"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidCatalog) {
				t.Errorf("error %v, want one containing %q wrapping ErrInvalidCatalog", err, tc.want)
			}
		})
	}
}

// TestDefaultCatalog runs the validator over the embedded default catalog
// and checks its content and attribution.
func TestDefaultCatalog(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if problems := c.Validate(); len(problems) > 0 {
		t.Fatalf("default catalog: %v", errors.Join(problems...))
	}
	f := c.File()
	var models, litellm int
	for _, p := range f.Providers {
		for _, m := range p.Models {
			models++
			if m.Source == "litellm" {
				litellm++
			}
		}
	}
	t.Logf("default catalog %s: %d providers, %d models (%d from LiteLLM only)", c.Version(), len(f.Providers), models, litellm)
	if models < 2500 || litellm == 0 || len(f.Attribution) < 2 {
		t.Errorf("unexpected catalog size: %d models, %d litellm, %d attributions", models, litellm, len(f.Attribution))
	}
	for _, lic := range []string{"catalog/LICENSE.genai-prices", "catalog/LICENSE.litellm", "catalog/NOTICE.md"} {
		if _, err := os.Stat(lic); err != nil {
			t.Errorf("attribution file: %v", err)
		}
	}
	for _, tc := range []struct{ provider, model, wantModel, total string }{
		{"openai", "gpt-4o", "gpt-4o", "0.012500000000"},
		{"openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13", "0.020000000000"},
		{"az.ai.openai", "gpt-4o", "gpt-4o", "0.012500000000"},
	} {
		r := c.Price(Query{Provider: tc.provider, Model: tc.model, At: day}, Usage{InputTokens: 1000, OutputTokens: 1000})
		if r.Status != StatusPriced || r.Model != tc.wantModel || r.Total.String() != tc.total {
			t.Errorf("%s/%s: %s %s %s (%q), want %s %s", tc.provider, tc.model, r.Status, r.Model, r.Total, r.Reason, tc.wantModel, tc.total)
		}
	}
	// LiteLLM adds batch and priority prices to genai-prices models.
	r := c.Price(Query{Provider: "openai", Model: "gpt-4o", At: day, Batch: true}, Usage{InputTokens: 1_000_000})
	if r.Total.String() != "1.250000000000" || r.ConditionFallback {
		t.Errorf("gpt-4o batch: %s fallback=%v", r.Total, r.ConditionFallback)
	}
}

func TestPriceConcurrent(t *testing.T) {
	c := rulesCatalog(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				m := []string{"gpt-4o", "o3", "gpt-tiny-" + string(rune('a'+g)), "nope"}[i%4]
				r := c.Price(Query{Provider: "openai", Model: m, At: day}, Usage{InputTokens: uint64(i)})
				if m != "nope" && r.Status != StatusPriced {
					t.Errorf("%s: %s", m, r.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestPriceDoesNotAllocate(t *testing.T) {
	c := rulesCatalog(t)
	q := Query{Provider: "anthropic", Model: "claude-sonnet-4", At: day}
	u := Usage{InputTokens: 300000, CacheReadTokens: 1000, CacheWriteTokens: 500, OutputTokens: 2000, ReasoningTokens: 100}
	c.Price(q, u)
	if n := testing.AllocsPerRun(200, func() { c.Price(q, u) }); n != 0 {
		t.Errorf("Price allocates %v times per call", n)
	}
}

func TestResolveCacheBounded(t *testing.T) {
	c := rulesCatalog(t)
	for i := range cacheSize + 10 {
		c.Price(Query{Provider: "openai", Model: "gpt-tiny-" + string(rune(i))}, Usage{})
	}
	n := c.cache.len()
	if n > cacheSize {
		t.Errorf("cache holds %d entries, bound %d", n, cacheSize)
	}
}

// TestSchemaExample keeps the layering example of SCHEMA.md valid.
func TestSchemaExample(t *testing.T) {
	b, err := os.ReadFile("SCHEMA.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.LastIndex(doc, "```yaml\n")
	j := strings.Index(doc[i+8:], "```")
	example := doc[i+8 : i+8+j]
	c, err := Parse(defaultYAML, []byte(example))
	if err != nil {
		t.Fatalf("SCHEMA.md example: %v", err)
	}
	r := c.Price(Query{Provider: "openai", Model: "gpt-4o", At: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}, Usage{InputTokens: 1_000_000})
	if r.Total.String() != "2.000000000000" {
		t.Errorf("negotiated gpt-4o: %s", r.Total)
	}
	r = c.Price(Query{Provider: "openai", Model: "ft:gpt-4o-2024-08-06:acme::abc123"}, Usage{OutputTokens: 1_000_000})
	if r.Model != "acme-support-ft" || r.Total.String() != "15.000000000000" {
		t.Errorf("fine-tune: %s %s (%s %q)", r.Model, r.Total, r.Status, r.Reason)
	}
}
