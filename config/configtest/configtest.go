// Package configtest gives tests a valid ticketd configuration, in the style
// of net/http/httptest: one base text that every package's tests start from,
// changed by TOML fragments that state only what a test needs differently.
//
// The base (minimal.toml) is the smallest valid configuration: one queue,
// one mailbox and one purpose, all named "support", with every other key at
// its default. The config package's own tests read the same file, so the
// fixture exists once.
//
// A fragment is TOML. Its tables merge into the base key by key, so
//
//	[server]
//	language = "de"
//
// changes one key of [server] and keeps the others. An array of tables in a
// fragment ([[queue]], [[mailbox]], [[purpose]], [[hold]], ...) replaces the
// base's array of that name whole, so a test lists exactly the queues or
// purposes it has. Later fragments apply over earlier ones.
package configtest

import (
	_ "embed"
	"strconv"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"ticketd/config"
)

//go:embed minimal.toml
var minimal string

// Text returns the base configuration with the fragments applied, as TOML.
// Without fragments it is the base text as written. A fragment that is not
// valid TOML fails the test.
func Text(t testing.TB, fragments ...string) string {
	t.Helper()
	if len(fragments) == 0 {
		return minimal
	}
	doc := decode(t, "the base configuration", minimal)
	for i, f := range fragments {
		merge(doc, decode(t, "fragment "+strconv.Itoa(i+1), f))
	}
	b, err := toml.Marshal(doc)
	if err != nil {
		t.Fatalf("configtest: encode the merged configuration: %v", err)
	}
	return string(b)
}

// Parse returns the base configuration with the fragments applied, decoded
// and validated by config.Parse as the file "test.toml". Like config.Parse it
// reads no files: password fields stay empty and relative paths stay as
// written. An invalid result fails the test with every problem config found.
func Parse(t testing.TB, fragments ...string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(Text(t, fragments...)))
	if err != nil {
		t.Fatalf("configtest: the configuration is invalid:\n%v", err)
	}
	return cfg
}

func decode(t testing.TB, what, text string) map[string]any {
	t.Helper()
	doc := map[string]any{}
	if err := toml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("configtest: %s: %v", what, err)
	}
	return doc
}

// merge applies over onto base: tables merge key by key, everything else
// (values, arrays, arrays of tables) replaces what base holds.
func merge(base, over map[string]any) {
	for k, v := range over {
		sub, ok := v.(map[string]any)
		if into, isTable := base[k].(map[string]any); ok && isTable {
			merge(into, sub)
			continue
		}
		base[k] = v
	}
}
