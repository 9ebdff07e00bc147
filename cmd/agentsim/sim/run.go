package sim

import (
	"context"
	"fmt"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Config says how much traffic to send.
type Config struct {
	Seed uint64
	// Rate is traces per second (a trace is one root agent request).
	Rate float64
	// Duration is how long to send; Traces = Rate x Duration unless Traces
	// is set.
	Duration time.Duration
	// Traces, when positive, is the exact number of traces to send (as fast
	// as Rate allows).
	Traces int
	// KeepCalls keeps every priced call in Expectation.Calls (tests); off,
	// only the sums are kept, so memory does not grow with the run.
	KeepCalls bool
	// Progress, when set, is called every ProgressEvery (default 1 s) and at
	// the end with the traces and spans sent so far.
	Progress      func(traces, spans int, elapsed time.Duration)
	ProgressEvery time.Duration
}

// TraceCount is the number of traces the config sends.
func (c Config) TraceCount() int {
	if c.Traces > 0 {
		return c.Traces
	}
	n := int(c.Rate * c.Duration.Seconds())
	if n < 1 {
		n = 1
	}
	return n
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.Rate <= 0 {
		return fmt.Errorf("rate must be positive, got %v", c.Rate)
	}
	if c.Traces < 0 {
		return fmt.Errorf("traces must not be negative, got %d", c.Traces)
	}
	if c.Traces == 0 && c.Duration <= 0 {
		return fmt.Errorf("duration must be positive when traces is 0, got %v", c.Duration)
	}
	return nil
}

// Run sends cfg's traffic through exp and returns what the collector must
// store, priced with pr. It flushes every span before returning; exp itself
// is left open for its owner to shut down. The clock gives each trace's start
// (a trace is sent when it has just finished); nil means time.Now.
func Run(ctx context.Context, cfg Config, exp sdktrace.SpanExporter, pr *Pricer, clock func() time.Time) (*Expectation, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		clock = time.Now
	}
	planner := NewPlanner(cfg.Seed)
	em := NewEmitter(exp, cfg.Seed)
	want := NewExpectation(cfg.Seed, pr)
	want.KeepCalls = cfg.KeepCalls
	n := cfg.TraceCount()
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	begin := time.Now()
	lastProgress := begin
	every := cfg.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	var err error
	for i := 0; i < n; i++ {
		if due := begin.Add(time.Duration(i) * interval); time.Until(due) > 0 {
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-time.After(time.Until(due)):
			}
			if err != nil {
				break
			}
		}
		t := planner.Next()
		start := clock().Add(-t.Duration()).Truncate(time.Microsecond)
		em.Emit(ctx, t, start)
		want.Add(pr, t, start)
		if cfg.Progress != nil && time.Since(lastProgress) >= every {
			lastProgress = time.Now()
			cfg.Progress(want.Traces, want.Spans, time.Since(begin))
		}
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if serr := em.Shutdown(shutCtx); serr != nil && err == nil {
		err = serr
	}
	if cfg.Progress != nil {
		cfg.Progress(want.Traces, want.Spans, time.Since(begin))
	}
	return want, err
}

// CountingExporter wraps an exporter and counts what it exported and what
// failed, so that a run can tell whether every span left the process.
type CountingExporter struct {
	sdktrace.SpanExporter
	mu       sync.Mutex
	exported int
	failed   int
	lastErr  error
}

// ExportSpans exports and counts.
func (c *CountingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := c.SpanExporter.ExportSpans(ctx, spans)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.failed += len(spans)
		c.lastErr = err
	} else {
		c.exported += len(spans)
	}
	return err
}

// Counts returns the spans exported, the spans that failed, and the last
// export error.
func (c *CountingExporter) Counts() (exported, failed int, lastErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exported, c.failed, c.lastErr
}
