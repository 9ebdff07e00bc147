package agentcostprocessor

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol/otelcoltest"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/receiver"
)

// anyConfig stands in for the configuration of components built in other
// modules: it accepts any keys.
type anyConfig map[string]any

// TestREADMEPipelineExample loads the README's full pipeline example with
// otelcoltest: the agentcost section through the real factory (unmarshal and
// Validate), the other components through stand-in factories of the same
// types, and the service wiring as the collector validates it.
func TestREADMEPipelineExample(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	text := string(b)
	i := strings.Index(text, "### Full pipeline example")
	require.GreaterOrEqual(t, i, 0)
	text = text[i:]
	start := strings.Index(text, "```yaml\n")
	require.GreaterOrEqual(t, start, 0)
	text = text[start+len("```yaml\n"):]
	end := strings.Index(text, "```")
	require.GreaterOrEqual(t, end, 0)
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text[:end]), 0o600))

	factories, err := otelcoltest.NopFactories()
	require.NoError(t, err)
	newAny := func() component.Config { return &anyConfig{} }
	otlp := component.MustNewType("otlp")
	factories.Receivers[otlp] = receiver.NewFactory(otlp, newAny,
		receiver.WithTraces(func(context.Context, receiver.Settings, component.Config, consumer.Traces) (receiver.Traces, error) {
			return nil, nil
		}, component.StabilityLevelStable))
	ml := component.MustNewType("memory_limiter")
	factories.Processors[ml] = processor.NewFactory(ml, newAny,
		processor.WithTraces(func(context.Context, processor.Settings, component.Config, consumer.Traces) (processor.Traces, error) {
			return nil, nil
		}, component.StabilityLevelBeta))
	factories.Processors[NewFactory().Type()] = NewFactory()
	ch := component.MustNewType("agentcost_clickhouse")
	factories.Exporters[ch] = exporter.NewFactory(ch, newAny,
		exporter.WithTraces(func(context.Context, exporter.Settings, component.Config) (exporter.Traces, error) {
			return nil, nil
		}, component.StabilityLevelAlpha))
	fs := component.MustNewType("file_storage")
	factories.Extensions[fs] = extension.NewFactory(fs, newAny,
		func(context.Context, extension.Settings, component.Config) (extension.Extension, error) {
			return nil, nil
		},
		component.StabilityLevelBeta)
	bud := component.MustNewType("agentcost_budget")
	factories.Extensions[bud] = extension.NewFactory(bud, newAny,
		func(context.Context, extension.Settings, component.Config) (extension.Extension, error) {
			return nil, nil
		},
		component.StabilityLevelAlpha)

	cfg, err := otelcoltest.LoadConfigAndValidate(path, factories)
	require.NoError(t, err)
	pc, ok := cfg.Processors[component.NewID(NewFactory().Type())].(*Config)
	require.True(t, ok)
	budget := component.MustNewID("agentcost_budget")
	assert.Equal(t, []string{"/etc/agentcost/prices.yaml"}, pc.Catalogs)
	assert.Equal(t, map[string]string{"anthropic": "exclusive"}, pc.InputTokens.Providers)
	assert.Equal(t, map[string]string{"web_search": "0.010"}, pc.ToolPrices)
	assert.Equal(t, []string{"app.agent_id"}, pc.Identity.AgentIDKeys)
	assert.Equal(t, "/etc/agentcost/agents.yaml", pc.Registry.Path)
	assert.Equal(t, 30*time.Second, pc.Registry.ReloadInterval)
	storageID := component.MustNewID("file_storage")
	assert.Equal(t, HoldConfig{Wait: 5 * time.Second, MaxSpans: 100000, MaxTraces: 10000, Storage: &storageID}, pc.Hold)
	assert.Equal(t, &budget, pc.Budget)
}

// TestREADMEDocumentsEveryKey checks that every mapstructure key of Config
// (found by reflection, so a new key fails here until documented) appears
// in the README as "- `key` (default ...".
func TestREADMEDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	keys := configKeys(reflect.TypeOf(Config{}), "")
	require.Len(t, keys, 25)
	for _, key := range keys {
		assert.Contains(t, string(b), "- `"+key+"` (default ", key)
	}
}

func configKeys(typ reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			out = append(out, configKeys(f.Type, key+".")...)
			continue
		}
		out = append(out, key)
	}
	return out
}
