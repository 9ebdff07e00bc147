package agentcostclickhouseexporter

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/pricing"
)

// String columns filled from span attributes, in insert order. The column
// names are the schema contract (schema/migrations/0001).
var strColumns = [...]struct{ column, attr string }{
	{"agent_id", attrs.AgentID},
	{"agent_name", attrs.AgentName},
	{"agent_version", attrs.AgentVersion},
	{"root_agent_id", attrs.RootAgentID},
	{"team", attrs.Team},
	{"project", attrs.Project},
	{"business_unit", attrs.BusinessUnit},
	{"cost_center", attrs.CostCenter},
	{"user_id", attrs.UserID},
	{"conversation_id", attrs.ConversationID},
	{"operation", attrs.Operation},
	{"provider", attrs.Provider},
	{"request_model", attrs.RequestModel},
	{"response_model", attrs.ResponseModel},
	{"pricing_model", attrs.PricingModel},
	{"tool_name", attrs.ToolName},
	{"tool_call_hash", attrs.ToolCallHash},
	{"service_tier", attrs.ServiceTier},
	{"currency", attrs.Currency},
	{"cost_status", attrs.CostStatus},
	{"cost_reason", attrs.CostReason},
	{"cost_source", attrs.CostSource},
	{"price_id", attrs.PricingPriceID},
	{"catalog_version", attrs.PricingCatalogVersion},
	{"identity_status", attrs.IdentityStatus},
}

const nStr = len(strColumns)

// Indexes into strColumns used by the converter.
const (
	strCurrency   = 18
	strCostStatus = 19
	strCostReason = 20
)

var tokenColumns = [...]struct{ column, attr string }{
	{"input_tokens", attrs.UsageInputTokens},
	{"output_tokens", attrs.UsageOutputTokens},
	{"cache_read_tokens", attrs.UsageCacheReadTokens},
	{"cache_write_tokens", attrs.UsageCacheWriteTokens},
	{"reasoning_tokens", attrs.UsageReasoningTokens},
}

const nTok = len(tokenColumns)

// Cost columns: the exporter sends exact pico-USD integers, split in two
// 64-bit words, into the EPHEMERAL *_pico (low word) and *_pico_hi (high
// word, schema migration 0006) columns; the server derives the
// Decimal(38, 12) columns as (hi * 2^64 + lo) * 10^-12, exact. Two UInt64
// columns keep the insert path free of per-value allocations (the driver's
// UInt128 and Decimal columns take *big.Int / decimal.Decimal values); the
// high words are almost always 0 and cost next to nothing once compressed.
var costColumns = [...]struct{ column, attr string }{
	{"input_cost_pico", attrs.CostInput},
	{"cache_read_cost_pico", attrs.CostCacheRead},
	{"cache_write_cost_pico", attrs.CostCacheWrite},
	{"output_cost_pico", attrs.CostOutput},
	{"reasoning_cost_pico", attrs.CostReasoning},
	{"other_cost_pico", attrs.CostOther},
	{"total_cost_pico", attrs.CostTotal},
}

const (
	nCost     = len(costColumns)
	costTotal = nCost - 1
	// hiSuffix names the high-word column of a *_pico column.
	hiSuffix = "_hi"
)

// maxCost is the largest cost a Decimal(38, 12) column holds
// (10^26 - 10^-12 USD). A larger cost is kept as usage_error.
var maxCost = pricing.MustParseMoney("99999999999999999999999999.999999999999")

// Resource attributes read for every row.
const (
	resServiceName    = "service.name"
	resEnvironment    = "deployment.environment.name"
	resEnvironmentOld = "deployment.environment"
)

// Values written when an attribute cannot be used: the row is kept, with an
// explicit status, never silently zeroed.
const (
	statusUsageError     = attrs.StatusUsageError
	reasonInvalidPrefix  = "exporter_invalid:"
	reasonCostOverflow   = "exporter_cost_overflow"
	defaultCurrency      = "USD"
	invalidReasonMaxSize = 128
	// maxTimestamp is the last instant DateTime64(9) holds (int64 ns).
	maxTimestamp = pcommon.Timestamp(math.MaxInt64)
)

