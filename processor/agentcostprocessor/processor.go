package agentcostprocessor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.uber.org/zap"

	"github.com/agentcost/agentcost/internal/genai"
	"github.com/agentcost/agentcost/internal/registry"
	"github.com/agentcost/agentcost/internal/spend"
	"github.com/agentcost/agentcost/pricing"
	"github.com/agentcost/agentcost/processor/agentcostprocessor/internal/metadata"
)

type agentcostProcessor struct {
	cfg    *Config
	logger *zap.Logger
	next   consumer.Traces
	tb     *metadata.TelemetryBuilder

	// Set in start, read-only afterwards.
	cat     *pricing.Catalog
	reg     *registry.Watcher
	accruer spend.Accruer

	// Derived from the config at creation, read-only.
	toolPrices     map[string]pricing.Money
	inputDefault   genai.InputMode
	inputProviders map[string]genai.InputMode
	inputScopes    map[string]genai.InputMode
	recordReported bool

	hold  *holder // nil when holding is off
	id    component.ID
	store *holdStore // set in start when hold.storage is configured

	scratch sync.Pool

	unknownMu    sync.Mutex
	unknown      map[string]struct{}
	unknownCount atomic.Int64

	// Hold-release goroutine.
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

func newProcessor(set processor.Settings, cfg *Config, next consumer.Traces) (*agentcostProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &agentcostProcessor{
		cfg:            cfg,
		logger:         set.Logger,
		next:           next,
		tb:             tb,
		toolPrices:     make(map[string]pricing.Money, len(cfg.ToolPrices)),
		inputProviders: make(map[string]genai.InputMode, len(cfg.InputTokens.Providers)),
		inputScopes:    make(map[string]genai.InputMode, len(cfg.InputTokens.Scopes)),
		recordReported: cfg.CostOfRecord == recordReported,
		unknown:        make(map[string]struct{}),
		id:             set.ID,
	}
	p.inputDefault, _ = genai.ParseInputMode(cfg.InputTokens.Mode)
	for k, v := range cfg.InputTokens.Providers {
		p.inputProviders[k], _ = genai.ParseInputMode(v)
	}
	for k, v := range cfg.InputTokens.Scopes {
		p.inputScopes[k], _ = genai.ParseInputMode(v)
	}
	for k, v := range cfg.ToolPrices {
		m, err := pricing.ParseMoney(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("`tool_prices.%s`: %w", k, err)
		}
		p.toolPrices[k] = m
	}
	if cfg.Hold.Wait > 0 {
		p.hold = newHolder(cfg.Hold)
	}
	p.scratch.New = func() any { return newScratch() }
	return p, nil
}

func (p *agentcostProcessor) start(ctx context.Context, host component.Host) error {
	var (
		cat *pricing.Catalog
		err error
	)
	switch {
	case !p.cfg.DefaultCatalog:
		layers := make([][]byte, 0, len(p.cfg.Catalogs))
		for _, path := range p.cfg.Catalogs {
			b, rerr := readFile(path)
			if rerr != nil {
				return fmt.Errorf("`catalogs`: load pricing catalog %q: %w", path, rerr)
			}
			layers = append(layers, b)
		}
		cat, err = pricing.Parse(layers...)
	default:
		cat, err = pricing.Load(p.cfg.Catalogs...)
	}
	if err != nil {
		return fmt.Errorf("`catalogs`: %w", err)
	}
	p.cat = cat

	if p.cfg.Budget != nil {
		ext, ok := host.GetExtensions()[*p.cfg.Budget]
		if !ok {
			return fmt.Errorf("`budget`: extension %q is not configured in the service", p.cfg.Budget.String())
		}
		acc, ok := ext.(spend.Accruer)
		if !ok {
			return fmt.Errorf("`budget`: extension %q does not accept charges (it does not implement spend.Accruer)", p.cfg.Budget.String())
		}
		p.accruer = acc
	}

	if p.cfg.Hold.Storage != nil && p.hold != nil {
		if err := p.openStore(ctx, host); err != nil {
			return err
		}
	}

	if path := p.cfg.Registry.Path; path != "" {
		w, err := registry.NewWatcher(path, p.cfg.Registry.ReloadInterval, p.logger)
		if err != nil {
			return fmt.Errorf("`registry.path`: %w", err)
		}
		w.OnReload = func(err error) {
			if err != nil {
				p.tb.AgentcostRegistryReloadFailures.Add(context.Background(), 1)
				return
			}
			p.tb.AgentcostRegistryReloads.Add(context.Background(), 1)
		}
		p.reg = w
		w.Start()
	}

	if p.hold != nil {
		lctx, cancel := context.WithCancel(context.Background())
		p.cancel, p.done = cancel, make(chan struct{})
		go p.releaseLoop(lctx)
	}
	p.logger.Info("agentcost processor started",
		zap.String("catalog_version", cat.Version()),
		zap.Duration("hold_wait", p.cfg.Hold.Wait),
		zap.Bool("registry", p.reg != nil),
		zap.Bool("budget", p.accruer != nil),
		zap.Bool("hold_storage", p.store != nil))
	return nil
}

// openStore opens the hold.storage client and holds again the spans an
// earlier run left in it.
func (p *agentcostProcessor) openStore(ctx context.Context, host component.Host) error {
	st, err := openHoldStore(ctx, host, *p.cfg.Hold.Storage, p.id, p.logger, p.tb)
	if err != nil {
		return err
	}
	p.store = st // closed by shutdown, even if loading fails
	spans, maxSeq, corrupt, err := st.load(ctx)
	if corrupt > 0 {
		p.tb.AgentcostHoldRecordsCorrupt.Add(ctx, int64(corrupt))
	}
	if err != nil {
		return fmt.Errorf("`hold.storage`: load held spans: %w", err)
	}
	p.hold.durable = true
	overflow := p.hold.restore(spans, maxSeq, p.hold.now())
	if len(spans) > 0 {
		p.tb.AgentcostSpansRestored.Add(ctx, int64(len(spans)))
		p.tb.AgentcostSpansHeldCurrent.Add(ctx, int64(len(spans)))
	}
	if len(spans) > 0 || corrupt > 0 {
		p.logger.Info("held spans restored from `hold.storage`",
			zap.Int("spans", len(spans)), zap.Int("beyond_hold_bounds", overflow), zap.Int("corrupt_deleted", corrupt))
	}
	return nil
}

// shutdown stops the release goroutine and the registry watcher, then sends
// every held span downstream with the best identity known. It works when
// start never ran.
func (p *agentcostProcessor) shutdown(ctx context.Context) error {
	var err error
	p.stopOnce.Do(func() {
		if p.cancel != nil {
			p.cancel()
			<-p.done
		}
		p.reg.Stop()
		if p.hold != nil {
			err = p.flushHeld(ctx)
		}
		if p.store != nil {
			err = errors.Join(err, p.store.close(ctx))
		}
		p.tb.Shutdown()
	})
	return err
}

// releaseLoop releases held spans whose wait ran out. It runs on its own
// goroutine with its own context until shutdown.
func (p *agentcostProcessor) releaseLoop(ctx context.Context) {
	defer close(p.done)
	tick := p.cfg.Hold.Wait / 4
	tick = min(max(tick, 10*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			// The send is not cancelled by shutdown: shutdown waits for it,
			// then flushes what is still held.
			if err := p.releaseExpired(context.WithoutCancel(ctx), now, false, false); err != nil {
				p.logger.Warn("sending held spans downstream failed", zap.Error(err))
			}
		}
	}
}

// processTraces is the processorhelper callback. Its effects on the hold
// buffer, the self-metrics and the budgets are left in the scratch for
// committingTraces to commit once downstream accepts the batch (commit.go).
func (p *agentcostProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	sc, _ := ctx.Value(batchKey{}).(*scratch)
	if sc == nil {
		return td, errNoBatch
	}

	p.extract(sc, td)
	p.resolveInBatch(sc)

	if p.hold != nil && len(p.hold.restored) > 0 {
		p.hold.dropRestored(sc)
	}

	var released []heldSpan
	if p.hold != nil && (sc.pending > 0 || sc.remember > 0 || sc.rootPending > 0 || p.hold.active()) {
		released, _, sc.tx.overflow = p.hold.process(sc, td)
		sc.tx.released = append(sc.tx.released, released...)
		// The records of newly held spans are written before the batch
		// goes downstream: a failure refuses the batch (committingTraces
		// rolls it back).
		if len(sc.tx.stored) > 0 {
			if err := p.store.write(ctx, sc.tx.stored); err != nil {
				return td, err
			}
			sc.tx.written = true
		}
	}

	for i := range sc.spans {
		s := &sc.spans[i]
		if s.action == actStamp {
			p.finish(ctx, s, &sc.res[s.res], &sc.ctr, &sc.w, &sc.buf)
		}
	}
	if sc.held > 0 || sc.dups > 0 {
		removeHeld(td, sc)
	}
	for i := range released {
		// Stamp a copy: the span as received goes back to the holder if
		// downstream refuses the batch.
		rtd := ptrace.NewTraces()
		released[i].td.CopyTo(rtd)
		p.finishHeld(ctx, &released[i], rtd, &sc.ctr)
		rtd.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	if td.SpanCount() == 0 {
		return td, processorhelper.ErrSkipProcessingData
	}
	return td, nil
}

// extract fills the scratch with one entry per span: its GenAI content,
// ids, own identity, and the batch index.
func (p *agentcostProcessor) extract(sc *scratch, td ptrace.Traces) {
	rss := td.ResourceSpans()
	n := td.SpanCount()
	sc.grow(n)
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sc.res = append(sc.res, p.resourceInfo(rs.Resource()))
		ri := int32(len(sc.res) - 1)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := ss.Scope().Name()
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				// grow made room for every span of td, and the entries past
				// len are zero (fresh, or cleared by reset): no re-zeroing.
				sc.spans = sc.spans[:len(sc.spans)+1]
				s := &sc.spans[len(sc.spans)-1]
				s.span, s.res, s.scope = span, ri, scope
				s.rsIdx, s.ssIdx = int32(i), int32(j)
				p.fillSpan(s, span)
				sc.index.put(sc.spans, int32(len(sc.spans)-1))
				if remembered(s) {
					sc.remember++
				}
			}
		}
	}
}

