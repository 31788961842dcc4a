package sla

import (
	"time"

	"ticketd/config"
)

// MaxDays is how many days from the day of start Due looks for working time
// in: ten years.
const MaxDays = 3653

// Due returns when a ticket that came in at start is due, d of working time
// later under the business hours bh; nil counts around the clock. See the
// package documentation for the rule.
func Due(start time.Time, d time.Duration, bh *config.BusinessHours) time.Time {
	d = max(d, 0)
	if bh == nil {
		return start.Add(d)
	}
	h := hoursOf(bh)
	first := h.date(start)
	left := d
	for i := range MaxDays {
		day := first.AddDate(0, 0, i)
		from, to, ok := h.span(day)
		if !ok {
			continue
		}
		if from.Before(start) {
			from = start
		}
		if !from.Before(to) {
			continue
		}
		avail := to.Sub(from)
		if left <= avail {
			return from.Add(left).In(start.Location())
		}
		left -= avail
	}
	return start.Add(d)
}

// Working reports whether t is working time under bh: inside a working
// day's hours. Without business hours every moment is. Working(t, bh) is
// Due(t, 0, bh).Equal(t) wherever Due finds working time within MaxDays.
func Working(t time.Time, bh *config.BusinessHours) bool {
	if bh == nil {
		return true
	}
	h := hoursOf(bh)
	day := h.date(t)
	// The working hours of t's day, or of the next day when the clocks went
	// back over midnight and t is in the hour that came twice.
	for _, day := range []time.Time{day, day.AddDate(0, 0, 1)} {
		if from, to, ok := h.span(day); ok && !t.Before(from) && t.Before(to) {
			return true
		}
	}
	return false
}

// hours are business hours made safe to compute with: a location, and
// minutes within one day.
type hours struct {
	bh     *config.BusinessHours
	loc    *time.Location
	lo, hi int
}

func hoursOf(bh *config.BusinessHours) hours {
	h := hours{bh: bh, loc: bh.Location, lo: clamp(bh.StartMinute), hi: clamp(bh.EndMinute)}
	if h.loc == nil {
		h.loc = time.UTC
	}
	return h
}

func clamp(minute int) int { return min(max(minute, 0), 24*60) }

// date returns the calendar date of t in the business hours' zone, as
// midnight UTC: dates are counted in UTC, which has no clock changes.
func (h hours) date(t time.Time) time.Time {
	y, m, d := t.In(h.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// span returns the working time of the date day (midnight UTC): from the
// first moment the clock shows the start to the first it shows the end;
// ok is false for a day without working time.
func (h hours) span(day time.Time) (from, to time.Time, ok bool) {
	if !h.bh.Weekdays[day.Weekday()] || h.bh.HolidayDates[day.Format(time.DateOnly)] || h.lo >= h.hi {
		return time.Time{}, time.Time{}, false
	}
	from, to = h.clock(day, h.lo), h.clock(day, h.hi)
	return from, to, from.Before(to)
}

// clock returns the first moment at which the zone's wall clock shows
// minute (0 .. 1440) of the date day or later: the moment itself on an
// ordinary day, the moment of the change when the clocks skip it, and its
// first showing when they show it twice.
func (h hours) clock(day time.Time, minute int) time.Time {
	y, m, d := day.Date()
	want := time.Date(y, m, d, 0, minute, 0, 0, time.UTC)
	t := time.Date(y, m, d, 0, minute, 0, 0, h.loc)
	start, end := t.ZoneBounds()
	switch w := wall(t); {
	case w.After(want): // skipped: t is after the change
		if !start.IsZero() {
			return start
		}
	case w.Before(want): // skipped: t is before the change
		if !end.IsZero() {
			return end
		}
	case !start.IsZero():
		// Shown twice when the clocks went back at start and t is the
		// second showing: the first is as much earlier as they went back.
		_, off := t.Zone()
		if _, prev := start.Add(-time.Nanosecond).Zone(); prev > off {
			if c := t.Add(-time.Duration(prev-off) * time.Second); c.Before(start) && wall(c).Equal(want) {
				return c
			}
		}
	}
	return t
}

// wall returns the wall clock reading of t as the same reading in UTC.
func wall(t time.Time) time.Time {
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	return time.Date(y, m, d, hh, mm, ss, t.Nanosecond(), time.UTC)
}
