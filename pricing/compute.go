package pricing

import (
	"math/bits"
	"strings"
	"time"
)

const msPerDay = 86_400_000

// selectPrice returns the price entry in force for the query: the period
// [from, to) must contain at, the time-of-day window (if any) must contain
// at's UTC time of day, and service tier and batch must match. An entry with
// a time-of-day window wins over one without; among equals the later entry
// wins. When no entry has the requested tier or batch, the standard entries
// are used and fellBack is true.
func selectPrice(m *model, q *Query) (p *price, fellBack bool) {
	at := q.At
	if at.IsZero() {
		at = time.Now()
	}
	ms := at.UnixMilli()
	tod := ms % msPerDay
	if tod < 0 {
		tod += msPerDay
	}
	tier := q.ServiceTier
	switch {
	case tier == "", strings.EqualFold(tier, "default"), strings.EqualFold(tier, "standard"), strings.EqualFold(tier, "auto"):
		tier = ""
	}
	if p = pick(m, ms, tod, tier, q.Batch); p != nil {
		return p, false
	}
	if q.Batch && tier != "" {
		if p = pick(m, ms, tod, tier, false); p != nil {
			return p, true
		}
	}
	if tier != "" {
		if p = pick(m, ms, tod, "", q.Batch); p != nil {
			return p, true
		}
	}
	if q.Batch {
		if p = pick(m, ms, tod, "", false); p != nil {
			return p, true
		}
	}
	return nil, false
}

func pick(m *model, ms, tod int64, tier string, batch bool) *price {
	var best *price
	for i := range m.prices {
		p := &m.prices[i]
		if p.batch != batch || len(p.tier) != len(tier) || (tier != "" && !strings.EqualFold(p.tier, tier)) {
			continue
		}
		if ms < p.from || ms >= p.to {
			continue
		}
		if p.win {
			if p.winStart < p.winEnd {
				if tod < p.winStart || tod >= p.winEnd {
					continue
				}
			} else if tod < p.winStart && tod >= p.winEnd {
				continue
			}
		} else if best != nil && best.win {
			continue
		}
		best = p
	}
	return best
}

// cost returns the cost of n units at rate r, rounded half up to a whole
// pico-dollar. For tokens and counts no rounding happens unless the price
// has more than 6 fractional digits per 1M tokens (9 per 1k requests or
// searches); per-hour audio prices applied to milliseconds may round.
func cost(n uint64, r rate) Money {
	hi, lo := bits.Mul64(n, r.mant)
	per := r.div
	var qhi, qlo, rem uint64
	switch {
	case hi == 0 && per == 1e6: // constant divisors compile to multiplications
		qlo, rem = lo/1e6, lo%1e6
	case hi == 0 && per == 1e3:
		qlo, rem = lo/1e3, lo%1e3
	case hi == 0:
		qlo, rem = lo/per, lo%per
	default:
		qhi = hi / per
		qlo, rem = bits.Div64(hi%per, lo, per)
	}
	if rem != 0 && rem >= per-rem { // rem*2 >= per without overflow
		var c uint64
		qlo, c = bits.Add64(qlo, 1, 0)
		qhi += c
	}
	return Money{hi: qhi, lo: qlo}
}

// unitRate returns the rate of unit u: the last tier whose threshold total
// input tokens strictly exceed, else the base rate.
func (p *price) unitRate(u unit, totalInput uint64) rate {
	v := p.base[u]
	for _, t := range p.tiers[u] {
		if totalInput > t.above {
			v = t.rate
		}
	}
	return v
}

