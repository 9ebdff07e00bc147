package agentcostclickhouseexporter

import (
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/internal/metadata"
	"github.com/agentcost/agentcost/internal/chtest"
	"github.com/agentcost/agentcost/pricing"
)

// fastRetryConfig is a config for tests of the queue and retry path: small,
// frequent batches and quick retries.
func fastRetryConfig(endpoint, database string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = endpoint
	cfg.Database = database
	cfg.TimeoutConfig.Timeout = 5 * time.Second
	cfg.BackOffConfig.InitialInterval = 100 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 500 * time.Millisecond
	cfg.BackOffConfig.MaxElapsedTime = 3 * time.Minute
	q := defaultQueueConfig()
	b := q.Batch.Get()
	b.MinSize = 1000
	b.MaxSize = 5000
	b.FlushTimeout = 200 * time.Millisecond
	cfg.QueueConfig = configoptional.Some(q)
	return cfg
}

// batchOf returns n cost spans numbered from first, each costing
// (index+1) * 1.000000000001 USD / 1000.
func batchOf(first, n int) ([]call, pricing.Money) {
	var calls []call
	var sum pricing.Money
	for i := first; i < first+n; i++ {
		c := call{traceID: seqID("t", i/4), spanID: seqID("s", i), start: t0.Add(time.Duration(i) * time.Second),
			team: []string{"cx", "data", "ml"}[i%3], agent: seqID("a", i%9), operation: "chat", in: int64(i % 1000),
			total: pricing.MoneyFromPico(uint64(i+1) * 1_000_000_001).String()}
		sum = sum.Add(pricing.MustParseMoney(c.total))
		calls = append(calls, c)
	}
	return calls, sum
}

func waitCount(t *testing.T, conn driver.Conn, q string, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	got := ""
	for time.Now().Before(deadline) {
		var s string
		if err := conn.QueryRow(context.Background(), q).Scan(&s); err == nil {
			got = s
			if s == want {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: got %q, want %q after %s", q, got, want, within)
}

// TestOutageNoLossNoDuplicates streams spans through the full exporter
// (queue, batching, retry) while its server is stopped and restarted.
func TestOutageNoLossNoDuplicates(t *testing.T) {
	port := freePorts(t, 1)[0]
	s := newServer(t, port, "")
	s.start()

	cfg := fastRetryConfig("tcp://"+s.addr()+"?dial_timeout=1s", "agentcost")
	set := exportertest.NewNopSettings(metadata.Type)
	core, logs := observer.New(zap.InfoLevel)
	set.Logger = zap.New(core)
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), &storageHost{}))

	const requests, perRequest = 60, 200
	var want pricing.Money
	for i := 0; i < requests; i++ {
		switch i {
		case 20:
			s.stop() // mid-stream: inserts are in flight every 200ms
		case 40:
			s.start()
		}
		calls, sum := batchOf(i*perRequest, perRequest)
		want = want.Add(sum)
		require.NoError(t, exp.ConsumeTraces(context.Background(), traces(calls...)))
		time.Sleep(30 * time.Millisecond)
	}
	conn := s.conn()
	total := strconv.Itoa(requests * perRequest)
	waitCount(t, conn, "SELECT toString(count()) FROM agentcost.cost_events", total, 2*time.Minute)
	require.NoError(t, exp.Shutdown(context.Background()))
	retries := logs.FilterMessage("Exporting failed. Will retry the request after interval.").Len()
	assert.Positive(t, retries, "the outage made sends fail and retry")
	t.Logf("retried sends during the outage: %d", retries)

	assert.Equal(t, total, scalar(t, conn, "SELECT toString(uniqExact(span_id)) FROM agentcost.cost_events"), "no duplicates")
	assert.Equal(t, total, scalar(t, conn, "SELECT toString(count()) FROM agentcost.cost_events"), "no loss, no duplicates")
	assert.Equal(t, want.String(), pricing.MustParseMoney(scalar(t, conn, "SELECT toString(sum(total_cost)) FROM agentcost.cost_events")).String())
	assert.Equal(t, total, scalar(t, conn, "SELECT toString(sum(calls)) FROM agentcost.cost_hourly"), "rollups fed once")
	assert.Equal(t, want.String(), pricing.MustParseMoney(scalar(t, conn, "SELECT toString(sum(total_cost)) FROM agentcost.cost_daily")).String())
}

