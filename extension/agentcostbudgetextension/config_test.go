package agentcostbudgetextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/agentcost/agentcost/extension/agentcostbudgetextension/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	full := createDefaultConfig().(*Config)
	full.HTTP.NetAddr.Endpoint = "0.0.0.0:9790"
	full.ClickHouse = ClickHouseConfig{Endpoint: "clickhouse://127.0.0.1:9000", Username: "budget", Password: "s3cret",
		Database: "ledger", TablePrefix: "prod_", Timeout: 3 * time.Second, CreateAlertsTable: false, UseHourlyRollup: false}
	full.ReconcileInterval = 5 * time.Second
	full.ReconcileLag = 15 * time.Second
	full.StaleAfter = 2 * time.Minute
	full.EvaluationInterval = 2 * time.Second
	full.ReplicaID = "collector-1"
	full.BudgetsFile = "/etc/agentcost/budgets.yaml"
	full.BudgetsFileCheckInterval = 30 * time.Second
	ops := newDefaultWebhook()
	ops.Name, ops.Endpoint, ops.Secret, ops.MaxRetries = "ops", "https://hooks.example.com/agentcost", "whsec", 3
	slack := newDefaultWebhook()
	slack.Name, slack.Format, slack.Endpoint = "slack", FormatSlack, "https://hooks.slack.example.com/services/T0/B0/X"
	slack.InitialInterval, slack.MaxInterval = time.Second, 10*time.Second
	full.Notifiers = NotifiersConfig{Log: false, QueueSize: 50, Webhooks: []WebhookConfig{ops, slack}}
	ml := newDefaultBudget()
	ml.Name, ml.Scope, ml.Limit = "team-ml-monthly", map[string]string{"team": "ml", "provider": "openai"}, "2500.00"
	ml.Window = WindowConfig{Calendar: PeriodMonth, TimeZone: "Europe/Paris", WeekStart: "monday"}
	ml.AlertThresholds = []float64{0.8, 0.5, 1.0}
	ml.Action, ml.FailMode = ActionSuspend, FailClosed
	research := newDefaultBudget()
	research.Name, research.Scope, research.Limit = "research-agents-hourly", map[string]string{"agent_id": "research-*"}, "5"
	research.Window = WindowConfig{Rolling: time.Hour, TimeZone: "UTC", WeekStart: "monday"}
	research.Action, research.ThrottleDelay, research.ProjectedAlert = ActionThrottle, 2*time.Second, false
	full.Budgets = []BudgetConfig{ml, research}

	tests := []struct {
		id       component.ID
		expected component.Config
		errMsg   string
	}{
		{id: component.NewID(metadata.Type), expected: createDefaultConfig()},
		{id: component.NewIDWithName(metadata.Type, "full"), expected: full},
		{id: component.NewIDWithName(metadata.Type, "bad_limit"), errMsg: `limit: invalid amount "ten"`},
		{id: component.NewIDWithName(metadata.Type, "bad_window"), errMsg: `window.calendar "fortnight" is not one of "day", "week", "month"`},
		{id: component.NewIDWithName(metadata.Type, "both_windows"), errMsg: "window: set either calendar or rolling, not both"},
		{id: component.NewIDWithName(metadata.Type, "bad_zone"), errMsg: `window.time_zone "Mars/Olympus": not an IANA time zone`},
		{id: component.NewIDWithName(metadata.Type, "bad_scope"), errMsg: `scope key "colour" is not one of agent_id, root_agent_id, team`},
		{id: component.NewIDWithName(metadata.Type, "bad_action"), errMsg: `action "explode" is not one of "alert", "throttle", "suspend"`},
		{id: component.NewIDWithName(metadata.Type, "bad_fail_mode"), errMsg: `fail_mode "maybe" is not one of "open", "closed"`},
		{id: component.NewIDWithName(metadata.Type, "duplicate_name"), errMsg: `budgets[1]: name "b" is used twice`},
		{id: component.NewIDWithName(metadata.Type, "bad_threshold"), errMsg: "alert_thresholds: 0 is not in (0, 10]"},
		{id: component.NewIDWithName(metadata.Type, "bad_database"), errMsg: `clickhouse.database "agentcost; DROP TABLE x" must match`},
		{id: component.NewIDWithName(metadata.Type, "bad_dsn"), errMsg: `clickhouse.endpoint "clickhouse://127.0.0.1:9000?dial_timeout=soon"`},
		{id: component.NewIDWithName(metadata.Type, "stale_too_short"), errMsg: "stale_after (10s) must be greater than reconcile_interval (30s)"},
		{id: component.NewIDWithName(metadata.Type, "bad_webhook"), errMsg: `notifiers.webhooks[0].endpoint "ftp://example.com" must be an http(s) URL`},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			if tt.errMsg != "" {
				assert.ErrorContains(t, confmap.Validate(cfg), tt.errMsg)
				return
			}
			assert.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestBadWebhookListsFormats(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("agentcost_budget/bad_webhook")
	require.NoError(t, err)
	cfg := createDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	assert.ErrorContains(t, confmap.Validate(cfg), `notifiers.webhooks[0].format "teams" is not one of "json", "slack"`)
}
