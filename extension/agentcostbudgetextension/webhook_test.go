package agentcostbudgetextension

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/agentcost/agentcost/extension/agentcostbudgetextension/internal/metadata"
)

// receiver is a local webhook endpoint that fails the first `failures`
// requests with HTTP 500.
type receiver struct {
	mu       sync.Mutex
	failures int
	requests []recorded
	got      chan struct{}
}

type recorded struct {
	body      []byte
	signature string
	ctype     string
	status    int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	status := http.StatusOK
	if r.failures > 0 {
		r.failures--
		status = http.StatusInternalServerError
	}
	r.requests = append(r.requests, recorded{body: body, signature: req.Header.Get("X-Agentcost-Signature"),
		ctype: req.Header.Get("Content-Type"), status: status})
	r.mu.Unlock()
	w.WriteHeader(status)
	if status == http.StatusOK {
		r.got <- struct{}{}
	}
}

func TestWebhookPayloadRetriesAndSignature(t *testing.T) {
	jsonRecv := &receiver{failures: 2, got: make(chan struct{}, 10)}
	slackRecv := &receiver{got: make(chan struct{}, 10)}
	js, ss := httptest.NewServer(jsonRecv), httptest.NewServer(slackRecv)
	defer js.Close()
	defer ss.Close()

	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = ""
	cfg.EvaluationInterval = time.Hour
	cfg.ReplicaID = "r1"
	jw := newDefaultWebhook()
	jw.Name, jw.Endpoint, jw.Secret = "ops", js.URL, "topsecret"
	jw.InitialInterval, jw.MaxInterval, jw.MaxRetries = 10*time.Millisecond, 40*time.Millisecond, 3
	sw := newDefaultWebhook()
	sw.Name, sw.Endpoint, sw.Format = "slack", ss.URL, FormatSlack
	cfg.Notifiers.Webhooks = []WebhookConfig{jw, sw}
	cfg.Budgets = []BudgetConfig{budgetCfg("ml-day", "10", WindowConfig{Calendar: PeriodDay}, func(b *BudgetConfig) {
		b.Scope = map[string]string{"team": "ml"}
		b.AlertThresholds = []float64{0.8}
		b.ProjectedAlert = false
	})}
	require.NoError(t, cfg.Validate())
	e, err := newExtension(cfg, extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	e.useClock(clock.Now)
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()

	e.Accrue(charge(t0, "8.5", "ml"))
	require.Len(t, e.evaluate(clock.Now()), 1)
	for _, r := range []*receiver{jsonRecv, slackRecv} {
		select {
		case <-r.got:
		case <-time.After(10 * time.Second):
			t.Fatal("webhook not delivered")
		}
	}

	jsonRecv.mu.Lock()
	defer jsonRecv.mu.Unlock()
	require.Len(t, jsonRecv.requests, 3, "two HTTP 500 answers, then success")
	assert.Equal(t, []int{500, 500, 200}, []int{jsonRecv.requests[0].status, jsonRecv.requests[1].status, jsonRecv.requests[2].status})
	last := jsonRecv.requests[2]
	assert.Equal(t, jsonRecv.requests[0].body, last.body, "retries send the same payload")
	assert.Equal(t, "application/json", last.ctype)
	assert.Equal(t, Sign([]byte("topsecret"), last.body), last.signature)
	assert.Equal(t, "sha256=", last.signature[:7])
	assert.NotEqual(t, Sign([]byte("other"), last.body), last.signature)
	var ev map[string]any
	require.NoError(t, json.Unmarshal(last.body, &ev))
	assert.Equal(t, map[string]any{
		"kind": "threshold", "budget": "ml-day", "threshold": 0.8, "spend": "8.500000000000", "limit": "10.000000000000",
		"utilization": 0.85, "action": "alert", "scope": map[string]any{"team": "ml"}, "window": "calendar day UTC",
		"window_start": "2026-11-29T00:00:00Z", "window_end": "2026-11-30T00:00:00Z", "fired_at": "2026-11-29T10:00:00Z",
		"replica": "r1",
	}, ev)

	slackRecv.mu.Lock()
	defer slackRecv.mu.Unlock()
	require.Len(t, slackRecv.requests, 1)
	assert.Empty(t, slackRecv.requests[0].signature, "no secret, no signature")
	var sl map[string]string
	require.NoError(t, json.Unmarshal(slackRecv.requests[0].body, &sl))
	assert.Equal(t, ":warning: Budget *ml-day* crossed 80% of its limit: $8.500000000000 of $10.000000000000 (action alert, window calendar day UTC).", sl["text"])
}

func TestWebhookGivesUpOn4xxAndAfterRetries(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.URL.Path]++
		mu.Unlock()
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	mk := func(path string) *webhook {
		wc := newDefaultWebhook()
		wc.Name, wc.Endpoint = path, srv.URL+path
		wc.InitialInterval, wc.MaxInterval, wc.MaxRetries = time.Millisecond, 2*time.Millisecond, 2
		return &webhook{cfg: &wc, client: srv.Client()}
	}
	ev := alertEvent{Kind: kindThreshold, Budget: "b", Threshold: 0.5}
	err := mk("/bad").deliver(context.Background(), ev)
	assert.ErrorContains(t, err, "HTTP 400 (not retried)")
	err = mk("/down").deliver(context.Background(), ev)
	assert.ErrorContains(t, err, "gave up after 3 attempts: HTTP 503")
	mu.Lock()
	assert.Equal(t, map[string]int{"/bad": 1, "/down": 3}, calls)
	mu.Unlock()
}
