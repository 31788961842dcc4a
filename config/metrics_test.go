package config

import (
	"strings"
	"testing"
)

// TestMetricsListen: /metrics is off by default, on a loopback IP when
// set, and on any other address only with metrics_allow_remote.
func TestMetricsListen(t *testing.T) {
	c, err := Parse("config.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.MetricsListen != "" || c.Server.MetricsAllowRemote {
		t.Errorf("default metrics_listen = %q, allow_remote %v; want off", c.Server.MetricsListen, c.Server.MetricsAllowRemote)
	}
	for _, tc := range []struct {
		listen string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:9464", false, true},
		{"[::1]:9464", false, true},
		{"127.0.0.2:9464", false, true},
		{"0.0.0.0:9464", false, false},
		{":9464", false, false}, // every interface
		{"192.0.2.1:9464", false, false},
		{"[::]:9464", false, false},
		{"localhost:9464", false, false}, // a name could resolve anywhere
		{"0.0.0.0:9464", true, true},
		{"192.0.2.1:9464", true, true},
		{"127.0.0.1", false, false},
		{"127.0.0.1", true, false},
	} {
		text := strings.Replace(minimal, "[server]\n", "[server]\nmetrics_listen = \""+tc.listen+"\"\n", 1)
		if tc.remote {
			text = strings.Replace(text, "[server]\n", "[server]\nmetrics_allow_remote = true\n", 1)
		}
		if !strings.Contains(text, "metrics_listen") {
			t.Fatal("minimal has no [server] table")
		}
		_, err := Parse("config.toml", []byte(text))
		if (err == nil) != tc.ok {
			t.Errorf("metrics_listen = %q, allow_remote %v: err = %v, want ok = %v", tc.listen, tc.remote, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "server.metrics_listen") {
			t.Errorf("metrics_listen = %q: the error does not name the key: %v", tc.listen, err)
		}
	}
}
