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
