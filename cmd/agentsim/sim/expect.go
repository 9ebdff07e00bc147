package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/agentcost/agentcost/pricing"
)

// Bucket is what one team, project, agent or model must add up to.
type Bucket struct {
	// Cost is the exact total of the priced calls, USD, 12 fractional digits.
	Cost pricing.Money `json:"cost_usd"`
	// Calls is the number of billable spans (cost rows).
	Calls int `json:"calls"`
	// Priced, Unpriced and NotBillable split Calls by the cost status the
	// collector stamps: priced; unpriced (unknown model); not_billable (a
	// tool call without a fee, a zero-cost row).
	Priced      int `json:"priced"`
	Unpriced    int `json:"unpriced"`
	NotBillable int `json:"not_billable"`
	// Input and Output tokens of the calls, cache and reasoning included.
	InputTokens  uint64 `json:"input_tokens"`
	OutputTokens uint64 `json:"output_tokens"`
}

func (b *Bucket) add(c *PricedCall) {
	b.Calls++
	b.InputTokens += c.Span.Usage.InputTokens
	b.OutputTokens += c.Span.Usage.OutputTokens
	switch c.Status {
	case StatusPriced:
		b.Priced++
		b.Cost = b.Cost.Add(c.Cost)
	case StatusUnpriced:
		b.Unpriced++
	default:
		b.NotBillable++
	}
}

// PricedCall is one billable span of a plan with its expected cost.
type PricedCall struct {
	Span   *Span
	Trace  int
	At     time.Time
	Query  pricing.Query
	Result pricing.Result
	// Status is the cost status the collector must stamp.
	Status string
	Cost   pricing.Money
}

// Cost statuses of billable spans (the values of agentcost.cost.status).
const (
	StatusPriced      = "priced"
	StatusUnpriced    = "unpriced"
	StatusNotBillable = "not_billable"
)

// Expectation is what the collector must store for a plan.
type Expectation struct {
	Seed           uint64 `json:"seed"`
	Traces         int    `json:"traces"`
	CatalogVersion string `json:"catalog_version"`
	// Spans counts every span sent, and BillableSpans the cost rows.
	Spans          int                `json:"spans"`
	BillableSpans  int                `json:"billable_spans"`
	SpansByKind    map[string]int     `json:"spans_by_kind"`
	SpansByDialect map[string]int     `json:"spans_by_dialect"`
	Total          Bucket             `json:"total"`
	ByTeam         map[string]*Bucket `json:"by_team"`
	ByProject      map[string]*Bucket `json:"by_project"`
	ByAgent        map[string]*Bucket `json:"by_agent"`
	ByModel        map[string]*Bucket `json:"by_model"`
	// Calls are the priced calls, kept when KeepCalls is set.
	Calls     []*PricedCall `json:"-"`
	KeepCalls bool          `json:"-"`
}

// NewExpectation returns an empty expectation for seed.
func NewExpectation(seed uint64, pr *Pricer) *Expectation {
	return &Expectation{
		Seed: seed, CatalogVersion: pr.Catalog.Version(),
		SpansByKind: map[string]int{}, SpansByDialect: map[string]int{},
		ByTeam: map[string]*Bucket{}, ByProject: map[string]*Bucket{},
		ByAgent: map[string]*Bucket{}, ByModel: map[string]*Bucket{},
	}
}

func bucket(m map[string]*Bucket, k string) *Bucket {
	b := m[k]
	if b == nil {
		b = &Bucket{}
		m[k] = b
	}
	return b
}

// Price prices one billable span that started at `at`, as the collector does:
// model calls with Catalog.Price on the provider and model names the span
// carries; tool calls with the configured tool prices, else the catalog's
// provider tool fees (a tool without a fee costs nothing).
func Price(pr *Pricer, s *Span, at time.Time) *PricedCall {
	c := &PricedCall{Span: s, At: at}
	switch s.Kind {
	case KindChat, KindEmbedding:
		c.Query = pricing.Query{
			Provider:    QueryProvider(s.Agent.Dialect, s.Model),
			Model:       s.Model.Name,
			ServiceTier: s.Tier,
			At:          at,
		}
		if s.Agent.Dialect == DialectOTel {
			c.Query.ServerAddress = s.Model.Server
		}
		c.Result = pr.Catalog.Price(c.Query, s.Usage)
		c.Status = StatusUnpriced
		if c.Result.Status == pricing.StatusPriced {
			c.Status, c.Cost = StatusPriced, c.Result.Total
		}
	case KindTool:
		c.Status = StatusNotBillable
		p := s.Tool.Provider
		if p != "" && s.Agent.Dialect == DialectOTelDeprecated {
			p = legacySystem[p]
		}
		if fee, ok := pr.ToolFee(p, s.Tool.Name, at); ok {
			c.Status, c.Cost = StatusPriced, fee
		}
	}
	return c
}

// Add records every span of trace t, started at start.
func (e *Expectation) Add(pr *Pricer, t *Trace, start time.Time) {
	e.Traces++
	t.Walk(func(s, _ *Span) {
		e.Spans++
		e.SpansByKind[s.Kind.String()]++
		e.SpansByDialect[string(s.Agent.Dialect)]++
		if !s.Kind.Billable() {
			return
		}
		e.BillableSpans++
		c := Price(pr, s, start.Add(s.Start))
		c.Trace = t.Seq
		if e.KeepCalls {
			e.Calls = append(e.Calls, c)
		}
		e.Total.add(c)
		bucket(e.ByTeam, s.Agent.Team).add(c)
		bucket(e.ByProject, s.Agent.Project).add(c)
		bucket(e.ByAgent, s.Agent.ID).add(c)
		if s.Kind != KindTool {
			bucket(e.ByModel, s.Model.Name).add(c)
		} else {
			bucket(e.ByModel, "tool:"+s.Tool.Name).add(c)
		}
	})
}

// Keys returns m's keys sorted.
func Keys(m map[string]*Bucket) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// WriteJSON writes the expectation to path.
func (e *Expectation) WriteJSON(path string) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("encode expectation: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write expectation %q: %w", path, err)
	}
	return nil
}

// ReadExpectation reads an expectation written by WriteJSON.
func ReadExpectation(path string) (*Expectation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read expectation %q: %w", path, err)
	}
	var e Expectation
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode expectation %q: %w", path, err)
	}
	return &e, nil
}
