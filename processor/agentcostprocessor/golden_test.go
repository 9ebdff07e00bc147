package agentcostprocessor

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.yaml.in/yaml/v3"

	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/processor/agentcostprocessor/internal/metadata"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected.yaml from the processor's output")

// fixture is the compact YAML form of OTLP traces used by the golden tests:
// a list of batches, each a list of resources with their spans. Ids are
// short hex strings, left-padded with zeros.
type fixture struct {
	Batches [][]fixtureResource `yaml:"batches"`
}

type fixtureResource struct {
	Resource map[string]any `yaml:"resource"`
	Scope    string         `yaml:"scope"`
	Spans    []fixtureSpan  `yaml:"spans"`
}

type fixtureSpan struct {
	Name       string         `yaml:"name"`
	Trace      string         `yaml:"trace"`
	Span       string         `yaml:"span"`
	Parent     string         `yaml:"parent,omitempty"`
	Kind       string         `yaml:"kind,omitempty"`
	Start      string         `yaml:"start,omitempty"`
	Attributes map[string]any `yaml:"attributes,omitempty"`
}

// expectation is expected.yaml: every span after processing (sorted by span
// id) and the processor's self-metrics (sums over all data points).
type expectation struct {
	Spans   []fixtureSpan    `yaml:"spans"`
	Metrics map[string]int64 `yaml:"metrics"`
}

func hexID(t testing.TB, s string, n int) []byte {
	if s == "" {
		return make([]byte, n)
	}
	b, err := hex.DecodeString(strings.Repeat("0", 2*n-len(s)) + s)
	require.NoError(t, err, "id %q", s)
	return b
}

func (f fixture) traces(t testing.TB) []ptrace.Traces {
	var out []ptrace.Traces
	for _, batch := range f.Batches {
		td := ptrace.NewTraces()
		for _, r := range batch {
			rs := td.ResourceSpans().AppendEmpty()
			require.NoError(t, rs.Resource().Attributes().FromRaw(r.Resource))
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(r.Scope)
			for _, fs := range r.Spans {
				sp := ss.Spans().AppendEmpty()
				sp.SetName(fs.Name)
				sp.SetTraceID(pcommon.TraceID(hexID(t, fs.Trace, 16)))
				sp.SetSpanID(pcommon.SpanID(hexID(t, fs.Span, 8)))
				if fs.Parent != "" {
					sp.SetParentSpanID(pcommon.SpanID(hexID(t, fs.Parent, 8)))
				}
				switch fs.Kind {
				case "", "internal":
					sp.SetKind(ptrace.SpanKindInternal)
				case "client":
					sp.SetKind(ptrace.SpanKindClient)
				case "server":
					sp.SetKind(ptrace.SpanKindServer)
				default:
					t.Fatalf("span %q: unknown kind %q", fs.Name, fs.Kind)
				}
				start := "2026-11-01T10:00:00Z"
				if fs.Start != "" {
					start = fs.Start
				}
				ts, err := time.Parse(time.RFC3339, start)
				require.NoError(t, err)
				sp.SetStartTimestamp(pcommon.NewTimestampFromTime(ts))
				sp.SetEndTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Second)))
				require.NoError(t, sp.Attributes().FromRaw(fs.Attributes))
			}
		}
		out = append(out, td)
	}
	return out
}

func loadYAML(t testing.TB, path string, v any) {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(v), path)
}

// goldenConfig is the base config of the golden tests: the test catalog
// alone, the test registry, and a wait long enough that only arrival of the
// agent or shutdown releases held spans.
func goldenConfig(t testing.TB, caseDir string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.DefaultCatalog = false
	cfg.Catalogs = []string{filepath.Join("testdata", "catalog.yaml")}
	cfg.Registry.Path = filepath.Join("testdata", "agents.yaml")
	cfg.Registry.ReloadInterval = 0
	cfg.Hold.Wait = time.Hour
	if path := filepath.Join(caseDir, "config.yaml"); fileExists(path) {
		cm, err := confmaptest.LoadConf(path)
		require.NoError(t, err)
		require.NoError(t, cm.Unmarshal(cfg))
	}
	require.NoError(t, cfg.Validate())
	return cfg
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// runCase feeds a case's batches through a processor made by the real
// factory, shuts it down (flushing held spans), and returns the output
// spans and self-metrics.
func runCase(t *testing.T, caseDir string) expectation {
	var in fixture
	loadYAML(t, filepath.Join(caseDir, "input.yaml"), &in)
	cfg := goldenConfig(t, caseDir)

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := new(consumertest.TracesSink)
	proc, err := NewFactory().CreateTraces(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))
	for _, td := range in.traces(t) {
		require.NoError(t, proc.ConsumeTraces(context.Background(), td))
	}
	require.NoError(t, proc.Shutdown(context.Background()))

	var got expectation
	for _, td := range sink.AllTraces() {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					sp := spans.At(k)
					raw := sp.Attributes().AsRaw()
					if v, ok := raw[attrs.PricingCatalogVersion]; ok {
						require.True(t, strings.HasPrefix(v.(string), "sha256:"), "catalog version %v", v)
						raw[attrs.PricingCatalogVersion] = "<catalog_version>"
					}
					got.Spans = append(got.Spans, fixtureSpan{
						Name:       sp.Name(),
						Trace:      strings.TrimLeft(sp.TraceID().String(), "0"),
						Span:       strings.TrimLeft(sp.SpanID().String(), "0"),
						Parent:     strings.TrimLeft(sp.ParentSpanID().String(), "0"),
						Attributes: raw,
					})
				}
			}
		}
	}
	sort.SliceStable(got.Spans, func(a, b int) bool {
		x, y := got.Spans[a].Span, got.Spans[b].Span
		if len(x) != len(y) {
			return len(x) < len(y)
		}
		return x < y
	})
	got.Metrics = selfMetrics(t, tel)
	return got
}

