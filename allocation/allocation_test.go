package allocation

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/pricing"
)

func usd(s string) pricing.Money { return pricing.MustParseMoney(s) }

func w(n int64) *big.Int { return big.NewInt(n) }

// got renders allocations as "rule agent amount" lines for row src (-1: all).
func got(as []Allocation, src int) []string {
	var out []string
	for _, a := range as {
		if src < 0 || a.Source == src {
			out = append(out, string(a.Rule)+" "+a.Agent+" "+a.Amount.String())
		}
	}
	return out
}

func TestParseBeneficiaries(t *testing.T) {
	s, err := ParseBeneficiaries("planner=3, researcher = 1 ,writer")
	require.NoError(t, err)
	assert.Equal(t, []Share{{"planner", 3}, {"researcher", 1}, {"writer", 1}}, s)
	assert.Equal(t, "planner=3,researcher,writer", FormatBeneficiaries(s))
	s, err = ParseBeneficiaries("")
	assert.NoError(t, err)
	assert.Nil(t, s)
	for _, bad := range []string{
		",", "a,", "a,,b", "a=0", "a=-1", "a=1.5", "a=1000000000", "a=", "=3", "a b", "a=1=2", "a,a", "a,b=2,a=3",
		strings.Repeat("x,", MaxBeneficiaries) + "y",
	} {
		_, err := ParseBeneficiaries(bad)
		assert.True(t, errors.Is(err, ErrInvalidBeneficiaries), "%q: %v", bad, err)
	}
	_, err = ParseBeneficiaries("a=999999999")
	assert.NoError(t, err)
}

func TestApportion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		total string
		parts []Part
		want  []string
	}{
		{"exact", "0.000000000100", []Part{{"p", w(3)}, {"r", w(1)}, {"w", w(1)}},
			[]string{"0.000000000060", "0.000000000020", "0.000000000020"}},
		// 10 pico over three equal weights: 3 each, the leftover pico goes
		// to the smallest agent id among equal remainders.
		{"tie", "0.000000000010", []Part{{"c", w(1)}, {"a", w(1)}, {"b", w(1)}},
			[]string{"0.000000000003", "0.000000000004", "0.000000000003"}},
		// 1000000001 pico by 2:1 -> 666666667 r1 and 333333333 r2: the
		// leftover pico goes to b (larger remainder).
		{"largest remainder", "0.001000000001", []Part{{"a", w(2)}, {"b", w(1)}},
			[]string{"0.000666666667", "0.000333333334"}},
		{"zero weight part", "0.000000000007", []Part{{"a", w(0)}, {"b", w(5)}},
			[]string{"0.000000000000", "0.000000000007"}},
		{"zero total", "0", []Part{{"a", w(1)}, {"b", w(1)}},
			[]string{"0.000000000000", "0.000000000000"}},
		// Beyond 64 bits: 2^70 pico over 3.
		{"large", "1180591620.717411303424", []Part{{"a", w(1)}, {"b", w(1)}, {"c", w(1)}},
			[]string{"393530540.239137101142", "393530540.239137101141", "393530540.239137101141"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := Apportion(usd(tc.total), tc.parts)
			require.NoError(t, err)
			var amounts []string
			sum := pricing.Money{}
			for i, p := range ps {
				assert.Equal(t, tc.parts[i].Agent, p.Agent)
				amounts = append(amounts, p.Amount.String())
				sum = sum.Add(p.Amount)
			}
			assert.Equal(t, tc.want, amounts)
			assert.Equal(t, usd(tc.total).String(), sum.String())
		})
	}
	_, err := Apportion(usd("1"), []Part{{"a", w(0)}})
	assert.ErrorIs(t, err, ErrNoWeight)
	_, err = Apportion(usd("1"), nil)
	assert.ErrorIs(t, err, ErrNoWeight)
	_, err = Apportion(usd("1"), []Part{{"a", w(-1)}})
	assert.Error(t, err)
}

var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

