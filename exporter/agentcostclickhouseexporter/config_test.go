package agentcostclickhouseexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	full := createDefaultConfig().(*Config)
	full.Endpoint = "https://ch.example.com:8443?dial_timeout=5s"
	full.Username = "writer"
	full.Password = "s3cret"
	full.Database = "finops"
	full.TablePrefix = "acme_"
	full.Compression = "zstd"
	full.CreateSchema = false
	full.SkipStoredSpans = false
	full.ClusterName = "prod"
	full.TTL = 9600 * time.Hour
	full.ExtraDimensions = []string{"tenant.id", "k8s.namespace.name"}
	full.TimeoutConfig.Timeout = 60 * time.Second
	full.BackOffConfig.MaxElapsedTime = 10 * time.Minute
	q := defaultQueueConfig()
	q.QueueSize = 200000
	q.NumConsumers = 4
	storage := component.MustNewID("file_storage")
	q.StorageID = &storage
	b := q.Batch.Get()
	b.MinSize = 20000
	b.MaxSize = 100000
	b.FlushTimeout = 2 * time.Second
	full.QueueConfig = configoptional.Some(q)

	defaultWithEndpoint := createDefaultConfig().(*Config)
	defaultWithEndpoint.Endpoint = "tcp://127.0.0.1:9000"

	tests := []struct {
		id       component.ID
		expected component.Config
		errMsg   string
	}{
		{id: component.NewID(metadata.Type), expected: defaultWithEndpoint},
		{id: component.NewIDWithName(metadata.Type, "full"), expected: full},
		{id: component.NewIDWithName(metadata.Type, "no_endpoint"), errMsg: "endpoint: must be set"},
		{id: component.NewIDWithName(metadata.Type, "bad_scheme"), errMsg: `endpoint: scheme "ftp" is not supported (want tcp, clickhouse, http or https)`},
		{id: component.NewIDWithName(metadata.Type, "bad_database"), errMsg: `database: "agent-cost" is not a valid identifier`},
		{id: component.NewIDWithName(metadata.Type, "bad_prefix"), errMsg: `table_prefix: "a.b" is not valid`},
		{id: component.NewIDWithName(metadata.Type, "bad_cluster"), errMsg: `cluster_name: "prod cluster" is not a valid identifier`},
		{id: component.NewIDWithName(metadata.Type, "bad_compression"), errMsg: `compression: "gzip" is not supported over native (want one of none, lz4, lz4hc, zstd)`},
		{id: component.NewIDWithName(metadata.Type, "negative_ttl"), errMsg: "ttl: -1h0m0s is negative"},
		{id: component.NewIDWithName(metadata.Type, "prompt_dimension"), errMsg: `extra_dimensions[1]: "gen_ai.input.messages" can carry prompts`},
		{id: component.NewIDWithName(metadata.Type, "vercel_prompt_dimension"), errMsg: `extra_dimensions[1]: "AI.Prompt.Messages" can carry prompts, completions or tool arguments (matches "ai.prompt"), which are never stored`},
		{id: component.NewIDWithName(metadata.Type, "duplicate_dimension"), errMsg: `extra_dimensions[1]: "tenant.id" is listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.errMsg != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errMsg)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, "agentcost", cfg.Database)
	assert.True(t, cfg.CreateSchema)
	assert.True(t, cfg.SkipStoredSpans)
	assert.Equal(t, "lz4", cfg.Compression)
	assert.Equal(t, 30*time.Second, cfg.TimeoutConfig.Timeout)
	require.True(t, cfg.QueueConfig.HasValue())
	q := cfg.QueueConfig.Get()
	assert.Equal(t, exporterhelper.RequestSizerTypeItems, q.Sizer)
	require.True(t, q.Batch.HasValue())
	assert.Equal(t, int64(10_000), q.Batch.Get().MinSize)
	assert.Equal(t, int64(50_000), q.Batch.Get().MaxSize)
	assert.True(t, cfg.BackOffConfig.Enabled)
	// The default config without an endpoint is invalid and says why.
	assert.ErrorContains(t, confmap.Validate(cfg), "endpoint: must be set")
}

func TestClickhouseOptions(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "https://u:p@ch.example.com:8443/ignored?dial_timeout=3s"
	cfg.Password = "override"
	opts, err := cfg.clickhouseOptions()
	require.NoError(t, err)
	assert.Equal(t, clickhouse.HTTP, opts.Protocol)
	assert.NotNil(t, opts.TLS, "https implies TLS")
	assert.Equal(t, "u", opts.Auth.Username)
	assert.Equal(t, "override", opts.Auth.Password)
	assert.Equal(t, "", opts.Auth.Database, "tables are always qualified by the database setting")
	assert.Equal(t, 3*time.Second, opts.DialTimeout)

	cfg.Endpoint = "tcp://127.0.0.1:9000"
	cfg.Compression = "zstd"
	opts, err = cfg.clickhouseOptions()
	require.NoError(t, err)
	assert.Equal(t, clickhouse.Native, opts.Protocol)
	assert.Nil(t, opts.TLS)
	assert.Equal(t, clickhouse.CompressionZSTD, opts.Compression.Method)

	cfg.Endpoint = "tcp://user:topsecret@/db"
	_, err = cfg.clickhouseOptions()
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "topsecret")
}
