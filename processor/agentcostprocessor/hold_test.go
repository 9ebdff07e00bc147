package agentcostprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentcost/agentcost/internal/attrs"
)

type genSpan struct {
	trace        byte
	id, parent   uint16
	kind         string // root, agent, chain, chat, tool
	agent        string // own agent id (agents only)
	wantAgent    string // billable spans: expected agent
	wantRoot     string
	wantInherits bool
}

// genTrace builds a random agent trace: a server root, nested agents and
// chains, and chat and tool calls as leaves; it computes each call's
// expected agent (nearest enclosing agent) and root agent (outermost).
func genTrace(r *rand.Rand, trace byte) []genSpan {
	spans := []genSpan{{trace: trace, id: 1, kind: "root"}}
	next := uint16(2)
	var grow func(parent uint16, depth int, nearest, outer string)
	grow = func(parent uint16, depth int, nearest, outer string) {
		for range 1 + r.IntN(3) {
			id := next
			next++
			switch k := r.IntN(4); {
			case depth < 4 && k == 0:
				a := fmt.Sprintf("agent-%d-%d", trace, id)
				spans = append(spans, genSpan{trace: trace, id: id, parent: parent, kind: "agent", agent: a})
				o := outer
				if o == "" {
					o = a
				}
				grow(id, depth+1, a, o)
			case depth < 4 && k == 1:
				spans = append(spans, genSpan{trace: trace, id: id, parent: parent, kind: "chain"})
				grow(id, depth+1, nearest, outer)
			default:
				kind := "chat"
				if r.IntN(3) == 0 {
					kind = "tool"
				}
				want, root := nearest, outer
				if want == "" {
					want, root = "svc", "svc"
				}
				spans = append(spans, genSpan{trace: trace, id: id, parent: parent, kind: kind, wantAgent: want, wantRoot: root, wantInherits: nearest != ""})
			}
		}
	}
	grow(1, 0, "", "")
	return spans
}

func (g genSpan) append(ss ptrace.SpanSlice) {
	sp := ss.AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{15: g.trace})
	sp.SetSpanID(pcommon.SpanID{6: byte(g.id >> 8), 7: byte(g.id)})
	if g.parent != 0 {
		sp.SetParentSpanID(pcommon.SpanID{6: byte(g.parent >> 8), 7: byte(g.parent)})
	}
	sp.SetName(g.kind)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)))
	a := sp.Attributes()
	switch g.kind {
	case "root":
		sp.SetKind(ptrace.SpanKindServer)
	case "agent":
		a.PutStr("gen_ai.operation.name", "invoke_agent")
		a.PutStr("gen_ai.agent.id", g.agent)
	case "chain":
		a.PutStr("gen_ai.operation.name", "invoke_workflow")
	case "chat":
		a.PutStr("gen_ai.operation.name", "chat")
		a.PutStr("gen_ai.provider.name", "openai")
		a.PutStr("gen_ai.request.model", "gpt-4o")
		a.PutInt("gen_ai.usage.input_tokens", 100)
		a.PutInt("gen_ai.usage.output_tokens", 10)
	case "tool":
		a.PutStr("gen_ai.operation.name", "execute_tool")
		a.PutStr("gen_ai.tool.name", "web_search")
	}
}

// TestHoldRandomArrival sends random agent traces in random order and
// random batch sizes (children before, after or with their agents) and
// checks that no span is lost or duplicated and that every model and tool
// call gets its nearest enclosing agent and the outermost agent as root,
// whatever the arrival order.
func TestHoldRandomArrival(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			var all []genSpan
			for tr := range 1 + r.IntN(8) {
				all = append(all, genTrace(r, byte(tr+1))...)
			}
			r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })

			cfg := testConfig(t)
			cfg.Hold.Wait = time.Hour
			// Every third seed runs with a tiny buffer: spans overflow and
			// the recent memory evicts; then only loss and duplication are
			// checked.
			tiny := seed%3 == 2
			if tiny {
				cfg.Hold.MaxSpans, cfg.Hold.MaxTraces = 3, 2
			}
			sink := new(consumertest.TracesSink)
			p := newTestProcessor(t, cfg, sink)
			require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
			for i := 0; i < len(all); {
				n := min(1+r.IntN(6), len(all)-i)
				td := ptrace.NewTraces()
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutStr("service.name", "svc")
				ss := rs.ScopeSpans().AppendEmpty().Spans()
				for _, g := range all[i : i+n] {
					g.append(ss)
				}
				require.NoError(t, p.ConsumeTraces(context.Background(), td))
				i += n
			}
			require.NoError(t, p.Shutdown(context.Background()))

			want := map[spanKey]genSpan{}
			for _, g := range all {
				want[spanKey{pcommon.TraceID{15: g.trace}, pcommon.SpanID{6: byte(g.id >> 8), 7: byte(g.id)}}] = g
			}
			seen := map[spanKey]bool{}
			for _, td := range sink.AllTraces() {
				rss := td.ResourceSpans()
				for i := 0; i < rss.Len(); i++ {
					sss := rss.At(i).ScopeSpans()
					for j := 0; j < sss.Len(); j++ {
						spans := sss.At(j).Spans()
						for k := 0; k < spans.Len(); k++ {
							sp := spans.At(k)
							key := spanKey{sp.TraceID(), sp.SpanID()}
							require.False(t, seen[key], "span %v twice", key)
							seen[key] = true
							g, ok := want[key]
							require.True(t, ok)
							if tiny || (g.kind != "chat" && g.kind != "tool") {
								continue
							}
							m := sp.Attributes()
							name := fmt.Sprintf("trace %d span %d", g.trace, g.id)
							require.Equal(t, g.wantAgent, str(t, m, attrs.AgentID), name)
							require.Equal(t, g.wantRoot, str(t, m, attrs.RootAgentID), name)
							status := attrs.IdentityFallback
							if g.wantInherits {
								status = attrs.IdentityInherited
							}
							require.Equal(t, status, str(t, m, attrs.IdentityStatus), name)
						}
					}
				}
			}
			require.Len(t, seen, len(all), "spans lost")
		})
	}
}

func TestRecentNodesEviction(t *testing.T) {
	r := newRecentNodes(2)
	k := func(i byte) spanKey { return spanKey{s: pcommon.SpanID{7: i}} }
	r.add(k(1), node{agent: agentRef{id: "a"}})
	r.add(k(2), node{agent: agentRef{id: "b"}})
	r.add(k(1), node{agent: agentRef{id: "a2"}}) // update, no eviction
	require.Equal(t, "a2", r.m[k(1)].agent.id)
	r.add(k(3), node{agent: agentRef{id: "c"}}) // evicts the oldest (1)
	_, ok := r.m[k(1)]
	require.False(t, ok)
	require.Len(t, r.m, 2)
	require.Equal(t, "b", r.m[k(2)].agent.id)
	require.Equal(t, "c", r.m[k(3)].agent.id)
	newRecentNodes(0).add(k(1), node{}) // capacity 0: no-op, no panic
}
