package sim

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/agentcost/agentcost/pricing"
)

// Pricer prices calls the way an agentcost processor configured with the same
// catalogs and tool prices does.
type Pricer struct {
	Catalog *pricing.Catalog
	// ToolPrices are per-call tool fees by tool name; they win over the
	// catalog's provider tool fees (the processor's `tool_prices`).
	ToolPrices map[string]pricing.Money
}

// DefaultPricer prices with the embedded catalog and no tool prices.
func DefaultPricer() (*Pricer, error) {
	cat, err := pricing.Default()
	if err != nil {
		return nil, err
	}
	return &Pricer{Catalog: cat}, nil
}

// ToolFee returns the per-call fee of tool on provider (raw name as on the
// span) at time at, and whether it has one.
func (p *Pricer) ToolFee(provider, tool string, at time.Time) (pricing.Money, bool) {
	if fee, ok := p.ToolPrices[tool]; ok {
		return fee, true
	}
	if np := p.Catalog.NormalizeProvider(provider); np != "" {
		provider = np
	}
	fee, _, ok := p.Catalog.ToolPrice(provider, tool, at)
	return fee, ok
}

// processorPricing is the part of an agentcost processor's config that
// decides prices.
type processorPricing struct {
	Catalogs       []string          `yaml:"catalogs"`
	DefaultCatalog *bool             `yaml:"default_catalog"`
	ToolPrices     map[string]string `yaml:"tool_prices"`
}

// PricerFromCollectorConfig reads a collector config file and builds the
// pricer of its agentcost processor (the one named `agentcost`, else the only
// `agentcost/...` one): the same catalog layers and tool prices. ${env:NAME}
// and ${NAME} references in catalog paths are expanded.
func PricerFromCollectorConfig(path string) (*Pricer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read collector config %q: %w", path, err)
	}
	var doc struct {
		Processors map[string]processorPricing `yaml:"processors"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decode collector config %q: %w", path, err)
	}
	var names []string
	for name := range doc.Processors {
		if name == "agentcost" || strings.HasPrefix(name, "agentcost/") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var pp processorPricing
	switch {
	case len(names) == 0:
		return nil, fmt.Errorf("collector config %q has no agentcost processor", path)
	case names[0] == "agentcost" || len(names) == 1:
		pp = doc.Processors[names[0]]
	default:
		return nil, fmt.Errorf("collector config %q has several agentcost processors (%s); name one `agentcost`", path, strings.Join(names, ", "))
	}
	return NewPricer(pp.Catalogs, pp.DefaultCatalog == nil || *pp.DefaultCatalog, pp.ToolPrices)
}

// NewPricer builds a pricer from catalog files layered over the embedded
// catalog (or alone when withDefault is false) and tool prices in USD.
func NewPricer(catalogs []string, withDefault bool, toolPrices map[string]string) (*Pricer, error) {
	var layers [][]byte
	if withDefault {
		layers = append(layers, pricing.DefaultYAML())
	}
	for _, c := range catalogs {
		c = expandEnv(c)
		b, err := os.ReadFile(c)
		if err != nil {
			return nil, fmt.Errorf("load pricing catalog %q: %w", c, err)
		}
		layers = append(layers, b)
	}
	cat, err := pricing.Parse(layers...)
	if err != nil {
		return nil, fmt.Errorf("load pricing catalogs: %w", err)
	}
	p := &Pricer{Catalog: cat, ToolPrices: map[string]pricing.Money{}}
	for name, v := range toolPrices {
		m, err := pricing.ParseMoney(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("tool_prices.%s: %w", name, err)
		}
		p.ToolPrices[name] = m
	}
	return p, nil
}

func expandEnv(s string) string {
	return os.Expand(s, func(k string) string {
		return os.Getenv(strings.TrimPrefix(k, "env:"))
	})
}
