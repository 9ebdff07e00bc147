// Command agentsim sends realistic multi-agent GenAI traffic to an OTLP
// endpoint (an agentcost collector) and prints what that traffic must cost.
//
// Orchestrator agents invoke sub-agents; agents call chat and embedding
// models of several providers (with prompt-cache reads and writes, reasoning
// tokens and service tiers) and tools (some with per-call fees); a few models
// are unknown to any catalog. Each agent writes its spans in one
// instrumentation dialect: OpenTelemetry GenAI names, their deprecated names,
// OpenInference or the Vercel AI SDK. Agents, teams and projects match
// examples/registry.yaml.
//
// The traffic is a pure function of -seed and the trace count (-rate x
// -duration, or -traces). At the end agentsim prints the spans it sent and the
// expected cost per team and per agent, priced with the pricing package from
// the usage it generated; -expect-out writes the same as JSON.
//
//	agentsim -endpoint 127.0.0.1:4317 -rate 20 -duration 30s -seed 42
//	agentsim -protocol http -endpoint 127.0.0.1:4318 -traces 500 -expect-out want.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentcost/agentcost/cmd/agentsim/sim"
)

type options struct {
	endpoint, protocol string
	rate               float64
	duration           time.Duration
	traces             int
	seed               uint64
	catalogs           string
	collectorConfig    string
	expectOut          string
	quiet              bool
	progress           time.Duration
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "agentsim:", err)
		os.Exit(1)
	}
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("agentsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.endpoint, "endpoint", "", "OTLP endpoint host:port (default 127.0.0.1:4317 for grpc, 127.0.0.1:4318 for http)")
	fs.StringVar(&o.protocol, "protocol", "grpc", "OTLP protocol: grpc or http")
	fs.Float64Var(&o.rate, "rate", 20, "traces (agent requests) per second")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long to send")
	fs.IntVar(&o.traces, "traces", 0, "send exactly this many traces (overrides -duration)")
	fs.Uint64Var(&o.seed, "seed", 42, "random seed: the same seed sends the same traffic")
	fs.StringVar(&o.collectorConfig, "config", "", "price like the agentcost processor of this collector config file (its catalogs and tool_prices)")
	fs.StringVar(&o.catalogs, "catalog", "", "comma-separated user catalog files layered over the default catalog (instead of -config)")
	fs.StringVar(&o.expectOut, "expect-out", "", "write the expected totals as JSON to this file")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines")
	fs.DurationVar(&o.progress, "progress", 5*time.Second, "interval of the progress lines")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.collectorConfig != "" && o.catalogs != "" {
		return o, errors.New("-config and -catalog are exclusive: the config names its catalogs")
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch o.protocol {
	case "grpc":
		if o.endpoint == "" {
			o.endpoint = "127.0.0.1:4317"
		}
	case "http":
		if o.endpoint == "" {
			o.endpoint = "127.0.0.1:4318"
		}
	default:
		return o, fmt.Errorf("-protocol %q: want grpc or http", o.protocol)
	}
	return o, nil
}

func newExporter(ctx context.Context, o options) (sdktrace.SpanExporter, error) {
	ep := strings.TrimPrefix(strings.TrimPrefix(o.endpoint, "http://"), "https://")
	if o.protocol == "http" {
		return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(ep), otlptracehttp.WithInsecure())
	}
	return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(ep), otlptracegrpc.WithInsecure())
}

// pricer returns what prices the expected totals: the collector config's
// agentcost processor settings, or the default catalog with the
// comma-separated user catalogs layered over it.
func pricer(o options) (*sim.Pricer, error) {
	if o.collectorConfig != "" {
		return sim.PricerFromCollectorConfig(o.collectorConfig)
	}
	var paths []string
	for _, p := range strings.Split(o.catalogs, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	return sim.NewPricer(paths, true, nil)
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	pr, err := pricer(o)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	inner, err := newExporter(ctx, o)
	if err != nil {
		return fmt.Errorf("otlp %s exporter to %q: %w", o.protocol, o.endpoint, err)
	}
	exp := &sim.CountingExporter{SpanExporter: inner}
	cfg := sim.Config{Seed: o.seed, Rate: o.rate, Duration: o.duration, Traces: o.traces, ProgressEvery: o.progress}
	if !o.quiet {
		total := cfg.TraceCount()
		fmt.Fprintf(stdout, "agentsim: sending %d traces at %.4g/s to %s (%s), seed %d\n", total, o.rate, o.endpoint, o.protocol, o.seed)
		cfg.Progress = func(traces, spans int, elapsed time.Duration) {
			fmt.Fprintf(stdout, "  %5.1fs  %5d/%d traces  %6d spans\n", elapsed.Seconds(), traces, total, spans)
		}
	}
	want, runErr := sim.Run(ctx, cfg, exp, pr, nil)
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := inner.Shutdown(shutCtx); err != nil && runErr == nil {
		runErr = fmt.Errorf("shut down exporter: %w", err)
	}
	exported, failed, lastErr := exp.Counts()
	if want != nil {
		report(stdout, want, exported, failed)
		if o.expectOut != "" {
			if err := want.WriteJSON(o.expectOut); err != nil {
				return err
			}
		}
	}
	if failed > 0 {
		return errors.Join(runErr, fmt.Errorf("%d spans failed to export; last error: %w", failed, lastErr))
	}
	return runErr
}

func report(w io.Writer, e *sim.Expectation, exported, failed int) {
	fmt.Fprintf(w, "\nsent %d traces, %d spans (%d exported, %d failed); %d billable spans (cost rows)\n",
		e.Traces, e.Spans, exported, failed, e.BillableSpans)
	fmt.Fprintf(w, "spans by kind:")
	for _, k := range []string{"agent", "chat", "embedding", "tool", "wrapper"} {
		fmt.Fprintf(w, " %s=%d", k, e.SpansByKind[k])
	}
	fmt.Fprintf(w, "\nspans by dialect:")
	for _, d := range sim.Dialects {
		fmt.Fprintf(w, " %s=%d", d, e.SpansByDialect[string(d)])
	}
	fmt.Fprintf(w, "\nexpected cost: %s USD over %d priced calls; %d unpriced calls, %d tool calls without a fee (catalog %s)\n\n",
		e.Total.Cost, e.Total.Priced, e.Total.Unpriced, e.Total.NotBillable, e.CatalogVersion)
	table(w, "team", e.ByTeam)
	fmt.Fprintln(w)
	table(w, "agent", e.ByAgent)
}

func table(w io.Writer, what string, m map[string]*sim.Bucket) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tcost USD\tcalls\tunpriced\t\n", what)
	for _, k := range sim.Keys(m) {
		b := m[k]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\n", k, b.Cost, b.Calls, b.Unpriced)
	}
	_ = tw.Flush()
}
