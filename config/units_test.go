package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"5m", 5 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"2d", 48 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"0d", 0, true},
		{"0", 0, true},
		{"-1d", -24 * time.Hour, true},
		{"+1d1s", 24*time.Hour + time.Second, true},
		{"", 0, false},
		{"d", 0, false},
		{"1h2d", 0, false},
		{"5m2d", 0, false},
		{"1d2d", 0, false},
		{"1d-5h", 0, false},
		{"--1d", 0, false},
		{"90", 0, false},
		{"90 s", 0, false},
		{"5 minutes", 0, false},
		{"200000d", 0, false},
		{"106751d23h47m17s", 0, false},
	} {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestDurationText(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{48 * time.Hour, "2d"},
		{36 * time.Hour, "36h0m0s"},
		{90 * time.Second, "1m30s"},
		{0, "0s"},
		{-24 * time.Hour, "-1d"},
	} {
		d := Duration{tc.d}
		if got := d.String(); got != tc.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tc.d, got, tc.want)
		}
		text, _ := d.MarshalText()
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Errorf("round trip of %v = %v, %v", tc.d, back, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1500", 1500, true},
		{"1500B", 1500, true},
		{"512KB", 512_000, true},
		{"25MB", 25_000_000, true},
		{"1GB", 1_000_000_000, true},
		{"64KiB", 64 << 10, true},
		{"64MiB", 64 << 20, true},
		{"1GiB", 1 << 30, true},
		{"64mib", 64 << 20, true},
		{"25 mb", 25_000_000, true},
		{" 1 GiB ", 1 << 30, true},
		{"-5MB", 0, false},
		{"-1", 0, false},
		{"", 0, false},
		{"MB", 0, false},
		{"1.5GB", 0, false},
		{"25XB", 0, false},
		{"25M", 0, false},
		{"9223372036854775808", 0, false},
		{"9000000000GiB", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestSizeText(t *testing.T) {
	for _, tc := range []struct {
		s    Size
		want string
	}{
		{64 << 20, "64MiB"},
		{1 << 30, "1GiB"},
		{25_000_000, "25MB"},
		{1024, "1KiB"},
		{2000, "2KB"},
		{1500, "1500B"},
		{0, "0B"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tc.s), got, tc.want)
		}
		text, _ := tc.s.MarshalText()
		var back Size
		if err := back.UnmarshalText(text); err != nil || back != tc.s {
			t.Errorf("round trip of %d = %d, %v", int64(tc.s), int64(back), err)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Period
		ok   bool
	}{
		{"90d", Period{Days: 90}, true},
		{"2y", Period{Years: 2}, true},
		{"0d", Period{}, true},
		{"0y", Period{}, true},
		{"1d", Period{Days: 1}, true},
		{"007d", Period{Days: 7}, true},
		{"106751d", Period{Days: 106751}, true},
		{"292y", Period{Years: 292}, true},
		{"", Period{}, false},
		{"d", Period{}, false},
		{"y", Period{}, false},
		{"90", Period{}, false},
		{"1h", Period{}, false},
		{"1w", Period{}, false},
		{"1m", Period{}, false},
		{"-1d", Period{}, false},
		{"+1d", Period{}, false},
		{"1.5y", Period{}, false},
		{"2y3d", Period{}, false},
		{"1d1d", Period{}, false},
		{"90D", Period{}, false},
		{"90 d", Period{}, false},
		{" 90d", Period{}, false},
		{"90d ", Period{}, false},
		{"106752d", Period{}, false},
		{"293y", Period{}, false},
		{"99999999999999999999d", Period{}, false},
	} {
		got, err := ParsePeriod(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParsePeriod(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		var p Period
		if err := p.UnmarshalText([]byte(tc.in)); (err == nil) != tc.ok || p != tc.want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, ok %v", tc.in, p, err, tc.want, tc.ok)
		}
	}
	_, err := ParsePeriod("1h")
	if want := `want days or years such as "90d" or "2y", got "1h"`; err == nil || err.Error() != want {
		t.Errorf("ParsePeriod(1h) error = %v, want %q", err, want)
	}
}

func TestPeriodText(t *testing.T) {
	for _, tc := range []struct {
		p    Period
		want string
	}{
		{Period{Days: 90}, "90d"},
		{Period{Years: 2}, "2y"},
		{Period{}, "0d"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.p, got, tc.want)
		}
		text, err := tc.p.MarshalText()
		var back Period
		if err != nil || back.UnmarshalText(text) != nil || back != tc.p {
			t.Errorf("round trip of %#v = %v, %v", tc.p, back, err)
		}
	}
	// Periods that ParsePeriod never returns print, but do not marshal.
	for _, p := range []Period{{Years: 1, Days: 2}, {Days: -1}, {Years: -1}} {
		if text, err := p.MarshalText(); err == nil {
			t.Errorf("%#v.MarshalText() = %q, want an error", p, text)
		}
	}
	if got := (Period{Years: 1, Days: 2}).String(); got != "1y2d" {
		t.Errorf("String() = %q, want 1y2d", got)
	}
}

func TestPeriodDuration(t *testing.T) {
	for _, tc := range []struct {
		p    Period
		want time.Duration
	}{
		{Period{}, 0},
		{Period{Days: 90}, 90 * 24 * time.Hour},
		{Period{Years: 2}, 730 * 24 * time.Hour},
		{Period{Years: 1, Days: 1}, 366 * 24 * time.Hour},
		{Period{Days: 106751}, 106751 * 24 * time.Hour},
		{Period{Years: 292}, 292 * 365 * 24 * time.Hour},
	} {
		if got := tc.p.Duration(); got != tc.want {
			t.Errorf("%v.Duration() = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestPeriodAddTo(t *testing.T) {
	date := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 13, 30, 0, 0, time.UTC) }
	for _, tc := range []struct {
		p        Period
		from, to time.Time
	}{
		{Period{}, date(2024, 2, 29), date(2024, 2, 29)},
		{Period{Days: 1}, date(2024, 2, 28), date(2024, 2, 29)},
		{Period{Days: 1}, date(2023, 2, 28), date(2023, 3, 1)},
		{Period{Days: 365}, date(2024, 1, 1), date(2024, 12, 31)}, // 2024 has 366 days
		{Period{Days: 365}, date(2023, 1, 1), date(2024, 1, 1)},
		{Period{Years: 1}, date(2023, 3, 1), date(2024, 3, 1)},  // 366 days later
		{Period{Years: 1}, date(2024, 2, 29), date(2025, 3, 1)}, // no 29 February in 2025
		{Period{Years: 4}, date(2024, 2, 29), date(2028, 2, 29)},
		{Period{Years: 2}, date(2023, 2, 28), date(2025, 2, 28)},
	} {
		if got := tc.p.AddTo(tc.from); !got.Equal(tc.to) {
			t.Errorf("%v.AddTo(%s) = %s, want %s", tc.p, tc.from.Format(time.DateOnly), got.Format(time.DateOnly), tc.to.Format(time.DateOnly))
		}
	}
	// A year in Duration is 365 days, so across 29 February it ends a day
	// before the calendar year that AddTo adds.
	from := date(2023, 3, 1)
	if got, want := from.Add(Period{Years: 1}.Duration()), date(2024, 2, 29); !got.Equal(want) {
		t.Errorf("Duration of 1y from %s ends %s, want %s", from, got, want)
	}
}
