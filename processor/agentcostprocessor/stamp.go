package agentcostprocessor

import (
	"context"
	"hash/fnv"
	"os"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/internal/genai"
	"github.com/agentcost/agentcost/internal/spend"
	"github.com/agentcost/agentcost/pricing"
	"github.com/agentcost/agentcost/processor/agentcostprocessor/internal/metadata"
)

var osReadFile = os.ReadFile

// attrsPerBillableSpan is the most attributes finish adds to a billable span.
const attrsPerBillableSpan = 48

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
	s, e := d.idx[i][0], d.idx[i][1]
	if s == e {
		return ""
	}
	return unsafe.String(&d.b[s], int(e-s))
}

// outcome is the cost decision for one billable span.
type outcome struct {
	status, reason, source string
	record                 pricing.Money
	hasRecord              bool
	result                 pricing.Result
	hasResult              bool
	breakdown              bool // write the catalog breakdown
}

// finish stamps identity on a GenAI span and, when it is billable, prices it
// and writes the normalised usage, cost and provenance.
func (p *agentcostProcessor) finish(ctx context.Context, s *spanInfo, res *resInfo, ctr *counters) {
	m := s.span.Attributes()
	c := &s.call
	billable := c.Kind.Billable()
	if billable {
		m.EnsureCapacity(m.Len() + attrsPerBillableSpan)
	} else {
		m.EnsureCapacity(m.Len() + 12)
	}

	// Identity.
	id := s.ident
	if id.agent.id == "" {
		id = identity{agent: agentRef{id: res.fallbackID, name: res.fallbackID}, root: res.fallbackID, status: statusFallback}
	}
	if id.root == "" {
		id.root = id.agent.id
	}
	entry, registered := p.reg.Current().Lookup(id.agent.id)
	var idStatus string
	switch id.status {
	case statusInherited:
		idStatus = attrs.IdentityInherited
	case statusFallback:
		idStatus = attrs.IdentityFallback
	default:
		idStatus = attrs.IdentityUnregistered
		if registered {
			idStatus = attrs.IdentityRegistered
		}
	}
	d := &p.cfg.Registry.Defaults
	team, project, bu, cc, owner := d.Team, d.Project, d.BusinessUnit, d.CostCenter, d.Owner
	if registered {
		team, project, bu, cc, owner = entry.Team, entry.Project, entry.BusinessUnit, entry.CostCenter, entry.Owner
	}
	m.PutStr(attrs.AgentID, id.agent.id)
	putNonEmpty(m, attrs.AgentName, id.agent.name)
	putNonEmpty(m, attrs.AgentVersion, id.agent.version)
	m.PutStr(attrs.RootAgentID, id.root)
	putNonEmpty(m, attrs.Team, team)
	putNonEmpty(m, attrs.Project, project)
	putNonEmpty(m, attrs.BusinessUnit, bu)
	putNonEmpty(m, attrs.CostCenter, cc)
	putNonEmpty(m, attrs.Owner, owner)
	m.PutStr(attrs.IdentityStatus, idStatus)
	if registered {
		for _, kv := range entry.LabelAttrs {
			m.PutStr(kv.Key, kv.Value)
		}
	}
	m.PutStr(attrs.Operation, c.Operation)
	if !billable {
		return
	}

	// Dimensions.
	provider := c.Provider
	if np := p.cat.NormalizeProvider(c.Provider); np != "" {
		provider = np
	}
	putNonEmpty(m, attrs.Provider, provider)
	putNonEmpty(m, attrs.RequestModel, c.RequestModel)
	putNonEmpty(m, attrs.ResponseModel, c.ResponseModel)
	putNonEmpty(m, attrs.ServiceTier, c.ServiceTier)
	if c.Batch {
		m.PutBool(attrs.Batch, true)
	}
	putNonEmpty(m, attrs.ToolName, c.ToolName)
	putNonEmpty(m, attrs.UserID, c.UserID)
	putNonEmpty(m, attrs.ConversationID, c.ConversationID)

	var at time.Time
	if ts := s.span.StartTimestamp(); ts != 0 {
		at = ts.AsTime()
	}

	var o outcome
	var u pricing.Usage
	mode := genai.InputInclusive
	if c.Kind == genai.KindTool {
		o = p.priceTool(c, provider, at)
	} else {
		u, mode = c.Usage(p.inputMode(c.Provider, s.scope))
		o = p.priceCall(ctx, c, u, at)
	}
	if c.Kind != genai.KindTool && (o.status != attrs.StatusUsageError || o.hasResult) {
		// Usage as priced (not written when a raw value was unusable).
		m.PutInt(attrs.UsageInputTokens, clampInt(u.InputTokens))
		m.PutInt(attrs.UsageOutputTokens, clampInt(u.OutputTokens))
		m.PutInt(attrs.UsageCacheReadTokens, clampInt(u.CacheReadTokens))
		m.PutInt(attrs.UsageCacheWriteTokens, clampInt(u.CacheWriteTokens))
		if u.CacheWrite1hTokens > 0 {
			m.PutInt(attrs.UsageCacheWrite1hTokens, clampInt(u.CacheWrite1hTokens))
		}
		m.PutInt(attrs.UsageReasoningTokens, clampInt(u.ReasoningTokens))
		m.PutStr(attrs.UsageInputMode, mode.String())
	}

	// Decimal strings, one buffer.
	var db decBuf
	db.b = make([]byte, 0, 24*9+16)
	iTotal, iIn, iCR, iCW, iOut, iReas, iOther, iRep, iCat, iHash := -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
	if o.hasRecord {
		iTotal = db.money(o.record)
	}
	if o.breakdown {
		r := &o.result
		iIn, iCR, iCW, iOut, iReas, iOther = db.money(r.Input), db.money(r.CacheRead), db.money(r.CacheWrite), db.money(r.Output), db.money(r.Reasoning), db.money(r.Other)
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
	putIdx(m, attrs.CostTotal, &db, iTotal)
	putIdx(m, attrs.CostInput, &db, iIn)
	putIdx(m, attrs.CostCacheRead, &db, iCR)
	putIdx(m, attrs.CostCacheWrite, &db, iCW)
	putIdx(m, attrs.CostOutput, &db, iOut)
	putIdx(m, attrs.CostReasoning, &db, iReas)
	putIdx(m, attrs.CostOther, &db, iOther)
	putIdx(m, attrs.CostReported, &db, iRep)
	putIdx(m, attrs.CostCatalog, &db, iCat)
	putIdx(m, attrs.ToolCallHash, &db, iHash)
	m.PutStr(attrs.CostStatus, o.status)
	putNonEmpty(m, attrs.CostReason, o.reason)
	putNonEmpty(m, attrs.CostSource, o.source)
	if o.hasRecord || o.status == attrs.StatusNotBillable {
		m.PutStr(attrs.Currency, "USD")
	}
	if o.hasRecord && (!c.HasUsageCost || p.cfg.Overwrite) {
		m.PutDouble(attrs.GenAIUsageCost, o.record.Float64())
	}
	if o.hasResult {
		r := &o.result
		putNonEmpty(m, attrs.PricingProvider, r.Provider)
		putNonEmpty(m, attrs.PricingModel, r.Model)
		putNonEmpty(m, attrs.PricingPriceID, r.PriceID)
		if r.Match != pricing.MatchNone {
			m.PutStr(attrs.PricingMatch, r.Match.String())
		}
	}
	m.PutStr(attrs.PricingCatalogVersion, p.cat.Version())

	ctr.add(o.status, o.reason)
	if o.hasRecord && p.accruer != nil && (o.status == attrs.StatusPriced || o.status == attrs.StatusProviderReported) {
		model := c.ResponseModel
		if model == "" {
			model = c.RequestModel
		}
		p.accruer.Accrue(spend.Charge{
			Time: at, Cost: o.record, AgentID: id.agent.id, RootAgentID: id.root,
			Team: team, Project: project, BusinessUnit: bu, CostCenter: cc,
			Provider: provider, Model: model,
		})
	}
}

func putNonEmpty(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}

func putIdx(m pcommon.Map, k string, db *decBuf, i int) {
	if i >= 0 {
		m.PutStr(k, db.str(i))
	}
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
			p.noteUnknownModel(ctx, c.Provider, model)
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

// finishHeld stamps and prices a released held span.
func (p *agentcostProcessor) finishHeld(ctx context.Context, hs *heldSpan) {
	rs := hs.td.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	var s spanInfo
	s.span, s.scope = ss.Spans().At(0), ss.Scope().Name()
	p.fillSpan(&s, s.span)
	s.ident = hs.ident
	res := resInfo{fallbackID: hs.fallbackID}
	var ctr counters
	p.finish(ctx, &s, &res, &ctr)
	ctr.flush(ctx, p.tb)
}

// counters aggregates a batch's outcomes so metrics are recorded once per
// batch and reason.
type counters struct {
	rows []counterRow
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

func (c *counters) reset() { c.rows = c.rows[:0] }

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
	c.reset()
}

func metricAttrs1(k, v string) metric.AddOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String(k, v)))
}

func metricAttrs2(k1, v1, k2, v2 string) metric.AddOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String(k1, v1), attribute.String(k2, v2)))
}
