package agentcostprocessor

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// TestSpanIndex checks the batch index against a Go map on random and
// colliding ids, with duplicates (the later span wins) and resets.
func TestSpanIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x spanIndex
	for round, n := range []int{0, 1, 7, 100, 1000, 3} {
		x.init(n)
		spans := make([]spanInfo, n)
		want := map[spanKey]int32{}
		for i := range spans {
			s := &spans[i]
			switch {
			case i > 0 && rng.IntN(5) == 0: // duplicate of an earlier span
				o := spans[rng.IntN(i)]
				s.trace, s.id = o.trace, o.id
			case rng.IntN(3) == 0: // same span id in another trace, same hash bits
				s.id = pcommon.SpanID{7: byte(rng.IntN(4))}
				s.trace = pcommon.TraceID{0: byte(rng.IntN(4)), 8: byte(rng.IntN(4))}
			default:
				binaryRand(rng, s.trace[:])
				binaryRand(rng, s.id[:])
			}
			x.put(spans, int32(i))
			want[spanKey{s.trace, s.id}] = int32(i)
		}
		for k, i := range want {
			got, ok := x.get(spans, k.t, k.s)
			require.True(t, ok, "round %d", round)
			require.Equal(t, i, got, "round %d: the later duplicate wins", round)
		}
		for range 200 {
			var k spanKey
			binaryRand(rng, k.t[:])
			binaryRand(rng, k.s[:])
			_, ok := x.get(spans, k.t, k.s)
			_, inWant := want[k]
			require.Equal(t, inWant, ok)
		}
	}
	var empty spanIndex
	_, ok := empty.get(nil, pcommon.TraceID{1}, pcommon.SpanID{1})
	require.False(t, ok)
}

func binaryRand(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}
