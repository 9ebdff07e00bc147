package importer

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// decimalTimesPow10 returns f*10^k as a decimal string: f rounded to 15
// significant digits (removing binary float noise such as
// 0.18000000000000002 in upstream data), then shifted exactly (so 2.5e-06
// per token becomes "2.5" per million tokens, never 2.4999999999999998).
func decimalTimesPow10(f float64, k int) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return "", fmt.Errorf("price %v is not a finite non-negative number", f)
	}
	if f == 0 {
		return "0", nil
	}
	s := strconv.FormatFloat(f, 'e', 14, 64) // d.dddddddddddddde±XX
	mant, expStr, _ := strings.Cut(s, "e")
	mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
	exp, err := strconv.Atoi(expStr)
	if err != nil {
		return "", err
	}
	digits := strings.Replace(mant, ".", "", 1)
	point := 1 + exp + k // digits before the decimal point
	var out string
	switch {
	case point <= 0:
		out = "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		out = digits + strings.Repeat("0", point-len(digits))
	default:
		out = digits[:point] + "." + digits[point:]
	}
	out = strings.TrimLeft(out, "0")
	if out == "" || out[0] == '.' {
		out = "0" + out
	}
	if strings.Contains(out, ".") {
		out = strings.TrimRight(strings.TrimRight(out, "0"), ".")
	}
	return out, nil
}
