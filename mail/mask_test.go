package mail

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{
		"jane.doe@example.com":       "j***@e***.com",
		"Jörg@bücher.example.de":     "J***@b***.de",
		"support+t1.a2.x@mail.co.uk": "s***@m***.uk",
		"root@localhost":             "r***@l***",
		"":                           "",
		"no address":                 "***",
	} {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
	in := "550 5.1.1 <erika@example.org>: Recipient address rejected; also bob@example.net, j***@e***.com"
	want := "550 5.1.1 <e***@e***.org>: Recipient address rejected; also b***@e***.net, j***@e***.com"
	if got := MaskAddresses(in); got != want {
		t.Errorf("MaskAddresses:\n got %q\nwant %q", got, want)
	}
}

type stringer struct{}

func (stringer) String() string { return "agent anna@example.com" }

func TestMaskingHandler(t *testing.T) {
	for _, json := range []bool{false, true} {
		var b bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&b, nil)
		if json {
			h = slog.NewJSONHandler(&b, nil)
		}
		log := slog.New(MaskingHandler(h)).With("box", "support@example.com")
		log.WithGroup("g").Info("mail for erika@example.org", "err", errors.New("rcpt <erika@example.org> rejected"),
			"to", []string{"x@example.net"}, "who", stringer{}, slog.Group("inner", "addr", "bob@example.net"), "n", 3)
		out := b.String()
		for _, clear := range []string{"support@example.com", "erika@example.org", "x@example.net", "anna@example.com", "bob@example.net"} {
			if strings.Contains(out, clear) {
				t.Errorf("json=%v: %s in clear:\n%s", json, clear, out)
			}
		}
		if !strings.Contains(out, "e***@e***.org") || !strings.Contains(out, "3") {
			t.Errorf("json=%v: %s", json, out)
		}
	}
}
