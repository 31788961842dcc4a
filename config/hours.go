package config

import (
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time_zone works on a machine without a zoneinfo database
)

// Allowed values of the agent-loop keys of a queue.
var notifyModes = []string{NotifyFull, NotifyMinimal}

// weekdays are the names business_hours.days takes, by time.Weekday.
var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// defaultDays are the working days of business hours that name none.
var defaultDays = []string{"mon", "tue", "wed", "thu", "fri"}

// ScheduleOff is the value of a schedule key that may be switched off,
// such as [agents] digest_schedule.
const ScheduleOff = "off"

// queueDefaults fills in the agent-loop keys of one [[queue]] at p.
func (d *decoder) queueDefaults(p string, q *Queue) {
	setDefault(d, p+".notify", &q.Notify, NotifyFull)
	setDefault(d, p+".reopen_within", &q.ReopenWithin, Duration{30 * day})
	if q.BusinessHours != nil {
		setDefault(d, p+".business_hours.days", &q.BusinessHours.Days, append([]string{}, defaultDays...))
	}
}

// queueLoop checks the agent-loop keys of one [[queue]] at p.
func (d *decoder) queueLoop(p string, q *Queue) {
	d.oneOf(p+".notify", q.Notify, notifyModes)
	if q.ReopenWithin.Duration <= 0 {
		d.keyErrorf(p+".reopen_within", "must be positive, got %s", q.ReopenWithin)
	}
	if q.BusinessHours != nil {
		d.businessHours(p+".business_hours", q.BusinessHours)
	}
}

// businessHours checks a [queue.business_hours] table at p and fills in
// its parsed fields.
func (d *decoder) businessHours(p string, b *BusinessHours) {
	b.Weekdays = [7]bool{}
	first := map[string]int{}
	valid := true
	for i, name := range b.Days {
		dp := index(p+".days", i+1)
		day := strings.ToLower(name)
		n := slices.Index(weekdays, day)
		switch j, dup := first[day]; {
		case n < 0:
			d.keyErrorf(dp, `must be one of "mon", "tue", "wed", "thu", "fri", "sat", "sun", got %q`, name)
			valid = false
		case dup:
			d.keyErrorf(dp, "duplicate day %q, first listed as days[%d]", name, j)
		default:
			first[day] = i + 1
			b.Weekdays[n] = true
		}
	}
	if valid && b.Weekdays == [7]bool{} {
		d.keyErrorf(p+".days", "must name at least one working day, such as [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]")
	}

	d.required(p, "start", b.Start, "end", b.End, "time_zone", b.TimeZone)
	start, okStart := d.clock(p+".start", b.Start, false)
	end, okEnd := d.clock(p+".end", b.End, true)
	b.StartMinute, b.EndMinute = start, end
	if okStart && okEnd && start >= end {
		d.keyErrorf(p+".end", "must be later than start %q, got %q (working hours end on the day they start)", b.Start, b.End)
	}

	b.Location = nil
	switch tz := b.TimeZone; {
	case tz == "":
	case tz == "Local":
		d.keyErrorf(p+".time_zone", `must be an IANA time zone name such as "Europe/Berlin", not %q`, tz)
	default:
		loc, err := time.LoadLocation(tz)
		if err != nil {
			d.keyErrorf(p+".time_zone", `unknown time zone %q (an IANA name such as "Europe/Berlin" or "UTC")`, tz)
			break
		}
		b.Location = loc
	}

	b.HolidayDates = map[string]bool{}
	for i, h := range b.Holidays {
		t, err := time.Parse(time.DateOnly, h)
		if err != nil || t.Format(time.DateOnly) != h {
			d.keyErrorf(index(p+".holidays", i+1), `must be a date such as "2026-12-24", got %q`, h)
			continue
		}
		b.HolidayDates[h] = true
	}
}

// clock parses a time of day "HH:MM" (24-hour clock) at path into minutes
// after midnight; with end, "24:00" (the end of the day) is allowed too.
// Only a non-empty value is reported: a missing one is reported as such.
func (d *decoder) clock(path, s string, end bool) (int, bool) {
	if s == "" {
		return 0, false
	}
	m, ok := parseClock(s)
	if ok && (m < 24*60 || end && m == 24*60) {
		return m, true
	}
	last := "23:59"
	if end {
		last = "24:00"
	}
	d.keyErrorf(path, `must be a time of day "HH:MM" from "00:00" to %q, got %q`, last, s)
	return 0, false
}

// parseClock parses "HH:MM" with two digits each, hours up to 24.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	digits := func(a, b byte) (int, bool) {
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return 0, false
		}
		return int(a-'0')*10 + int(b-'0'), true
	}
	h, ok1 := digits(s[0], s[1])
	m, ok2 := digits(s[3], s[4])
	if !ok1 || !ok2 || h > 24 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}
