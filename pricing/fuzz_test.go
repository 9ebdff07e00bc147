package pricing

import (
	"errors"
	"testing"
	"time"
)

// FuzzParseCatalog feeds arbitrary bytes to the catalog loader as a user
// layer over the embedded catalog, and as a standalone catalog. Loading must
// never panic: it either fails with ErrInvalidCatalog or yields a catalog
// that validates, has a version, and prices without panicking (a price is
// either a result with a status or an explicit unpriced/usage error).
//
//	go test ./pricing -run '^$' -fuzz '^FuzzParseCatalog$' -fuzztime 30s
func FuzzParseCatalog(f *testing.F) {
	f.Add([]byte("schema_version: 1\nproviders:\n  - id: openai\n    tools:\n      web_search: \"0.010\"\n"))
	f.Add([]byte("schema_version: 1\nproviders:\n  - id: acme\n    models:\n      - id: m1\n        prices:\n          - input_mtok: \"1.5\"\n            output_mtok: \"3\"\n"))
	f.Add([]byte("schema_version: 99\n"))
	f.Add([]byte("providers: [{id: \"\"}]\n"))
	f.Add([]byte("{{{"))
	f.Add([]byte(""))
	f.Add([]byte("schema_version: 1\nproviders:\n  - id: openai\n    models:\n      - id: gpt-4o\n        prices:\n          - input_mtok: \"-1\"\n"))
	f.Add([]byte("schema_version: 1\nproviders:\n  - id: openai\n    models:\n      - id: gpt-4o\n        prices:\n          - input_mtok: \"99999999999999999999999999999999999999\"\n"))
	f.Fuzz(func(t *testing.T, layer []byte) {
		if len(layer) > 1<<16 {
			return
		}
		for _, layers := range [][][]byte{{DefaultYAML(), layer}, {layer}} {
			c, err := Parse(layers...)
			if err != nil {
				if !errors.Is(err, ErrInvalidCatalog) {
					t.Fatalf("error does not wrap ErrInvalidCatalog: %v", err)
				}
				if c != nil {
					t.Fatalf("catalog returned with error %v", err)
				}
				continue
			}
			if c.Version() == "" {
				t.Fatal("loaded catalog has no version")
			}
			if probs := c.Validate(); len(probs) > 0 {
				t.Fatalf("loaded catalog does not validate: %v", probs)
			}
			for _, q := range []Query{
				{Provider: "openai", Model: "gpt-4o", At: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
				{Provider: "acme", Model: "m1"},
				{Provider: "anthropic", Model: "claude-sonnet-4", Batch: true, ServiceTier: "priority"},
			} {
				r := c.Price(q, Usage{InputTokens: 1000, OutputTokens: 200, CacheReadTokens: 10})
				sum := r.Input.Add(r.CacheRead).Add(r.CacheWrite).Add(r.Output).Add(r.Reasoning).Add(r.Other)
				if sum.Cmp(r.Total) != 0 {
					t.Fatalf("%+v: total %s is not the sum of its parts %s", q, r.Total, sum)
				}
				if (r.Status == StatusPriced) != (r.Reason == "") {
					t.Fatalf("%+v: status %s with reason %q", q, r.Status, r.Reason)
				}
			}
		}
	})
}
