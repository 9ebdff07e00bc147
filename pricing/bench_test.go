package pricing

import (
	"bytes"
	"syscall"
	"testing"
	"time"
)

// processCPU returns the user+system CPU time the process has used. On a
// shared, loaded machine wall-clock ns/op includes time the benchmark was
// descheduled; cpu-ns/op (CPU time per operation) does not.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	if b.N > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkPrice measures lookup plus computation for a model already
// resolved once (the cache hit path every span takes after the first).
//
//	go test -run '^$' -bench 'BenchmarkPrice|BenchmarkParse' -benchmem -count 6 ./pricing | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkPrice(b *testing.B) {
	c, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name  string
		q     Query
		u     Usage
		total string
	}{
		{"model=cached", Query{Provider: "openai", Model: "gpt-4o", At: at},
			Usage{InputTokens: 1000, CacheReadTokens: 300, OutputTokens: 200, ReasoningTokens: 50}, "0.004125000000"},
		{"model=snapshot", Query{Provider: "openai", Model: "gpt-4o-2024-11-20", At: at},
			Usage{InputTokens: 1000, CacheReadTokens: 300, OutputTokens: 200}, "0.004125000000"},
		{"model=dated_windowed", Query{Provider: "deepseek", Model: "deepseek-chat", At: at},
			Usage{InputTokens: 1000, CacheReadTokens: 300, OutputTokens: 200}, ""},
		{"model=legacy_provider_fallback", Query{Provider: "az.ai.openai", Model: "gpt-4o", At: at},
			Usage{InputTokens: 1000, CacheReadTokens: 300, OutputTokens: 200}, "0.004125000000"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := c.Price(bc.q, bc.u)
			if r.Status != StatusPriced || (bc.total != "" && r.Total.String() != bc.total) {
				b.Fatalf("%s: %s %q total %s, want %s", bc.name, r.Status, r.Reason, r.Total, bc.total)
			}
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				r = c.Price(bc.q, bc.u)
			}
			reportCPU(b, cpu0)
			if r.Status != StatusPriced {
				b.Fatal(r.Reason)
			}
		})
	}
}

// BenchmarkParse measures loading the embedded default catalog: from YAML
// (decode, compile, validate; what Default pays once per process), and with
// the decoded default reused (what each Load of user layers pays on top of
// decoding the user files).
//
//	go test -run '^$' -bench 'BenchmarkParse' -benchmem -count 6 ./pricing
func BenchmarkParse(b *testing.B) {
	fresh := bytes.Clone(defaultYAML) // not the embedded slice: decoded every time
	for _, bc := range []struct {
		name string
		data []byte
	}{{"catalog=default", fresh}, {"catalog=default/decode=cached", defaultYAML}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				c, err := Parse(bc.data)
				if err != nil || c.Version() == "" {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0)
		})
	}
}
