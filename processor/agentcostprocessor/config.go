package agentcostprocessor

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/agentcost/agentcost/internal/genai"
	"github.com/agentcost/agentcost/pricing"
)

// Cost of record choices.
const (
	recordCatalog  = "catalog"
	recordReported = "reported"
)

// Config is the `agentcost` processor configuration. Every field has a
// working default: an empty `agentcost:` section prices with the embedded
// catalog and attributes spans with the identity defaults.
type Config struct {
	// Catalogs are pricing catalog files layered, in order, over the
	// catalog embedded in the binary.
	Catalogs []string `mapstructure:"catalogs"`
	// DefaultCatalog layers Catalogs over the catalog embedded in the
	// binary; false prices with Catalogs alone.
	DefaultCatalog bool `mapstructure:"default_catalog"`
	// CostOfRecord chooses the cost of record when the instrumentation
	// reported a cost: "catalog" (default) or "reported". Both values stay
	// on the span.
	CostOfRecord string `mapstructure:"cost_of_record"`
	// Overwrite lets the processor replace agentcost.* attributes and
	// gen_ai.usage.cost already on a span (e.g. from an upstream agentcost
	// tier). Off by default: such spans are left as they are.
	Overwrite bool `mapstructure:"overwrite"`
	// InputTokens says how input token counts relate to cached tokens.
	InputTokens InputTokensConfig `mapstructure:"input_tokens"`
	// ToolPrices are per-call prices in USD (decimal strings) by tool name;
	// they win over catalog tool prices.
	ToolPrices map[string]string `mapstructure:"tool_prices"`
	// Identity configures where agent identity comes from.
	Identity IdentityConfig `mapstructure:"identity"`
	// Registry maps agent ids to teams, projects and cost centres.
	Registry RegistryConfig `mapstructure:"registry"`
	// Hold configures waiting for enclosing agent spans.
	Hold HoldConfig `mapstructure:"hold"`
	// Budget is the component ID of a budget extension implementing
	// spend.Accruer; every priced span is reported to it. Optional.
	Budget *component.ID `mapstructure:"budget"`
	// UnknownModelsLimit bounds the distinct provider/model pairs reported
	// by the unknown models metric and warned about.
	UnknownModelsLimit int `mapstructure:"unknown_models_limit"`

	_ struct{}
}

// InputTokensConfig chooses the input-token mode: "auto" (exclusive when
// cache reads + writes exceed input), "inclusive" or "exclusive".
type InputTokensConfig struct {
	// Mode is the default mode.
	Mode string `mapstructure:"mode"`
	// Providers overrides the mode by provider name (as on the span).
	Providers map[string]string `mapstructure:"providers"`
	// Scopes overrides the mode by instrumentation scope name; it wins over
	// Providers.
	Scopes map[string]string `mapstructure:"scopes"`
}

// IdentityConfig says where agent identity comes from.
type IdentityConfig struct {
	// AgentIDKeys are span attribute keys checked, in order, before the
	// standard ones (gen_ai.agent.id, gen_ai.agent.name, agent.name, ...).
	AgentIDKeys []string `mapstructure:"agent_id_keys"`
	// ResourceAgentIDKeys are resource attribute keys checked, in order, for
	// the fallback agent id.
	ResourceAgentIDKeys []string `mapstructure:"resource_agent_id_keys"`
	// ServiceNameFallback uses the resource's service.name as the fallback
	// agent id when no other is found.
	ServiceNameFallback bool `mapstructure:"service_name_fallback"`
	// FallbackAgentID is the agent id of last resort.
	FallbackAgentID string `mapstructure:"fallback_agent_id"`
}

// RegistryConfig configures the agent registry.
type RegistryConfig struct {
	// Path is the registry YAML file; empty means no registry (every agent
	// is unregistered and gets the defaults).
	Path string `mapstructure:"path"`
	// ReloadInterval is how often the file is checked for changes; 0
	// disables reloading.
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
	// Defaults apply to agents missing from the registry.
	Defaults OwnerDefaults `mapstructure:"defaults"`
}

// OwnerDefaults are the ownership values of unregistered agents.
type OwnerDefaults struct {
	Team         string `mapstructure:"team"`
	Project      string `mapstructure:"project"`
	BusinessUnit string `mapstructure:"business_unit"`
	CostCenter   string `mapstructure:"cost_center"`
	Owner        string `mapstructure:"owner"`
}

// HoldConfig bounds how long and how much the processor waits for agent
// spans that arrive after their children.
type HoldConfig struct {
	// Wait is how long a span without identity waits for its enclosing
	// agent; 0 disables holding.
	Wait time.Duration `mapstructure:"wait"`
	// MaxSpans is the most spans held at once.
	MaxSpans int `mapstructure:"max_spans"`
	// MaxTraces is the most traces with held spans at once.
	MaxTraces int `mapstructure:"max_traces"`
	// Storage is the component ID of a storage extension (e.g.
	// file_storage) whose client supports Walk; held spans are written to
	// it before their batch goes downstream, so that a crash loses none.
	// Optional; requires Wait > 0.
	Storage *component.ID `mapstructure:"storage"`
}

