package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ticketd/config"
	"ticketd/config/configtest"
)

func TestAgentsAuthservIDs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fragments []string
		want      []string
	}{
		{"default none", nil, []string{}},
		{"default from [spam]", []string{"[spam]\ntrust = [\"authentication-results\"]\nauthserv_ids = [\"mx.example.com\"]"}, []string{"mx.example.com"}},
		{"own list", []string{"[agents]\nauthserv_ids = [\"mx1.example.com\", \"mx2.example.com\"]"}, []string{"mx1.example.com", "mx2.example.com"}},
		{"explicitly none despite [spam]", []string{"[spam]\ntrust = [\"authentication-results\"]\nauthserv_ids = [\"mx.example.com\"]", "[agents]\nauthserv_ids = []"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := configtest.Parse(t, tc.fragments...)
			if !slices.Equal(c.Agents.AuthservIDs, tc.want) || c.Agents.AuthservIDs == nil {
				t.Errorf("agents.authserv_ids = %q, want %q", c.Agents.AuthservIDs, tc.want)
			}
		})
	}
}

func TestAgentsAuthservIDsInvalid(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{`[""]`, "agents.authserv_ids"},
		{`["mx.example.com; dkim=pass"]`, `agents.authserv_ids[1]: must be one authserv-id such as mx.example.com`},
		{`["mx.example.com", "mx (comment)"]`, `agents.authserv_ids[2]: must be one authserv-id`},
	} {
		_, err := config.Parse("test.toml", []byte(configtest.Text(t, "[agents]\nauthserv_ids = "+tc.value)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("authserv_ids = %s: %v, want an error with %q", tc.value, err, tc.want)
		}
	}
}

// TestAgentKeyFileRules: an agent key others can read is reported by Load,
// like the consent key; a missing one is not (it is made with a new store).
func TestAgentKeyFileRules(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "imap.pass"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.toml")
	text := configtest.Text(t, "[server]\ndata_dir = \"data\"")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path); err != nil {
		t.Fatalf("without agent.key: %v", err)
	}
	key := filepath.Join(data, config.AgentKeyFile)
	if err := os.WriteFile(key, make([]byte, config.KeySize), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	if !errors.Is(err, config.ErrFileMode) && (err == nil || !strings.Contains(err.Error(), config.AgentKeyFile)) {
		t.Fatalf("agent.key mode 0644: %v, want the file mode error", err)
	}
	if !strings.Contains(err.Error(), "server.data_dir") || !strings.Contains(err.Error(), config.AgentKeyFile) {
		t.Errorf("agent.key mode 0644: %v, want it named under server.data_dir", err)
	}
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path); err != nil {
		t.Errorf("agent.key mode 0600: %v", err)
	}
}
