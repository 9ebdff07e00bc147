package genai

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Float reported costs convert through their shortest decimal form, not
// through f*1e12 (which is off by a pico above about 9,007 USD).
func TestReportedCostFloatExact(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{611666.145821, "611666.145821000000"},   // math.Round(f*1e12) gave ...820999936
		{794235.010051, "794235.010051000000"},   // ... 051000064
		{867304.784443, "867304.784443000000"},   // ... 442999936
		{9007.199254740994, "9007.199254740994"}, // 16 significant digits kept
		{0.1, "0.100000000000"},
		{0.0025, "0.002500000000"},
		{1e-13, "0.000000000000"},               // below a pico: rounds to zero
		{6e-13, "0.000000000001"},               // above half a pico: up
		{5e-13, "0.000000000000"},               // exactly half a pico: to even (0)
		{1.5e-12, "0.000000000002"},             // half: to even (2)
		{2.5e-12, "0.000000000002"},             // half: to even (2)
		{123.4567890123455, "123.456789012346"}, // half: to even (6)
		{17999999.99, "17999999.990000000000"},
		{math.Copysign(0, -1), "0.000000000000"},
	} {
		m, ok := moneyFromFloat(tt.f)
		if assert.True(t, ok, "%v", tt.f) {
			assert.Equal(t, tt.want, m.String(), "%v", tt.f)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), -1e-9, 1.8e7, 1e300} {
		_, ok := moneyFromFloat(f)
		assert.False(t, ok, "%v", f)
	}
}

// Decimal strings with more than 12 fractional digits round in decimal,
// half to even; exponent notation still goes through the float path.
func TestReportedCostLongDecimalString(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		has      bool
	}{
		{"0.0000000000004", "0.000000000000", true},
		{"0.0000000000005", "0.000000000000", true},     // tie: to even
		{"0.00000000000050001", "0.000000000001", true}, // above half
		{"0.0000000000015", "0.000000000002", true},     // tie: to even
		{"0.0000000000025", "0.000000000002", true},     // tie: to even
		{"0.0000000000035000", "0.000000000004", true},  // tie: to even
		{"12345678.1234567890125", "12345678.123456789012", true},
		{"12345678.12345678901251", "12345678.123456789013", true},
		{"9.9999999999995", "10.000000000000", true},
		{".9999999999999999", "1.000000000000", true},
		{"99999999999999999999.99999999999951", "100000000000000000000.000000000000", true}, // beyond float range of exactness
		{"1.5e-3", "0.001500000000", true},
		{"0.12", "0.120000000000", true},
		{"-0.0000000000015", "0.000000000000", false},
		{"1.0000000000001x", "0.000000000000", false},
		{"1..0000000000001", "0.000000000000", false},
	} {
		var c Call
		Extract(&c, "", mapOf(t, map[string]any{"gen_ai.cost.total_cost": tt.in}))
		assert.Equal(t, tt.has, c.HasReportedCost, tt.in)
		assert.Equal(t, tt.want, c.ReportedCost.String(), tt.in)
	}
}

func TestRoundDecimal(t *testing.T) {
	for _, tt := range []struct {
		in    string
		scale int
		want  string
		ok    bool
	}{
		{"1.25", 1, "1.2", true},
		{"1.35", 1, "1.4", true},
		{"1.251", 1, "1.3", true},
		{"0.5", 0, "0.", true},
		{"1.5", 0, "2.", true},
		{".5", 0, ".", true},
		{"99.96", 1, "100.0", true},
		{"9.99", 1, "10.0", true},
		{"7", 3, "7", true},
		{"", 2, "", false},
		{".", 2, "", false},
		{"1e5", 2, "", false},
		{"+1", 2, "", false},
	} {
		for _, inPlace := range []bool{false, true} {
			in := []byte(tt.in)
			got, ok := roundDecimal(in, tt.scale, inPlace)
			assert.Equal(t, tt.ok, ok, tt.in)
			if ok {
				assert.Equal(t, tt.want, string(got), tt.in)
			}
			if !inPlace {
				assert.Equal(t, tt.in, string(in), "input left alone")
			}
		}
	}
}

// Converting a float reported cost does not allocate, also when it rounds
// up or carries.
func TestMoneyFromFloatDoesNotAllocate(t *testing.T) {
	for _, f := range []float64{0.25, 0.1234567890125678, 0.9999999999999999, 611666.145821} {
		allocs := testing.AllocsPerRun(100, func() { _, _ = moneyFromFloat(f) })
		assert.Zero(t, allocs, "%v", f)
	}
	m, _ := moneyFromFloat(0.9999999999999999)
	assert.Equal(t, "1.000000000000", m.String())
}
