package pricing

import (
	"math"
	"testing"
)

func TestMoneyParseFormat(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0.000000000000"},
		{"0.0", "0.000000000000"},
		{"1", "1.000000000000"},
		{".5", "0.500000000000"},
		{"12.000000000001", "12.000000000001"},
		{"0.000001250000000", "0.000001250000"},
		{"340282366920938.463463374607431768211455", ""},
		{"18446744073709551616", "18446744073709551616.000000000000"},
	} {
		m, err := ParseMoney(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseMoney(%q) = %s, want error", tc.in, m)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseMoney(%q): %v", tc.in, err)
		}
		if got := m.String(); got != tc.want {
			t.Errorf("ParseMoney(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", ".", "-1", "1e3", "0.0000000000001", "abc", "1.2.3"} {
		if _, err := ParseMoney(bad); err == nil {
			t.Errorf("ParseMoney(%q) succeeded, want error", bad)
		}
	}
}

func TestMoneyArithmetic(t *testing.T) {
	a := MustParseMoney("0.000000000001")
	b := MoneyFromPico(math.MaxUint64)
	s := b.Add(a)
	if s.String() != "18446744.073709551616" {
		t.Fatalf("carry: got %s", s)
	}
	if _, fits := s.Pico(); fits {
		t.Fatal("Pico() fits after carry")
	}
	d, ok := s.Sub(a)
	if !ok || d != b {
		t.Fatalf("Sub: got %s %v", d, ok)
	}
	if _, ok := a.Sub(b); ok {
		t.Fatal("Sub below zero reported ok")
	}
	if a.Cmp(b) != -1 || b.Cmp(a) != 1 || a.Cmp(a) != 0 {
		t.Fatal("Cmp")
	}
	m, ok := MustParseMoney("2.5").MulUint64(1 << 53)
	if !ok || m.String() != "22517998136852480.000000000000" {
		t.Fatalf("MulUint64: %s %v", m, ok)
	}
	if got := MustParseMoney("1.25").Float64(); got != 1.25 {
		t.Fatalf("Float64 = %v", got)
	}
	if m.BigInt().String() != "22517998136852480000000000000" {
		t.Fatalf("BigInt = %s", m.BigInt())
	}
}
