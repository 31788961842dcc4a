package redact

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRules(t *testing.T) {
	r, err := New([]Rule{
		{Name: "customer number", Pattern: `\bKD-\d{4}-\d{4}\b`},
		{Name: "password", Pattern: `(?i)passwor[dt]:\s*\S+`, Replacement: "Passwort: ***"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, c := r.Text("Kunde KD-4711-0815, KD-1234-5678; Passwort: geheim123 und Karte 4111 1111 1111 1111")
	want := "Kunde [redacted: customer number], [redacted: customer number]; Passwort: *** und Karte [redacted: card number]"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if s := c.String(); s != "card number ×1, customer number ×2, password ×1" {
		t.Errorf("counts %q", s)
	}
	if c.Total() != 4 {
		t.Errorf("total %d", c.Total())
	}
}

func TestNoChange(t *testing.T) {
	var r *Redactor
	for _, s := range []string{"", "Hallo", "Bestellung 12345 vom 1.2.2026"} {
		got, c := r.Text(s)
		if got != s || c != nil {
			t.Errorf("%q: got %q %v", s, got, c)
		}
	}
}

func TestNewErrors(t *testing.T) {
	_, err := New([]Rule{
		{Name: "", Pattern: `x`},
		{Name: "a", Pattern: `(`},
		{Name: "b", Pattern: `x*`},
		{Name: "c"},
		{Name: "IBAN", Pattern: `x`},
		{Name: "d", Pattern: `d`},
		{Name: "D", Pattern: `d`},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"rule 1: no name", `"a": pattern`, `"b": pattern matches the empty string`,
		`"c": no pattern`, `"IBAN": the name is used before`, `"D": the name is used before`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), `"d"`) {
		t.Errorf("error names the good rule: %q", err)
	}
}

func TestFunc(t *testing.T) {
	r, _ := New(nil)
	c := Counts{}
	f := r.Func(c)
	if got := f("a 4111111111111111 b"); got != "a [redacted: card number] b" {
		t.Errorf("got %q", got)
	}
	f("DE89370400440532013000 and 5555555555554444")
	if s := c.String(); s != "IBAN ×1, card number ×2" {
		t.Errorf("counts %q", s)
	}
}

// fuzzCards are Luhn-valid card numbers in the ways they are written.
var fuzzCards = []string{
	"4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005",
	"3782 822463 10005", "4222222222222", "6767 7000 0000 0000 001", "4000000000000000006",
	// and valid IBANs
	"DE89 3704 0044 0532 0130 00", "de89370400440532013000", "GB82 WEST 1234 5698 7654 32", "XK051212012345678906",
}

func FuzzRedact(f *testing.F) {
	f.Add("Hallo", "Gruß", 0)
	f.Add("x12", "34 56", 1)
	f.Add("+49", "7", 2)
	f.Add("DE89", "0532 0130 00", 3)
	f.Add("\u00a0", "\u00a01111", 4)
	f.Add("1.", ",5", 5)
	r, err := New([]Rule{{Name: "n", Pattern: `\d{3}-\d{3}`}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, before, after string, k int) {
		// Never panics, whatever the text; a card number or IBAN set
		// apart by spaces never survives.
		out, _ := r.Text(before + after)
		if utf8.ValidString(before+after) && !utf8.ValidString(out) {
			t.Fatalf("valid UTF-8 became invalid: %q -> %q", before+after, out)
		}
		if k < 0 {
			k = -k
		}
		card := fuzzCards[k%len(fuzzCards)]
		in := before + " " + card + " " + after
		out, c := r.Text(in)
		if strings.Contains(out, card) {
			t.Fatalf("%q left in %q (from %q)", card, out, in)
		}
		if c[KindCard] == 0 && c[KindIBAN] == 0 && c["n"] == 0 {
			t.Fatalf("nothing counted for %q -> %q", in, out)
		}
	})
}

// mail6k is a 6 KB support mail with one card number and one IBAN in it.
var mail6k = func() string {
	var b strings.Builder
	para := "Guten Tag, ich habe am 07.12.2026 die Bestellung 100234567 aufgegeben und bitte um Rückruf unter +49 30 1234567. " +
		"The parcel 00340434161094015902 has not arrived; ticket [#4242], invoice 20261207-000123.\n"
	for b.Len() < 6000 {
		b.WriteString(para)
		if b.Len() > 3000 && !strings.Contains(b.String(), "4111") {
			b.WriteString("Karte 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00.\n")
		}
	}
	return b.String()
}()

func BenchmarkRedact(b *testing.B) {
	r, err := New([]Rule{{Name: "customer number", Pattern: `\bKD-\d{4}-\d{4}\b`}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(mail6k)))
	b.ReportAllocs()
	for b.Loop() {
		_, c := r.Text(mail6k)
		if c[KindCard] != 1 || c[KindIBAN] != 1 {
			b.Fatalf("counts %v", c)
		}
	}
}

func BenchmarkRedactNoDigits(b *testing.B) {
	r, _ := New(nil)
	s := strings.Repeat("Guten Tag, bitte helfen Sie mir mit meinem Konto. ", 120)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		r.Text(s)
	}
}

func BenchmarkRedactBuiltin(b *testing.B) {
	r, _ := New(nil)
	b.SetBytes(int64(len(mail6k)))
	b.ReportAllocs()
	for b.Loop() {
		r.Text(mail6k)
	}
}
