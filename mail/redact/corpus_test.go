package redact

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

var corpusValue = regexp.MustCompile(`\{(card|iban):([^}]*)\}`)

// TestCorpus checks every line of testdata/corpus.txt (its format is
// described at its top).
func TestCorpus(t *testing.T) {
	f, err := os.Open("testdata/corpus.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	lineNo, cases := 0, 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cases++
		want := Counts{}
		in := corpusValue.ReplaceAllString(line, "$2")
		out := corpusValue.ReplaceAllStringFunc(line, func(m string) string {
			kind := KindCard
			if strings.HasPrefix(m, "{iban:") {
				kind = KindIBAN
			}
			want[kind]++
			return Mark(kind)
		})
		got, counts := r.Text(in)
		if got != out {
			t.Errorf("line %d:\n  in:   %q\n  got:  %q\n  want: %q", lineNo, in, got, out)
		}
		if counts.String() != want.String() {
			t.Errorf("line %d: counts %q, want %q", lineNo, counts.String(), want.String())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cases < 50 {
		t.Fatalf("only %d cases read", cases)
	}
}