// TestPersistentQueueSurvivesRestart enqueues into a persistent queue while
// ClickHouse is unreachable, shuts the exporter down, and checks that a new
// exporter instance with the same storage delivers every row. The storage is
// a directory-backed implementation of the storage extension interface that
// file_storage implements too.
func TestPersistentQueueSurvivesRestart(t *testing.T) {
	db := chtest.New(t)
	storageID := component.MustNewID("file_storage")
	host := &storageHost{ext: map[component.ID]component.Component{storageID: &dirStorage{dir: t.TempDir()}}}
	id := component.NewIDWithName(metadata.Type, "persistent")

	newExp := func(endpoint string, createSchema bool) exporter.Traces {
		cfg := fastRetryConfig(endpoint, db.Name)
		cfg.CreateSchema = createSchema
		q := cfg.QueueConfig.Get()
		q.StorageID = &storageID
		set := exportertest.NewNopSettings(metadata.Type)
		set.ID = id
		exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
		require.NoError(t, err)
		require.NoError(t, exp.Start(context.Background(), host))
		return exp
	}

	// Nothing listens here: every send fails and is retried.
	down := "tcp://127.0.0.1:" + strconv.Itoa(freePorts(t, 1)[0]) + "?dial_timeout=500ms"
	first := newExp(down, false)
	var want pricing.Money
	for i := 0; i < 5; i++ {
		calls, sum := batchOf(i*300, 300)
		want = want.Add(sum)
		require.NoError(t, first.ConsumeTraces(context.Background(), traces(calls...)))
	}
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, first.Shutdown(context.Background()))
	var tables uint64
	require.NoError(t, db.Conn.QueryRow(context.Background(), "SELECT count() FROM system.tables WHERE database = ?", db.Name).Scan(&tables))
	require.Zero(t, tables, "nothing was written while ClickHouse was unreachable")

	second := newExp("tcp://"+db.Options.Addr[0], true)
	waitCount(t, db.Conn, "SELECT toString(count()) FROM cost_events", "1500", time.Minute)
	require.NoError(t, second.Shutdown(context.Background()))
	assert.Equal(t, "1500", scalar(t, db.Conn, "SELECT toString(uniqExact(span_id)) FROM cost_events"))
	assert.Equal(t, want.String(), pricing.MustParseMoney(scalar(t, db.Conn, "SELECT toString(sum(total_cost)) FROM cost_events")).String())
}

// storageHost is a component.Host that offers extensions.
type storageHost struct {
	ext map[component.ID]component.Component
}

func (h *storageHost) GetExtensions() map[component.ID]component.Component { return h.ext }

// dirStorage is a storage extension keeping each key in a file.
type dirStorage struct{ dir string }

func (d *dirStorage) Start(context.Context, component.Host) error { return nil }
func (d *dirStorage) Shutdown(context.Context) error              { return nil }

func (d *dirStorage) GetClient(_ context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	dir := filepath.Join(d.dir, hex.EncodeToString([]byte(kind.String()+"/"+id.String()+"/"+name)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &dirClient{dir: dir}, nil
}

type dirClient struct {
	mu  sync.Mutex
	dir string
}

func (c *dirClient) path(key string) string {
	return filepath.Join(c.dir, hex.EncodeToString([]byte(key)))
}

func (c *dirClient) get(key string) ([]byte, error) {
	b, err := os.ReadFile(c.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (c *dirClient) set(key string, v []byte) error {
	tmp := c.path(key) + ".tmp"
	if err := os.WriteFile(tmp, v, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, c.path(key))
}

func (c *dirClient) del(key string) error {
	err := os.Remove(c.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (c *dirClient) Get(_ context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.get(key)
}

func (c *dirClient) Set(_ context.Context, key string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set(key, v)
}

func (c *dirClient) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.del(key)
}

func (c *dirClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, op := range ops {
		var err error
		switch op.Type {
		case storage.Get:
			op.Value, err = c.get(op.Key)
		case storage.Set:
			err = c.set(op.Key, op.Value)
		case storage.Delete:
			err = c.del(op.Key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *dirClient) Close(context.Context) error { return nil }
