package agentcostprocessor

import (
	"encoding/binary"
	"math/rand/v2"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// spanIndex maps (trace id, span id) to a span's position in the batch
// scratch. It is an open-addressing table of int32 positions (0 = empty,
// else position+1) with linear probing, sized to at least twice the batch:
// ids are random, so a few bits of them are a good hash, and a lookup
// compares the ids stored in the scratch itself. It is cheaper than a Go map
// keyed by the 24-byte pair (no key copies, no aeshash) and resets with one
// clear of a small slice.
type spanIndex struct {
	slots []int32
	mask  uint64
}

// init sizes the table for n spans and empties it.
func (x *spanIndex) init(n int) {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	if cap(x.slots) >= size {
		x.slots = x.slots[:size]
		clear(x.slots)
	} else {
		x.slots = make([]int32, size)
	}
	x.mask = uint64(size - 1)
}

// hashSeed makes slot positions unpredictable from outside, so crafted ids
// cannot pile a batch onto one probe chain.
var hashSeed = rand.Uint64()

// spanHash mixes all 24 id bytes (murmur3's 64-bit finaliser, a
// bijection, applied twice), so ids that share bytes across the trace and
// span id, as in sequential test ids, still spread.
func spanHash(t pcommon.TraceID, s pcommon.SpanID) uint64 {
	th := fmix64(binary.LittleEndian.Uint64(t[:8]) ^ hashSeed ^ binary.LittleEndian.Uint64(t[8:])*0x9e3779b97f4a7c15)
	return fmix64(binary.LittleEndian.Uint64(s[:]) ^ th)
}

func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// put records spans[i] under its ids; a later span with the same ids
// replaces an earlier one.
func (x *spanIndex) put(spans []spanInfo, i int32) {
	s := &spans[i]
	for h := spanHash(s.trace, s.id) & x.mask; ; h = (h + 1) & x.mask {
		v := x.slots[h]
		if v == 0 {
			x.slots[h] = i + 1
			return
		}
		if o := &spans[v-1]; o.id == s.id && o.trace == s.trace {
			x.slots[h] = i + 1
			return
		}
	}
}

// get returns the position of the span with these ids.
func (x *spanIndex) get(spans []spanInfo, t pcommon.TraceID, id pcommon.SpanID) (int32, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	for h := spanHash(t, id) & x.mask; ; h = (h + 1) & x.mask {
		v := x.slots[h]
		if v == 0 {
			return 0, false
		}
		if o := &spans[v-1]; o.id == id && o.trace == t {
			return v - 1, true
		}
	}
}
