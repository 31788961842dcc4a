package reply

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzStrip checks that no input makes Strip panic and that what it returns
// is made of the input's lines only, in their order, with the parts
// together giving back the whole input.
func FuzzStrip(f *testing.F) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("")
	f.Add("\r\n")
	f.Add(">>> a schrieb am 1 in\nNachricht\n<x>:\n")
	f.Add("On a\nb\nwrote:")
	f.Add("From: a\nTo: b")
	f.Add("\xff\xfe-- \n")
	f.Fuzz(func(t *testing.T, in string) {
		checkSubset(t, in, Strip(in))
	})
}