var metricNames = []string{
	"agentcost_spans_priced", "agentcost_spans_unpriced", "agentcost_spans_usage_error", "agentcost_spans_not_billable",
	"agentcost_unknown_models", "agentcost_spans_held", "agentcost_spans_released", "agentcost_spans_timed_out",
	"agentcost_spans_overflowed", "agentcost_spans_held_current",
}

// selfMetrics sums each self-metric over its data points; labelled series
// appear as name{k=v,...} too.
func selfMetrics(t *testing.T, tel *componenttest.Telemetry) map[string]int64 {
	out := map[string]int64{}
	for _, name := range metricNames {
		m, err := tel.GetMetric("otelcol_" + name)
		if err != nil {
			continue
		}
		sum, ok := m.Data.(metricdata.Sum[int64])
		require.True(t, ok, name)
		for _, dp := range sum.DataPoints {
			if dp.Value == 0 {
				continue
			}
			label := name
			if dp.Attributes.Len() > 0 {
				var kv []string
				for _, a := range dp.Attributes.ToSlice() {
					kv = append(kv, fmt.Sprintf("%s=%s", a.Key, a.Value.Emit()))
				}
				label += "{" + strings.Join(kv, ",") + "}"
			}
			out[label] += dp.Value
		}
	}
	return out
}

// normalise round-trips expected attributes through pcommon so YAML ints
// and floats compare with pdata's int64 and float64.
func normalise(t *testing.T, e expectation) expectation {
	for i := range e.Spans {
		m := pcommon.NewMap()
		require.NoError(t, m.FromRaw(e.Spans[i].Attributes))
		e.Spans[i].Attributes = m.AsRaw()
		if len(e.Spans[i].Attributes) == 0 {
			e.Spans[i].Attributes = map[string]any{}
		}
	}
	if e.Metrics == nil {
		e.Metrics = map[string]int64{}
	}
	return e
}

// TestGolden runs every testdata/<case>/input.yaml through the processor
// and compares with expected.yaml. Costs come from testdata/catalog.yaml
// priced by the pricing engine. Regenerate (then review the diff!) with
//
//	go test ./processor/agentcostprocessor -run TestGolden -update
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "input.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, in := range dirs {
		caseDir := filepath.Dir(in)
		t.Run(filepath.Base(caseDir), func(t *testing.T) {
			got := runCase(t, caseDir)
			path := filepath.Join(caseDir, "expected.yaml")
			if *update {
				for i := range got.Spans {
					tagFloats(got.Spans[i].Attributes)
				}
				b, err := yaml.Marshal(got)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(path, b, 0o600))
				return
			}
			var want expectation
			loadYAML(t, path, &want)
			want = normalise(t, want)
			got = normalise(t, got)
			require.Equal(t, len(want.Spans), len(got.Spans), "span count")
			for i := range want.Spans {
				w, g := want.Spans[i], got.Spans[i]
				wa, ga := typed(w.Attributes), typed(g.Attributes)
				w.Attributes, g.Attributes = nil, nil
				assert.Equal(t, w, g, "span %s %q", w.Span, w.Name)
				assert.Equal(t, wa, ga, "span %s %q attributes", w.Span, w.Name)
			}
			assert.Equal(t, want.Metrics, got.Metrics)
		})
	}
}

// typed renders attribute values with their Go type so an int never equals
// a double and NaN equals NaN.
func typed(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = fmt.Sprintf("%T(%v)", v, v)
	}
	return out
}

// yamlFloat marshals a double with an explicit !!float tag so that integral
// values (100, 0) and NaN read back as doubles.
type yamlFloat float64

func (f yamlFloat) MarshalYAML() (any, error) {
	v := float64(f)
	s := strconv.FormatFloat(v, 'g', -1, 64)
	switch {
	case math.IsNaN(v):
		s = ".nan"
	case math.IsInf(v, 1):
		s = ".inf"
	case math.IsInf(v, -1):
		s = "-.inf"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: s}, nil
}

func tagFloats(m map[string]any) {
	for k, v := range m {
		if f, ok := v.(float64); ok && (f == math.Trunc(f) || math.IsNaN(f)) {
			m[k] = yamlFloat(f)
		}
	}
}
