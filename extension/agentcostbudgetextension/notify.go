package agentcostbudgetextension

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/agentcost/agentcost/extension/agentcostbudgetextension/internal/metadata"
)

// dispatcher persists alerts to the ledger and fans them out to the
// notifiers, off the hot path: evaluate enqueues, one goroutine persists and
// logs, and each webhook has its own queue and retrying sender.
type dispatcher struct {
	ctx    context.Context
	ext    *budgetExtension
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder
	log    bool
	hooks  []*webhook

	mu     sync.RWMutex
	closed bool
	in     chan queued
	wg     sync.WaitGroup
}

type queued struct {
	ev     alertEvent
	notify bool
}

func newDispatcher(ctx context.Context, cfg *Config, host component.Host, ts component.TelemetrySettings, tel *metadata.TelemetryBuilder, ext *budgetExtension) (*dispatcher, error) {
	d := &dispatcher{ctx: ctx, ext: ext, logger: ts.Logger, tel: tel, log: cfg.Notifiers.Log,
		in: make(chan queued, cfg.Notifiers.QueueSize)}
	for i := range cfg.Notifiers.Webhooks {
		wc := &cfg.Notifiers.Webhooks[i]
		client, err := wc.ToClient(ctx, host.GetExtensions(), ts)
		if err != nil {
			return nil, fmt.Errorf("notifiers.webhooks[%d] %q: %w", i, wc.Name, stripURL(err))
		}
		h := &webhook{cfg: wc, client: client, logger: ts.Logger, tel: tel, queue: make(chan alertEvent, cfg.Notifiers.QueueSize),
			attrs: metric.WithAttributeSet(attribute.NewSet(attribute.String("notifier", "webhook:"+wc.Name))),
			owed:  map[outboxKey]*owed{}, ext: ext}
		d.hooks = append(d.hooks, h)
		d.wg.Add(1)
		go func() { defer d.wg.Done(); h.run(ctx) }()
	}
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.run() }()
	return d, nil
}

var (
	attrLog        = metric.WithAttributeSet(attribute.NewSet(attribute.String("notifier", "log")))
	attrClickHouse = metric.WithAttributeSet(attribute.NewSet(attribute.String("notifier", "clickhouse")))
)

// notify persists and delivers an alert.
func (d *dispatcher) notify(ev alertEvent) { d.enqueue(queued{ev: ev, notify: true}) }

// persist only records an event (a resumption) in the ledger.
func (d *dispatcher) persist(ev alertEvent) { d.enqueue(queued{ev: ev}) }

func (d *dispatcher) enqueue(q queued) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return
	}
	select {
	case d.in <- q:
	default:
		d.logger.Warn("budget alert queue full; alert dropped", zap.String("budget", q.ev.Budget), zap.String("kind", q.ev.Kind))
		d.tel.AgentcostBudgetAlertsFailed.Add(d.ctx, 1, attrLog)
	}
}

func (d *dispatcher) run() {
	for q := range d.in {
		if l := d.ext.ledger; l != nil && !d.persist1(l, q) {
			continue
		}
		if !q.notify {
			continue
		}
		if d.log {
			fields := []zap.Field{zap.String("budget", q.ev.Budget), zap.String("kind", q.ev.Kind),
				zap.Stringer("spend", q.ev.Spend), zap.Stringer("limit", q.ev.Limit), zap.String("action", q.ev.Action),
				zap.String("window", q.ev.Window), zap.Time("window_start", q.ev.WindowStart)}
			if q.ev.Kind == kindProjected {
				fields = append(fields, zap.Time("projected_exhaustion", q.ev.ProjectedExhaustion))
			} else {
				fields = append(fields, zap.Float64("threshold", q.ev.Threshold))
			}
			d.logger.Warn("budget alert", fields...)
			d.tel.AgentcostBudgetAlertsSent.Add(context.Background(), 1, attrLog)
		}
		if len(d.hooks) == 0 {
			continue
		}
		if l := d.ext.ledger; l != nil && l.alertsReady.Load() {
			names := make([]string, len(d.hooks))
			for i, h := range d.hooks {
				names[i] = h.cfg.Name
			}
			ctx, cancel := context.WithTimeout(context.Background(), d.ext.cfg.ClickHouse.Timeout)
			if err := l.outboxWrite(ctx, q.ev, names, outboxOwed); err != nil {
				d.logger.Warn("budget alert not recorded as owed; a restart before delivery loses it",
					zap.String("budget", q.ev.Budget), zap.Error(err))
			}
			cancel()
		}
		for _, h := range d.hooks {
			h.owe(q.ev)
			h.send(keyOf(q.ev))
		}
	}
	for _, h := range d.hooks {
		close(h.queue)
	}
}

