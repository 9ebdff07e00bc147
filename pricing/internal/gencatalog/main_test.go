package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
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
