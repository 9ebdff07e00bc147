package agentcostclickhouseexporter // import "github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter"

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/schema"
)

// Config is the agentcost_clickhouse exporter configuration.
type Config struct {
	TimeoutConfig exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	BackOffConfig configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`

	// Endpoint is the server DSN: tcp://, clickhouse:// (native protocol) or
	// http://, https:// (HTTP protocol), with optional clickhouse-go query
	// parameters (dial_timeout, secure, ...).
	Endpoint string `mapstructure:"endpoint"`
	// Username and Password authenticate; they override the DSN's user info.
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
	// Database holds the tables (default agentcost).
	Database string `mapstructure:"database"`
	// TablePrefix is prepended to every table and view name.
	TablePrefix string `mapstructure:"table_prefix"`
	// TLS configures the client when the endpoint is https:// or has secure=true.
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// Compression of the data sent: none, lz4, lz4hc, zstd (native and HTTP),
	// gzip, deflate, br (HTTP only).
	Compression string `mapstructure:"compression"`
	// CreateSchema applies the embedded migrations at Start.
	CreateSchema bool `mapstructure:"create_schema"`
	// SkipStoredSpans looks up, before each insert, which of the batch's
	// spans are already stored (table cost_event_keys, migration 0007) or
	// appear twice in the batch, and leaves those rows out.
	SkipStoredSpans bool `mapstructure:"skip_stored_spans"`
	// ClusterName renders ON CLUSTER, Replicated* engines and Distributed tables.
	ClusterName string `mapstructure:"cluster_name"`
	// TTL expires cost_events rows that long after their event_time; 0 keeps them.
	TTL time.Duration `mapstructure:"ttl"`
	// ExtraDimensions are span or resource attribute keys copied into the
	// extra Map column. Prompt, completion and tool argument attributes are
	// refused (extra.go); values are capped at maxExtraValueBytes.
	ExtraDimensions []string `mapstructure:"extra_dimensions"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

var nativeCompression = map[string]bool{"none": true, "lz4": true, "lz4hc": true, "zstd": true}
var httpCompression = map[string]bool{"none": true, "lz4": true, "lz4hc": true, "zstd": true, "gzip": true, "deflate": true, "br": true}

// Validate checks the configuration; every message names its key.
func (cfg *Config) Validate() error {
	var errs []error
	if _, err := cfg.clickhouseOptions(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.schemaOptions().Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.TimeoutConfig.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s is negative", cfg.TimeoutConfig.Timeout))
	}
	seen := map[string]bool{}
	for i, k := range cfg.ExtraDimensions {
		switch {
		case strings.TrimSpace(k) == "":
			errs = append(errs, fmt.Errorf("extra_dimensions[%d]: empty attribute key", i))
		case seen[k]:
			errs = append(errs, fmt.Errorf("extra_dimensions[%d]: %q is listed twice", i, k))
		default:
			if m := contentMatch(k); m != "" {
				errs = append(errs, fmt.Errorf("extra_dimensions[%d]: %q can carry prompts, completions or tool arguments (matches %q), which are never stored", i, k, m))
			}
		}
		seen[k] = true
	}
	return errors.Join(errs...)
}

func (cfg *Config) schemaOptions() schema.Options {
	return schema.Options{
		Database:    cfg.database(),
		TablePrefix: cfg.TablePrefix,
		Cluster:     cfg.ClusterName,
		Replicated:  cfg.ClusterName != "",
		OnCluster:   cfg.ClusterName != "",
		TTL:         cfg.TTL,
	}
}

func (cfg *Config) database() string {
	if cfg.Database == "" {
		return schema.DefaultDatabase
	}
	return cfg.Database
}

// clickhouseOptions parses the endpoint and applies the other settings. It
// loads no files: TLS material is loaded in Start (tlsConfig).
func (cfg *Config) clickhouseOptions() (*clickhouse.Options, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("endpoint: must be set (e.g. tcp://127.0.0.1:9000 or http://127.0.0.1:8123)")
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %q is not a URL", redact(cfg.Endpoint))
	}
	dsn := cfg.Endpoint
	switch u.Scheme {
	case "tcp", "clickhouse", "http":
	case "https":
		if !u.Query().Has("secure") {
			q := u.Query()
			q.Set("secure", "true")
			u.RawQuery = q.Encode()
			dsn = u.String()
		}
	default:
		return nil, fmt.Errorf("endpoint: scheme %q is not supported (want tcp, clickhouse, http or https)", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("endpoint: %q names no host", redact(cfg.Endpoint))
	}
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	if cfg.Username != "" {
		opts.Auth.Username = cfg.Username
	}
	if cfg.Password != "" {
		opts.Auth.Password = string(cfg.Password)
	}
	// Tables are always qualified; the connection's database stays the
	// server default so that Start can create ours.
	opts.Auth.Database = ""
	comp := cfg.Compression
	if comp == "" {
		comp = "lz4"
	}
	allowed := nativeCompression
	if opts.Protocol == clickhouse.HTTP {
		allowed = httpCompression
	}
	if !allowed[comp] {
		return nil, fmt.Errorf("compression: %q is not supported over %s (want one of %s)", comp, opts.Protocol, keys(allowed))
	}
	opts.Compression = &clickhouse.Compression{Method: compressionMethods[comp]}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 10 * time.Second
	}
	if opts.MaxOpenConns == 0 || opts.MaxOpenConns > 16 {
		opts.MaxOpenConns = 16
	}
	if opts.Settings == nil {
		opts.Settings = clickhouse.Settings{}
	}
	return opts, nil
}

var compressionMethods = map[string]clickhouse.CompressionMethod{
	"none": clickhouse.CompressionNone, "lz4": clickhouse.CompressionLZ4, "lz4hc": clickhouse.CompressionLZ4HC,
	"zstd": clickhouse.CompressionZSTD, "gzip": clickhouse.CompressionGZIP, "deflate": clickhouse.CompressionDeflate,
	"br": clickhouse.CompressionBrotli,
}

func keys(m map[string]bool) string {
	order := []string{"none", "lz4", "lz4hc", "zstd", "gzip", "deflate", "br"}
	var out []string
	for _, k := range order {
		if m[k] {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

// redact hides a password in a DSN for error messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if i := strings.LastIndex(dsn, "@"); i >= 0 {
			return "xxxxx" + dsn[i:]
		}
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// tlsConfig loads the TLS material when the endpoint asks for TLS.
func (cfg *Config) tlsConfig(ctx context.Context, opts *clickhouse.Options) (*tls.Config, error) {
	if opts.TLS == nil {
		return nil, nil
	}
	tc, err := cfg.TLS.LoadTLSConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if tc == nil {
		return opts.TLS, nil
	}
	if opts.TLS.ServerName != "" && tc.ServerName == "" {
		tc.ServerName = opts.TLS.ServerName
	}
	if opts.TLS.InsecureSkipVerify {
		tc.InsecureSkipVerify = true
	}
	return tc, nil
}
