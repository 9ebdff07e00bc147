package agentcostbudgetextension

import (
	"fmt"
	"time"
)

// windowSpec is a compiled budget window: a calendar period in a time zone,
// or a rolling duration.
type windowSpec struct {
	period    string // day, week, month; empty for rolling
	loc       *time.Location
	weekStart time.Weekday
	rolling   time.Duration
}

func (w windowSpec) isRolling() bool { return w.rolling > 0 }

// String describes the window, e.g. "calendar month Europe/Paris" or
// "rolling 24h0m0s".
func (w windowSpec) String() string {
	if w.isRolling() {
		return "rolling " + w.rolling.String()
	}
	s := "calendar " + w.period + " " + w.loc.String()
	if w.period == PeriodWeek {
		s += fmt.Sprintf(" from %s", w.weekStart)
	}
	return s
}

// bounds returns the calendar window containing now: [start, end), computed
// on wall-clock dates in the window's zone so that days that are 23 or 25
// hours long across a DST change are handled. For rolling windows it returns
// [now-rolling, now].
func (w windowSpec) bounds(now time.Time) (start, end time.Time) {
	if w.isRolling() {
		return now.Add(-w.rolling), now
	}
	t := now.In(w.loc)
	y, m, d := t.Date()
	switch w.period {
	case PeriodDay:
		start = time.Date(y, m, d, 0, 0, 0, 0, w.loc)
		end = time.Date(y, m, d+1, 0, 0, 0, 0, w.loc)
	case PeriodWeek:
		back := (int(t.Weekday()) - int(w.weekStart) + 7) % 7
		start = time.Date(y, m, d-back, 0, 0, 0, 0, w.loc)
		end = time.Date(y, m, d-back+7, 0, 0, 0, 0, w.loc)
	default: // month
		start = time.Date(y, m, 1, 0, 0, 0, 0, w.loc)
		end = time.Date(y, m+1, 1, 0, 0, 0, 0, w.loc)
	}
	// A zone whose midnight is skipped by DST (e.g. America/Santiago) makes
	// time.Date normalise forward; the window still contains now.
	if start.After(now) {
		start = now
	}
	return start, end
}