func TestExplicitShares(t *testing.T) {
	rows := []Row{
		{Time: t0, TraceID: "T", AgentID: "gw", RootAgentID: "gw", Total: usd("0.000000000100"), Beneficiaries: "planner=3, researcher=1, writer"},
		{Time: t0, TraceID: "T", AgentID: "gw", RootAgentID: "gw", Total: usd("0.001000000001"), Beneficiaries: "a=2,b"},
		{Time: t0, TraceID: "T", AgentID: "gw", RootAgentID: "gw", Total: usd("0.5"), Beneficiaries: "a=0,b"},
		// Explicit sharing wins over cache allocation: a later reader gets nothing.
		{Time: t0, ConversationID: "c", AgentID: "gw", Total: usd("0.000400000000"), CacheWrite: usd("0.000375000000"), Beneficiaries: "x,y"},
		{Time: t0.Add(time.Minute), ConversationID: "c", AgentID: "z", CacheReadTokens: 10, Total: usd("0.000001000000")},
	}
	as, err := Allocate(rows, OrchestratorKeep)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"shared_call planner 0.000000000060", "shared_call researcher 0.000000000020", "shared_call writer 0.000000000020",
		"shared_call a 0.000666666667", "shared_call b 0.000333333334",
		"invalid_share gw 0.500000000000",
		"shared_call x 0.000200000000", "shared_call y 0.000200000000",
		"direct z 0.000001000000",
	}, got(as, -1))
	assertConserved(t, rows, as)
}

func TestCacheWriteAllocation(t *testing.T) {
	conv := func(r Row) Row {
		r.ConversationID, r.Provider, r.Model = "c1", "anthropic", "claude"
		return r
	}
	rows := []Row{
		// 0: A writes (5 min) 0.000375 of cache in a 0.0004 call.
		conv(Row{Time: t0, AgentID: "A", Total: usd("0.000400000000"), CacheWrite: usd("0.000375000000")}),
		// 1: B reads 1000 tokens after 1 minute.
		conv(Row{Time: t0.Add(time.Minute), AgentID: "B", CacheReadTokens: 1000, Total: usd("0.000030000000")}),
		// 2: the writer reads 500 tokens itself after 2 minutes.
		conv(Row{Time: t0.Add(2 * time.Minute), AgentID: "A", CacheReadTokens: 500, Total: usd("0.000015000000")}),
		// 3: C reads after 6 minutes: the 5-minute cache of row 0 has expired.
		conv(Row{Time: t0.Add(6 * time.Minute), AgentID: "C", CacheReadTokens: 1000, Total: usd("0.000030000000")}),
		// 4: D reads at the same time as the write: not after it.
		conv(Row{Time: t0, AgentID: "D", CacheReadTokens: 1000, Total: usd("0.000030000000")}),
		// 5: E reads another model's cache; 6: F another conversation's.
		{Time: t0.Add(time.Minute), ConversationID: "c1", Provider: "anthropic", Model: "other", AgentID: "E", CacheReadTokens: 1000, Total: usd("0.000001000000")},
		{Time: t0.Add(time.Minute), ConversationID: "c2", Provider: "anthropic", Model: "claude", AgentID: "F", CacheReadTokens: 1000, Total: usd("0.000001000000")},
		// 7: G writes 1-hour cache at +10 min; H reads at +69 min (inside),
		// C reads at +71 min (expired).
		conv(Row{Time: t0.Add(10 * time.Minute), AgentID: "G", Total: usd("0.000700000000"), CacheWrite: usd("0.000600000000"), CacheWrite1hTokens: 300}),
		conv(Row{Time: t0.Add(69 * time.Minute), AgentID: "H", CacheReadTokens: 300, Total: usd("0.000009000000")}),
		conv(Row{Time: t0.Add(71 * time.Minute), AgentID: "C", CacheReadTokens: 300, Total: usd("0.000009000000")}),
		// 10: a write nobody reads stays with its writer.
		{Time: t0, ConversationID: "c3", Provider: "anthropic", Model: "claude", AgentID: "K", Total: usd("0.000500000000"), CacheWrite: usd("0.000500000000")},
		// 11: a reported cost below its cache-write component moves at most the total.
		{Time: t0, ConversationID: "c4", Provider: "p", Model: "m", AgentID: "L", Total: usd("0.000100000000"), CacheWrite: usd("0.000200000000")},
		{Time: t0.Add(time.Second), ConversationID: "c4", Provider: "p", Model: "m", AgentID: "M", CacheReadTokens: 1, Total: usd("0")},
		// 13: without conversation the group is root agent + trace.
		{Time: t0, TraceID: "T9", RootAgentID: "R", AgentID: "N", Provider: "p", Model: "m", Total: usd("0.000000000010"), CacheWrite: usd("0.000000000010")},
		{Time: t0.Add(time.Second), TraceID: "T9", RootAgentID: "R", AgentID: "O", Provider: "p", Model: "m", CacheReadTokens: 1, Total: usd("0")},
		{Time: t0.Add(time.Second), TraceID: "T9", RootAgentID: "Q", AgentID: "P", Provider: "p", Model: "m", CacheReadTokens: 1, Total: usd("0")},
	}
	as, err := Allocate(rows, OrchestratorKeep)
	require.NoError(t, err)
	// Row 0: 375000000 pico by read tokens A 500 : B 1000.
	assert.Equal(t, []string{"cache_write A 0.000125000000", "cache_write B 0.000250000000", "direct A 0.000025000000"}, got(as, 0))
	assert.Equal(t, []string{"cache_write H 0.000600000000", "direct G 0.000100000000"}, got(as, 7))
	assert.Equal(t, []string{"direct K 0.000500000000"}, got(as, 10))
	assert.Equal(t, []string{"cache_write M 0.000100000000"}, got(as, 11))
	assert.Equal(t, []string{"cache_write O 0.000000000010"}, got(as, 13))
	for _, i := range []int{1, 2, 3, 4} {
		assert.Equal(t, []string{"direct " + rows[i].AgentID + " " + rows[i].Total.String()}, got(as, i), "readers keep their own calls")
	}
	assertConserved(t, rows, as)
}

