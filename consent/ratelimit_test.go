package consent

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"ticketd/config"
)

func TestLimiterBucket(t *testing.T) {
	l := newLimiter(100)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i := range 6 {
		if wait := l.take("192.0.2.1", 6, at); wait != 0 {
			t.Fatalf("request %d refused (wait %v), want the burst of 6 allowed", i+1, wait)
		}
	}
	wait := l.take("192.0.2.1", 6, at)
	if wait != 10*time.Second {
		t.Errorf("7th request: wait %v, want 10s (6 per minute)", wait)
	}
	if l.take("192.0.2.2", 6, at) != 0 {
		t.Error("another client was limited")
	}
	if l.take("192.0.2.1", 6, at.Add(10*time.Second)) != 0 {
		t.Error("no token after 10s at 6 per minute")
	}
	if l.take("192.0.2.1", 6, at.Add(10*time.Second)) == 0 {
		t.Error("a second token after 10s at 6 per minute")
	}
	// An idle minute refills the bucket, but not beyond its size.
	later := at.Add(time.Hour)
	for i := range 6 {
		if l.take("192.0.2.1", 6, later) != 0 {
			t.Fatalf("request %d after an idle hour refused", i+1)
		}
	}
	if l.take("192.0.2.1", 6, later) == 0 {
		t.Error("the bucket grew beyond its size while idle")
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	l := newLimiter(50)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	l.take("keep", 1, at) // empties "keep"'s bucket
	for i := range 1000 {
		l.take(fmt.Sprintf("10.0.%d.%d", i/256, i%256), 1, at)
		if i%10 == 0 {
			l.take("keep", 1, at) // recently seen: not evicted
		}
		if n := l.len(); n > 50 {
			t.Fatalf("%d clients remembered, limit 50", n)
		}
	}
	if l.take("keep", 1, at) == 0 {
		t.Error("a client seen recently was forgotten (its empty bucket refilled)")
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:5123":                    "192.0.2.7",
		"[::ffff:192.0.2.7]:80":             "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":        "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1%eth0]:443":   "2001:db8:1:2::/64",
		"[fe80::1]:1":                       "fe80::/64",
		"not an address":                    "not an address",
		"@unix":                             "@unix",
		"[2001:db8:1:3:3:4:5:6]:443":        "2001:db8:1:3::/64",
		"127.0.0.1:0":                       "127.0.0.1",
		"[2001:db8::1]:1":                   "2001:db8::/64",
		"[2001:0db8:0000:0000:0000::2]:999": "2001:db8::/64",
	} {
		if got := addrKey(in); got != want {
			t.Errorf("addrKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClientKeyBehindProxies(t *testing.T) {
	cfg := &config.Config{Server: config.Server{Proxies: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}}}
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"127.0.0.1:4000", nil, "127.0.0.1"},                                                // a local browser, no proxy
		{"127.0.0.1:4000", []string{"198.51.100.9"}, "198.51.100.9"},                        // one trusted proxy
		{"127.0.0.1:4000", []string{"203.0.113.5, 198.51.100.9, 10.1.2.3"}, "198.51.100.9"}, // chain: the right-most untrusted
		{"127.0.0.1:4000", []string{"203.0.113.5", "198.51.100.9"}, "198.51.100.9"},         // several header lines
		{"127.0.0.1:4000", []string{"[2001:db8:1:2::7]"}, "127.0.0.1"},                      // malformed hop: the proxy itself
		{"127.0.0.1:4000", []string{"2001:db8:1:2::7"}, "2001:db8:1:2::/64"},
		{"198.51.100.9:4000", []string{"203.0.113.5"}, "198.51.100.9"},  // not a proxy: its header is ignored
		{"127.0.0.1:4000", []string{"10.0.0.1, 127.0.0.2"}, "10.0.0.1"}, // only proxies: the last one named
	} {
		r := httptest.NewRequest("GET", "/consent/x", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientKey(cfg, r); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: key %q, want %q", c.peer, c.xff, got, c.want)
		}
	}
}
