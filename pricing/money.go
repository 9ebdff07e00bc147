package pricing

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"
)

// MoneyScale is the number of fractional digits of USD that Money carries.
const MoneyScale = 12

const picoPerUnit = 1_000_000_000_000

// Money is a non-negative amount of USD held exactly as an unsigned 128-bit
// count of 10^-12 USD (pico-dollars). The zero value is $0. It never rounds
// on addition; it is wide enough for 2^64 tokens at any real price.
type Money struct {
	hi, lo uint64
}

// MoneyFromPico returns pico pico-dollars (10^-12 USD).
func MoneyFromPico(pico uint64) Money { return Money{lo: pico} }

// ErrMoneySyntax is returned by ParseMoney for malformed amounts.
var ErrMoneySyntax = errors.New("invalid amount")

// ParseMoney parses a non-negative decimal string such as "12.5" or
// "0.000001250000" exactly. More than 12 fractional digits that are not all
// zero is an error, never a silent rounding.
func ParseMoney(s string) (Money, error) {
	var m Money
	if s == "" {
		return m, fmt.Errorf("%w %q: empty", ErrMoneySyntax, s)
	}
	intPart, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			intPart, frac = s[:i], s[i+1:]
			break
		}
	}
	if intPart == "" && frac == "" {
		return m, fmt.Errorf("%w %q", ErrMoneySyntax, s)
	}
	for len(frac) > MoneyScale && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	if len(frac) > MoneyScale {
		return m, fmt.Errorf("%w %q: more than %d fractional digits", ErrMoneySyntax, s, MoneyScale)
	}
	digits := 0
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return Money{}, fmt.Errorf("%w %q", ErrMoneySyntax, s)
			}
			var ok bool
			if m, ok = m.mulAdd(10, uint64(c-'0')); !ok {
				return Money{}, fmt.Errorf("%w %q: out of range", ErrMoneySyntax, s)
			}
			digits++
		}
	}
	for i := len(frac); i < MoneyScale; i++ {
		var ok bool
		if m, ok = m.mulAdd(10, 0); !ok {
			return Money{}, fmt.Errorf("%w %q: out of range", ErrMoneySyntax, s)
		}
	}
	return m, nil
}

// MustParseMoney is ParseMoney that panics; for constants in tests and tables.
func MustParseMoney(s string) Money {
	m, err := ParseMoney(s)
	if err != nil {
		panic(err)
	}
	return m
}

// mulAdd returns m*k+a and whether it did not overflow 128 bits.
func (m Money) mulAdd(k, a uint64) (Money, bool) {
	hiHi, hiLo := bits.Mul64(m.hi, k)
	loHi, loLo := bits.Mul64(m.lo, k)
	hi, c := bits.Add64(hiLo, loHi, 0)
	if hiHi != 0 || c != 0 {
		return Money{}, false
	}
	lo, c := bits.Add64(loLo, a, 0)
	hi, c = bits.Add64(hi, 0, c)
	return Money{hi: hi, lo: lo}, c == 0
}

// MulUint64 returns m*k and whether the product fits.
func (m Money) MulUint64(k uint64) (Money, bool) { return m.mulAdd(k, 0) }

// Add returns m+o. Sums beyond 3.4*10^26 USD wrap; no real bill reaches them.
func (m Money) Add(o Money) Money {
	lo, c := bits.Add64(m.lo, o.lo, 0)
	hi, _ := bits.Add64(m.hi, o.hi, c)
	return Money{hi: hi, lo: lo}
}

// Sub returns m-o and false when o > m (the result is then zero).
func (m Money) Sub(o Money) (Money, bool) {
	lo, b := bits.Sub64(m.lo, o.lo, 0)
	hi, b := bits.Sub64(m.hi, o.hi, b)
	if b != 0 {
		return Money{}, false
	}
	return Money{hi: hi, lo: lo}, true
}

// Cmp returns -1, 0 or +1 as m is less than, equal to or greater than o.
func (m Money) Cmp(o Money) int {
	switch {
	case m.hi < o.hi:
		return -1
	case m.hi > o.hi:
		return 1
	case m.lo < o.lo:
		return -1
	case m.lo > o.lo:
		return 1
	}
	return 0
}

// IsZero reports whether m is $0.
func (m Money) IsZero() bool { return m.hi == 0 && m.lo == 0 }

// Pico returns m in pico-dollars and whether it fits in a uint64.
func (m Money) Pico() (uint64, bool) { return m.lo, m.hi == 0 }

// Pico128 returns the raw 128-bit pico-dollar count as (high, low) words.
func (m Money) Pico128() (hi, lo uint64) { return m.hi, m.lo }

// MoneyFromPico128 builds Money from the words returned by Pico128.
func MoneyFromPico128(hi, lo uint64) Money { return Money{hi: hi, lo: lo} }

// BigInt returns m in pico-dollars as a new big.Int (for decimal libraries).
func (m Money) BigInt() *big.Int {
	b := new(big.Int).SetUint64(m.hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(m.lo))
}

// Float64 returns the nearest float64 number of USD, for attributes that are
// doubles by convention (gen_ai.usage.cost). Never sum these.
func (m Money) Float64() float64 {
	if m.hi == 0 {
		whole := m.lo / picoPerUnit
		frac := m.lo % picoPerUnit
		return float64(whole) + float64(frac)/picoPerUnit
	}
	f, _ := new(big.Float).SetInt(m.BigInt()).Float64()
	return f / picoPerUnit
}

// divmod10 returns m/10 and m%10.
func (m Money) divmod10() (Money, uint64) {
	qhi := m.hi / 10
	r := m.hi % 10
	qlo, r2 := bits.Div64(r, m.lo, 10)
	return Money{hi: qhi, lo: qlo}, r2
}

// AppendText appends m as a decimal with exactly 12 fractional digits
// ("0.000001250000") to b without allocating beyond b's growth.
func (m Money) AppendText(b []byte) []byte {
	var buf [48]byte
	i := len(buf)
	v := m
	for n := 0; n <= MoneyScale || !v.IsZero(); n++ {
		if n == MoneyScale {
			i--
			buf[i] = '.'
		}
		var d uint64
		v, d = v.divmod10()
		i--
		buf[i] = byte('0' + d)
	}
	return append(b, buf[i:]...)
}

// String returns m with exactly 12 fractional digits, e.g. "0.002500000000".
func (m Money) String() string { return string(m.AppendText(nil)) }

// MarshalText implements encoding.TextMarshaler (a decimal string).
func (m Money) MarshalText() ([]byte, error) { return m.AppendText(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Money) UnmarshalText(b []byte) error {
	v, err := ParseMoney(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}