func TestCacheReadsWeighEveryWriteInWindow(t *testing.T) {
	// Two writes 2 minutes apart; a read at +4 min falls in both windows and
	// weighs in each; a read at +6 min only in the second.
	rows := []Row{
		{Time: t0, ConversationID: "c", AgentID: "A", Total: usd("0.000000000009"), CacheWrite: usd("0.000000000009")},
		{Time: t0.Add(2 * time.Minute), ConversationID: "c", AgentID: "B", Total: usd("0.000000000010"), CacheWrite: usd("0.000000000010")},
		{Time: t0.Add(4 * time.Minute), ConversationID: "c", AgentID: "X", CacheReadTokens: 2, Total: usd("0")},
		{Time: t0.Add(6 * time.Minute), ConversationID: "c", AgentID: "Y", CacheReadTokens: 1, Total: usd("0")},
	}
	as, err := Allocate(rows, OrchestratorKeep)
	require.NoError(t, err)
	assert.Equal(t, []string{"cache_write X 0.000000000009"}, got(as, 0))
	// 10 pico by X 2 : Y 1 -> 6 r2, 3 r1: X gets the leftover.
	assert.Equal(t, []string{"cache_write X 0.000000000007", "cache_write Y 0.000000000003"}, got(as, 1))
}

func orchestratorRows() []Row {
	tr := func(r Row) Row { r.TraceID, r.RootAgentID = "T", "R"; return r }
	return []Row{
		tr(Row{Time: t0, AgentID: "R", Total: usd("0.000100000000")}),
		tr(Row{Time: t0.Add(time.Second), AgentID: "S1", Total: usd("0.000200000000")}),
		tr(Row{Time: t0.Add(2 * time.Second), AgentID: "S2", Total: usd("0.000050000000")}),
		tr(Row{Time: t0.Add(3 * time.Second), AgentID: "S2", Total: usd("0.000050000000")}),
		// A root with no sub-agents keeps its cost in every mode.
		{Time: t0, TraceID: "U", RootAgentID: "R", AgentID: "R", Total: usd("0.000001000000")},
		// The next day: the root's call there has no sub-agent that day.
		tr(Row{Time: t0.Add(24 * time.Hour), AgentID: "R", Total: usd("0.000003000000")}),
		// Root with only zero-cost sub-agents.
		{Time: t0, TraceID: "V", RootAgentID: "R", AgentID: "R", Total: usd("0.000000000005")},
		{Time: t0, TraceID: "V", RootAgentID: "R", AgentID: "S3", Total: usd("0")},
		{Time: t0, TraceID: "V", RootAgentID: "R", AgentID: "S4", Total: usd("0")},
	}
}

func TestOrchestratorOverhead(t *testing.T) {
	rows := orchestratorRows()
	for _, tc := range []struct {
		mode                Orchestrator
		root, zeroSubs, day []string
	}{
		{OrchestratorKeep, []string{"direct R 0.000100000000"}, []string{"direct R 0.000000000005"}, []string{"direct R 0.000003000000"}},
		// 100000000 pico by S1 200000000 : S2 100000000 -> 66666666 r2e8,
		// 33333333 r1e8: S1 gets the leftover pico.
		{OrchestratorProportional, []string{"orchestrator S1 0.000066666667", "orchestrator S2 0.000033333333"},
			[]string{"direct R 0.000000000005"}, []string{"direct R 0.000003000000"}},
		{OrchestratorEven, []string{"orchestrator S1 0.000050000000", "orchestrator S2 0.000050000000"},
			// 5 pico evenly over S3, S4: 2 each, the leftover to S3.
			[]string{"orchestrator S3 0.000000000003", "orchestrator S4 0.000000000002"}, []string{"direct R 0.000003000000"}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			as, err := Allocate(rows, tc.mode)
			require.NoError(t, err)
			assert.Equal(t, tc.root, got(as, 0))
			assert.Equal(t, []string{"direct R 0.000001000000"}, got(as, 4))
			assert.Equal(t, tc.day, got(as, 5))
			assert.Equal(t, tc.zeroSubs, got(as, 6))
			assert.Equal(t, []string{"direct S1 0.000200000000"}, got(as, 1), "sub-agents keep their own calls")
			assertConserved(t, rows, as)
		})
	}
	_, err := Allocate(rows, "fair")
	assert.EqualError(t, err, `orchestrator: "fair" is not valid (want keep, proportional or even)`)
}

