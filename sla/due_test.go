package sla_test

import (
	"testing"
	"time"

	"ticketd/config"
	"ticketd/config/configtest"
	"ticketd/sla"
)

// hours returns the business hours a [queue.business_hours] table with
// keys gives, as the configuration parses them.
func hours(t *testing.T, keys string) *config.BusinessHours {
	t.Helper()
	c := configtest.Parse(t, `
[[queue]]
name = "support"
purpose = "support"
response_time = "1d"

[queue.business_hours]
`+keys)
	return c.Queue("support").BusinessHours
}

// at parses "2006-01-02 15:04" in the zone named tz.
func at(t *testing.T, tz, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDue(t *testing.T) {
	const berlin = `start = "09:00"
end = "17:00"
time_zone = "Europe/Berlin"
holidays = ["2026-12-24", "2026-12-25"]
`
	const auckland = `start = "09:00"
end = "17:00"
time_zone = "Pacific/Auckland"
`
	// Sundays only, so that the days of the clock changes in Berlin
	// (Sunday 2026-03-29 02:00 CET -> 03:00 CEST, Sunday 2026-10-25 03:00
	// CEST -> 02:00 CET) are working days.
	sundays := func(start, end string) string {
		return `days = ["sun"]
start = "` + start + `"
end = "` + end + `"
time_zone = "Europe/Berlin"
`
	}
	B := "Europe/Berlin"
	for _, tc := range []struct {
		name  string
		keys  string // "" is no business hours
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{"around the clock", "", at(t, B, "2026-03-06 16:30"), time.Hour, at(t, B, "2026-03-06 17:30")},
		{"around the clock over a clock change", "", at(t, B, "2026-03-28 12:00"), 24 * time.Hour, at(t, B, "2026-03-29 13:00")},
		{"negative is zero", "", at(t, B, "2026-03-06 16:30"), -time.Hour, at(t, B, "2026-03-06 16:30")},

		{"inside a day", berlin, at(t, B, "2026-03-09 10:00"), 2 * time.Hour, at(t, B, "2026-03-09 12:00")},
		{"friday 16:30 + 1h", berlin, at(t, B, "2026-03-06 16:30"), time.Hour, at(t, B, "2026-03-09 09:30")},
		{"up to the end of the day", berlin, at(t, B, "2026-03-06 16:00"), time.Hour, at(t, B, "2026-03-06 17:00")},
		{"before the hours", berlin, at(t, B, "2026-03-09 07:00"), 30 * time.Minute, at(t, B, "2026-03-09 09:30")},
		{"on a sunday", berlin, at(t, B, "2026-03-08 12:00"), time.Hour, at(t, B, "2026-03-09 10:00")},
		{"several days", berlin, at(t, B, "2026-03-09 10:00"), 20 * time.Hour, at(t, B, "2026-03-11 14:00")},
		{"a week of work", berlin, at(t, B, "2026-03-09 09:00"), 40 * time.Hour, at(t, B, "2026-03-13 17:00")},
		{"holidays skipped", berlin, at(t, B, "2026-12-23 16:00"), 2 * time.Hour, at(t, B, "2026-12-28 10:00")},
		{"on a holiday", berlin, at(t, B, "2026-12-24 10:00"), 0, at(t, B, "2026-12-28 09:00")},
		{"zero at the end of the day", berlin, at(t, B, "2026-03-06 17:00"), 0, at(t, B, "2026-03-09 09:00")},
		{"zero before the hours", berlin, at(t, B, "2026-03-09 08:59"), 0, at(t, B, "2026-03-09 09:00")},
		{"zero in the hours", berlin, at(t, B, "2026-03-09 11:11"), 0, at(t, B, "2026-03-09 11:11")},
		{"start given in UTC", berlin, at(t, "UTC", "2026-03-06 15:30"), time.Hour, at(t, B, "2026-03-09 09:30")},
		{"start with seconds", berlin, at(t, B, "2026-03-09 10:00").Add(30 * time.Second), time.Minute, at(t, B, "2026-03-09 10:01").Add(30 * time.Second)},
		{"negative is zero in business hours", berlin, at(t, B, "2026-03-08 12:00"), -time.Hour, at(t, B, "2026-03-09 09:00")},

		// Clocks forward: 2026-03-29 has 23 hours.
		{"forward, hours outside the change", sundays("09:00", "17:00"), at(t, B, "2026-03-28 20:00"), 8 * time.Hour, at(t, B, "2026-03-29 17:00")},
		{"forward, one minute more", sundays("09:00", "17:00"), at(t, B, "2026-03-28 20:00"), 8*time.Hour + time.Minute, at(t, B, "2026-04-05 09:01")},
		{"forward, whole day is 23h", sundays("00:00", "24:00"), at(t, B, "2026-03-28 12:00"), 23 * time.Hour, at(t, B, "2026-03-30 00:00")},
		{"forward, whole day and more", sundays("00:00", "24:00"), at(t, B, "2026-03-28 12:00"), 23*time.Hour + 30*time.Minute, at(t, B, "2026-04-05 00:30")},
		{"forward, hours over the change", sundays("01:00", "05:00"), at(t, B, "2026-03-28 12:00"), 3 * time.Hour, at(t, "UTC", "2026-03-29 03:00")},
		{"forward, to the change", sundays("01:00", "05:00"), at(t, B, "2026-03-28 12:00"), time.Hour, at(t, "UTC", "2026-03-29 01:00")},
		{"forward, start skipped", sundays("02:30", "04:00"), at(t, B, "2026-03-28 12:00"), 30 * time.Minute, at(t, "UTC", "2026-03-29 01:30")},
		{"forward, start skipped, whole day is 1h", sundays("02:30", "04:00"), at(t, B, "2026-03-28 12:00"), time.Hour + time.Minute, at(t, B, "2026-04-05 02:31")},
		{"forward, end skipped", sundays("01:00", "02:30"), at(t, B, "2026-03-28 12:00"), time.Hour + time.Minute, at(t, B, "2026-04-05 01:01")},
		{"forward, zero in the skipped hour's start", sundays("02:30", "04:00"), at(t, B, "2026-03-29 00:00"), 0, at(t, "UTC", "2026-03-29 01:00")},

		// Clocks back: 2026-10-25 has 25 hours, 02:00 to 03:00 twice.
		{"back, hours outside the change", sundays("09:00", "17:00"), at(t, B, "2026-10-24 20:00"), 8 * time.Hour, at(t, B, "2026-10-25 17:00")},
		{"back, whole day is 25h", sundays("00:00", "24:00"), at(t, B, "2026-10-24 12:00"), 25 * time.Hour, at(t, B, "2026-10-26 00:00")},
		{"back, 24h of it", sundays("00:00", "24:00"), at(t, B, "2026-10-24 12:00"), 24 * time.Hour, at(t, B, "2026-10-25 23:00")},
		{"back, start shown twice counts first", sundays("02:30", "04:00"), at(t, B, "2026-10-24 12:00"), 0, at(t, "UTC", "2026-10-25 00:30")},
		{"back, to the second 02:30", sundays("02:30", "04:00"), at(t, B, "2026-10-24 12:00"), time.Hour, at(t, "UTC", "2026-10-25 01:30")},
		{"back, 2.5h of work", sundays("02:30", "04:00"), at(t, B, "2026-10-24 12:00"), 150 * time.Minute, at(t, "UTC", "2026-10-25 03:00")},
		{"back, end shown twice ends at first", sundays("01:00", "02:30"), at(t, B, "2026-10-24 12:00"), 90*time.Minute + time.Minute, at(t, B, "2026-11-01 01:01")},
		{"back, start in the second showing", sundays("02:30", "04:00"), at(t, "UTC", "2026-10-25 01:45"), 15 * time.Minute, at(t, "UTC", "2026-10-25 02:00")},

		// Twelve (winter: thirteen) hours ahead of UTC.
		{"auckland friday 16:30 + 1h", auckland, at(t, "UTC", "2026-06-05 04:30"), time.Hour, at(t, "UTC", "2026-06-07 21:30")},
		{"auckland, tuesday while UTC has monday", auckland, at(t, "UTC", "2026-06-01 22:00"), time.Hour, at(t, "UTC", "2026-06-01 23:00")},
		{"auckland, over its clock change", auckland, at(t, "Pacific/Auckland", "2026-09-25 16:30"), time.Hour, at(t, "UTC", "2026-09-27 20:30")},
		// In Santiago the clocks go back from Saturday 2026-04-04 24:00 to
		// 23:00: Sunday begins after Saturday's last hour came twice.
		{"santiago, clocks back at midnight", "days = [\"sun\"]\nstart = \"00:00\"\nend = \"24:00\"\ntime_zone = \"America/Santiago\"\n",
			at(t, "UTC", "2026-04-05 02:30"), 90 * time.Minute, at(t, "UTC", "2026-04-05 05:30")},
		{"auckland, before its hours", auckland, at(t, "UTC", "2026-06-01 20:00"), 0, at(t, "UTC", "2026-06-01 21:00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bh *config.BusinessHours
			if tc.keys != "" {
				bh = hours(t, tc.keys)
			}
			got := sla.Due(tc.start, tc.d, bh)
			if !got.Equal(tc.want) {
				t.Errorf("Due(%v, %v) = %v (%v), want %v (%v)", tc.start, tc.d, got, got.UTC(), tc.want, tc.want.UTC())
			}
			if got.Location() != tc.start.Location() {
				t.Errorf("Due(%v, %v) is in %v, want start's %v", tc.start, tc.d, got.Location(), tc.start.Location())
			}
		})
	}
}

func TestWorking(t *testing.T) {
	berlin := hours(t, "start = \"09:00\"\nend = \"17:00\"\ntime_zone = \"Europe/Berlin\"\nholidays = [\"2026-12-24\"]\n")
	twice := hours(t, "days = [\"sun\"]\nstart = \"02:30\"\nend = \"04:00\"\ntime_zone = \"Europe/Berlin\"\n")
	short := hours(t, "days = [\"sun\"]\nstart = \"01:00\"\nend = \"02:30\"\ntime_zone = \"Europe/Berlin\"\n")
	// Santiago: Saturday 2026-04-04 23:00 to 24:00 comes twice, then Sunday.
	santiago := hours(t, "days = [\"sun\"]\nstart = \"00:00\"\nend = \"24:00\"\ntime_zone = \"America/Santiago\"\n")
	B := "Europe/Berlin"
	for _, tc := range []struct {
		name string
		bh   *config.BusinessHours
		t    time.Time
		want bool
	}{
		{"no business hours", nil, at(t, B, "2026-03-08 03:00"), true},
		{"start of the day", berlin, at(t, B, "2026-03-09 09:00"), true},
		{"last minute", berlin, at(t, B, "2026-03-09 16:59"), true},
		{"end of the day", berlin, at(t, B, "2026-03-09 17:00"), false},
		{"before", berlin, at(t, B, "2026-03-09 08:59"), false},
		{"saturday", berlin, at(t, B, "2026-03-07 10:00"), false},
		{"holiday", berlin, at(t, B, "2026-12-24 10:00"), false},
		{"in UTC", berlin, at(t, "UTC", "2026-03-09 08:30"), true},
		{"first 02:45", twice, at(t, "UTC", "2026-10-25 00:45"), true},
		{"second 02:45", twice, at(t, "UTC", "2026-10-25 01:45"), true},
		{"before the first 02:30", twice, at(t, "UTC", "2026-10-25 00:15"), false},
		{"second 02:15, after the day's end", short, at(t, "UTC", "2026-10-25 01:15"), false},
		{"first 02:15", short, at(t, "UTC", "2026-10-25 00:15"), true},
		{"first saturday 23:30", santiago, at(t, "UTC", "2026-04-05 02:30"), false},
		{"second saturday 23:30", santiago, at(t, "UTC", "2026-04-05 03:30"), false},
		{"sunday 00:00", santiago, at(t, "UTC", "2026-04-05 04:00"), true},
		{"sunday 00:30", santiago, at(t, "UTC", "2026-04-05 04:30"), true},
	} {
		if got := sla.Working(tc.t, tc.bh); got != tc.want {
			t.Errorf("%s: Working(%v) = %v, want %v", tc.name, tc.t, got, tc.want)
		}
	}
}

// TestDueBound: holidays that fill more than MaxDays, and a d longer than
// the working time of MaxDays, end the search with start + d.
func TestDueBound(t *testing.T) {
	start := at(t, "UTC", "2026-03-09 10:00")
	bh := hours(t, "start = \"09:00\"\nend = \"17:00\"\ntime_zone = \"UTC\"\n")
	bh.HolidayDates = map[string]bool{}
	for i := range sla.MaxDays + 7 {
		bh.HolidayDates[start.AddDate(0, 0, i).Format(time.DateOnly)] = true
	}
	if got := sla.Due(start, time.Hour, bh); !got.Equal(start.Add(time.Hour)) {
		t.Errorf("holidays for years: Due = %v, want start + 1h", got)
	}
	bh = hours(t, "start = \"09:00\"\nend = \"17:00\"\ntime_zone = \"UTC\"\n")
	long := 11 * 365 * 24 * time.Hour
	if got := sla.Due(start, long, bh); !got.Equal(start.Add(long)) {
		t.Errorf("d of 11 years: Due = %v, want start + d", got)
	}
	// Within the bound: 468 weeks of five 8-hour days end 468 weeks later.
	within := 468 * 5 * 8 * time.Hour
	if got, want := sla.Due(start, within, bh), start.AddDate(0, 0, 468*7); !got.Equal(want) {
		t.Errorf("d of 468 weeks of work: Due = %v, want %v", got, want)
	}
}
