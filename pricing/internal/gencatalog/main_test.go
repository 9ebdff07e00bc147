package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentcost/agentcost/pricing"
)

// TestDefaultCatalogUpToDate regenerates the default catalog from the
// upstream snapshots (when this checkout has them beside it, in
// ../shared/pricing-data) and requires the committed file to be identical.
func TestDefaultCatalogUpToDate(t *testing.T) {
	shared := filepath.Join("..", "..", "..", "..", "shared", "pricing-data")
	gp := filepath.Join(shared, "genai-prices", "embedded-providers.json")
	ll := filepath.Join(shared, "litellm", "model_prices_and_context_window.json")
	if _, err := os.Stat(gp); err != nil {
		t.Skipf("upstream snapshots not present: %v", err)
	}
	out := filepath.Join(t.TempDir(), "default.yaml")
	if err := run(gp, ll, out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "catalog", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("pricing/catalog/default.yaml is stale: run go generate ./pricing")
	}
}

// TestLiteLLMModelsAgree prices every model imported from LiteLLM only with
// LiteLLM's own per-token numbers (float, as LiteLLM computes) and requires
// the same total at 12 decimals: plain usage, and one token above each
// above_<N>k_tokens tier.
func TestLiteLLMModelsAgree(t *testing.T) {
	llPath := filepath.Join("..", "..", "..", "..", "shared", "pricing-data", "litellm", "model_prices_and_context_window.json")
	data, err := os.ReadFile(llPath)
	if err != nil {
		t.Skipf("upstream snapshot not present: %v", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	cat, err := pricing.Default()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	var compared, cases int
	for _, p := range cat.File().Providers {
		for _, m := range p.Models {
			if m.Source != "litellm" || m.Provenance == nil {
				continue
			}
			key := strings.TrimPrefix(m.Provenance.ImportedFrom, "litellm ")
			var e map[string]any
			if err := json.Unmarshal(raw[key], &e); err != nil {
				t.Fatalf("%s/%s: LiteLLM key %q: %v", p.ID, m.ID, key, err)
			}
			num := func(k string) float64 { f, _ := e[k].(float64); return f }
			inputs := []uint64{1000}
			for k := range e {
				var n uint64
				if _, err := fmt.Sscanf(k, "input_cost_per_token_above_%dk_tokens", &n); err == nil && !strings.HasSuffix(k, "_priority") {
					inputs = append(inputs, n*1000, n*1000+1)
				}
			}
			compared++
			for _, in := range inputs {
				inRate, outRate := num("input_cost_per_token"), num("output_cost_per_token")
				best := uint64(0)
				for k := range e {
					var n uint64
					if _, err := fmt.Sscanf(k, "input_cost_per_token_above_%dk_tokens", &n); err == nil && k == fmt.Sprintf("input_cost_per_token_above_%dk_tokens", n) && in > n*1000 && n*1000 >= best {
						best = n * 1000
						inRate = num(k)
						if o, ok := e[fmt.Sprintf("output_cost_per_token_above_%dk_tokens", n)].(float64); ok {
							outRate = o
						}
					}
				}
				want := float64(in)*inRate + 500*outRate
				if rf, ok := e["input_cost_per_request"].(float64); ok {
					want += rf
				}
				r := cat.Price(pricing.Query{Provider: p.ID, Model: m.ID, At: at}, pricing.Usage{InputTokens: in, OutputTokens: 500})
				cases++
				if r.Status != pricing.StatusPriced || r.Total.String() != strconv.FormatFloat(want, 'f', 12, 64) {
					t.Errorf("%s/%s (LiteLLM %q) input %d: ours %s %s %q, LiteLLM %s", p.ID, m.ID, key, in, r.Status, r.Total, r.Reason, strconv.FormatFloat(want, 'f', 12, 64))
				}
			}
		}
	}
	t.Logf("LiteLLM-only models compared with LiteLLM's own rates: %d models, %d cases", compared, cases)
	if compared < 1000 {
		t.Errorf("only %d LiteLLM models compared", compared)
	}
}
