package sla_test

import (
	"math"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/sla"
)

// fuzzZones are zones with unusual clock changes: 30-minute ones
// (Australia/Lord_Howe), two hours at once (Antarctica/Troll), at midnight
// (America/Santiago, America/Havana), a whole day skipped (Pacific/Apia,
// 2011-12-30), offsets far from UTC and not of whole hours.
var fuzzZones = []string{"UTC", "Europe/Berlin", "Pacific/Auckland", "America/Santiago", "Australia/Lord_Howe",
	"Asia/Kathmandu", "Pacific/Apia", "Antarctica/Troll", "America/Havana", "Pacific/Kiritimati"}

// FuzzDue: Due ends and never panics, is never before start + d, stays
// within its bound, is in start's location, grows with d, and agrees with
// Working.
func FuzzDue(f *testing.F) {
	f.Add(int64(1772811000), int64(time.Hour), uint8(0b0111110), uint16(9*60), uint16(17*60), uint8(1), int16(0), uint16(0))
	f.Add(int64(1774742400), int64(23*time.Hour), uint8(0b0000001), uint16(0), uint16(24*60), uint8(1), int16(0), uint16(0))
	f.Add(int64(1792800000), int64(0), uint8(0b0000001), uint16(150), uint16(240), uint8(1), int16(3), uint16(2))
	f.Add(int64(1325000000), int64(90*time.Minute), uint8(0b1111111), uint16(0), uint16(60), uint8(6), int16(0), uint16(0))
	f.Add(int64(1772811000), int64(time.Hour), uint8(0b0111110), uint16(9*60), uint16(17*60), uint8(0), int16(-1), uint16(3700))
	f.Add(int64(-62135596800), int64(1<<62), uint8(0), uint16(0), uint16(0), uint8(3), int16(0), uint16(0))
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), uint8(0b1111111), uint16(0), uint16(1440), uint8(2), int16(0), uint16(0))
	f.Add(int64(math.MinInt64), int64(-1), uint8(0b1111111), uint16(600), uint16(1200), uint8(7), int16(0), uint16(0))
	f.Add(int64(253402300799), int64(48*time.Hour), uint8(0b1111111), uint16(600), uint16(1200), uint8(1), int16(0), uint16(0))
	f.Fuzz(func(t *testing.T, sec, d int64, days uint8, lo, hi uint16, zone uint8, holFrom int16, holLen uint16) {
		loc, err := time.LoadLocation(fuzzZones[int(zone)%len(fuzzZones)])
		if err != nil {
			t.Fatal(err)
		}
		start := time.Unix(sec, 0).In(time.FixedZone("start", 3600))
		bh := &config.BusinessHours{Location: loc, StartMinute: int(lo) % 1442, EndMinute: int(hi) % 1442, HolidayDates: map[string]bool{}}
		for i := range bh.Weekdays {
			bh.Weekdays[i] = days&(1<<i) != 0
		}
		first := start.In(loc)
		for i := range int(holLen) % 4000 {
			bh.HolidayDates[first.AddDate(0, 0, int(holFrom)+i).Format(time.DateOnly)] = true
		}

		dur := time.Duration(d)
		plain := start.Add(max(dur, 0))
		got := sla.Due(start, dur, bh)
		switch {
		case got.Before(start):
			t.Fatalf("Due(%v, %v) = %v, before start", start, dur, got)
		case got.Before(plain):
			t.Fatalf("Due(%v, %v) = %v, before start + d = %v", start, dur, got, plain)
		case !got.Equal(plain) && got.After(start.Add((sla.MaxDays+2)*24*time.Hour)):
			t.Fatalf("Due(%v, %v) = %v, beyond the bound", start, dur, got)
		case got.Location() != start.Location():
			t.Fatalf("Due(%v, %v) is in %v", start, dur, got.Location())
		}
		if half := sla.Due(start, dur/2, bh); !got.Equal(plain) && half.After(got) {
			t.Fatalf("Due(%v, %v) = %v, but with half of it %v", start, dur, got, half)
		}
		if sla.Working(start, bh) && !sla.Due(start, 0, bh).Equal(start) {
			t.Fatalf("Working(%v) but Due(start, 0) = %v", start, sla.Due(start, 0, bh))
		}
		if bh.Weekdays != [7]bool{} && bh.StartMinute < bh.EndMinute && bh.EndMinute <= 1440 && len(bh.HolidayDates) == 0 {
			// There is working time every week: Due(start, 0) is the next
			// working minute, start itself exactly when start is working time.
			now := sla.Due(start, 0, bh)
			if now.Equal(start) != sla.Working(start, bh) {
				t.Fatalf("Due(%v, 0) = %v, but Working(start) = %v", start, now, sla.Working(start, bh))
			}
		}
	})
}
