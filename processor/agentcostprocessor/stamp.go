package agentcostprocessor

import (
	"context"
	"hash/fnv"
	"os"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/internal/genai"
	"github.com/agentcost/agentcost/internal/registry"
	"github.com/agentcost/agentcost/internal/spend"
	"github.com/agentcost/agentcost/pricing"
	"github.com/agentcost/agentcost/processor/agentcostprocessor/internal/metadata"
)

var osReadFile = os.ReadFile

// decBuf holds all decimal and hex strings of one span in one allocation;
// the strings are views into it (it is never written again once viewed).
type decBuf struct {
	b   []byte
	idx [12][2]int32
	n   int
}

func (d *decBuf) money(m pricing.Money) int {
	st := len(d.b)
	d.b = m.AppendText(d.b)
	d.idx[d.n] = [2]int32{int32(st), int32(len(d.b))}
	d.n++
	return d.n - 1
}

// nonZero appends m unless it is zero (then it returns -1: not written).
func (d *decBuf) nonZero(m pricing.Money) int {
	if m.IsZero() {
		return -1
	}
	return d.money(m)
}

func (d *decBuf) hex64(v uint64) int {
	const digits = "0123456789abcdef"
	st := len(d.b)
	for i := 60; i >= 0; i -= 4 {
		d.b = append(d.b, digits[(v>>uint(i))&0xf])
	}
	d.idx[d.n] = [2]int32{int32(st), int32(len(d.b))}
	d.n++
	return d.n - 1
}

func (d *decBuf) str(i int) string {
	if i < 0 {
		return ""
	}
	s, e := d.idx[i][0], d.idx[i][1]
	if s == e {
		return ""
	}
	return unsafe.String(&d.b[s], int(e-s))
}

// outcome is the cost decision for one billable span.
type outcome struct {
	status, reason, source string
	// unknownProvider/unknownModel label an unknown model (metric labels).
	unknownProvider, unknownModel string
	record                        pricing.Money
	hasRecord                     bool
	result                        pricing.Result
	hasResult                     bool
	breakdown                     bool // write the catalog breakdown
}

// stamp is everything finish writes on one span, computed before anything
// is written so that the attribute map grows once, to the exact size: write
// runs twice, first only counting the attributes, then putting them.
type stamp struct {
	id                                     identity
	team, project, bu, cc, owner, idStatus string
	labels                                 []registry.KV
	operation                              string
	billable                               bool
	provider, reqModel, respModel, tier    string
	batch                                  bool
	tool, user, conv                       string
	usage                                  bool
	u                                      pricing.Usage
	mode                                   genai.InputMode
	total, in, cr, cw, out, reas, other    string
	reported, catalog, hash                string
	status, reason, source                 string
	currency, usageCost                    bool
	usageCostValue                         float64
	hasResult                              bool
	priceProvider, priceModel, priceID     string
	match                                  pricing.MatchKind
	catalogVersion                         string
	timeSource                             string // set when the span has no start time
	pricedAt                               int64  // Unix ns, set when it has no end time either
}

