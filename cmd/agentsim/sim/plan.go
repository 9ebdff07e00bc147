package sim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/agentcost/agentcost/pricing"
)

// SpanKind is what a planned span is, as far as cost goes.
type SpanKind uint8

// Span kinds.
const (
	// KindAgent: an agent invocation (invoke_agent, OpenInference AGENT);
	// never billed itself.
	KindAgent SpanKind = iota
	// KindChat: a chat model call: billable.
	KindChat
	// KindEmbedding: an embeddings call: billable.
	KindEmbedding
	// KindTool: a tool execution: billable (a row), priced when the tool
	// has a per-call fee.
	KindTool
	// KindWrapper: a span that repeats its child's usage (the Vercel AI SDK
	// outer ai.generateText span); never billed.
	KindWrapper
)

var spanKindNames = [...]string{"agent", "chat", "embedding", "tool", "wrapper"}

// String returns the kind's name.
func (k SpanKind) String() string {
	if int(k) < len(spanKindNames) {
		return spanKindNames[k]
	}
	return "unknown"
}

// Billable reports whether the collector writes a cost row for the kind.
func (k SpanKind) Billable() bool { return k == KindChat || k == KindEmbedding || k == KindTool }

// Span is one planned span. Start and End are offsets from the trace start.
type Span struct {
	Kind       SpanKind
	Agent      *Agent // the agent the span belongs to (nearest agent invocation)
	Root       *Agent // the trace's root agent
	Model      Model  // chat and embedding calls
	Tool       Tool   // tool calls
	Usage      pricing.Usage
	Tier       string
	ToolCallID string
	Start, End time.Duration
	Children   []*Span
}

// Trace is one planned trace: a root agent invocation and its tree.
type Trace struct {
	Seq     int // position in the plan, from 0
	Root    *Span
	Service string
}

// Duration is the trace's wall time.
func (t *Trace) Duration() time.Duration { return t.Root.End }

// Walk calls f on every span of the trace, parents before children.
func (t *Trace) Walk(f func(s, parent *Span)) { walk(t.Root, nil, f) }

func walk(s, parent *Span, f func(s, parent *Span)) {
	f(s, parent)
	for _, c := range s.Children {
		walk(c, s, f)
	}
}

// Planner generates traces deterministically from a seed.
type Planner struct {
	rng    *rand.Rand
	fleet  []Agent
	byID   map[string]*Agent
	roots  []*Agent
	total  int // sum of root weights
	seq    int
	callNo uint64
}

// NewPlanner returns a planner over Fleet() seeded with seed.
func NewPlanner(seed uint64) *Planner {
	p := &Planner{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), fleet: Fleet(), byID: map[string]*Agent{}}
	for i := range p.fleet {
		a := &p.fleet[i]
		p.byID[a.ID] = a
		if a.Weight > 0 {
			p.roots = append(p.roots, a)
			p.total += a.Weight
		}
	}
	return p
}

// Agent returns the fleet's agent with id, or nil.
func (p *Planner) Agent(id string) *Agent { return p.byID[id] }

// Next plans the next trace.
func (p *Planner) Next() *Trace {
	n := p.rng.IntN(p.total)
	var root *Agent
	for _, a := range p.roots {
		if n < a.Weight {
			root = a
			break
		}
		n -= a.Weight
	}
	t := &Trace{Seq: p.seq, Service: root.Service}
	p.seq++
	t.Root = p.invoke(root, root, 0, 0)
	return t
}

// Plan plans n traces.
func (p *Planner) Plan(n int) []*Trace {
	out := make([]*Trace, n)
	for i := range out {
		out[i] = p.Next()
	}
	return out
}

func (p *Planner) between(lo, hi int) int { return lo + p.rng.IntN(hi-lo+1) }

func (p *Planner) millis(lo, hi int) time.Duration {
	return time.Duration(p.between(lo, hi)) * time.Millisecond
}

