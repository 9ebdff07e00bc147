package importer

import "testing"

func TestDecimalTimesPow10(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		k    int
		want string
	}{
		{2.5e-06, 6, "2.5"},
		{1.25e-07, 6, "0.125"},
		{1e-05, 6, "10"},
		{0.075, 0, "0.075"},
		{0.18000000000000002, 0, "0.18"},
		{2.9999999999999997e-06, 6, "3"},
		{3, 0, "3"},
		{0, 6, "0"},
		{1.7e-05, 6, "17"},
		{4.25e-06, 6, "4.25"},
		{0.0000001, 0, "0.0000001"},
		{123456789, 3, "123456789000"},
		{0.01, 3, "10"},
	} {
		got, err := decimalTimesPow10(tc.f, tc.k)
		if err != nil || got != tc.want {
			t.Errorf("decimalTimesPow10(%v, %d) = %q, %v; want %q", tc.f, tc.k, got, err, tc.want)
		}
	}
	if _, err := decimalTimesPow10(-1, 0); err == nil {
		t.Error("negative price accepted")
	}
}