// write puts the stamp's attributes through w, in the contract's order.
func (st *stamp) write(w *attrWriter) {
	w.str(attrs.AgentID, st.id.agent.id)
	w.nonEmpty(attrs.AgentName, st.id.agent.name)
	w.nonEmpty(attrs.AgentVersion, st.id.agent.version)
	w.str(attrs.RootAgentID, st.id.root)
	w.nonEmpty(attrs.Team, st.team)
	w.nonEmpty(attrs.Project, st.project)
	w.nonEmpty(attrs.BusinessUnit, st.bu)
	w.nonEmpty(attrs.CostCenter, st.cc)
	w.nonEmpty(attrs.Owner, st.owner)
	w.str(attrs.IdentityStatus, st.idStatus)
	for _, kv := range st.labels {
		w.str(kv.Key, kv.Value)
	}
	w.str(attrs.Operation, st.operation)
	if !st.billable {
		return
	}

	// Dimensions.
	w.nonEmpty(attrs.Provider, st.provider)
	w.nonEmpty(attrs.RequestModel, st.reqModel)
	w.nonEmpty(attrs.ResponseModel, st.respModel)
	w.nonEmpty(attrs.ServiceTier, st.tier)
	if st.batch {
		w.bool(attrs.Batch, true)
	}
	w.nonEmpty(attrs.ToolName, st.tool)
	w.nonEmpty(attrs.UserID, st.user)
	w.nonEmpty(attrs.ConversationID, st.conv)

	if st.usage {
		// Usage as priced (not written when a raw value was unusable).
		// Input and output always; the parts only when non-zero (readers
		// take a missing part as zero).
		u := &st.u
		w.int(attrs.UsageInputTokens, clampInt(u.InputTokens))
		w.int(attrs.UsageOutputTokens, clampInt(u.OutputTokens))
		w.nonZero(attrs.UsageCacheReadTokens, u.CacheReadTokens)
		w.nonZero(attrs.UsageCacheWriteTokens, u.CacheWriteTokens)
		w.nonZero(attrs.UsageCacheWrite1hTokens, u.CacheWrite1hTokens)
		w.nonZero(attrs.UsageReasoningTokens, u.ReasoningTokens)
		w.str(attrs.UsageInputMode, st.mode.String())
	}

	w.nonEmpty(attrs.CostTotal, st.total)
	w.nonEmpty(attrs.CostInput, st.in)
	w.nonEmpty(attrs.CostCacheRead, st.cr)
	w.nonEmpty(attrs.CostCacheWrite, st.cw)
	w.nonEmpty(attrs.CostOutput, st.out)
	w.nonEmpty(attrs.CostReasoning, st.reas)
	w.nonEmpty(attrs.CostOther, st.other)
	w.nonEmpty(attrs.CostReported, st.reported)
	w.nonEmpty(attrs.CostCatalog, st.catalog)
	w.nonEmpty(attrs.ToolCallHash, st.hash)
	w.str(attrs.CostStatus, st.status)
	w.nonEmpty(attrs.CostReason, st.reason)
	w.nonEmpty(attrs.CostSource, st.source)
	if st.currency {
		w.str(attrs.Currency, "USD")
	}
	if st.usageCost {
		w.double(attrs.GenAIUsageCost, st.usageCostValue)
	}
	if st.hasResult {
		w.nonEmpty(attrs.PricingProvider, st.priceProvider)
		w.nonEmpty(attrs.PricingModel, st.priceModel)
		w.nonEmpty(attrs.PricingPriceID, st.priceID)
		if st.match != pricing.MatchNone {
			w.str(attrs.PricingMatch, st.match.String())
		}
	}
	w.str(attrs.PricingCatalogVersion, st.catalogVersion)
	if st.timeSource != "" {
		w.str(attrs.PricingTimeSource, st.timeSource)
		if st.timeSource == attrs.PricingTimeProcessing {
			w.int(attrs.PricingTime, st.pricedAt)
		}
	}
}