// insertColumns lists the INSERT column names in the order of rows' slices.
func insertColumns() []string {
	cols := []string{"event_time", "trace_id", "span_id", "parent_span_id", "service_name", "environment"}
	for _, c := range strColumns {
		cols = append(cols, c.column)
	}
	for _, c := range tokenColumns {
		cols = append(cols, c.column)
	}
	for _, c := range costColumns {
		cols = append(cols, c.column)
	}
	for _, c := range costColumns {
		cols = append(cols, c.column+hiSuffix)
	}
	return append(cols, "duration_ns", "is_error", "extra")
}

// rows is a batch of cost rows held column by column, ready for the native
// protocol's columnar Append.
type rows struct {
	eventTime    []time.Time
	traceID      []string
	spanID       []string
	parentSpanID []string
	serviceName  []string
	environment  []string
	str          [nStr][]string
	tokens       [nTok][]uint64
	costs        [nCost][]uint64 // low 64 bits of the pico-USD amounts
	costsHi      [nCost][]uint64 // high 64 bits
	durationNs   []uint64
	isError      []bool
	extra        []map[string]string
	// ids holds the hex trace, span and parent ids of every row, each after
	// its length byte, until finish cuts them into the id columns.
	ids []byte
	// boxes and interned serve insert's boxed (LowCardinality columns).
	boxes    [nStr + 2][]any
	interned map[string]any
	// scratch holds one row's digest input (kept here: no allocation).
	scratch [16 + 8 + 8 + 8 + 8]byte

	// skipped counts spans that are not cost events.
	skipped int
	// invalid counts rows kept with a usage_error status by the exporter.
	invalid int
	// digest hashes what identifies the batch's rows, for the insert
	// deduplication token.
	digest hash.Hash

	// seen, drop and the key slices serve skipStored (stored.go).
	seen      map[spanKey]int
	drop      []bool
	keyTimes  []time.Time
	keyHashes []uint64
	keyBuf    []byte
	claimKeys []spanKey
	claimed   chan struct{} // the inflight claim, until released
}

func (r *rows) len() int { return len(r.eventTime) }

func (r *rows) reset() {
	r.eventTime = r.eventTime[:0]
	r.traceID = r.traceID[:0]
	r.spanID = r.spanID[:0]
	r.parentSpanID = r.parentSpanID[:0]
	r.serviceName = r.serviceName[:0]
	r.environment = r.environment[:0]
	for i := range r.str {
		r.str[i] = r.str[i][:0]
	}
	for i := range r.tokens {
		r.tokens[i] = r.tokens[i][:0]
	}
	for i := range r.costs {
		r.costs[i] = r.costs[i][:0]
		r.costsHi[i] = r.costsHi[i][:0]
	}
	r.ids = r.ids[:0]
	r.durationNs = r.durationNs[:0]
	r.isError = r.isError[:0]
	clear(r.extra)
	r.extra = r.extra[:0]
	r.skipped, r.invalid = 0, 0
	if r.digest == nil {
		r.digest = sha256.New()
	}
	r.digest.Reset()
}

// token returns the insert deduplication token: a digest of every row's
// trace id, span id, start time and costs, in batch order. A retried batch
// has the same content and therefore the same token.
func (r *rows) token() string {
	var sum [sha256.Size]byte
	return "agentcost-" + hex.EncodeToString(r.digest.Sum(sum[:0]))
}

// converter turns spans into rows.
type converter struct {
	extra map[string]struct{}
	// slots is the shared slots table plus the extra_dimensions flag, so
	// that each span attribute costs one map lookup.
	slots map[string]slot
}

func newConverter(extraDimensions []string) *converter {
	c := &converter{
		extra: make(map[string]struct{}, len(extraDimensions)),
		slots: make(map[string]slot, len(slots)+len(extraDimensions)),
	}
	for k, sl := range slots {
		c.slots[k] = sl
	}
	for _, k := range extraDimensions {
		c.extra[k] = struct{}{}
		sl := c.slots[k]
		sl.extra = true
		c.slots[k] = sl
	}
	return c
}

// allocationExtra are span attributes always kept in the extra map, whatever
// extra_dimensions lists: the allocation views (schema migration 0004) read
// them.
var allocationExtra = [...]string{attrs.ShareBeneficiaries, attrs.UsageCacheWrite1hTokens}

// slot says where a span attribute goes: kind selects the array, idx the
// column, extra whether extra_dimensions lists it. One map lookup per
// attribute.
type slot struct {
	kind  uint8
	idx   uint8
	extra bool
}

