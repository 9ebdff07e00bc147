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
