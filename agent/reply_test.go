package agent

import (
	"errors"
	"io"
	"strings"
	"testing"

	"ticketd/mail/mime"
	"ticketd/store"
)

// The agents of the tests: 7 and 8 at example.com, 9 with an address
// written in mixed case in the configuration.
var testAgents = map[uint64]string{7: "anna@example.com", 8: "ben@example.com", 9: "Cem@Partner.Example"}

var testPolicy = Policy{
	AgentAddress: func(id uint64) (string, bool) { a, ok := testAgents[id]; return a, ok },
	AuthservIDs:  []string{"mx.support.example"},
}

const (
	dkimPass = "mx.support.example; dkim=pass (2048-bit key; unprotected) header.d=example.com header.s=mail header.b=AbCd"
	dkimFail = "mx.support.example; dkim=fail header.d=example.com; spf=softfail smtp.mailfrom=example.com"
)

func TestVerifyAgentReply(t *testing.T) {
	s := testSigner(t, 1)
	tok123a7 := issue(t, s, "support@support.example", 123, 7)
	tok123a8 := issue(t, s, "support@support.example", 123, 8)
	tok124a7 := issue(t, s, "support@support.example", 124, 7)
	tok123a9 := issue(t, s, "support@support.example", 123, 9)
	salesTok := issue(t, s, "sales@support.example", 123, 7)
	otherKey := issue(t, testSigner(t, 2), "support@support.example", 123, 7)
	altered := tok123a7[:20] + string(rune(tok123a7[20]^1)) + tok123a7[21:]
	from := func(a string) store.Address { return store.Address{Name: "Xyzzy Q", Email: a} }

	for _, tc := range []struct {
		name  string
		reply Reply
		check Check // "" for a verified reply
		err   error // for a refusal: wrapped; for ErrNotToken: returned
		want  Token // for a verified reply
		auth  mime.AuthVerdict
		why   string // a part of the reason
	}{
		{name: "valid, no trusted Authentication-Results",
			reply: Reply{Mailbox: "support@support.example", Recipients: []string{tok123a7}, From: from("anna@example.com")},
			want:  Token{"support@support.example", 123, 7}, auth: mime.AuthNoneTrusted},
		{name: "valid with a DKIM pass",
			reply: Reply{Recipients: []string{"someone@example.org", strings.ToUpper(tok123a7)}, From: from("Anna@EXAMPLE.com"), AuthResults: []string{dkimPass}},
			want:  Token{"support@support.example", 123, 7}, auth: mime.AuthPass},
		{name: "the configured address in another case",
			reply: Reply{Recipients: []string{tok123a9}, From: from("cem@partner.example")},
			want:  Token{"support@support.example", 123, 9}, auth: mime.AuthNoneTrusted},
		{name: "the same reply address twice is one",
			reply: Reply{Recipients: []string{tok123a7, strings.ToUpper(tok123a7)}, From: from("anna@example.com")},
			want:  Token{"support@support.example", 123, 7}, auth: mime.AuthNoneTrusted},
		{name: "no reply address",
			reply: Reply{Recipients: []string{"support@support.example", "support+de@support.example"}, From: from("anna@example.com")},
			err:   ErrNotToken},
		{name: "forged From with a valid reply address",
			reply: Reply{Recipients: []string{tok123a7}, From: from("mallory@evil.example")},
			check: CheckFrom, why: "not that of agent 7"},
		{name: "valid From with another agent's reply address",
			reply: Reply{Recipients: []string{tok123a8}, From: from("anna@example.com")},
			check: CheckFrom, why: "not that of agent 8, for whom the reply address of ticket 123"},
		{name: "no From",
			reply: Reply{Recipients: []string{tok123a7}},
			check: CheckFrom},
		{name: "an agent no longer configured",
			reply: Reply{Recipients: []string{issue(t, s, "support@support.example", 123, 99)}, From: from("anna@example.com")},
			check: CheckFrom, why: "agent 99 of the reply address is not a configured agent"},
		{name: "a reply address altered by one character",
			reply: Reply{Recipients: []string{altered}, From: from("anna@example.com")},
			check: CheckToken, err: ErrSignature, why: "not signed by this ticketd"},
		{name: "a reply address of another key",
			reply: Reply{Recipients: []string{otherKey}, From: from("anna@example.com")},
			check: CheckToken, err: ErrSignature},
		{name: "a forged reply address beside a valid one",
			reply: Reply{Recipients: []string{tok123a7, otherKey}, From: from("anna@example.com")},
			check: CheckToken, err: ErrSignature},
		{name: "a malformed reply address",
			reply: Reply{Recipients: []string{"support+t0123.a7.aaaaaaaaaaaaaaaa@support.example"}, From: from("anna@example.com")},
			check: CheckToken, err: ErrMalformed, why: "malformed"},
		{name: "two tickets' reply addresses",
			reply: Reply{Recipients: []string{tok123a7, tok124a7}, From: from("anna@example.com")},
			check: CheckToken, why: "more than one reply address"},
		{name: "another mailbox's reply address",
			reply: Reply{Mailbox: "support@support.example", Recipients: []string{salesTok}, From: from("anna@example.com")},
			check: CheckToken, why: "made for another mailbox"},
		{name: "authentication failed",
			reply: Reply{Recipients: []string{tok123a7}, From: from("anna@example.com"), AuthResults: []string{dkimFail}},
			check: CheckAuth, why: "dkim=fail, spf=softfail"},
		{name: "a forged pass below the own server's fail",
			reply: Reply{Recipients: []string{tok123a7}, From: from("anna@example.com"), AuthResults: []string{dkimFail, dkimPass}},
			check: CheckAuth},
		{name: "a pass from an untrusted server is no pass, and no fail",
			reply: Reply{Recipients: []string{tok123a7}, From: from("anna@example.com"), AuthResults: []string{"mx.evil.example; dkim=pass header.d=example.com"}},
			want:  Token{"support@support.example", 123, 7}, auth: mime.AuthNoneTrusted},
		{name: "a pass for another domain",
			reply: Reply{Recipients: []string{tok123a7}, From: from("anna@example.com"), AuthResults: []string{"mx.support.example; dkim=pass header.d=evil.example"}},
			check: CheckAuth, why: "not aligned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.VerifyAgentReply(tc.reply, testPolicy)
			if tc.check == "" && tc.err == nil {
				if err != nil || got.Token != tc.want || got.Auth.Verdict != tc.auth {
					t.Fatalf("= %+v, %v; want %+v with %v", got, err, tc.want, tc.auth)
				}
				return
			}
			if got != (Verified{}) {
				t.Errorf("refused, but returned %+v", got)
			}
			if tc.check == "" {
				if err != tc.err {
					t.Fatalf("= %v, want %v", err, tc.err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || re.Check != tc.check || !strings.Contains(re.Reason, tc.why) {
				t.Fatalf("= %v, want a refusal by %q with %q", err, tc.check, tc.why)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("= %v, want it to wrap %v", err, tc.err)
			}
			for _, a := range append(tc.reply.Recipients, tc.reply.From.Email, "evil", "Xyzzy") {
				if a != "" && strings.Contains(strings.ToLower(re.Error()), strings.ToLower(a)) {
					t.Errorf("the refusal %q quotes %q from the mail", re.Error(), a)
				}
			}
		})
	}
}

// TestReplyOf: an agent's reply as a mail client sends it, parsed, is
// verified through ReplyOf (the reply address in To, or in Cc).
func TestReplyOf(t *testing.T) {
	s := testSigner(t, 1)
	tok := issue(t, s, "support@support.example", 123, 7)
	for _, hdr := range []string{"To: Support <" + tok + ">", "To: someone@example.org\r\nCc: \"Support\" <" + strings.ToUpper(tok) + ">"} {
		raw := "Authentication-Results: " + dkimPass + "\r\nFrom: Anna <anna@example.com>\r\n" + hdr +
			"\r\nSubject: Re: [#123] Printer\r\n\r\nDone.\r\n"
		m, err := mime.Parse(strings.NewReader(raw), discard{}, mime.ParseOptions{KeepHeaders: mime.AuthHeaders})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.VerifyAgentReply(ReplyOf(m, "Support@support.example"), testPolicy)
		if err != nil || got.Ticket != 123 || got.Agent != 7 || got.Auth.Verdict != mime.AuthPass {
			t.Errorf("%s: %+v, %v", hdr, got, err)
		}
	}
}

type discard struct{}

func (discard) Put(io.Reader) (string, int64, error) {
	return "", 0, errors.New("no attachments expected")
}
