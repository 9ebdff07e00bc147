package agentcostbudgetextension

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/internal/chtest"
	"github.com/agentcost/agentcost/internal/spend"
)

// flakyReceiver answers HTTP 500 while down, 200 otherwise, and counts both.
type flakyReceiver struct {
	down      atomic.Bool
	failed    atomic.Int64
	mu        sync.Mutex
	delivered []string // fired_at of each accepted alert
}

func (r *flakyReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.down.Load() {
		r.failed.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	r.mu.Lock()
	r.delivered = append(r.delivered, req.Header.Get("Content-Type"))
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *flakyReceiver) accepted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.delivered)
}

func outboxConfig(t *testing.T, url string) (*chtest.DB, func() *Config) {
	db := ledgerDB(t)
	return db, func() *Config {
		cfg := ledgerConfig(db, budgetCfg("team", "10", WindowConfig{Calendar: PeriodDay}, func(b *BudgetConfig) {
			b.Scope = map[string]string{"team": "ml"}
			b.AlertThresholds = []float64{0.5}
			b.ProjectedAlert = false
		}))
		cfg.EvaluationInterval = time.Hour                             // evaluate by hand
		cfg.ReconcileInterval, cfg.StaleAfter = time.Hour, 2*time.Hour // reconcile by hand
		cfg.ReconcileLag = 0
		wh := newDefaultWebhook()
		wh.Name, wh.Endpoint = "ops", url
		wh.MaxRetries, wh.InitialInterval, wh.MaxInterval = 1, time.Millisecond, time.Millisecond // a 2-attempt schedule
		cfg.Notifiers.Webhooks = []WebhookConfig{wh}
		return cfg
	}
}

// waitIdle waits until no owed alert of e's webhooks is queued or posting,
// and returns how many are owed.
func waitIdle(t *testing.T, e *budgetExtension) int {
	t.Helper()
	n := 0
	require.Eventually(t, func() bool {
		n = 0
		for _, h := range e.notifier.hooks {
			h.mu.Lock()
			for _, o := range h.owed {
				if o.sending {
					h.mu.Unlock()
					return false
				}
				n++
			}
			h.mu.Unlock()
		}
		return true
	}, 10*time.Second, 5*time.Millisecond)
	return n
}

func owedInLedger(t *testing.T, e *budgetExtension) int {
	t.Helper()
	evs, err := e.ledger.undelivered(context.Background(), e.replica, "ops", time.Now().Add(-time.Hour))
	require.NoError(t, err)
	return len(evs)
}