// checkUsage enforces the usage model: no part larger than its parent.
func checkUsage(v *[numUnits]uint64) string {
	cache, c := bits.Add64(v[uCacheRead], v[uCacheWrite], 0)
	switch {
	case v[uCacheRead] > v[uInput]:
		return "cache_read_exceeds_input"
	case v[uCacheWrite] > v[uInput]:
		return "cache_write_exceeds_input"
	case c != 0 || cache > v[uInput]:
		return "cache_exceeds_input"
	case v[uCacheWrite1h] > v[uCacheWrite]:
		return "cache_write_1h_exceeds_cache_write"
	case v[uReasoning] > v[uOutput]:
		return "reasoning_exceeds_output"
	case v[uCacheAudioRead] > v[uCacheRead] || v[uCacheAudioRead] > v[uInputAudio]:
		return "cache_audio_read_exceeds_parent"
	case v[uCacheImageRead] > v[uCacheRead] || v[uCacheImageRead] > v[uInputImage]:
		return "cache_image_read_exceeds_parent"
	}
	s, c1 := bits.Add64(v[uInputAudio], v[uInputImage], 0)
	s, c2 := bits.Add64(s, v[uInputVideo], 0)
	if c1|c2 != 0 || s > v[uInput] {
		return "modalities_exceed_input"
	}
	s, c1 = bits.Add64(v[uInputAudioDur], v[uOutputAudioDur], 0)
	if c1 != 0 || s > v[uAudioDur] {
		return "audio_parts_exceed_audio"
	}
	s, c1 = bits.Add64(v[uOutputAudio], v[uOutputImage], 0)
	s, c2 = bits.Add64(s, v[uOutputVideo], 0)
	if c1|c2 != 0 || s > v[uOutput] {
		return "modalities_exceed_output"
	}
	return ""
}

// compute prices usage values v with price entry p into r.
func compute(p *price, v *[numUnits]uint64, r *Result) {
	var leaf [numUnits]uint64
	var comp [numComponents]Money
	var inCost, outCost Money // costs of the input and output units themselves
	totalInput := v[uInput]
	if p.minAudioMs != 0 && v[uAudioDur] != 0 && v[uAudioDur] < p.minAudioMs {
		v[uAudioDur] = p.minAudioMs
		if v[uInputAudioDur] != 0 {
			v[uInputAudioDur] = p.minAudioMs
		}
	}
	billed := false
	for _, u := range p.order[:p.n] {
		n := v[u]
		for d := p.desc[u]; d != 0; d &= d - 1 {
			var b uint64
			n, b = bits.Sub64(n, leaf[bits.TrailingZeros32(d)], 0)
			if b != 0 {
				r.Status, r.Reason = StatusUsageError, "parts_exceed_parent"
				return
			}
		}
		leaf[u] = n
		if n == 0 {
			continue
		}
		billed = true
		c := units[u].comp
		uc := cost(n, p.unitRate(u, totalInput))
		switch u {
		case uInput:
			inCost = uc
		case uOutput:
			outCost = uc
		}
		comp[c] = comp[c].Add(uc)
	}
	if !billed {
		// Usage that no price covers (e.g. tokens sent to a model priced
		// per audio hour, with no request fee) is not free: say so.
		for _, u := range roots {
			if v[u] != 0 && !p.has(u) {
				r.Status, r.Reason = StatusUnpriced, "no_price_for_usage"
				return
			}
		}
	}
	// A part billed at its parent's price is still reported in its own
	// component: reasoning at the output price, cache reads/writes at the
	// input price.
	if v[uReasoning] != 0 && !p.has(uReasoning) {
		split(p, uReasoning, uOutput, cReasoning, cOutput, v, &leaf, outCost, &comp, totalInput)
	}
	if v[uCacheRead] != 0 && !p.has(uCacheRead) {
		split(p, uCacheRead, uInput, cCacheRead, cInput, v, &leaf, inCost, &comp, totalInput)
	}
	if v[uCacheWrite] != 0 && !p.has(uCacheWrite) {
		split(p, uCacheWrite, uInput, cCacheWrite, cInput, v, &leaf, inCost, &comp, totalInput)
	}
	r.Input, r.CacheRead, r.CacheWrite = comp[cInput], comp[cCacheRead], comp[cCacheWrite]
	r.Output, r.Reasoning, r.Other = comp[cOutput], comp[cReasoning], comp[cOther]
	r.Total = r.Input.Add(r.CacheRead).Add(r.CacheWrite).Add(r.Output).Add(r.Reasoning).Add(r.Other)
}

// split moves the cost of part's tokens, billed inside parent's leaf at
// parent's rate (parentCost), from component from to component to.
func split(p *price, part, parent unit, to, from component, v, leaf *[numUnits]uint64, parentCost Money, comp *[numComponents]Money, totalInput uint64) {
	if !p.has(parent) {
		return
	}
	n := min(v[part], leaf[parent])
	if n == 0 {
		return
	}
	rest := cost(leaf[parent]-n, p.unitRate(parent, totalInput))
	moved, _ := parentCost.Sub(rest)
	comp[from], _ = comp[from].Sub(moved)
	comp[to] = comp[to].Add(moved)
}
