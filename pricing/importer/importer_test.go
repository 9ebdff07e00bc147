package importer

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/agentcost/agentcost/pricing"
)

func importSample(t *testing.T) (*pricing.File, *Stats) {
	t.Helper()
	b, err := os.ReadFile("testdata/genai_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	f, st, err := GenAIPrices(b)
	if err != nil {
		t.Fatal(err)
	}
	return f, st
}

func catalogOf(t *testing.T, f *pricing.File) *pricing.Catalog {
	t.Helper()
	y, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c, err := pricing.Parse(y)
	if err != nil {
		t.Fatalf("imported catalog does not parse: %v\n%s", err, y)
	}
	return c
}

func provider(f *pricing.File, id string) *pricing.FileProvider {
	for i := range f.Providers {
		if f.Providers[i].ID == id {
			return &f.Providers[i]
		}
	}
	return nil
}

func model(p *pricing.FileProvider, id string) *pricing.FileModel {
	for i := range p.Models {
		if p.Models[i].ID == id {
			return &p.Models[i]
		}
	}
	return nil
}

func TestGenAIPricesStructure(t *testing.T) {
	f, st := importSample(t)
	if st.Models != 9 || st.Free != 1 || st.DroppedKeys["input_document_kpages"] != 1 {
		t.Errorf("stats: %+v", st)
	}
	x := provider(f, "x_ai")
	if x == nil || !slices.Contains(x.Aliases, "x-ai") || !slices.Contains(x.Aliases, "xai") {
		t.Fatalf("x-ai not mapped to x_ai with aliases: %+v", x)
	}
	az := provider(f, "azure.ai.openai")
	if az == nil || !slices.Equal(az.Fallbacks, []string{"openai", "x_ai"}) || len(az.ServerAddressPatterns) != 1 {
		t.Fatalf("azure: %+v", az)
	}
	if provider(f, "gcp.vertex_ai") != nil {
		t.Error("vertex provider added without gemini and anthropic")
	}
	oa := provider(f, "openai")
	g := model(oa, "gpt-4o")
	// equals -> aliases, except another model's id.
	if !slices.Equal(g.Aliases, []string{"gpt-4o-2024-08-06"}) || len(g.Patterns) != 0 {
		t.Errorf("gpt-4o names: %v %v", g.Aliases, g.Patterns)
	}
	v := model(oa, "gpt-voice")
	if len(v.Patterns) != 1 || v.Patterns[0].Exclude == "" {
		t.Errorf("and/negative lookahead: %+v", v.Patterns)
	}
	o3 := model(oa, "o3")
	if len(o3.Prices) != 2 || o3.Prices[0].EffectiveTo != "2025-06-10" || o3.Prices[1].EffectiveFrom != "2025-06-10" {
		t.Errorf("o3 periods: %+v", o3.Prices)
	}
	ds := model(provider(f, "deepseek"), "deepseek-chat")
	if w := ds.Prices[1].TimeOfDay; w == nil || w.Start != "16:30:00Z" || w.End != "00:30:00Z" {
		t.Errorf("deepseek window: %+v", ds.Prices[1])
	}
	if fm := model(oa, "free-one"); fm.Prices[0].Units["input_mtok"].Base != "0" {
		t.Errorf("free model: %+v", fm.Prices)
	}
}

func TestGenAIPricesPricing(t *testing.T) {
	f, _ := importSample(t)
	c := catalogOf(t, f)
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		provider, model string
		at              time.Time
		u               pricing.Usage
		total, reason   string
		match           pricing.MatchKind
	}{
		{"openai", "gpt-4o", at, pricing.Usage{InputTokens: 1000, CacheReadTokens: 400, OutputTokens: 100}, "0.003000000000", "", pricing.MatchExact},
		{"openai", "gpt-4o-mini-2024-07-18", at, pricing.Usage{InputTokens: 1_000_000}, "0.150000000000", "", pricing.MatchSnapshot},
		{"openai", "gpt-voice-2", at, pricing.Usage{InputTokens: 1_000_000}, "1.000000000000", "", pricing.MatchPattern},
		{"openai", "gpt-voice-tts", at, pricing.Usage{InputTokens: 1}, "", "unknown_model", pricing.MatchNone},
		{"openai", "o3-2025-04-16", time.Date(2025, 6, 9, 23, 59, 59, 0, time.UTC), pricing.Usage{InputTokens: 1_000_000}, "10.000000000000", "", pricing.MatchSnapshot},
		{"openai", "o3", time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC), pricing.Usage{InputTokens: 1_000_000}, "2.000000000000", "", pricing.MatchExact},
		{"openai", "free-one", at, pricing.Usage{InputTokens: 1000, OutputTokens: 1000}, "0.000000000000", "", pricing.MatchExact},
		{"openai", "ocr", at, pricing.Usage{InputTokens: 1000}, "", "no_supported_price", pricing.MatchExact},
		{"openai", "whisper", at, pricing.Usage{InputTokens: 1000}, "", "no_price_for_usage", pricing.MatchExact},
		// 95 s at $0.36/h.
		{"openai", "whisper", at, pricing.Usage{AudioMs: 95_000}, "0.009500000000", "", pricing.MatchExact},
		{"xai", "grok-4-0709", at, pricing.Usage{InputTokens: 128000, OutputTokens: 1000}, "0.399000000000", "", pricing.MatchSnapshot},
		{"xai", "grok-4", at, pricing.Usage{InputTokens: 128001, OutputTokens: 1000}, "0.798006000000", "", pricing.MatchExact},
		{"deepseek", "deepseek-chat", time.Date(2026, 1, 1, 0, 29, 0, 0, time.UTC), pricing.Usage{InputTokens: 1_000_000}, "0.135000000000", "", pricing.MatchExact},
		{"deepseek", "deepseek-chat", time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC), pricing.Usage{InputTokens: 1_000_000}, "0.270000000000", "", pricing.MatchExact},
		{"azure", "gpt-4o", at, pricing.Usage{InputTokens: 1_000_000}, "2.500000000000", "", pricing.MatchFallbackProvider},
		{"", "gpt-4o", at, pricing.Usage{InputTokens: 1_000_000}, "2.500000000000", "", pricing.MatchExact}, // provider from model_match
	} {
		r := c.Price(pricing.Query{Provider: tc.provider, Model: tc.model, At: tc.at}, tc.u)
		if (tc.total != "" && r.Total.String() != tc.total) || r.Reason != tc.reason || r.Match != tc.match {
			t.Errorf("%s/%s: %s %s %q %s; want %s %q %s", tc.provider, tc.model, r.Status, r.Total, r.Reason, r.Match, tc.total, tc.reason, tc.match)
		}
	}
}