const (
	kindNone uint8 = iota
	kindStr
	kindTok
	kindCost
	kindExtra // always copied into extra (allocationExtra)
)

var slots = func() map[string]slot {
	m := make(map[string]slot, nStr+nTok+nCost)
	for i, c := range strColumns {
		m[c.attr] = slot{kind: kindStr, idx: uint8(i)}
	}
	for i, c := range tokenColumns {
		m[c.attr] = slot{kind: kindTok, idx: uint8(i)}
	}
	for i, c := range costColumns {
		m[c.attr] = slot{kind: kindCost, idx: uint8(i)}
	}
	for _, k := range allocationExtra {
		m[k] = slot{kind: kindExtra}
	}
	return m
}()

// convert appends the cost rows of td to r (after r.reset()).
func (c *converter) convert(td ptrace.Traces, r *rows) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		service, env := "", ""
		var resExtra map[string]string
		res.Range(func(k string, v pcommon.Value) bool {
			switch k {
			case resServiceName:
				service = v.AsString()
			case resEnvironment:
				env = v.AsString()
			case resEnvironmentOld:
				if env == "" {
					env = v.AsString()
				}
			}
			if _, ok := c.extra[k]; ok {
				if resExtra == nil {
					resExtra = make(map[string]string, len(c.extra))
				}
				resExtra[k] = capExtra(v.AsString())
			}
			return true
		})
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				c.appendSpan(spans.At(k), service, env, resExtra, r)
			}
		}
	}
	r.finish()
}

func (c *converter) appendSpan(span ptrace.Span, service, env string, resExtra map[string]string, r *rows) {
	sa := span.Attributes()
	var str [nStr]string
	var tok [nTok]uint64
	var cost, costHi [nCost]uint64
	invalid := ""
	var extra map[string]string
	hasStatus := false
	for k, v := range sa.All() {
		sl := c.slots[k]
		switch sl.kind {
		case kindStr:
			str[sl.idx] = v.AsString()
			hasStatus = hasStatus || sl.idx == strCostStatus
		case kindTok:
			n, ok := uintValue(v)
			if !ok && invalid == "" {
				invalid = reasonInvalidPrefix + k
			}
			tok[sl.idx] = n
		case kindCost:
			hi, lo, reason := picoValue(v)
			if reason != "" && invalid == "" {
				invalid = reason + k
			}
			cost[sl.idx], costHi[sl.idx] = lo, hi
		case kindExtra:
			if extra == nil {
				extra = make(map[string]string, len(allocationExtra)+len(c.extra))
			}
			extra[k] = v.AsString()
		}
		if sl.extra && sl.kind != kindExtra {
			if extra == nil {
				extra = make(map[string]string, len(c.extra))
			}
			extra[k] = capExtra(v.AsString())
		}
	}
	if !hasStatus {
		// Not a cost event (no agentcost.cost.status): nothing was
		// appended yet.
		r.skipped++
		return
	}
	if len(resExtra) > 0 {
		// Resource-level dimensions, unless the span sets the same key.
		if extra == nil {
			extra = make(map[string]string, len(resExtra)+len(c.extra))
		}
		for k, v := range resExtra {
			if _, ok := extra[k]; !ok {
				extra[k] = v
			}
		}
	}
	start, end := span.StartTimestamp(), span.EndTimestamp()
	if start == 0 {
		start = end
	}
	if start == 0 {
		// Neither time is set: the processor priced (and charged) the span at
		// its own clock and stamped that instant; store the row there too.
		if v, ok := span.Attributes().Get(attrs.PricingTime); ok && v.Type() == pcommon.ValueTypeInt && v.Int() > 0 {
			start = pcommon.Timestamp(v.Int())
		}
	}
	if start > maxTimestamp {
		// Past DateTime64(9)'s range (2262-04-11) it would wrap around:
		// keep the row at its end time, else at 1970-01-01, and say so.
		// Never the wall clock: a retried batch must convert identically
		// (same deduplication token).
		if invalid == "" {
			invalid = reasonInvalidPrefix + "start_time"
		}
		start = 0
		if end <= maxTimestamp {
			start = end
		}
	}
	var dur uint64
	if end > start {
		dur = uint64(end - start)
	}
	if invalid != "" {
		// Keep the row, say why its numbers cannot be trusted.
		r.invalid++
		if len(invalid) > invalidReasonMaxSize {
			invalid = invalid[:invalidReasonMaxSize]
		}
		str[strCostStatus] = statusUsageError
		str[strCostReason] = invalid
	}
	if str[strCurrency] == "" {
		str[strCurrency] = defaultCurrency
	}

	tid, sid, pid := span.TraceID(), span.SpanID(), span.ParentSpanID()

	r.eventTime = append(r.eventTime, start.AsTime())
	r.ids = appendID(r.ids, tid[:], tid.IsEmpty())
	r.ids = appendID(r.ids, sid[:], sid.IsEmpty())
	r.ids = appendID(r.ids, pid[:], pid.IsEmpty())
	r.serviceName = append(r.serviceName, service)
	r.environment = append(r.environment, env)
	for i := range str {
		r.str[i] = append(r.str[i], str[i])
	}
	for i := range tok {
		r.tokens[i] = append(r.tokens[i], tok[i])
	}
	for i := range cost {
		r.costs[i] = append(r.costs[i], cost[i])
		r.costsHi[i] = append(r.costsHi[i], costHi[i])
	}
	r.durationNs = append(r.durationNs, dur)
	r.isError = append(r.isError, span.Status().Code() == ptrace.StatusCodeError)
	r.extra = append(r.extra, extra)

	// Digest: ids, start and total cost identify the row's content.
	b := r.scratch[:]
	copy(b[:16], tid[:])
	copy(b[16:24], sid[:])
	binary.LittleEndian.PutUint64(b[24:32], uint64(start))
	binary.LittleEndian.PutUint64(b[32:40], cost[costTotal])
	binary.LittleEndian.PutUint64(b[40:48], costHi[costTotal])
	_, _ = r.digest.Write(b)
}