// persist1 records an event in the ledger and reports whether it should
// still be notified: false when another replica fired the same alert first.
// When the ledger cannot be written or read, the alert is notified anyway (a
// duplicate is better than a missed alert).
func (d *dispatcher) persist1(l *ledger, q queued) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d.ext.cfg.ClickHouse.Timeout)
	defer cancel()
	if err := l.record(ctx, q.ev); err != nil {
		d.logger.Warn("budget alert not persisted; it may fire again after a restart",
			zap.String("budget", q.ev.Budget), zap.String("kind", q.ev.Kind), zap.Error(err))
		d.tel.AgentcostBudgetAlertsFailed.Add(context.Background(), 1, attrClickHouse)
		return true
	}
	if !q.notify {
		return true
	}
	first, err := l.firstFiring(ctx, q.ev)
	if err != nil {
		d.logger.Warn("cannot tell whether another collector already sent this alert; sending it",
			zap.String("budget", q.ev.Budget), zap.Error(err))
		return true
	}
	if !first {
		d.logger.Debug("budget alert already sent by another collector", zap.String("budget", q.ev.Budget), zap.String("kind", q.ev.Kind))
	}
	return first
}

// close stops accepting alerts, drains what is queued (webhook retries are
// cut short by the cancelled run context) and waits for the senders.
func (d *dispatcher) close() {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.in)
	}
	d.mu.Unlock()
	d.wg.Wait()
}

// retryUndelivered queues again every alert a webhook still owes that is
// not being sent (called at every reconcile, or every evaluation without a
// ledger, and after Start loaded the outbox).
func (d *dispatcher) retryUndelivered() {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return
	}
	for _, h := range d.hooks {
		h.mu.Lock()
		keys := make([]outboxKey, 0, len(h.owed))
		for k, o := range h.owed {
			if !o.sending {
				keys = append(keys, k)
			}
		}
		h.mu.Unlock()
		for _, k := range keys {
			h.send(k)
		}
	}
}

// loadOutbox takes over the alerts this replica still owed each webhook
// when it stopped (fired in the last outboxMaxAge).
func (d *dispatcher) loadOutbox(ctx context.Context, l *ledger, now time.Time) error {
	for _, h := range d.hooks {
		evs, err := l.undelivered(ctx, d.ext.replica, h.cfg.Name, now.Add(-outboxMaxAge))
		if err != nil {
			return err
		}
		for _, ev := range evs {
			h.owe(ev)
		}
		if len(evs) > 0 {
			d.logger.Info("budget alerts still owed to a webhook; retrying", zap.String("webhook", h.cfg.Name), zap.Int("alerts", len(evs)))
		}
	}
	return nil
}

// outboxMaxAge bounds how old an undelivered alert may be and still be sent.
const outboxMaxAge = 7 * 24 * time.Hour

// webhook posts alerts to one endpoint with retries and optional signature.
// owed holds every alert not yet accepted by the endpoint: an alert leaves
// it only when delivered, so a receiver down for longer than the retry
// schedule gets it at a later retry round (and, with a ledger, after a
// restart), once.
type webhook struct {
	cfg    *WebhookConfig
	client *http.Client
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder
	queue  chan alertEvent
	attrs  metric.MeasurementOption
	ext    *budgetExtension

	mu   sync.Mutex
	owed map[outboxKey]*owed
}

type owed struct {
	ev      alertEvent
	sending bool // queued or being posted
}

// owe records an alert as owed (idempotent).
func (h *webhook) owe(ev alertEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.owed[keyOf(ev)]; !ok {
		h.owed[keyOf(ev)] = &owed{ev: ev}
	}
}

// send queues an owed alert unless it is already queued or being posted;
// with the queue full it stays owed for the next retry round.
func (h *webhook) send(k outboxKey) {
	h.mu.Lock()
	o := h.owed[k]
	if o == nil || o.sending {
		h.mu.Unlock()
		return
	}
	o.sending = true
	ev := o.ev
	h.mu.Unlock()
	select {
	case h.queue <- ev:
	default:
		h.mu.Lock()
		o.sending = false
		h.mu.Unlock()
		h.logger.Warn("webhook queue full; alert kept for the next retry", zap.String("webhook", h.cfg.Name), zap.String("budget", ev.Budget))
	}
}

