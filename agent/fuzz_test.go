package agent

import (
	"errors"
	"strings"
	"testing"
)

// FuzzVerify: any address is one of the three refusals or a token; a token
// is only ever one Issue made, so issuing it again gives the same address
// (in lower case). Seeds are in testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	s := testSigner(f, 1)
	f.Add(issue(f, s, "support@example.com", 123, 7))
	f.Add(issue(f, s, "help+de@example.com", 1, 1))
	f.Fuzz(func(t *testing.T, addr string) {
		tok, err := s.Verify(addr)
		if err != nil {
			if !errors.Is(err, ErrNotToken) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSignature) {
				t.Fatalf("Verify(%q): unexpected error %v", addr, err)
			}
			return
		}
		again, err := s.Issue(tok.Mailbox, tok.Ticket, tok.Agent)
		if err != nil || again != strings.ToLower(strings.TrimSpace(addr)) {
			t.Fatalf("Verify(%q) = %+v, but Issue gives %q, %v", addr, tok, again, err)
		}
	})
}
