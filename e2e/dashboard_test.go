package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type dashboard struct {
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			RefID      string `json:"refId"`
			RawSQL     string `json:"rawSql"`
			EditorType string `json:"editorType"`
			Format     int    `json:"format"`
			Datasource struct {
				Type string `json:"type"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "dashboards/agentcost.json"))
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(b, &d))
	return &d
}

// grafanaMacros expands the ClickHouse data source plugin's macros and the
// dashboard's variables the way Grafana does for a time range [from, to].
type grafanaMacros struct {
	from, to  time.Time
	interval  time.Duration
	vars      map[string]string
	macroCall *regexp.Regexp
}

func newGrafanaMacros(from, to time.Time, interval time.Duration, vars map[string]string) *grafanaMacros {
	return &grafanaMacros{from: from, to: to, interval: interval, vars: vars,
		macroCall: regexp.MustCompile(`\$__(timeFilter_ms|timeFilter|dateFilter|timeInterval_ms|timeInterval)\(([^()]*)\)`)}
}

func (g *grafanaMacros) expand(sql string) string {
	sql = g.macroCall.ReplaceAllStringFunc(sql, func(m string) string {
		p := g.macroCall.FindStringSubmatch(m)
		col := strings.TrimSpace(p[2])
		from, to := g.from.Unix(), g.to.Unix()
		switch p[1] {
		case "timeFilter":
			return fmt.Sprintf("%s >= toDateTime(%d) AND %s <= toDateTime(%d)", col, from, col, to)
		case "timeFilter_ms":
			return fmt.Sprintf("%s >= fromUnixTimestamp64Milli(%d) AND %s <= fromUnixTimestamp64Milli(%d)", col, g.from.UnixMilli(), col, g.to.UnixMilli())
		case "dateFilter":
			return fmt.Sprintf("%s >= toDate('%s') AND %s <= toDate('%s')", col, g.from.UTC().Format(time.DateOnly), col, g.to.UTC().Format(time.DateOnly))
		case "timeInterval":
			return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", col, int(g.interval.Seconds()))
		default: // timeInterval_ms
			return fmt.Sprintf("toStartOfInterval(toDateTime64(%s, 3), INTERVAL %d millisecond)", col, g.interval.Milliseconds())
		}
	})
	r := strings.NewReplacer(
		"$__fromTime", fmt.Sprintf("toDateTime(%d)", g.from.Unix()),
		"$__toTime", fmt.Sprintf("toDateTime(%d)", g.to.Unix()),
		"$__interval_s", fmt.Sprint(int(g.interval.Seconds())),
	)
	sql = r.Replace(sql)
	for k, v := range g.vars {
		sql = strings.ReplaceAll(sql, "${"+k+"}", v)
		sql = strings.ReplaceAll(sql, "$"+k, v)
	}
	return sql
}

// TestDashboardShape checks the dashboard's structure: every panel queries
// the ClickHouse data source with raw SQL, and the panels the issue asks for
// are there.
func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	titles := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		titles[p.Title] = true
		assert.False(t, ids[p.ID], "panel id %d used twice", p.ID)
		ids[p.ID] = true
		assert.Equal(t, "grafana-clickhouse-datasource", p.Datasource.Type, p.Title)
		assert.Equal(t, "${datasource}", p.Datasource.UID, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			assert.Equal(t, "sql", tg.EditorType, p.Title)
			assert.Equal(t, "grafana-clickhouse-datasource", tg.Datasource.Type, p.Title)
			assert.NotEmpty(t, strings.TrimSpace(tg.RawSQL), p.Title)
			if p.Type == "timeseries" {
				assert.Equal(t, 0, tg.Format, "%s: time series format", p.Title)
			}
		}
	}
	for _, want := range []string{
		"Spend over time by team", "Spend over time by agent (top 10)", "Spend over time by model (top 10)",
		"Budget utilisation", "Cache hit ratio", "Cache hit ratio by provider", "Unpriced volume over time", "Unpriced models",
	} {
		assert.True(t, titles[want], "panel %q", want)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	assert.Equal(t, map[string]string{"datasource": "datasource", "database": "textbox", "team": "query", "budget_api": "textbox"}, vars)
}

// checkDashboardQueries runs every panel query of the dashboard, macros and
// variables expanded, against the data of a pipeline run: each must succeed
// and return rows.
func checkDashboardQueries(t *testing.T, c *collector) {
	d := loadDashboard(t)
	ctx := context.Background()
	var teams []string
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := strings.ReplaceAll(v.Query, "${database}", c.db.Name)
		rows, err := c.db.Conn.Query(ctx, q)
		require.NoError(t, err, "variable %s: %s", v.Name, q)
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			teams = append(teams, "'"+s+"'")
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	require.NotEmpty(t, teams, "the team variable lists the teams")
	now := time.Now()
	g := newGrafanaMacros(now.Add(-time.Hour), now.Add(time.Minute), 10*time.Second, map[string]string{
		"database":         c.db.Name,
		"team:singlequote": strings.Join(teams, ","),
		"budget_api":       "http://" + c.budget,
	})
	ran := 0
	defer func() { assert.GreaterOrEqual(t, ran, 15, "panel queries run") }()
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			ran++
			sql := g.expand(tg.RawSQL)
			require.NotContains(t, sql, "$", "panel %q: unexpanded macro or variable in\n%s", p.Title, sql)
			rows, err := c.db.Conn.Query(ctx, sql)
			require.NoError(t, err, "panel %q:\n%s", p.Title, sql)
			n := 0
			for rows.Next() {
				n++
			}
			require.NoError(t, rows.Err(), "panel %q", p.Title)
			rows.Close()
			assert.Positive(t, n, "panel %q returns rows on demo data:\n%s", p.Title, sql)
		}
	}
}
