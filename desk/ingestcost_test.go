package desk

import (
	"testing"

	"ticketd/store"
)

// TestNewTicketIsSealedOnce: a new ticket is created, gets its message,
// its acknowledgement and its agents' copies in one transaction, and is
// encoded and sealed once for all of it, also when a reply to it comes in
// the same batch. What is stored is all of it: the
// message count, the acknowledgement, the copies, the retention plan, and
// the indexes that list the ticket.
func TestNewTicketIsSealedOnce(t *testing.T) {
	fd := newAgentDesk(t)
	before := fd.d.DB.Encoded("tickets")
	out := fd.ingestInto("support", msg{Subject: "Drucker kaputt", MessageID: "c1@example.org", Body: "Der Drucker druckt nicht."}.raw())
	if !out.NewTicket || !out.AckQueued || !out.Mailed {
		t.Fatalf("outcome %+v, want a new ticket, acknowledged, its agents told", out)
	}
	if n := fd.d.DB.Encoded("tickets") - before; n != 1 {
		t.Errorf("a new ticket was encoded and sealed %d times, want 1", n)
	}
	fd.d.DB.View(func(tx *store.Tx) error {
		tk, err := tx.Ticket(out.Ticket)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Messages != 1 || tk.Ack == nil || tk.Ack.Status != "queued" || len(tk.Notified) == 0 || tk.PurgeAt.IsZero() && tk.ConsentDue.IsZero() && tk.ServiceAt.IsZero() {
			t.Errorf("stored ticket: messages %d, ack %+v, notified %d, purge %v, consent %v, service %v",
				tk.Messages, tk.Ack, len(tk.Notified), tk.PurgeAt, tk.ConsentDue, tk.ServiceAt)
		}
		if of := tx.TicketsOf(tk.RequesterID); len(of) != 1 || of[0] != tk.Number {
			t.Errorf("the requester's tickets: %v, want [%d]", of, tk.Number)
		}
		return nil
	})
	page, err := fd.d.ListTickets(ListOptions{Queue: "support"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tickets) != 1 || page.Tickets[0].Number != out.Ticket {
		t.Errorf("tickets list -queue support: %+v, want ticket %d", page.Tickets, out.Ticket)
	}

	e := newSubjectEnv(t)
	before = e.db.Encoded("tickets")
	e.deliver(msg{Subject: "Frage", MessageID: "b1@example.org", Body: "Hallo"}.raw(),
		msg{Subject: "Re: Frage", MessageID: "b2@example.org", InReplyTo: "b1@example.org", Body: "Noch da?"}.raw())
	if n := e.db.Encoded("tickets") - before; n != 1 {
		t.Errorf("a new ticket and a reply to it in one batch: encoded %d times, want 1", n)
	}
	n := e.ticketOf("b1@example.org")
	if e.ticketOf("b2@example.org") != n {
		t.Fatal("the reply did not thread into its ticket")
	}
	e.db.View(func(tx *store.Tx) error {
		tk, err := tx.Ticket(n)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Messages != 2 || tk.Ack == nil {
			t.Errorf("stored ticket: messages %d, ack %+v; want both messages and the acknowledgement", tk.Messages, tk.Ack)
		}
		return nil
	})
}
