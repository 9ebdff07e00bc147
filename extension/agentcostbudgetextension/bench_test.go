package agentcostbudgetextension

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/internal/spend"
)

// benchBudgets returns n budgets: team budgets (exact), an agent glob and a
// provider budget, so a check matches several and skips the rest.
func benchBudgets(n int) []BudgetConfig {
	out := make([]BudgetConfig, 0, n)
	for i := range n {
		var sc map[string]string
		switch i % 4 {
		case 0:
			sc = map[string]string{"team": fmt.Sprintf("team-%d", i)}
		case 1:
			sc = map[string]string{"agent_id": "agent-*", "team": "team-0"}
		case 2:
			sc = map[string]string{"provider": "openai"}
		default:
			sc = map[string]string{"project": fmt.Sprintf("p-%d", i)}
		}
		out = append(out, budgetCfg(fmt.Sprintf("b%d", i), "1000000", WindowConfig{Calendar: PeriodMonth, TimeZone: "Europe/Paris"},
			func(b *BudgetConfig) { b.Scope = sc }))
	}
	return out
}

// useRealClocks gives e the production clocks: time.Now for accrual and the
// coarse clock for Check.
func useRealClocks(b *testing.B, e *budgetExtension) {
	cc := startCoarseClock(coarseResolution)
	b.Cleanup(cc.stop)
	e.now, e.checkNow = time.Now, cc.Now
}

// BenchmarkCheck is the in-process decision (Checker.Check) with a reused
// result slice. Target: <= 200 ns and 0 allocs/op.
//
//	go test -run '^$' -bench 'BenchmarkCheck$|BenchmarkAccrue' -benchmem -count 6 ./extension/agentcostbudgetextension/ | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("budgets=%d", n), func(b *testing.B) {
			clock := &fakeClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
			e := newTestExt(b, clock, benchBudgets(n))
			useRealClocks(b, e)
			r := rand.New(rand.NewPCG(1, 2))
			for range 1000 {
				e.Accrue(spend.Charge{Time: time.Now(), Cost: usd("0.0125"), Team: "team-0", AgentID: fmt.Sprintf("agent-%d", r.IntN(50)), Provider: "openai"})
			}
			id := &Identity{Team: "team-0", AgentID: "agent-7", Provider: "openai", Model: "gpt-4o"}
			dst := make([]Result, 0, 64)
			d, res := e.Check(id, dst)
			require.Equal(b, Allow, d.Outcome)
			require.NotEmpty(b, res)
			require.Equal(b, usd("12.5"), res[0].Spend)
			b.ReportAllocs()
			for b.Loop() {
				d, res = e.Check(id, dst[:0])
			}
			require.Equal(b, Allow, d.Outcome)
		})
	}
}

// BenchmarkAccrue is the processor's hot-path call with 8 budgets.
func BenchmarkAccrue(b *testing.B) {
	clock := &fakeClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	e := newTestExt(b, clock, benchBudgets(8))
	useRealClocks(b, e)
	c := spend.Charge{Cost: usd("0.0125"), Team: "team-0", AgentID: "agent-7", Provider: "openai", Model: "gpt-4o"}
	c.Time = time.Now()
	e.Accrue(c)
	require.Equal(b, usd("0.0125"), spendOf(e, "b0"))
	b.ReportAllocs()
	for b.Loop() {
		e.Accrue(c)
	}
}

// BenchmarkHTTPCheck measures GET /v1/check over loopback under load: 8
// concurrent keep-alive clients (SetParallelism(4) on 2 cores) against one
// extension with 8 budgets, client and server on the same 2-core machine. It
// reports the latency percentiles of all requests as p50-us and p99-us.
//
//	go test -run '^$' -bench 'BenchmarkHTTPCheck' -benchmem -count 6 ./extension/agentcostbudgetextension/ | tee http.txt
//	benchstat http.txt
func BenchmarkHTTPCheck(b *testing.B) {
	_, base := startHTTPExt(b, nil, false, benchBudgets(8)...)
	url := base + "/v1/check?team=team-0&agent_id=agent-7&provider=openai"
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	resp, err := client.Get(url)
	require.NoError(b, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(b, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(b, string(body), `"decision":"allow"`)

	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("HTTP %d", resp.StatusCode)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(all) > 0 {
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-us")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
	}
}