func TestMergeLiteLLM(t *testing.T) {
	base, _ := importSample(t)
	b, err := os.ReadFile("testdata/litellm_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	f, st, err := MergeLiteLLM(base, b)
	if err != nil {
		t.Fatal(err)
	}
	// gpt-4o gets batch, flex and priority; gpt-4o-mini's standard price
	// disagrees (0.16 vs 0.15), so its batch price is not taken.
	if st.TierMismatch != 1 {
		t.Errorf("mismatches: %d", st.TierMismatch)
	}
	if n := len(model(provider(base, "openai"), "gpt-4o").Prices); n != 1 {
		t.Errorf("base modified: %d prices", n)
	}
	oa := provider(f, "openai")
	if g := model(oa, "gpt-4o"); len(g.Prices) != 4 || g.Prices[1].Source != "litellm" {
		t.Errorf("gpt-4o prices: %+v", g.Prices)
	}
	if len(model(oa, "gpt-4o-mini").Prices) != 1 {
		t.Error("mismatched tier prices attached")
	}
	nm := model(oa, "gpt-new")
	if nm == nil || nm.Source != "litellm" || nm.Prices[0].Units["input_mtok"].Tiers[0].AboveInputTokens != 200000 {
		t.Fatalf("gpt-new: %+v", nm)
	}
	if model(oa, "gpt-prefixed") == nil {
		t.Error("provider prefix not stripped")
	}
	if model(oa, "gpt-image") != nil {
		t.Error("image-generation entry imported")
	}
	if p := provider(f, "aws.bedrock"); p != nil && len(p.Models) > 0 {
		t.Errorf("regional bedrock key imported: %+v", p.Models)
	}
	if sn := provider(f, "sambanova"); sn == nil || model(sn, "llama-4-maverick") == nil {
		t.Error("new provider/model not added")
	}
	if model(provider(f, "x_ai"), "grok-4") == nil || len(provider(f, "x_ai").Models) != 1 {
		t.Error("existing grok-4 duplicated or lost")
	}
	c := catalogOf(t, f)
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		q     pricing.Query
		u     pricing.Usage
		total string
	}{
		{pricing.Query{Provider: "openai", Model: "gpt-4o", Batch: true, At: at}, pricing.Usage{InputTokens: 1_000_000}, "1.250000000000"},
		{pricing.Query{Provider: "openai", Model: "gpt-4o", ServiceTier: "flex", At: at}, pricing.Usage{InputTokens: 1_000_000, CacheReadTokens: 1_000_000}, "0.625000000000"},
		{pricing.Query{Provider: "openai", Model: "gpt-4o", ServiceTier: "priority", At: at}, pricing.Usage{OutputTokens: 1_000_000}, "17.000000000000"},
		{pricing.Query{Provider: "openai", Model: "gpt-new", At: at}, pricing.Usage{InputTokens: 200_001, OutputTokens: 1000, ReasoningTokens: 1000}, "0.405002000000"},
		{pricing.Query{Provider: "sambanova", Model: "Llama-4-Maverick", At: at}, pricing.Usage{InputTokens: 1_000_000}, "0.630000000000"},
	} {
		r := c.Price(tc.q, tc.u)
		if r.Status != pricing.StatusPriced || r.Total.String() != tc.total {
			t.Errorf("%+v: %s %s %q, want %s", tc.q, r.Status, r.Total, r.Reason, tc.total)
		}
	}
}
