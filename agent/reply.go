package agent

import (
	"errors"
	"fmt"
	"strings"

	"ticketd/mail/mime"
	"ticketd/store"
)

// Reply is what VerifyAgentReply reads of an incoming mail.
type Reply struct {
	// Mailbox is the support address of the mailbox the mail came to;
	// when set, the reply address must have been made from it.
	Mailbox string
	// Recipients are the addresses the mail is written to (To and Cc).
	Recipients []string
	// From is the mail's From address.
	From store.Address
	// AuthResults are its Authentication-Results fields, topmost first.
	AuthResults []string
}

// ReplyOf is the Reply of a parsed mail that came to the mailbox with the
// support address mailbox (parsed with mime.AuthHeaders kept).
func ReplyOf(m *mime.Message, mailbox string) Reply {
	r := Reply{Mailbox: mailbox, From: m.From, AuthResults: m.Headers["Authentication-Results"]}
	for _, a := range append(append([]store.Address{}, m.To...), m.Cc...) {
		r.Recipients = append(r.Recipients, a.Email)
	}
	return r
}

// Policy is what VerifyAgentReply checks a reply against.
type Policy struct {
	// AgentAddress is the configured address of the agent with this id;
	// false for no such agent.
	AgentAddress func(id uint64) (string, bool)
	// AuthservIDs are the trusted authserv-ids (config [agents] authserv_ids).
	AuthservIDs []string
}

// Check names the check a reply failed.
type Check string

// The checks of VerifyAgentReply, in the order they are made.
const (
	CheckToken = Check("reply address")  // the token: well formed, signed, one, for this mailbox
	CheckFrom  = Check("sender")         // From is the agent the token was made for
	CheckAuth  = Check("authentication") // the own server's Authentication-Results
)

// RefusedError is a reply that carries a reply token and failed a check:
// it must not reach the customer. Reason is fit for a log and for the
// refusal mailed back: fixed phrases, the ticket and agent numbers and the
// trusted authserv-id, never text from the mail.
type RefusedError struct {
	Check  Check
	Reason string
	// Token is what the reply address said; zero when Check is CheckToken.
	Token Token
	// Err is ErrMalformed or ErrSignature for CheckToken, else nil.
	Err error
}

func (e *RefusedError) Error() string {
	return "agent: reply refused: " + string(e.Check) + ": " + e.Reason
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Verified is a reply that passed every check.
type Verified struct {
	Token
	// Auth is the sender authentication found: AuthPass, or AuthNoneTrusted
	// where no trusted Authentication-Results field was there.
	Auth mime.SenderAuth
}

// VerifyAgentReply classifies a mail as a reply of an agent on a ticket:
// it is one only if all hold (the order of the checks):
//
//  1. exactly one recipient is a reply address (ticket and agent) that
//     Verify accepts, none is a malformed or forged one, and it was made
//     from r.Mailbox when that is set;
//  2. the From address is the configured address of that agent
//     (case-insensitive);
//  3. where a trusted Authentication-Results field is present, it shows
//     an aligned DKIM, SPF or DMARC pass for the From domain
//     (mime.SenderAuthentication); where none is, this check has nothing
//     to read and passes.
//
// It returns ErrNotToken when no recipient is a reply address (the mail
// is not a reply to an agent notification), a *RefusedError when one is
// and a check fails. Whether the ticket exists and the agent may act on it
// is the caller's to check.
func (s *Signer) VerifyAgentReply(r Reply, p Policy) (Verified, error) {
	var tok Token
	found := false
	for _, addr := range r.Recipients {
		t, err := s.Verify(addr)
		switch {
		case errors.Is(err, ErrNotToken):
			continue
		case errors.Is(err, ErrMalformed):
			return Verified{}, &RefusedError{Check: CheckToken, Reason: "a reply address is malformed", Err: err}
		case err != nil:
			return Verified{}, &RefusedError{Check: CheckToken, Reason: "a reply address is not signed by this ticketd", Err: err}
		case found && t != tok:
			return Verified{}, &RefusedError{Check: CheckToken, Reason: "the mail is written to more than one reply address"}
		}
		tok, found = t, true
	}
	if !found {
		return Verified{}, ErrNotToken
	}
	if r.Mailbox != "" && store.NormalizeEmail(r.Mailbox) != tok.Mailbox {
		return Verified{}, &RefusedError{Check: CheckToken, Token: tok,
			Reason: fmt.Sprintf("the reply address of ticket %d was made for another mailbox", tok.Ticket)}
	}
	want, ok := "", false
	if p.AgentAddress != nil {
		want, ok = p.AgentAddress(tok.Agent)
	}
	if !ok {
		return Verified{}, &RefusedError{Check: CheckFrom, Token: tok,
			Reason: fmt.Sprintf("agent %d of the reply address is not a configured agent", tok.Agent)}
	}
	from := store.NormalizeEmail(r.From.Email)
	if from == "" || from != store.NormalizeEmail(want) {
		return Verified{}, &RefusedError{Check: CheckFrom, Token: tok,
			Reason: fmt.Sprintf("the From address is not that of agent %d, for whom the reply address of ticket %d was made", tok.Agent, tok.Ticket)}
	}
	domain := from[strings.LastIndexByte(from, '@')+1:]
	auth := mime.SenderAuthentication(r.AuthResults, domain, p.AuthservIDs)
	if auth.Verdict == mime.AuthFail {
		return Verified{}, &RefusedError{Check: CheckAuth, Token: tok, Reason: auth.Reason}
	}
	return Verified{Token: tok, Auth: auth}, nil
}