// finish stamps identity on a GenAI span and, when it is billable, prices it
// and writes the normalised usage, cost and provenance.
func (p *agentcostProcessor) finish(ctx context.Context, s *spanInfo, res *resInfo, ctr *counters, w *attrWriter, buf *[]byte) {
	c := &s.call
	var st stamp
	st.billable = c.Kind.Billable()
	defer func() {
		m := s.span.Attributes()
		w.counting, w.n = true, 0
		st.write(w)
		m.EnsureCapacity(m.Len() + w.n)
		w.counting, w.m = false, m
		st.write(w)
		w.m = pcommon.Map{}
	}()

	// Identity.
	st.id = s.ident
	id := &st.id
	if id.agent.id == "" {
		*id = identity{agent: agentRef{id: res.fallbackID, name: res.fallbackID}, root: res.fallbackID, status: statusFallback}
	}
	if id.root == "" {
		id.root = id.agent.id
	}
	entry, registered := p.reg.Current().Lookup(id.agent.id)
	switch id.status {
	case statusInherited:
		st.idStatus = attrs.IdentityInherited
	case statusFallback:
		st.idStatus = attrs.IdentityFallback
	default:
		st.idStatus = attrs.IdentityUnregistered
		if registered {
			st.idStatus = attrs.IdentityRegistered
		}
	}
	d := &p.cfg.Registry.Defaults
	st.team, st.project, st.bu, st.cc, st.owner = d.Team, d.Project, d.BusinessUnit, d.CostCenter, d.Owner
	if registered {
		st.team, st.project, st.bu, st.cc, st.owner = entry.Team, entry.Project, entry.BusinessUnit, entry.CostCenter, entry.Owner
		st.labels = entry.LabelAttrs
	}
	st.operation = c.Operation
	if !st.billable {
		return
	}

	// Dimensions.
	st.provider = c.Provider
	if np := p.cat.NormalizeProvider(c.Provider); np != "" {
		st.provider = np
	}
	st.reqModel, st.respModel, st.tier, st.batch = c.RequestModel, c.ResponseModel, c.ServiceTier, c.Batch
	st.tool, st.user, st.conv = c.ToolName, c.UserID, c.ConversationID

	// Priced at the start time; without one at the end time (where the
	// exporter places the row), without both at the processor's clock,
	// which the span then carries. Never at year 1.
	var at time.Time
	if ts := s.span.StartTimestamp(); ts != 0 {
		at = ts.AsTime()
	} else if ts := s.span.EndTimestamp(); ts != 0 {
		at, st.timeSource = ts.AsTime(), attrs.PricingTimeEnd
	} else {
		at = s.arrived.UTC()
		if s.arrived.IsZero() {
			at = time.Now().UTC()
		}
		st.timeSource, st.pricedAt = attrs.PricingTimeProcessing, at.UnixNano()
	}

	var o outcome
	st.mode = genai.InputInclusive
	if c.Kind == genai.KindTool {
		o = p.priceTool(c, st.provider, at)
	} else {
		st.u, st.mode = c.Usage(p.inputMode(c.Provider, s.scope))
		o = p.priceCall(ctx, c, st.u, at)
		st.usage = o.status != attrs.StatusUsageError || o.hasResult
	}

	// Decimal strings, one buffer.
	// The strings view *buf, a per-batch buffer that is only ever appended
	// to (bytes once viewed are never written again; a new batch gets a
	// new buffer).
	var db decBuf
	if cap(*buf)-len(*buf) < 10*24 {
		*buf = make([]byte, 0, 64*10*24)
	}
	db.b = *buf
	iTotal, iIn, iCR, iCW, iOut, iReas, iOther, iRep, iCat, iHash := -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
	if o.hasRecord {
		iTotal = db.money(o.record)
	}
	if o.breakdown {
		// Input and output always; the other parts only when non-zero.
		r := &o.result
		if c.Kind != genai.KindTool {
			iIn, iOut = db.money(r.Input), db.money(r.Output)
		}
		iCR, iCW, iReas, iOther = db.nonZero(r.CacheRead), db.nonZero(r.CacheWrite), db.nonZero(r.Reasoning), db.nonZero(r.Other)
	}
	if c.HasReportedCost {
		iRep = db.money(c.ReportedCost)
	}
	if o.hasResult && o.result.Status == pricing.StatusPriced && o.source == attrs.SourceProviderReported {
		iCat = db.money(o.result.Total)
	}
	if c.ToolArguments != "" {
		h := fnv.New64a()
		_, _ = h.Write(unsafe.Slice(unsafe.StringData(c.ToolArguments), len(c.ToolArguments)))
		iHash = db.hex64(h.Sum64())
	}
	*buf = db.b
	st.total, st.in, st.cr, st.cw, st.out = db.str(iTotal), db.str(iIn), db.str(iCR), db.str(iCW), db.str(iOut)
	st.reas, st.other, st.reported, st.catalog, st.hash = db.str(iReas), db.str(iOther), db.str(iRep), db.str(iCat), db.str(iHash)
	st.status, st.reason, st.source = o.status, o.reason, o.source
	st.currency = o.hasRecord || o.status == attrs.StatusNotBillable
	if o.hasRecord && (!c.HasUsageCost || p.cfg.Overwrite) {
		st.usageCost, st.usageCostValue = true, o.record.Float64()
	}
	if o.hasResult {
		r := &o.result
		st.hasResult = true
		st.priceProvider, st.priceModel, st.priceID, st.match = r.Provider, r.Model, r.PriceID, r.Match
	}
	st.catalogVersion = p.cat.Version()

	ctr.add(o.status, o.reason)
	if o.unknownModel != "" {
		ctr.addUnknown(o.unknownProvider, o.unknownModel)
	}
	if o.hasRecord && p.accruer != nil && (o.status == attrs.StatusPriced || o.status == attrs.StatusProviderReported) {
		model := c.ResponseModel
		if model == "" {
			model = c.RequestModel
		}
		// Accrued once downstream accepts the batch (commit.go).
		ctr.collectCharge(spend.Charge{
			Time: at, Cost: o.record, AgentID: id.agent.id, RootAgentID: id.root,
			Team: st.team, Project: st.project, BusinessUnit: st.bu, CostCenter: st.cc,
			Provider: st.provider, Model: model,
		})
	}
}

