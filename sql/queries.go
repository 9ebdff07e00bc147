// Package analystsql embeds the analyst SQL library (queries/*.sql): one
// question per file, written against the agentcost ClickHouse schema
// (cost_events, cost_hourly, cost_daily) with ClickHouse query parameters
// ({name:Type}) for every value. Run them with clickhouse-client
// (--param_name=value), over HTTP (param_name=value) or from Go with
// clickhouse.WithParameters; tables are unqualified, so select the database
// (default agentcost) first.
package analystsql

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed queries/*.sql
var files embed.FS

// Query is one analyst question.
type Query struct {
	// Name is the file name without .sql.
	Name string
	// Question is the first "-- Question:" comment line.
	Question string
	// SQL is the file's text.
	SQL string
}

// All returns every query, sorted by name.
func All() []Query {
	entries, err := fs.ReadDir(files, "queries")
	if err != nil {
		panic(err) // embedded at build time
	}
	var out []Query
	for _, e := range entries {
		b, err := files.ReadFile("queries/" + e.Name())
		if err != nil {
			panic(err)
		}
		q := Query{Name: strings.TrimSuffix(e.Name(), ".sql"), SQL: string(b)}
		for _, line := range strings.Split(q.SQL, "\n") {
			if rest, ok := strings.CutPrefix(line, "-- Question: "); ok {
				q.Question = rest
				break
			}
		}
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns the query named name.
func Get(name string) (Query, error) {
	for _, q := range All() {
		if q.Name == name {
			return q, nil
		}
	}
	return Query{}, fmt.Errorf("analyst query %q not found", name)
}
