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
