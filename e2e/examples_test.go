package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/otelcol/otelcoltest"
	"go.yaml.in/yaml/v3"

	"github.com/agentcost/agentcost/cmd/agentsim/sim"
	"github.com/agentcost/agentcost/internal/registry"
	"github.com/agentcost/agentcost/processor/agentcostprocessor"
)

// rootDir is the repository root, taken when the test binary starts in the
// package directory (tests may change directory later).
var rootDir, rootErr = filepath.Abs("..")

// repoRoot is the repository root: the example configs name files relative
// to it, as the collector run from there (make demo) resolves them.
func repoRoot(t testing.TB) string {
	t.Helper()
	require.NoError(t, rootErr)
	return rootDir
}

// TestExampleConfigsValidate loads every example collector config of our
// distribution through the real factories and validates it.
func TestExampleConfigsValidate(t *testing.T) {
	t.Chdir(repoRoot(t))
	for k, v := range map[string]string{
		"CLICKHOUSE_ENDPOINT": "tcp://clickhouse.example.com:9440?secure=true", "CLICKHOUSE_USER": "agentcost",
		"CLICKHOUSE_PASSWORD": "secret", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/x",
		"BUDGET_WEBHOOK_URL": "https://finops.example.com/hooks/agentcost", "BUDGET_WEBHOOK_SECRET": "hmac-key",
		"HOSTNAME": "agentcost-0",
	} {
		t.Setenv(k, v)
	}
	factories, err := components()
	require.NoError(t, err)
	for _, tc := range []struct {
		file       string
		extensions []string
		pipeline   []string // processors
	}{
		{"examples/demo/config.yaml", []string{"agentcost_budget"}, []string{"memory_limiter", "agentcost"}},
		{"examples/production/config.yaml", []string{"agentcost_budget"}, []string{"memory_limiter", "agentcost"}},
		{"examples/persistent-queue/config.yaml", []string{"file_storage"}, []string{"memory_limiter", "agentcost"}},
		{"examples/multi-replica/tier2-agentcost.yaml", []string{"file_storage", "agentcost_budget"}, []string{"memory_limiter", "agentcost"}},
	} {
		t.Run(filepath.Base(filepath.Dir(tc.file)), func(t *testing.T) {
			cfg, err := otelcoltest.LoadConfigAndValidate(tc.file, factories)
			require.NoError(t, err)
			var exts []string
			for _, id := range cfg.Service.Extensions {
				exts = append(exts, id.String())
			}
			assert.Equal(t, tc.extensions, exts)
			require.Len(t, cfg.Service.Pipelines, 1)
			for _, p := range cfg.Service.Pipelines {
				var procs []string
				for _, id := range p.Processors {
					procs = append(procs, id.String())
				}
				assert.Equal(t, tc.pipeline, procs)
				require.Len(t, p.Exporters, 1)
				assert.Equal(t, "agentcost_clickhouse", p.Exporters[0].String())
			}
			// Every file the agentcost processor names exists when the
			// example points into this repository.
			pc := cfg.Processors[component.MustNewID("agentcost")].(*agentcostprocessor.Config)
			for _, f := range append(append([]string(nil), pc.Catalogs...), pc.Registry.Path) {
				if f != "" && !filepath.IsAbs(f) {
					assert.FileExists(t, f)
				}
			}
		})
	}
}

// TestLoadBalancerTierIsContribConfig checks the first tier of the
// multi-replica layout, which runs on a stock contrib collector (its
// loadbalancing exporter is not in our build): it must route by trace id to
// the agentcost tier.
func TestLoadBalancerTierIsContribConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/multi-replica/tier1-loadbalancer.yaml"))
	require.NoError(t, err)
	var doc struct {
		Exporters map[string]struct {
			RoutingKey string         `yaml:"routing_key"`
			Resolver   map[string]any `yaml:"resolver"`
		} `yaml:"exporters"`
		Service struct {
			Pipelines map[string]struct {
				Exporters []string `yaml:"exporters"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	require.NoError(t, yaml.Unmarshal(b, &doc))
	lb, ok := doc.Exporters["loadbalancing"]
	require.True(t, ok)
	assert.Equal(t, "traceID", lb.RoutingKey)
	assert.Contains(t, lb.Resolver, "dns")
	assert.Equal(t, []string{"loadbalancing"}, doc.Service.Pipelines["traces"].Exporters)

	// Our distribution really has no loadbalancing exporter: the tier-1
	// config cannot run on it.
	factories, err := components()
	require.NoError(t, err)
	_, err = otelcoltest.LoadConfigAndValidate(filepath.Join(repoRoot(t), "examples/multi-replica/tier1-loadbalancer.yaml"), factories)
	assert.ErrorContains(t, err, "loadbalancing")
}

// TestRegistryMatchesSimulator checks that examples/registry.yaml owns the
// simulator's agents exactly as the simulator expects, so that the demo and
// the e2e test attribute cost to the teams the simulator predicts.
func TestRegistryMatchesSimulator(t *testing.T) {
	reg, err := registry.Load(filepath.Join(repoRoot(t), "examples/registry.yaml"))
	require.NoError(t, err)
	for _, a := range sim.Fleet() {
		e, ok := reg.Lookup(a.ID)
		require.Equal(t, a.Registered, ok, "agent %s registered", a.ID)
		if !ok {
			assert.Equal(t, sim.DefaultTeam, a.Team)
			continue
		}
		assert.Equal(t, a.Team, e.Team, a.ID)
		assert.Equal(t, a.Project, e.Project, a.ID)
	}
}

// TestExampleConfigsValidateWithBinary runs `otelcol-agentcost validate` on
// every example with the built collector (dist/otelcol-agentcost, or the
// binary named by AGENTCOST_COLLECTOR), which also checks the
// service::telemetry sections. Without a built collector (`make build`, which
// `make test` runs first) it fails under CI=true and is skipped otherwise.
func TestExampleConfigsValidateWithBinary(t *testing.T) {
	bin := os.Getenv("AGENTCOST_COLLECTOR")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "dist/otelcol-agentcost")
	}
	out, err := exec.Command(bin, "components").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "name: agentcost_clickhouse") {
		msg := fmt.Sprintf("no collector with the agentcost components at %s (run make build, or set AGENTCOST_COLLECTOR); `make test` builds it", bin)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for k, v := range map[string]string{
		"CLICKHOUSE_ENDPOINT": "tcp://clickhouse.example.com:9440?secure=true", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/x",
		"BUDGET_WEBHOOK_URL": "https://finops.example.com/hooks/agentcost", "HOSTNAME": "agentcost-0",
	} {
		t.Setenv(k, v)
	}
	for _, f := range []string{
		"examples/demo/config.yaml", "examples/production/config.yaml",
		"examples/persistent-queue/config.yaml", "examples/multi-replica/tier2-agentcost.yaml",
		"loadtest/durable.yaml",
	} {
		cmd := exec.Command(bin, "validate", "--config", f)
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "%s validate --config %s:\n%s", bin, f, out)
	}
}
