package agentcostclickhouseexporter

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/internal/metadata"
	"github.com/agentcost/agentcost/internal/chtest"
	"github.com/agentcost/agentcost/pricing"
)

// startFileStorage starts a real file_storage extension on dir.
func startFileStorage(t *testing.T, dir string) extension.Extension {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	return ext
}

// crashingPush wraps pushTraces: once crashed is closed, a push still
// inserts, then never returns, as if the process died between the insert
// and the queue recording it as sent.
type crashingPush struct {
	e       *costExporter
	crashed chan struct{}
	release chan struct{}
}

func (c *crashingPush) push(ctx context.Context, td ptrace.Traces) error {
	err := c.e.pushTraces(ctx, td)
	select {
	case <-c.crashed:
		<-c.release
		return err
	default:
		return err
	}
}

// TestReplayedRequestsRebatched reproduces what a SIGKILL does to a
// persistent queue with batching, deterministically: the first exporter
// merges two queued requests into one insert, the insert succeeds, and the
// process "dies" before the queue records the requests as sent (the push
// never returns; the storage is closed under it). A second exporter on the
// same storage replays both requests, and a third request sent right after
// the restart joins the same batch: a batch the server has never seen, with
// a new deduplication token. With skip_stored_spans every span is stored
// once; without it the replayed rows are stored twice.
func TestReplayedRequestsRebatched(t *testing.T) {
	for _, lookup := range []bool{true, false} {
		t.Run("skip_stored="+map[bool]string{true: "true", false: "false"}[lookup], func(t *testing.T) {
			db := chtest.New(t)
			dir := t.TempDir()
			storageID := component.MustNewID("file_storage")
			id := component.NewIDWithName(metadata.Type, "replay")

			newExp := func(ext extension.Extension) (exporter.Traces, *crashingPush) {
				cfg := fastRetryConfig("tcp://"+db.Options.Addr[0], db.Name)
				cfg.SkipStoredSpans = lookup
				q := cfg.QueueConfig.Get()
				q.StorageID = &storageID
				q.NumConsumers = 1
				b := q.Batch.Get()
				b.MinSize = 10_000 // never reached: batches are cut by the flush timeout
				b.FlushTimeout = 1500 * time.Millisecond
				set := exportertest.NewNopSettings(metadata.Type)
				set.ID = id
				e, err := newExporter(cfg, set)
				require.NoError(t, err)
				cp := &crashingPush{e: e, crashed: make(chan struct{}), release: make(chan struct{})}
				exp, err := wrapTraces(context.Background(), set, cfg, e, cp.push)
				require.NoError(t, err)
				host := &storageHost{ext: map[component.ID]component.Component{storageID: ext}}
				require.NoError(t, exp.Start(context.Background(), host))
				return exp, cp
			}
			ctx := context.Background()
			r1, s1 := batchOf(0, 300)
			r2, s2 := batchOf(300, 300)
			r3, s3 := batchOf(600, 300)

			// First life: r1 and r2 are merged into one insert, which
			// succeeds; the queue never hears of it.
			ext1 := startFileStorage(t, dir)
			first, cp1 := newExp(ext1)
			close(cp1.crashed)
			require.NoError(t, first.ConsumeTraces(ctx, traces(r1...)))
			require.NoError(t, first.ConsumeTraces(ctx, traces(r2...)))
			waitCount(t, db.Conn, "SELECT toString(count()) FROM cost_events", "600", 30*time.Second)
			// The crash: what is on disk now is what a SIGKILL leaves. The
			// storage file is copied (bbolt commits are atomic, and nothing
			// writes while the push hangs) because the hung first life still
			// holds the file's lock, which a dead process would not.
			crashDir := t.TempDir()
			copyDir(t, dir, crashDir)

			// Second life: the queue replays r1 and r2; r3 arrives within
			// the same flush window and is merged with them.
			ext2 := startFileStorage(t, crashDir)
			defer func() { require.NoError(t, ext2.Shutdown(ctx)) }()
			second, _ := newExp(ext2)
			require.NoError(t, second.ConsumeTraces(ctx, traces(r3...)))
			want := "900"
			if !lookup {
				want = "1500" // r1 and r2 twice
			}
			waitCount(t, db.Conn, "SELECT toString(count()) FROM cost_events", want, 30*time.Second)
			time.Sleep(2 * time.Second) // anything more would show now
			require.NoError(t, second.Shutdown(ctx))
			close(cp1.release)
			_ = first.Shutdown(ctx) // waits for the hung pushes
			require.NoError(t, ext1.Shutdown(ctx))

			assert.Equal(t, want, scalar(t, db.Conn, "SELECT toString(count()) FROM cost_events"))
			if lookup {
				assert.Equal(t, "900", scalar(t, db.Conn, "SELECT toString(uniqExact(span_id)) FROM cost_events"))
				total := s1.Add(s2).Add(s3)
				assert.Equal(t, total.String(), pricing.MustParseMoney(scalar(t, db.Conn, "SELECT toString(sum(total_cost)) FROM cost_events")).String())
				assert.Equal(t, total.String(), pricing.MustParseMoney(scalar(t, db.Conn, "SELECT toString(sum(total_cost)) FROM cost_hourly")).String(), "rollups count each span once")
			}
		})
	}
}

// copyDir copies the regular files of src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600))
	}
}