func createDefaultConfig() component.Config {
	return &Config{
		DefaultCatalog: true,
		CostOfRecord:   recordCatalog,
		InputTokens:    InputTokensConfig{Mode: "auto"},
		Identity: IdentityConfig{
			ServiceNameFallback: true,
			FallbackAgentID:     "unknown",
		},
		Registry: RegistryConfig{
			ReloadInterval: 30 * time.Second,
			Defaults: OwnerDefaults{
				Team:         "unassigned",
				Project:      "unassigned",
				BusinessUnit: "unassigned",
				CostCenter:   "unassigned",
			},
		},
		Hold: HoldConfig{
			Wait:      5 * time.Second,
			MaxSpans:  100_000,
			MaxTraces: 10_000,
		},
		UnknownModelsLimit: 100,
	}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration without touching the environment (file
// existence is checked in Start).
func (c *Config) Validate() error {
	var errs []error
	switch c.CostOfRecord {
	case recordCatalog, recordReported:
	default:
		errs = append(errs, fmt.Errorf("`cost_of_record`: invalid value %q; valid: %q, %q", c.CostOfRecord, recordCatalog, recordReported))
	}
	if _, ok := genai.ParseInputMode(c.InputTokens.Mode); !ok {
		errs = append(errs, fmt.Errorf("`input_tokens.mode`: invalid value %q; valid: \"auto\", \"inclusive\", \"exclusive\"", c.InputTokens.Mode))
	}
	for _, m := range []struct {
		key string
		m   map[string]string
	}{{"input_tokens.providers", c.InputTokens.Providers}, {"input_tokens.scopes", c.InputTokens.Scopes}} {
		for _, k := range sortedKeys(m.m) {
			if _, ok := genai.ParseInputMode(m.m[k]); !ok {
				errs = append(errs, fmt.Errorf("`%s.%s`: invalid value %q; valid: \"auto\", \"inclusive\", \"exclusive\"", m.key, k, m.m[k]))
			}
		}
	}
	for _, k := range sortedKeys(c.ToolPrices) {
		if k == "" {
			errs = append(errs, errors.New("`tool_prices`: empty tool name"))
			continue
		}
		if _, err := pricing.ParseMoney(strings.TrimSpace(c.ToolPrices[k])); err != nil {
			errs = append(errs, fmt.Errorf("`tool_prices.%s`: %w", k, err))
		}
	}
	for i, k := range c.Identity.AgentIDKeys {
		if k == "" {
			errs = append(errs, fmt.Errorf("`identity.agent_id_keys[%d]`: empty key", i))
		}
	}
	for i, k := range c.Identity.ResourceAgentIDKeys {
		if k == "" {
			errs = append(errs, fmt.Errorf("`identity.resource_agent_id_keys[%d]`: empty key", i))
		}
	}
	if c.Identity.FallbackAgentID == "" {
		errs = append(errs, errors.New("`identity.fallback_agent_id`: must not be empty"))
	}
	if !c.DefaultCatalog && len(c.Catalogs) == 0 {
		errs = append(errs, errors.New("`catalogs`: must name at least one file when `default_catalog` is false"))
	}
	if c.Registry.ReloadInterval < 0 {
		errs = append(errs, fmt.Errorf("`registry.reload_interval`: must not be negative, got %s", c.Registry.ReloadInterval))
	}
	if c.Hold.Wait < 0 {
		errs = append(errs, fmt.Errorf("`hold.wait`: must not be negative, got %s", c.Hold.Wait))
	}
	if c.Hold.Wait > 0 {
		if c.Hold.MaxSpans <= 0 {
			errs = append(errs, fmt.Errorf("`hold.max_spans`: must be positive when `hold.wait` is set, got %d", c.Hold.MaxSpans))
		}
		if c.Hold.MaxTraces <= 0 {
			errs = append(errs, fmt.Errorf("`hold.max_traces`: must be positive when `hold.wait` is set, got %d", c.Hold.MaxTraces))
		}
	} else if c.Hold.Storage != nil {
		errs = append(errs, fmt.Errorf("`hold.storage`: %q is set but holding is off (`hold.wait` is 0): set `hold.wait` or remove `hold.storage`", c.Hold.Storage.String()))
	}
	if c.UnknownModelsLimit < 0 {
		errs = append(errs, fmt.Errorf("`unknown_models_limit`: must not be negative, got %d", c.UnknownModelsLimit))
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