// attrWriter writes a span's new attributes. In counting mode it only
// counts them (so the map grows once, to the exact size); otherwise it puts
// them into m.
type attrWriter struct {
	m        pcommon.Map
	n        int
	counting bool
}

func (w *attrWriter) str(k, v string) {
	if w.counting {
		w.n++
		return
	}
	w.m.PutStr(k, v)
}

func (w *attrWriter) nonEmpty(k, v string) {
	if v != "" {
		w.str(k, v)
	}
}

func (w *attrWriter) int(k string, v int64) {
	if w.counting {
		w.n++
		return
	}
	w.m.PutInt(k, v)
}

func (w *attrWriter) nonZero(k string, v uint64) {
	if v != 0 {
		w.int(k, clampInt(v))
	}
}

func (w *attrWriter) double(k string, v float64) {
	if w.counting {
		w.n++
		return
	}
	w.m.PutDouble(k, v)
}

func (w *attrWriter) bool(k string, v bool) {
	if w.counting {
		w.n++
		return
	}
	w.m.PutBool(k, v)
}

func clampInt(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}

// inputMode picks the input-token mode: scope override, then provider
// override, then the default.
func (p *agentcostProcessor) inputMode(provider, scope string) genai.InputMode {
	if len(p.inputScopes) > 0 {
		if m, ok := p.inputScopes[scope]; ok {
			return m
		}
	}
	if len(p.inputProviders) > 0 {
		if m, ok := p.inputProviders[provider]; ok {
			return m
		}
	}
	return p.inputDefault
}

// priceCall decides the cost of a model or embedding call.
func (p *agentcostProcessor) priceCall(ctx context.Context, c *genai.Call, u pricing.Usage, at time.Time) outcome {
	if prob, _ := c.UsageProblem(); prob != genai.ProblemNone {
		return outcome{status: attrs.StatusUsageError, reason: prob.String()}
	}
	if !c.HasUsage() && !c.HasReportedCost {
		return outcome{status: attrs.StatusNotBillable, reason: "no_usage"}
	}
	model := c.ResponseModel
	if model == "" {
		model = c.RequestModel
	}
	q := pricing.Query{Provider: c.Provider, Model: model, ServerAddress: c.ServerAddress, ServiceTier: c.ServiceTier, Batch: c.Batch, At: at}
	r := p.cat.Price(q, u)
	if r.Status == pricing.StatusUnpriced && c.RequestModel != "" && c.RequestModel != model {
		q.Model = c.RequestModel
		if r2 := p.cat.Price(q, u); r2.Status != pricing.StatusUnpriced {
			r = r2
		}
	}
	o := outcome{result: r, hasResult: true}
	switch r.Status {
	case pricing.StatusUsageError:
		o.status, o.reason = attrs.StatusUsageError, r.Reason
	case pricing.StatusUnpriced:
		if r.Reason == "unknown_model" || r.Reason == "unknown_provider" {
			o.unknownProvider, o.unknownModel = p.noteUnknownModel(c.Provider, model)
		}
		if c.HasReportedCost {
			o.status, o.reason, o.source = attrs.StatusProviderReported, r.Reason, attrs.SourceProviderReported
			o.record, o.hasRecord = c.ReportedCost, true
		} else {
			o.status, o.reason = attrs.StatusUnpriced, r.Reason
		}
	default:
		if p.recordReported && c.HasReportedCost {
			o.status, o.source = attrs.StatusProviderReported, attrs.SourceProviderReported
			o.record, o.hasRecord = c.ReportedCost, true
		} else {
			o.status, o.source = attrs.StatusPriced, attrs.SourceCatalog
			o.record, o.hasRecord, o.breakdown = r.Total, true, true
		}
	}
	return o
}

