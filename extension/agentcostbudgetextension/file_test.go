package agentcostbudgetextension

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/agentcost/agentcost/extension/agentcostbudgetextension/internal/metadata"
)

func writeBudgets(t *testing.T, path, body string, mod time.Time) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	require.NoError(t, os.Chtimes(path, mod, mod))
}

func TestBudgetsFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "budgets.yaml")
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	writeBudgets(t, path, `
budgets:
  - name: from-file
    scope: {team: ml}
    limit: "10"
    window: {calendar: day}
`, t0)
	clock := &fakeClock{t: t0}
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = ""
	cfg.BudgetsFile = path
	cfg.BudgetsFileCheckInterval = time.Hour // reload by hand below
	cfg.Budgets = []BudgetConfig{budgetCfg("inline", "100", WindowConfig{Calendar: PeriodMonth})}
	require.NoError(t, cfg.Validate())
	e, err := newExtension(cfg, extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	e.useClock(clock.Now)
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()

	names := func() []string {
		var out []string
		for _, b := range e.budgets.Load().list {
			out = append(out, b.def.name+"="+b.def.limit.String())
		}
		return out
	}
	assert.Equal(t, []string{"inline=100.000000000000", "from-file=10.000000000000"}, names())
	e.Accrue(charge(t0, "4", "ml"))
	assert.Equal(t, usd("4"), spendOf(e, "from-file"))

	// Unchanged file: nothing happens.
	require.NoError(t, e.reloadFile(false))
	assert.Same(t, e.budgets.Load().byName["inline"], e.budgets.Load().byName["inline"])

	// A new limit keeps the spend (same scope and window); a new budget starts at zero.
	old := e.budgets.Load().byName["inline"]
	writeBudgets(t, path, `
budgets:
  - name: from-file
    scope: {team: ml}
    limit: "5"
    window: {calendar: day}
  - name: second
    limit: "1"
    window: {rolling: 1h}
`, t0.Add(time.Minute))
	require.NoError(t, e.reloadFile(false))
	assert.Equal(t, []string{"inline=100.000000000000", "from-file=5.000000000000", "second=1.000000000000"}, names())
	assert.Equal(t, usd("4"), spendOf(e, "from-file"), "spend kept across the reload")
	assert.Same(t, old, e.budgets.Load().byName["inline"], "untouched budgets are kept as they are")
	assert.True(t, spendOf(e, "second").IsZero())

	// A broken file keeps the running budgets.
	writeBudgets(t, path, `
budgets:
  - name: from-file
    limit: "lots"
    window: {calendar: day}
`, t0.Add(2*time.Minute))
	err = e.reloadFile(false)
	assert.ErrorContains(t, err, `budgets[1]: budget "from-file": limit: invalid amount "lots"`)
	assert.Len(t, names(), 3)

	// A file budget may not reuse an inline name.
	writeBudgets(t, path, `
budgets:
  - {name: inline, limit: "1", window: {calendar: day}}
`, t0.Add(3*time.Minute))
	assert.ErrorContains(t, e.reloadFile(false), `name "inline" is used twice`)
}

func TestBudgetsFileMissingFailsStart(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = ""
	cfg.BudgetsFile = filepath.Join(t.TempDir(), "nope.yaml")
	e, err := newExtension(cfg, extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	err = e.Start(context.Background(), componenttest.NewNopHost())
	assert.ErrorContains(t, err, "stat budgets_file")
	require.NoError(t, e.Shutdown(context.Background()))
}