// invoke plans one invocation of agent a starting at offset start.
func (p *Planner) invoke(a, root *Agent, start time.Duration, depth int) *Span {
	s := &Span{Kind: KindAgent, Agent: a, Root: root, Start: start}
	at := start + p.millis(2, 30)
	steps := p.between(a.MinSteps, a.MaxSteps)
	cacheWarm := false // the first cached call of an invocation writes the cache
	for i := 0; i < steps; i++ {
		// A model call, then maybe a tool call.
		m := a.Models[p.rng.IntN(len(a.Models))]
		c := p.call(a, root, m, at, &cacheWarm)
		s.Children = append(s.Children, c)
		at = c.End + p.millis(1, 15)
		if len(a.Tools) > 0 && p.rng.IntN(3) > 0 {
			tl := a.Tools[p.rng.IntN(len(a.Tools))]
			p.callNo++
			tc := &Span{Kind: KindTool, Agent: a, Root: root, Tool: tl, Start: at,
				End: at + p.millis(tl.MinMillis, tl.MaxMillis), ToolCallID: fmt.Sprintf("call_%08x", p.callNo)}
			tc.Usage.ToolCalls = 1
			s.Children = append(s.Children, tc)
			at = tc.End + p.millis(1, 15)
		}
	}
	// Orchestrators hand work to their sub-agents, then summarise.
	if depth == 0 {
		for _, id := range a.SubAgents {
			if p.rng.IntN(4) == 0 {
				continue // not every request needs every helper
			}
			sub := p.invoke(p.byID[id], root, at, depth+1)
			s.Children = append(s.Children, sub)
			at = sub.End + p.millis(1, 20)
		}
		if len(a.SubAgents) > 0 {
			m := a.Models[0]
			c := p.call(a, root, m, at, &cacheWarm)
			s.Children = append(s.Children, c)
			at = c.End
		}
	}
	s.End = at + p.millis(3, 40)
	return s
}

// call plans one model call; for the Vercel dialect it is wrapped in the
// SDK's outer span.
func (p *Planner) call(a, root *Agent, m Model, start time.Duration, cacheWarm *bool) *Span {
	c := &Span{Agent: a, Root: root, Model: m}
	if m.Embedding {
		c.Kind = KindEmbedding
		c.Usage.InputTokens = uint64(p.between(40, 8000))
		c.Start = start
		c.End = start + p.millis(60, 600)
		return c
	}
	c.Kind = KindChat
	u := &c.Usage
	// Agent prompts carry a long shared prefix (system prompt, tools,
	// history) that prompt caching serves after the first call.
	prefix := uint64(p.between(1500, 24000))
	fresh := uint64(p.between(50, 4000))
	u.InputTokens = prefix + fresh
	if m.Caching {
		switch {
		case !*cacheWarm:
			*cacheWarm = true
			if m.Provider == "anthropic" || m.Provider == "aws.bedrock" {
				u.CacheWriteTokens = prefix // explicit cache_control breakpoints
			}
		case p.rng.IntN(10) < 8:
			u.CacheReadTokens = prefix - prefix%128 // caches work in 128-token blocks
		}
	}
	u.OutputTokens = uint64(p.between(20, 1800))
	if m.Reasoning && p.rng.IntN(4) > 0 {
		u.ReasoningTokens = uint64(p.between(64, 6000))
		u.OutputTokens += u.ReasoningTokens
	}
	if len(m.Tiers) > 0 {
		c.Tier = m.Tiers[p.rng.IntN(len(m.Tiers))]
	}
	// Latency: time to first token plus decoding at 40-160 tokens/s.
	tps := p.between(40, 160)
	dec := time.Duration(u.OutputTokens) * time.Second / time.Duration(tps)
	if c.Tier == "flex" {
		dec *= 2
	}
	c.Start = start
	c.End = start + p.millis(180, 1200) + dec
	if a.Dialect == DialectVercel {
		w := &Span{Kind: KindWrapper, Agent: a, Root: root, Model: m, Usage: c.Usage, Tier: c.Tier,
			Start: start, End: c.End + p.millis(1, 12)}
		c.Start += p.millis(1, 5)
		w.Children = []*Span{c}
		return w
	}
	return c
}