// appendID appends the hex form of id (nothing for an empty id) and its
// length byte, so finish can cut the arena into strings.
func appendID(dst, id []byte, empty bool) []byte {
	if empty {
		return append(dst, 0)
	}
	dst = append(dst, byte(2*len(id)))
	return hex.AppendEncode(dst, id)
}

// finish turns the id arena into the id columns: one string allocation for
// the whole batch, every id a substring of it.
func (r *rows) finish() {
	all := string(r.ids)
	n := r.len()
	r.traceID = resize(r.traceID, n)
	r.spanID = resize(r.spanID, n)
	r.parentSpanID = resize(r.parentSpanID, n)
	pos := 0
	next := func() string {
		l := int(all[pos])
		s := all[pos+1 : pos+1+l]
		pos += 1 + l
		return s
	}
	for i := 0; i < n; i++ {
		r.traceID[i] = next()
		r.spanID[i] = next()
		r.parentSpanID[i] = next()
	}
}

// resize returns s with length n, reusing its array when large enough;
// the elements are not cleared (callers overwrite or clear them).
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// uintValue reads a token count: an int, an integral double or a decimal string.
func uintValue(v pcommon.Value) (uint64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		n := v.Int()
		if n < 0 {
			return 0, false
		}
		return uint64(n), true
	case pcommon.ValueTypeDouble:
		f := v.Double()
		// 1<<64 is the first double past MaxUint64 (which rounds up
		// to it): f > math.MaxUint64 would let 2^64 through.
		if f < 0 || f != math.Trunc(f) || f >= 1<<64 {
			return 0, false
		}
		return uint64(f), true
	case pcommon.ValueTypeStr:
		n, err := strconv.ParseUint(v.Str(), 10, 64)
		return n, err == nil
	default:
		return 0, false
	}
}

// picoValue reads a cost (decimal string, USD) as pico-USD, in two 64-bit
// words. reason is empty when the value is good, else a status reason
// prefix.
func picoValue(v pcommon.Value) (hi, lo uint64, reason string) {
	if v.Type() != pcommon.ValueTypeStr {
		return 0, 0, reasonInvalidPrefix
	}
	m, err := pricing.ParseMoney(v.Str())
	if err != nil {
		return 0, 0, reasonInvalidPrefix
	}
	if m.Cmp(maxCost) > 0 {
		return 0, 0, reasonCostOverflow + ":"
	}
	hi, lo = m.Pico128()
	return hi, lo, ""
}