func (h *webhook) run(ctx context.Context) {
	for ev := range h.queue {
		k := keyOf(ev)
		err := h.deliver(ctx, ev)
		var perm errPermanent
		if err != nil && errors.As(err, &perm) {
			// Refused for good: retrying cannot help; not owed any more.
			h.logger.Warn("webhook alert refused; not retried", zap.String("webhook", h.cfg.Name),
				zap.String("budget", ev.Budget), zap.Error(err))
			h.tel.AgentcostBudgetAlertsFailed.Add(context.Background(), 1, h.attrs)
			h.settle(ev, outboxRefused)
			continue
		}
		if err != nil {
			h.mu.Lock()
			if o := h.owed[k]; o != nil {
				o.sending = false
			}
			h.mu.Unlock()
			h.logger.Warn("webhook alert not delivered yet; retried at the next reconcile", zap.String("webhook", h.cfg.Name),
				zap.String("budget", ev.Budget), zap.Error(err))
			h.tel.AgentcostBudgetAlertsFailed.Add(context.Background(), 1, h.attrs)
			continue
		}
		h.tel.AgentcostBudgetAlertsSent.Add(context.Background(), 1, h.attrs)
		h.settle(ev, outboxDelivered)
	}
}

// settle removes an alert from the owed set and records its final state.
func (h *webhook) settle(ev alertEvent, state uint8) {
	h.mu.Lock()
	delete(h.owed, keyOf(ev))
	h.mu.Unlock()
	if l := h.ext.ledger; l != nil && l.alertsReady.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), h.ext.cfg.ClickHouse.Timeout)
		defer cancel()
		if err := l.outboxWrite(ctx, ev, []string{h.cfg.Name}, state); err != nil {
			h.logger.Warn("webhook alert state not recorded; it may be sent again after a restart",
				zap.String("webhook", h.cfg.Name), zap.String("budget", ev.Budget), zap.Error(err))
		}
	}
}

// payload renders an alert in the webhook's format.
func payload(format string, ev alertEvent) ([]byte, error) {
	if format == FormatSlack {
		return json.Marshal(map[string]string{"text": slackText(ev)})
	}
	return json.Marshal(ev)
}

func slackText(ev alertEvent) string {
	switch ev.Kind {
	case kindProjected:
		return fmt.Sprintf(":hourglass: Budget *%s* is projected to reach its limit of $%s at %s (spend $%s, %.0f%%, window %s).",
			ev.Budget, ev.Limit, ev.ProjectedExhaustion.UTC().Format(time.RFC3339), ev.Spend, ev.Utilization*100, ev.Window)
	default:
		return fmt.Sprintf(":warning: Budget *%s* crossed %g%% of its limit: $%s of $%s (action %s, window %s).",
			ev.Budget, ev.Threshold*100, ev.Spend, ev.Limit, ev.Action, ev.Window)
	}
}

// Sign returns the signature header value for body: "sha256=" and the hex
// HMAC-SHA256 of the body under secret. Receivers recompute it to verify.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// errPermanent marks an answer that retrying cannot fix.
type errPermanent struct{ error }

func (h *webhook) deliver(ctx context.Context, ev alertEvent) error {
	body, err := payload(h.cfg.Format, ev)
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	wait := h.cfg.InitialInterval
	var last error
	for attempt := 0; attempt <= h.cfg.MaxRetries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("gave up after %d attempts (shutting down): %w", attempt, last)
			case <-t.C:
			}
			wait = min(2*wait, h.cfg.MaxInterval)
		}
		last = h.post(ctx, body)
		if last == nil {
			return nil
		}
		if _, ok := last.(errPermanent); ok {
			return last
		}
	}
	return fmt.Errorf("gave up after %d attempts: %w", h.cfg.MaxRetries+1, last)
}

func (h *webhook) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return errPermanent{stripURL(err)}
	}
	req.Header.Set("Content-Type", "application/json")
	if h.cfg.Secret != "" {
		req.Header.Set(h.cfg.SignatureHeader, Sign([]byte(h.cfg.Secret), body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return stripURL(err) // the URL may be a secret (Slack webhooks)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	default:
		return errPermanent{fmt.Errorf("HTTP %d (not retried)", resp.StatusCode)}
	}
}
