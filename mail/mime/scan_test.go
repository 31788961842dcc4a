package mime

import (
	"slices"
	"testing"
)

// TestFieldReadersQuoteAlike: the readers of MIME parameters, of the loop
// fields and of Authentication-Results cut their fields with the one
// structured-field scanner, so a quoted string and a comment protect what
// they hold in each of them: a "(" in a quoted string opens no comment, a
// ";" in a comment or a quoted string ends no parameter.
func TestFieldReadersQuoteAlike(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`auto-replied; x="a(b)c"`, `auto-replied; x="a(b)c"`},
		{`auto-replied (vacation) ; y`, `auto-replied   ; y`},
		{`auto-generated (open (nested) "q)`, `auto-generated  `},
		{`<"a(b"@example.org>`, `<"a(b"@example.org>`},
	} {
		if got := removeComments(c.in); got != c.want {
			t.Errorf("removeComments(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`attachment; (a; b) size=1`, []string{"attachment", " (a; b) size=1"}},
		{`attachment; filename="a;b.txt"; size=1`, []string{"attachment", ` filename="a;b.txt"`, " size=1"}},
		{`attachment; filename=x(1.pdf; size=1`, []string{"attachment", " filename=x(1.pdf", " size=1"}},
		{`attachment; filename=[a;b].pdf`, []string{"attachment", " filename=[a", "b].pdf"}},
	} {
		if got := splitParams(c.in); !slices.Equal(got, c.want) {
			t.Errorf("splitParams(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	segs := splitAuthResults(`mx.example.com; dmarc=fail (p=reject; dis=none) reason="a;(b"; spf=pass`)
	if len(segs) != 3 || segs[1].text != ` dmarc=fail   reason="a;(b"` || !slices.Equal(segs[1].comments, []string{"p=reject; dis=none"}) {
		t.Errorf("splitAuthResults = %+v", segs)
	}
}
