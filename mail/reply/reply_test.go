package reply

import (
	"slices"
	"strings"
	"testing"
)

func kinds(r Reply) []Kind {
	var ks []Kind
	for _, p := range r.Parts {
		ks = append(ks, p.Kind)
	}
	return ks
}

// An interleaved reply keeps every line its author wrote and says, in
// Interleaved and in Parts, where the quotes were removed.
func TestInterleavedKeepsEveryAnswer(t *testing.T) {
	in := "On Mon, Dec 07, 2026 at 10:00AM +0100, Max wrote:\n> Question one?\n\nAnswer one.\n\n> Question two?\n\nAnswer two.\n"
	r := Strip(in)
	if r.Text != "Answer one.\n\nAnswer two." {
		t.Errorf("Text = %q", r.Text)
	}
	if !r.Interleaved {
		t.Error("Interleaved = false, want true")
	}
	want := []Kind{Quote, New, Quote, New}
	if got := kinds(r); !slices.Equal(got, want) {
		t.Errorf("parts = %v, want %v", got, want)
	}
	checkSubset(t, in, r)
}

// Bottom posting (the answer below one quote) is not interleaving.
func TestBottomPostingIsNotInterleaved(t *testing.T) {
	r := Strip("Max Mustermann wrote:\n> Question?\n\nAnswer.\n")
	if r.Text != "Answer." || r.Interleaved {
		t.Errorf("Text = %q, Interleaved = %v", r.Text, r.Interleaved)
	}
}

// Commands on the lines at the top come through byte for byte.
func TestCommandsSurvive(t *testing.T) {
	in := "#close  \n#assign erika@example.com\n#note\tsee the call\n\nOn Mon, Dec 7, 2026 at 10:00 AM Max <max@example.com> wrote:\n> Hi\n"
	r := Strip(in)
	if want := "#close  \n#assign erika@example.com\n#note\tsee the call"; r.Text != want {
		t.Errorf("Text = %q, want %q", r.Text, want)
	}
}

func TestEdgeInputs(t *testing.T) {
	for _, tc := range []struct {
		name, in, text, quoted, sig string
	}{
		{"empty", "", "", "", ""},
		{"only blank lines", "\n\n \n", "", "", ""},
		{"CRLF", "Answer\r\n\r\n-----Original Message-----\r\nQuestion\r\n", "Answer", "-----Original Message-----\nQuestion", ""},
		{"invalid UTF-8 is replaced", "Ant\xffwort\n", "Ant\uFFFDwort", "", ""},
		{"only a quote", "> a\n> b\n", "", "> a\n> b", ""},
		{"only a signature", "-- \nMax\n", "", "", "-- \nMax"},
		{"attribution at the end", "Answer\n\nOn Mon, Dec 7, 2026 at 10:00 AM Max <max@example.com> wrote:", "Answer", "On Mon, Dec 7, 2026 at 10:00 AM Max <max@example.com> wrote:", ""},
		// "<name> wrote:" marks a quote only when a ">" line follows.
		{"loose attribution without quote", "He wrote:\nsomething\n", "He wrote:\nsomething", "", ""},
		// A ">>> " line is a quote unless it is GroupWise's whole attribution.
		{"deep quote that looks like an attribution", ">>> Max schrieb am 1.2.2026:\nAnswer\n", "Answer", ">>> Max schrieb am 1.2.2026:", ""},
		// "Sent from ..." is a footer only as the last line of a block.
		{"footer within the text", "Sent from the warehouse today.\nIt arrives on Monday.\n", "Sent from the warehouse today.\nIt arrives on Monday.", "", ""},
		{"footer at the end", "It arrives on Monday.\nSent from my iPad\n", "It arrives on Monday.", "", "Sent from my iPad"},
		// A header field alone is no Outlook block.
		{"one header field", "From: the warehouse\n\nIt arrives on Monday.\n", "From: the warehouse\n\nIt arrives on Monday.", "", ""},
		// Without ">" below it, an attribution needs a time or an address.
		{"sentence like an attribution", "Am 5. Mai schrieb der Kunde Folgendes:\nDer Drucker geht nicht.\n", "Am 5. Mai schrieb der Kunde Folgendes:\nDer Drucker geht nicht.", "", ""},
		{"sentence like an attribution above a quote", "Am 5. Mai schrieb der Kunde Folgendes:\n> Der Drucker geht nicht.\n", "", "Am 5. Mai schrieb der Kunde Folgendes:\n> Der Drucker geht nicht.", ""},
		// mailgun/talon tests/text_quotations_test.py test_english_original_message, test_german_original_message.
		{"Reply Message", "Test reply\n\n-----Reply Message-----\n\nTest\n", "Test reply", "-----Reply Message-----\n\nTest", ""},
		{"Antwort Nachricht", "Test reply\n\n-----Antwort Nachricht-----\n\nTest\n", "Test reply", "-----Antwort Nachricht-----\n\nTest", ""},
		// Windows 10 Mail's footers, English and German.
		{"Mail for Windows", "Done.\n\nSent from Mail for Windows 10\n", "Done.", "", "Sent from Mail for Windows 10"},
		{"Mail für Windows", "Erledigt.\n\nGesendet von Mail für Windows\n", "Erledigt.", "", "Gesendet von Mail für Windows"},
		// Thunderbird's French and German localisations of "<name> wrote:".
		{"a écrit", "Oui.\n\nMax a écrit :\n> Ça marche ?\n", "Oui.", "Max a écrit :\n> Ça marche ?", ""},
		{"schreibt", "Ja.\n\nMax schreibt:\n> Geht das?\n", "Ja.", "Max schreibt:\n> Geht das?", ""},
		{"an attribution longer than any real one", "On " + strings.Repeat("x", 500) + " wrote:\ntext\n", "On " + strings.Repeat("x", 500) + " wrote:\ntext", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Strip(tc.in)
			if r.Text != tc.text || r.Quoted != tc.quoted || r.Signature != tc.sig {
				t.Errorf("Strip(%q):\ntext   %q, want %q\nquoted %q, want %q\nsig    %q, want %q", tc.in, r.Text, tc.text, r.Quoted, tc.quoted, r.Signature, tc.sig)
			}
			checkSubset(t, tc.in, r)
		})
	}
}

// A large reply is cut in time linear in its size: a megabyte of quoted
// lines and a megabyte-long line.
func TestLargeInput(t *testing.T) {
	big := strings.Repeat("> quoted line of some length\n", 40000)
	r := Strip("Answer\n\n" + big)
	if r.Text != "Answer" {
		t.Errorf("Text = %q", r.Text)
	}
	long := strings.Repeat("a", 1<<20)
	if r := Strip(long); r.Text != long {
		t.Error("a long line is not kept")
	}
}
