package config

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

// ParseDuration parses a Go duration ("90s", "5m", "1h30m") that may start
// with a number of days ("2d", "1.5d", "1d12h"). A day is 24 hours.
func ParseDuration(s string) (time.Duration, error) {
	invalid := fmt.Errorf("invalid duration %q (use units such as 90s, 5m, 1h30m, 2d)", s)
	rest := s
	neg := strings.HasPrefix(s, "-")
	if neg || strings.HasPrefix(s, "+") {
		rest = s[1:]
	}
	var days time.Duration
	if n, r, ok := strings.Cut(rest, "d"); ok {
		if n == "" || strings.Trim(n, "0123456789.") != "" {
			return 0, invalid
		}
		h, err := time.ParseDuration(n + "h")
		if err != nil || h > math.MaxInt64/24 {
			return 0, invalid
		}
		days, rest = h*24, cmp.Or(r, "0s")
	}
	if rest == "" || strings.IndexByte("0123456789.", rest[0]) < 0 {
		return 0, invalid
	}
	v, err := time.ParseDuration(rest)
	if err != nil || v > math.MaxInt64-days {
		return 0, invalid
	}
	total := days + v
	if neg {
		total = -total
	}
	return total, nil
}

// UnmarshalText parses text with ParseDuration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText returns d.String(), which ParseDuration accepts.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String formats whole days as "2d" and anything else like time.Duration.
func (d Duration) String() string {
	if d.Duration != 0 && d.Duration%day == 0 {
		return strconv.FormatInt(int64(d.Duration/day), 10) + "d"
	}
	return d.Duration.String()
}

// sizeUnits are the units of a Size, largest first.
var sizeUnits = []struct {
	name  string
	bytes int64
}{
	{"GiB", 1 << 30}, {"GB", 1e9},
	{"MiB", 1 << 20}, {"MB", 1e6},
	{"KiB", 1 << 10}, {"KB", 1e3},
	{"B", 1},
}

// ParseSize parses a byte count: a non-negative integer with an optional
// unit, B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024),
// in any case and optionally after a space: "512", "25MB", "64MiB", "1 gib".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("invalid size %q: must not be negative", s)
	}
	digits := len(t) - len(strings.TrimLeft(t, "0123456789"))
	if digits == 0 {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes with an optional unit, such as 25MB", s)
	}
	n, err := strconv.ParseInt(t[:digits], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	unit := strings.TrimSpace(t[digits:])
	if unit == "" {
		return n, nil
	}
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u.name) {
			if n > math.MaxInt64/u.bytes {
				return 0, fmt.Errorf("invalid size %q: too large", s)
			}
			return n * u.bytes, nil
		}
	}
	return 0, fmt.Errorf("invalid size %q: unknown unit %q (use B, KB, MB, GB, KiB, MiB or GiB)", s, unit)
}

// UnmarshalText parses text with ParseSize.
func (s *Size) UnmarshalText(text []byte) error {
	n, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

// MarshalText returns s.String(), which ParseSize accepts.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// String formats s in the largest unit that divides it exactly: 64MiB, 25MB,
// 1500B.
func (s Size) String() string {
	for _, u := range sizeUnits {
		if s != 0 && int64(s)%u.bytes == 0 {
			return strconv.FormatInt(int64(s)/u.bytes, 10) + u.name
		}
	}
	return "0B"
}

// Largest periods whose Duration fits in a time.Duration.
const (
	maxPeriodDays  = math.MaxInt64 / int64(day)
	maxPeriodYears = maxPeriodDays / 365
)

// ParsePeriod parses a retention period: a non-negative whole number of days
// or years, "90d", "2y", "0d". Nothing else is accepted: no sign, no fraction,
// no other unit and no mix such as "2y3d".
func ParsePeriod(s string) (Period, error) {
	n, unit := s, byte(0)
	if s != "" {
		n, unit = s[:len(s)-1], s[len(s)-1]
	}
	if n == "" || strings.Trim(n, "0123456789") != "" || unit != 'd' && unit != 'y' {
		return Period{}, fmt.Errorf(`want days or years such as "90d" or "2y", got %q`, s)
	}
	limit := maxPeriodDays
	if unit == 'y' {
		limit = maxPeriodYears
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || v > limit {
		return Period{}, fmt.Errorf("%q is too long, at most %d%c", s, limit, unit)
	}
	if unit == 'y' {
		return Period{Years: int(v)}, nil
	}
	return Period{Days: int(v)}, nil
}

// UnmarshalText parses text with ParsePeriod.
func (p *Period) UnmarshalText(text []byte) error {
	v, err := ParsePeriod(string(text))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText returns p.String(). It fails for a Period that ParsePeriod
// cannot return: negative, or with both days and years.
func (p Period) MarshalText() ([]byte, error) {
	if p.Days < 0 || p.Years < 0 || p.Days != 0 && p.Years != 0 {
		return nil, fmt.Errorf("config: period %s is not a number of days or of years", p)
	}
	return []byte(p.String()), nil
}

// String formats p as "90d" or "2y"; the zero Period is "0d". A Period built
// in code with both days and years is "2y3d", which ParsePeriod rejects.
func (p Period) String() string {
	switch {
	case p.Years == 0:
		return strconv.Itoa(p.Days) + "d"
	case p.Days == 0:
		return strconv.Itoa(p.Years) + "y"
	}
	return strconv.Itoa(p.Years) + "y" + strconv.Itoa(p.Days) + "d"
}

// Duration returns p as a fixed length of time, a year counting as 365
// days. Use AddTo for the calendar date a period ends on.
func (p Period) Duration() time.Duration {
	return time.Duration(p.Days)*day + time.Duration(p.Years)*365*day
}

// AddTo returns t plus p in calendar terms: t.AddDate(years, 0, days), so a
// year from 29 February is 1 March of the next year.
func (p Period) AddTo(t time.Time) time.Time { return t.AddDate(p.Years, 0, p.Days) }