// fillSpan extracts one span's content and own identity.
func (p *agentcostProcessor) fillSpan(s *spanInfo, span ptrace.Span) {
	attrs := span.Attributes()
	genai.Extract(&s.call, span.Name(), attrs)
	s.trace, s.id, s.parent = span.TraceID(), span.SpanID(), span.ParentSpanID()
	s.top = isTop(span)
	s.own = agentRef{id: s.call.AgentID, name: s.call.AgentName, version: s.call.AgentVersion}
	for _, k := range p.cfg.Identity.AgentIDKeys {
		if v, ok := attrs.Get(k); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			s.own.id = v.Str()
			if s.own.name == "" {
				s.own.name = s.own.id
			}
			break
		}
	}
	switch {
	case s.call.Kind == genai.KindNone:
		s.action = actNone
	case s.call.HasAgentcostKeys && !p.cfg.Overwrite:
		s.action = actNone // priced upstream: leave it
	default:
		s.action = actStamp
	}
}

// isTop reports whether nothing above span can be in this trace's local
// tree: no parent, a remote parent, or a server/consumer span (whose parent
// lives in another service).
func isTop(span ptrace.Span) bool {
	if span.ParentSpanID().IsEmpty() {
		return true
	}
	const hasIsRemote, isRemote = 0x100, 0x200
	if f := span.Flags(); f&hasIsRemote != 0 && f&isRemote != 0 {
		return true
	}
	k := span.Kind()
	return k == ptrace.SpanKindServer || k == ptrace.SpanKindConsumer
}