func TestOrchestratorAfterCacheAllocation(t *testing.T) {
	// The root writes a cache its sub-agent reads: the write moves to the
	// reader first, the rest of the root's call is then overhead.
	rows := []Row{
		{Time: t0, TraceID: "T", RootAgentID: "R", AgentID: "R", Total: usd("0.000010000000"), CacheWrite: usd("0.000004000000")},
		{Time: t0.Add(time.Minute), TraceID: "T", RootAgentID: "R", AgentID: "S1", CacheReadTokens: 100, Total: usd("0.000001000000")},
		{Time: t0.Add(time.Minute), TraceID: "T", RootAgentID: "R", AgentID: "S2", Total: usd("0.000003000000")},
	}
	as, err := Allocate(rows, OrchestratorProportional)
	require.NoError(t, err)
	// Rest 6e6 pico by S1 1e6 : S2 3e6 -> 1500000, 4500000.
	assert.Equal(t, []string{"cache_write S1 0.000004000000", "orchestrator S1 0.000001500000", "orchestrator S2 0.000004500000"}, got(as, 0))
	assertConserved(t, rows, as)
}

// assertConserved checks that every row's allocations add up to its total.
func assertConserved(t *testing.T, rows []Row, as []Allocation) {
	t.Helper()
	sums := make([]pricing.Money, len(rows))
	for _, a := range as {
		assert.False(t, a.Amount.IsZero(), "no zero allocation")
		sums[a.Source] = sums[a.Source].Add(a.Amount)
	}
	for i, r := range rows {
		assert.Equal(t, r.Total.String(), sums[i].String(), "row %d conserved", i)
	}
}

// TestConservationProperty: on generated workloads (many seeds), in every
// mode, every row's pieces add up to its total, every piece is within one
// pico-USD of its exact share, and totals per share group and day match.
func TestConservationProperty(t *testing.T) {
	for seed := uint64(1); seed <= 25; seed++ {
		rows := rowsOf(workload(seed, 60))
		for _, mode := range []Orchestrator{OrchestratorKeep, OrchestratorProportional, OrchestratorEven} {
			as, err := Allocate(rows, mode)
			require.NoError(t, err)
			assertConserved(t, rows, as)
			type key struct {
				group string
				day   time.Time
			}
			direct, alloc := map[key]pricing.Money{}, map[key]pricing.Money{}
			for _, r := range rows {
				k := key{r.ShareGroup(), r.Day()}
				direct[k] = direct[k].Add(r.Total)
			}
			// Pieces of one split: amount within 1 pico of A*w/W.
			type split struct {
				src  int
				rule Rule
			}
			wsum := map[split]*big.Int{}
			for _, a := range as {
				r := rows[a.Source]
				k := key{r.ShareGroup(), r.Day()}
				alloc[k] = alloc[k].Add(a.Amount)
				s := split{a.Source, a.Rule}
				if wsum[s] == nil {
					wsum[s] = new(big.Int)
				}
				wsum[s].Add(wsum[s], a.Weight)
			}
			for k, v := range direct {
				if !v.IsZero() {
					assert.Equal(t, v.String(), alloc[k].String(), "seed %d mode %s group %v", seed, mode, k)
				}
			}
			for _, a := range as {
				if a.Rule == RuleDirect || a.Rule == RuleInvalidShare {
					continue
				}
				// |amount*W - A*w| < W with A the split amount: check via the
				// piece bound amount <= A*w/W + 1 using the row's total as A's bound.
				r := rows[a.Source]
				W := wsum[split{a.Source, a.Rule}]
				lhs := new(big.Int).Mul(a.Amount.BigInt(), W)
				rhs := new(big.Int).Mul(r.Total.BigInt(), a.Weight)
				rhs.Add(rhs, W)
				assert.True(t, lhs.Cmp(rhs) <= 0, "piece above its share + 1 pico")
			}
		}
	}
}
