package agentcostbudgetextension

import (
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
)

// fileStamp is what decides that the budgets file changed.
type fileStamp struct {
	mod  time.Time
	size int64
}

// budgetsFile is the schema of budgets_file: the same budget entries as the
// inline `budgets` list.
type budgetsFile struct {
	Budgets []BudgetConfig `mapstructure:"budgets"`
}

// loadBudgetsFile reads and decodes a budgets file.
func loadBudgetsFile(path string) ([]BudgetConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read budgets_file %q: %w", path, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parse budgets_file %q: %w", path, err)
	}
	var f budgetsFile
	if err := confmap.NewFromStringMap(m).Unmarshal(&f); err != nil {
		return nil, fmt.Errorf("decode budgets_file %q: %w", path, err)
	}
	return f.Budgets, nil
}

// reloadFile re-reads budgets_file when its modification time or size
// changed (or when force is set) and installs config budgets plus file
// budgets; on any error the running budgets stay.
func (e *budgetExtension) reloadFile(force bool) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	st, err := os.Stat(e.cfg.BudgetsFile)
	if err != nil {
		return fmt.Errorf("stat budgets_file %q: %w", e.cfg.BudgetsFile, err)
	}
	stamp := fileStamp{mod: st.ModTime(), size: st.Size()}
	if !force && stamp == e.fileStat {
		return nil
	}
	fromFile, err := loadBudgetsFile(e.cfg.BudgetsFile)
	if err != nil {
		return err
	}
	all := append(append([]BudgetConfig(nil), e.cfg.Budgets...), fromFile...)
	defs, err := compileBudgets(all)
	if err != nil {
		return fmt.Errorf("budgets_file %q (budgets numbered after the %d inline ones): %w", e.cfg.BudgetsFile, len(e.cfg.Budgets), err)
	}
	e.install(defs)
	e.fileStat = stamp
	e.logger.Info("budgets loaded", zap.String("budgets_file", e.cfg.BudgetsFile), zap.Int("budgets", len(defs)))
	return nil
}
