package agentcostprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/agentcost/agentcost/processor/agentcostprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	budget := component.MustNewID("agentcost_budget")
	holdStorage := component.MustNewIDWithName("file_storage", "hold")

	tests := []struct {
		id      component.ID
		want    func() *Config
		wantErr string
	}{
		{
			id:   component.NewID(metadata.Type),
			want: func() *Config { return createDefaultConfig().(*Config) },
		},
		{
			id: component.NewIDWithName(metadata.Type, "full"),
			want: func() *Config {
				return &Config{
					Catalogs:       []string{"prices/overrides.yaml"},
					DefaultCatalog: true,
					CostOfRecord:   "reported",
					Overwrite:      true,
					InputTokens: InputTokensConfig{
						Mode:      "auto",
						Providers: map[string]string{"anthropic": "exclusive"},
						Scopes:    map[string]string{"opentelemetry.instrumentation.openai_v2": "inclusive"},
					},
					ToolPrices: map[string]string{"web_search": "0.01", "geocode": "0.005"},
					Identity: IdentityConfig{
						AgentIDKeys:         []string{"app.agent_id"},
						ResourceAgentIDKeys: []string{"agent.id"},
						ServiceNameFallback: false,
						FallbackAgentID:     "anonymous",
					},
					Registry: RegistryConfig{
						Path:           "agents.yaml",
						ReloadInterval: time.Minute,
						Defaults: OwnerDefaults{
							Team: "platform", Project: "misc", BusinessUnit: "engineering", CostCenter: "CC-0", Owner: "finops@example.com",
						},
					},
					Hold:               HoldConfig{Wait: 2 * time.Second, MaxSpans: 5000, MaxTraces: 500, Storage: &holdStorage},
					Budget:             &budget,
					UnknownModelsLimit: 10,
				}
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "no_hold"),
			want: func() *Config {
				c := createDefaultConfig().(*Config)
				c.Hold.Wait, c.Hold.MaxSpans = 0, 0
				return c
			},
		},
		{id: component.NewIDWithName(metadata.Type, "bad_record"), wantErr: "`cost_of_record`: invalid value \"invoice\"; valid: \"catalog\", \"reported\""},
		{id: component.NewIDWithName(metadata.Type, "bad_mode"), wantErr: "`input_tokens.mode`: invalid value \"sometimes\""},
		{id: component.NewIDWithName(metadata.Type, "bad_mode"), wantErr: "`input_tokens.providers.anthropic`: invalid value \"half\""},
		{id: component.NewIDWithName(metadata.Type, "bad_tool_price"), wantErr: "`tool_prices.web_search`: invalid amount \"ten cents\""},
		{id: component.NewIDWithName(metadata.Type, "bad_hold"), wantErr: "`hold.wait`: must not be negative, got -1s"},
		{id: component.NewIDWithName(metadata.Type, "bad_hold_bounds"), wantErr: "`hold.max_spans`: must be positive when `hold.wait` is set, got 0"},
		{id: component.NewIDWithName(metadata.Type, "bad_hold_bounds"), wantErr: "`hold.max_traces`: must be positive when `hold.wait` is set, got -1"},
		{id: component.NewIDWithName(metadata.Type, "bad_identity"), wantErr: "`identity.agent_id_keys[0]`: empty key"},
		{id: component.NewIDWithName(metadata.Type, "bad_identity"), wantErr: "`identity.fallback_agent_id`: must not be empty"},
		{id: component.NewIDWithName(metadata.Type, "no_catalog"), wantErr: "`catalogs`: must name at least one file when `default_catalog` is false"},
		{id: component.NewIDWithName(metadata.Type, "bad_key"), wantErr: "catalogues"},
		{id: component.NewIDWithName(metadata.Type, "storage_without_hold"), wantErr: "`hold.storage`: \"file_storage\" is set but holding is off (`hold.wait` is 0)"},
		{id: component.NewIDWithName(metadata.Type, "bad_storage_id"), wantErr: "file storage"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = confmap.Validate(cfg)
			}
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want(), cfg)
		})
	}
}
