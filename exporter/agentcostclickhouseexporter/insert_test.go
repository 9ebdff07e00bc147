package agentcostclickhouseexporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBoxedKeepsValues checks the LowCardinality boxing: every box holds its
// row's value (runs, alternations, empty strings), boxes of equal values are
// shared, and a second batch in reused slices is boxed afresh.
func TestBoxedKeepsValues(t *testing.T) {
	r := &rows{}
	for _, vals := range [][]string{
		{"a", "a", "b", "a", "", "", "b", "c", "c"},
		{"c", "x", "", "a"},
	} {
		out := r.boxed(3, vals)
		require.Len(t, out, len(vals))
		for i, v := range vals {
			assert.Equal(t, v, out[i], "row %d", i)
		}
	}
	// Known values are boxed without allocating.
	vals := []string{"same", "other", "same", "other", "other"}
	r.boxed(0, vals)
	assert.Zero(t, testing.AllocsPerRun(10, func() { r.boxed(0, vals) }))
}
