package analystsql

import (
	"regexp"
	"strings"
	"testing"
)

// The queries themselves run against ClickHouse in
// exporter/agentcostclickhouseexporter (TestAnalystQueries); these checks
// keep the files' conventions.
func TestConventions(t *testing.T) {
	all := All()
	if len(all) < 12 {
		t.Fatalf("want at least 12 queries, got %d", len(all))
	}
	param := regexp.MustCompile(`\{[a-z_]+:[A-Za-z0-9(), ']+\}`)
	// A decimal division truncates to the scale (12 digits): multiply
	// first, divide last. "x / (a - b) * c" or "x / y * c" is refused.
	divideThenMultiply := regexp.MustCompile(`/\s*(\([^()]*\)|[A-Za-z_][A-Za-z_0-9.]*)\s*\*`)
	for _, q := range all {
		if q.Question == "" {
			t.Errorf("%s: no '-- Question:' line", q.Name)
		}
		if !strings.Contains(q.SQL, "-- Reads: ") {
			t.Errorf("%s: no '-- Reads:' line", q.Name)
		}
		if !param.MatchString(q.SQL) {
			t.Errorf("%s: takes no {name:Type} parameter", q.Name)
		}
		if m := divideThenMultiply.FindString(sqlOnly(q.SQL)); m != "" {
			t.Errorf("%s: divides before it multiplies (%q): multiply first", q.Name, m)
		}
		if strings.Contains(q.SQL, "agentcost.") {
			t.Errorf("%s: tables must be unqualified", q.Name)
		}
		got, err := Get(q.Name)
		if err != nil || got.SQL != q.SQL {
			t.Errorf("Get(%q) = %v", q.Name, err)
		}
	}
	if _, err := Get("nope"); err == nil {
		t.Error("Get of an unknown name must fail")
	}
}

// sqlOnly drops the "--" comments of a query (the queries hold no string
// literal with "--").
func sqlOnly(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "--")
		b.WriteString(line + "\n")
	}
	return b.String()
}

func TestDivideThenMultiplyCaught(t *testing.T) {
	re := regexp.MustCompile(`/\s*(\([^()]*\)|[A-Za-z_][A-Za-z_0-9.]*)\s*\*`)
	for _, bad := range []string{
		"input_cost / (input_tokens - cache_read_tokens - cache_write_tokens) * cache_read_tokens",
		"sum(x) / n * 100",
	} {
		if !re.MatchString(bad) {
			t.Errorf("not caught: %q", bad)
		}
	}
	for _, good := range []string{
		"input_cost * cache_read_tokens / (input_tokens - cache_read_tokens - cache_write_tokens) - cache_read_cost",
		"sum(total_cost) * 1000000 / sum(input_tokens + output_tokens)",
		"SELECT a, -- x / y * z\n b",
	} {
		if re.MatchString(sqlOnly(good)) {
			t.Errorf("false alarm: %q", good)
		}
	}
}
