package pricing

import (
	"fmt"
)

// Validate checks the rules a catalog must keep beyond what parsing already
// enforces (decimal prices, known price keys, anchored patterns, ascending
// tiers, unique aliases, parent units priced): no two prices of a model with
// the same conditions overlap in time, and every model is reachable by its
// own id and each alias. It returns one error per problem.
func (c *Catalog) Validate() []error {
	var errs []error
	for _, p := range c.providers {
		for _, m := range p.models {
			errs = append(errs, checkOverlaps(m)...)
			for _, name := range append([]string{m.id}, m.file.Aliases...) {
				got, kind := c.findModel(p, lower(name), false)
				if got != m {
					gotID := "<none>"
					if got != nil {
						gotID = got.id
					}
					errs = append(errs, fmt.Errorf("provider %q model %q: name %q resolves to %q (%s), not to the model", p.id, m.id, name, gotID, kind))
				}
			}
		}
	}
	return errs
}

func checkOverlaps(m *model) []error {
	var errs []error
	for i := range m.prices {
		a := &m.prices[i]
		for j := i + 1; j < len(m.prices); j++ {
			b := &m.prices[j]
			if a.tier != b.tier || a.batch != b.batch || a.win != b.win {
				continue
			}
			if a.from >= b.to || b.from >= a.to {
				continue
			}
			if a.win && !windowsOverlap(a, b) {
				continue
			}
			errs = append(errs, fmt.Errorf("provider %q model %q: prices %q and %q overlap in time for the same conditions", m.prov.id, m.id, a.id, b.id))
		}
	}
	return errs
}

// windowsOverlap reports whether two daily windows share an instant.
func windowsOverlap(a, b *price) bool {
	in := func(p *price, t int64) bool {
		if p.winStart < p.winEnd {
			return t >= p.winStart && t < p.winEnd
		}
		return t >= p.winStart || t < p.winEnd
	}
	return in(a, b.winStart) || in(b, a.winStart)
}
