package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPriceJSON(t *testing.T) {
	code, out, errs := runCLI(t, "price", "--provider", "openai", "--model", "gpt-4o", "--input-tokens", "1000",
		"--cache-read-tokens", "300", "--output-tokens", "200", "--at", "2025-06-01T12:00:00Z", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	// gpt-4o: $2.50/M input, $1.25/M cache read, $10/M output.
	want := map[string]any{
		"status": "priced", "model_id": "gpt-4o", "price_id": "openai/gpt-4o#0", "match": "exact",
		"input": "0.001750000000", "cache_read": "0.000375000000", "output": "0.002000000000",
		"total": "0.004125000000", "cache_write": "0.000000000000", "reasoning": "0.000000000000", "other": "0.000000000000",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if v, _ := got["catalog_version"].(string); !strings.HasPrefix(v, "sha256:") {
		t.Errorf("catalog_version = %q", v)
	}
}

func TestPriceText(t *testing.T) {
	code, out, _ := runCLI(t, "price", "--provider", "anthropic", "--model", "claude-3-5-haiku-latest",
		"--input-tokens", "2000", "--cache-write-tokens", "1000", "--cache-write-1h-tokens", "400", "--output-tokens", "10")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	// input 1000*0.8 + 5m writes 600*1 + 1h writes 400*1.6 + output 10*4, per 1M.
	for _, line := range []string{"input        0.000800000000 USD", "cache write  0.001240000000 USD", "total        0.002080000000 USD"} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
}

func TestPriceFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown model", []string{"price", "--provider", "openai", "--model", "no-such-model", "--input-tokens", "1"}, exitUnpriced, "unknown_model"},
		{"unknown provider", []string{"price", "--provider", "nobody", "--model", "gpt-4o"}, exitUnpriced, "unknown_provider"},
		{"cache > input", []string{"price", "--provider", "openai", "--model", "gpt-4o", "--input-tokens", "1", "--cache-read-tokens", "2"}, exitBadUsage, "cache_read_exceeds_input"},
		{"reasoning > output", []string{"price", "--provider", "openai", "--model", "gpt-4o", "--output-tokens", "1", "--reasoning-tokens", "2"}, exitBadUsage, "reasoning_exceeds_output"},
		{"no model", []string{"price", "--provider", "openai"}, exitUsage, "--model is required"},
		{"bad time", []string{"price", "--model", "gpt-4o", "--at", "yesterday"}, exitUsage, "RFC 3339"},
		{"bad command", []string{"nope"}, exitUsage, "unknown command"},
		{"missing catalog", []string{"price", "--model", "gpt-4o", "--catalog", "/nonexistent.yaml"}, exitCatalog, "nonexistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.msg) {
				t.Errorf("exit %d stderr %q; want exit %d containing %q", code, errs, tc.code, tc.msg)
			}
		})
	}
}

const userCatalog = `schema_version: 1
providers:
  - id: openai
    models:
      - id: gpt-4o
        prices:
          - input_mtok: "2"
            output_mtok: "8"
      - id: my-finetune
        aliases: [ft:gpt-4o:acme]
        prices:
          - input_mtok: "3.75"
            output_mtok: "15"
`

func TestPriceWithUserCatalog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "user.yaml")
	if err := os.WriteFile(path, []byte(userCatalog), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "price", "--catalog", path, "--provider", "openai", "--model", "gpt-4o", "--input-tokens", "1000000", "--json")
	if code != exitOK || !strings.Contains(out, `"total": "2.000000000000"`) {
		t.Fatalf("exit %d out %s err %s", code, out, errs)
	}
	code, out, _ = runCLI(t, "price", "--catalog", path, "--provider", "openai", "--model", "FT:gpt-4o:acme", "--output-tokens", "1000", "--json")
	if code != exitOK || !strings.Contains(out, `"total": "0.015000000000"`) || !strings.Contains(out, `"match": "alias"`) {
		t.Fatalf("exit %d out %s", code, out)
	}
	code, out, _ = runCLI(t, "catalog", "validate", path)
	if code != exitOK || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("validate: exit %d out %s", code, out)
	}
}

func TestCatalogValidateRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	bad := strings.Replace(userCatalog, `input_mtok: "2"`, `input_mtok: "2"
            effective_from: "2025-01-01"
          - input_mtok: "1"
            effective_from: "2025-06-01"`, 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "catalog", "validate", path)
	if code != exitCatalog || !strings.Contains(errs, "overlap") {
		t.Fatalf("exit %d stderr %s", code, errs)
	}
}

func TestCatalogValidateDefault(t *testing.T) {
	code, out, errs := runCLI(t, "catalog", "validate")
	if code != exitOK || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("exit %d out %s err %s", code, out, errs)
	}
}

func TestCatalogShow(t *testing.T) {
	code, out, _ := runCLI(t, "catalog", "show", "openai/gpt-4o-2024-08-06")
	if code != exitOK || !strings.Contains(out, "model gpt-4o (alias match)") || !strings.Contains(out, "input_mtok:") ||
		!strings.Contains(out, "# prices[0]: price_id openai/gpt-4o#0") {
		t.Fatalf("exit %d out %s", code, out)
	}
	code, _, errs := runCLI(t, "catalog", "show", "openai/nothing-like-this")
	if code != exitUnpriced || !strings.Contains(errs, "unknown_model") {
		t.Fatalf("exit %d err %s", code, errs)
	}
}

func TestCatalogImport(t *testing.T) {
	dir := t.TempDir()
	gp := filepath.Join(dir, "gp.json")
	data := `[{"id":"acme","name":"Acme","pricing_urls":["https://acme.test/pricing"],"api_pattern":"https://api\\.acme\\.test",
	  "models":[{"id":"acme-1","match":{"or":[{"equals":"acme-1"},{"starts_with":"acme-1-"}]},"prices":{"input_mtok":1.5,"output_mtok":6}}]}]`
	if err := os.WriteFile(gp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "acme.yaml")
	code, _, errs := runCLI(t, "catalog", "import", "--from", "genai-prices", "-o", out, gp)
	if code != exitOK {
		t.Fatalf("import exit %d: %s", code, errs)
	}
	code, stdout, errs := runCLI(t, "price", "--catalog", out, "--provider", "acme", "--model", "acme-1-fast", "--input-tokens", "1000", "--output-tokens", "1000", "--json")
	if code != exitOK || !strings.Contains(stdout, `"total": "0.007500000000"`) || !strings.Contains(stdout, `"match": "pattern"`) {
		t.Fatalf("exit %d out %s err %s", code, stdout, errs)
	}
	ll := filepath.Join(dir, "ll.json")
	lldata := `{"acme-2":{"litellm_provider":"acme","mode":"chat","input_cost_per_token":2.5e-06,"output_cost_per_token":1e-05,
	  "input_cost_per_token_batches":1.25e-06,"output_cost_per_token_batches":5e-06}}`
	if err := os.WriteFile(ll, []byte(lldata), 0o644); err != nil {
		t.Fatal(err)
	}
	merged := filepath.Join(dir, "merged.yaml")
	code, _, errs = runCLI(t, "catalog", "import", "--from", "litellm", "--base", out, "-o", merged, ll)
	if code != exitOK {
		t.Fatalf("litellm import exit %d: %s", code, errs)
	}
	b, _ := os.ReadFile(merged)
	if !strings.Contains(string(b), "id: acme-2") || !strings.Contains(string(b), "source: litellm") || !strings.Contains(string(b), "batch: true") {
		t.Fatalf("merged catalog lacks the LiteLLM model:\n%s", b)
	}
	code, _, errs = runCLI(t, "catalog", "import", "--from", "nope", gp)
	if code != exitUsage || !strings.Contains(errs, "genai-prices, litellm") {
		t.Fatalf("exit %d err %s", code, errs)
	}
}