// priceTool decides the cost of a tool call: a per-call price from the
// config, else from the catalog, else not billable with zero cost.
func (p *agentcostProcessor) priceTool(c *genai.Call, provider string, at time.Time) outcome {
	if c.ToolName != "" {
		if price, ok := p.toolPrices[c.ToolName]; ok {
			return outcome{status: attrs.StatusPriced, source: attrs.SourceCatalog, record: price, hasRecord: true,
				result: pricing.Result{Other: price, Total: price, PriceID: "config/tool_prices/" + c.ToolName, Status: pricing.StatusPriced}, hasResult: true, breakdown: true}
		}
		if price, id, ok := p.cat.ToolPrice(provider, c.ToolName, at); ok {
			return outcome{status: attrs.StatusPriced, source: attrs.SourceCatalog, record: price, hasRecord: true,
				result: pricing.Result{Other: price, Total: price, PriceID: id, Provider: provider, Status: pricing.StatusPriced}, hasResult: true, breakdown: true}
		}
	}
	return outcome{status: attrs.StatusNotBillable, reason: "no_tool_price", source: attrs.SourceCatalog, hasRecord: true}
}

// finishHeld stamps and prices td, a copy of the released held span hs.
func (p *agentcostProcessor) finishHeld(ctx context.Context, hs *heldSpan, td ptrace.Traces, ctr *counters) {
	rs := td.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	var s spanInfo
	s.span, s.scope = ss.Spans().At(0), ss.Scope().Name()
	p.fillSpan(&s, s.span)
	s.ident, s.arrived = hs.ident, hs.arrived
	res := resInfo{fallbackID: hs.fallbackID}
	w := new(attrWriter)
	var buf []byte
	p.finish(ctx, &s, &res, ctr, w, &buf)
}

// counters aggregates a batch's outcomes so metrics are recorded once per
// batch and reason.
type counters struct {
	rows    []counterRow
	unknown []counterRow   // unknown models: status is the provider, reason the model
	charges []spend.Charge // budget charges, accrued after downstream accepts
}

type counterRow struct {
	status, reason string
	n              int64
}

func (c *counters) add(status, reason string) {
	for i := range c.rows {
		if c.rows[i].status == status && c.rows[i].reason == reason {
			c.rows[i].n++
			return
		}
	}
	c.rows = append(c.rows, counterRow{status, reason, 1})
}

func (c *counters) addUnknown(provider, model string) {
	for i := range c.unknown {
		if c.unknown[i].status == provider && c.unknown[i].reason == model {
			c.unknown[i].n++
			return
		}
	}
	c.unknown = append(c.unknown, counterRow{provider, model, 1})
}

func (c *counters) reset() {
	c.rows = c.rows[:0]
	c.unknown = c.unknown[:0]
	clear(c.charges)
	c.charges = c.charges[:0]
}

func (c *counters) flush(ctx context.Context, tb *metadata.TelemetryBuilder) {
	for _, r := range c.rows {
		switch r.status {
		case attrs.StatusPriced, attrs.StatusProviderReported:
			tb.AgentcostSpansPriced.Add(ctx, r.n, metricAttrs1("status", r.status))
		case attrs.StatusUnpriced:
			tb.AgentcostSpansUnpriced.Add(ctx, r.n, metricAttrs1("reason", r.reason))
		case attrs.StatusUsageError:
			tb.AgentcostSpansUsageError.Add(ctx, r.n, metricAttrs1("reason", r.reason))
		case attrs.StatusNotBillable:
			tb.AgentcostSpansNotBillable.Add(ctx, r.n, metricAttrs1("reason", r.reason))
		}
	}
	for _, r := range c.unknown {
		tb.AgentcostUnknownModels.Add(ctx, r.n, metricAttrs2("provider", r.status, "model", r.reason))
	}
	c.rows = c.rows[:0]
	c.unknown = c.unknown[:0]
}

func metricAttrs1(k, v string) metric.AddOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String(k, v)))
}

func metricAttrs2(k1, v1, k2, v2 string) metric.AddOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String(k1, v1), attribute.String(k2, v2)))
}