// A receiver down for longer than the webhook's whole retry schedule gets
// the alert once it is back: the alert stays owed (in memory and in the
// outbox table) and is retried at every reconcile, and delivered once.
func TestWebhookDownLongerThanRetriesDeliveredOnce(t *testing.T) {
	recv := &flakyReceiver{}
	recv.down.Store(true)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	_, mk := outboxConfig(t, srv.URL)
	e := startExt(t, mk(), "a")
	e.Accrue(spend.Charge{Time: time.Now(), Cost: usd("6"), Team: "ml"})
	require.Len(t, e.evaluate(e.now()), 1)
	require.Eventually(t, func() bool { return recv.failed.Load() >= 2 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 1, waitIdle(t, e), "retry schedule exhausted: still owed")
	require.Eventually(t, func() bool { return owedInLedger(t, e) == 1 }, 10*time.Second, 10*time.Millisecond)
	for i := range 3 { // receiver still down: each reconcile runs the schedule again
		before := recv.failed.Load()
		e.reconcile(context.Background())
		require.Eventually(t, func() bool { return recv.failed.Load() >= before+2 }, 10*time.Second, 5*time.Millisecond, "round %d", i)
		require.Equal(t, 1, waitIdle(t, e))
	}
	require.Zero(t, recv.accepted())

	recv.down.Store(false)
	e.reconcile(context.Background())
	require.Eventually(t, func() bool { return recv.accepted() == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 0, waitIdle(t, e))
	require.Eventually(t, func() bool { return owedInLedger(t, e) == 0 }, 10*time.Second, 10*time.Millisecond, "recorded as delivered")
	for range 3 {
		e.reconcile(context.Background())
	}
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 1, recv.accepted(), "delivered exactly once")
	t.Logf("receiver refused %d posts, accepted %d", recv.failed.Load(), recv.accepted())
}

// A collector that stops while an alert is still owed sends it after its
// restart (same replica), once, and does not fire it again.
func TestWebhookOwedAlertSurvivesRestart(t *testing.T) {
	recv := &flakyReceiver{}
	recv.down.Store(true)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	db, mk := outboxConfig(t, srv.URL)
	e1 := startExt(t, mk(), "a")
	c := spend.Charge{Time: time.Now(), Cost: usd("6"), Team: "ml"}
	e1.Accrue(c)
	insertCharges(t, db, []spend.Charge{c})
	require.Len(t, e1.evaluate(e1.now()), 1)
	require.Eventually(t, func() bool { return recv.failed.Load() >= 2 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 1, waitIdle(t, e1))
	require.Eventually(t, func() bool { return owedInLedger(t, e1) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, e1.Shutdown(context.Background()))

	recv.down.Store(false)
	e2 := startExt(t, mk(), "a")
	require.Eventually(t, func() bool { return recv.accepted() == 1 }, 10*time.Second, 5*time.Millisecond, "owed alert sent after the restart")
	assert.Empty(t, e2.evaluate(e2.now()), "not fired again")
	assert.Equal(t, []string{"0.5"}, e2.firedLabels("team"))
	require.Eventually(t, func() bool { return owedInLedger(t, e2) == 0 }, 10*time.Second, 10*time.Millisecond)
	e2.reconcile(context.Background())
	require.NoError(t, e2.Shutdown(context.Background()))
	e3 := startExt(t, mk(), "a")
	e3.reconcile(context.Background())
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 1, recv.accepted(), "delivered exactly once across two restarts")
	var n uint64
	require.NoError(t, e3.ledger.conn.QueryRow(context.Background(), "SELECT count() FROM "+e3.ledger.alertTable).Scan(&n))
	assert.Equal(t, uint64(1), n, "one firing")
}

// Without a ledger an undelivered alert stays owed in memory and is retried
// at every evaluation.
func TestWebhookRetriedWithoutLedger(t *testing.T) {
	recv := &flakyReceiver{}
	recv.down.Store(true)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = ""
	cfg.Notifiers.Log = false
	cfg.EvaluationInterval = 20 * time.Millisecond
	cfg.Budgets = []BudgetConfig{budgetCfg("team", "10", WindowConfig{Calendar: PeriodDay}, func(b *BudgetConfig) {
		b.AlertThresholds = []float64{0.5}
		b.ProjectedAlert = false
	})}
	wh := newDefaultWebhook()
	wh.Name, wh.Endpoint = "ops", srv.URL
	wh.MaxRetries, wh.InitialInterval, wh.MaxInterval = 0, time.Millisecond, time.Millisecond
	cfg.Notifiers.Webhooks = []WebhookConfig{wh}
	e := startExt(t, cfg, "a")
	e.Accrue(spend.Charge{Time: time.Now(), Cost: usd("6"), Team: "ml"})
	require.Eventually(t, func() bool { return recv.failed.Load() >= 5 }, 10*time.Second, 5*time.Millisecond, "retried at each evaluation")
	recv.down.Store(false)
	require.Eventually(t, func() bool { return recv.accepted() == 1 }, 10*time.Second, 5*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 1, recv.accepted())
}

// An alert the receiver refuses for good (HTTP 4xx) is not owed: recorded
// as refused, never retried.
func TestWebhookRefusedNotRetried(t *testing.T) {
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		posts.Add(1)
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()
	_, mk := outboxConfig(t, srv.URL)
	e := startExt(t, mk(), "a")
	e.Accrue(spend.Charge{Time: time.Now(), Cost: usd("6"), Team: "ml"})
	require.Len(t, e.evaluate(e.now()), 1)
	require.Eventually(t, func() bool { return posts.Load() == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 0, waitIdle(t, e))
	var state uint8
	require.Eventually(t, func() bool {
		err := e.ledger.conn.QueryRow(context.Background(), "SELECT max(delivered) FROM "+e.ledger.outboxTable).Scan(&state)
		return err == nil && state == outboxRefused
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, 0, owedInLedger(t, e))
	e.reconcile(context.Background())
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, int64(1), posts.Load(), "not retried")
}
