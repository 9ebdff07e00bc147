package allocation

import (
	"errors"
	"math/big"
	"sort"

	"github.com/agentcost/agentcost/pricing"
)

// Part is one recipient's weight in an apportionment. Weights are
// non-negative integers of any size (token counts, pico-USD, 1 for even).
type Part struct {
	Agent  string
	Weight *big.Int
}

// Portion is what one recipient receives.
type Portion struct {
	Agent  string
	Amount pricing.Money
}

// ErrNoWeight reports an apportionment whose weights sum to zero.
var ErrNoWeight = errors.New("weights sum to zero")

// Apportion splits total among parts in proportion to their weights, exactly,
// in whole pico-USD, by the largest remainder method:
//
//  1. each part gets floor(total * w / W) pico-USD, W the sum of weights;
//  2. the k pico-USD left over (k < number of parts) go one each to the k
//     parts with the largest remainders (total * w) mod W; equal remainders
//     go to the smaller agent id first (byte order).
//
// The portions add up to total exactly and are returned in the order of
// parts. Agents must be distinct; a zero total gives zero portions.
func Apportion(total pricing.Money, parts []Part) ([]Portion, error) {
	sum := new(big.Int)
	for _, p := range parts {
		if p.Weight == nil || p.Weight.Sign() < 0 {
			return nil, errors.New("negative or missing weight")
		}
		sum.Add(sum, p.Weight)
	}
	if sum.Sign() == 0 {
		return nil, ErrNoWeight
	}
	t := total.BigInt()
	base := make([]*big.Int, len(parts))
	rem := make([]*big.Int, len(parts))
	given := new(big.Int)
	for i, p := range parts {
		q, r := new(big.Int).QuoRem(new(big.Int).Mul(t, p.Weight), sum, new(big.Int))
		base[i], rem[i] = q, r
		given.Add(given, q)
	}
	left := new(big.Int).Sub(t, given).Int64() // < len(parts)
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		if c := rem[order[a]].Cmp(rem[order[b]]); c != 0 {
			return c > 0
		}
		return parts[order[a]].Agent < parts[order[b]].Agent
	})
	for k := int64(0); k < left; k++ {
		base[order[k]].Add(base[order[k]], big.NewInt(1))
	}
	out := make([]Portion, len(parts))
	for i, p := range parts {
		out[i] = Portion{Agent: p.Agent, Amount: moneyFromBig(base[i])}
	}
	return out, nil
}

func moneyFromBig(x *big.Int) pricing.Money {
	lo := new(big.Int).And(x, new(big.Int).SetUint64(^uint64(0))).Uint64()
	hi := new(big.Int).Rsh(x, 64).Uint64()
	return pricing.MoneyFromPico128(hi, lo)
}