// resourceInfo computes a resource's fallback agent id.
func (p *agentcostProcessor) resourceInfo(res pcommon.Resource) resInfo {
	attrs := res.Attributes()
	for _, k := range p.cfg.Identity.ResourceAgentIDKeys {
		if v, ok := attrs.Get(k); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			return resInfo{fallbackID: v.Str()}
		}
	}
	if p.cfg.Identity.ServiceNameFallback {
		if v, ok := attrs.Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			return resInfo{fallbackID: v.Str()}
		}
	}
	return resInfo{fallbackID: p.cfg.Identity.FallbackAgentID}
}

// resolveInBatch gives every span to stamp an identity from its own
// attributes or its ancestors in this batch; billable spans whose ancestry
// leaves the batch without an answer are marked pending (holding decides).
func (p *agentcostProcessor) resolveInBatch(sc *scratch) {
	for i := range sc.spans {
		s := &sc.spans[i]
		if s.action != actStamp {
			continue
		}
		w := sc.ancestors(s)
		switch {
		case s.own.id != "":
			s.ident = identity{agent: s.own, root: s.own.id, status: statusOwn}
			if w.outer.id != "" {
				s.ident.root = w.outer.id
			}
			if !w.complete && p.hold != nil {
				// Never held; an outer agent remembered from an earlier
				// batch may still give the root (holder.process).
				s.rootPending = true
				sc.rootPending++
			}
		case w.complete || p.hold == nil || !s.call.Kind.Billable():
			s.ident = identityFrom(w, sc.res[s.res].fallbackID)
		default:
			s.action = actPending
			sc.pending++
		}
	}
}

// identityFrom is the identity a walk found, or the fallback.
func identityFrom(w walkResult, fallbackID string) identity {
	if w.nearest.id != "" {
		return identity{agent: w.nearest, root: w.outer.id, status: statusInherited}
	}
	return identity{agent: agentRef{id: fallbackID, name: fallbackID}, root: fallbackID, status: statusFallback}
}

// removeHeld drops the spans now held from td, and empty containers.
func removeHeld(td ptrace.Traces, sc *scratch) {
	idx := 0
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(func(ptrace.Span) bool {
				held := sc.spans[idx].action >= actHeld // held or a duplicate
				idx++
				return held
			})
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
}

func (p *agentcostProcessor) putScratch(sc *scratch) {
	sc.reset()
	p.scratch.Put(sc)
}

// noteUnknownModel warns once per unknown provider/model pair and returns
// the pair's labels for the unknown-models metric (bounded: "other" past
// unknown_models_limit pairs); the metric is recorded with the batch's
// other counts once the batch is accepted downstream.
func (p *agentcostProcessor) noteUnknownModel(provider, model string) (string, string) {
	key := provider + "\x00" + model
	p.unknownMu.Lock()
	_, seen := p.unknown[key]
	full := len(p.unknown) >= p.cfg.UnknownModelsLimit
	if !seen && !full {
		p.unknown[key] = struct{}{}
	}
	p.unknownMu.Unlock()
	switch {
	case seen:
	case full:
		model, provider = "other", "other"
	default:
		p.logger.Warn("unknown model: spans are marked unpriced; add it to a pricing catalog layer",
			zap.String("provider", provider), zap.String("model", model))
	}
	return provider, model
}

func readFile(path string) ([]byte, error) { return osReadFile(path) }
