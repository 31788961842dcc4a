package store

import (
	"errors"
	"testing"
)

// TestDeferredTicketWrites: with DeferTicketWrites a ticket written three
// times in a transaction (created, its message, its acknowledgement) is
// encoded and sealed once, and the transaction sees every write as if it
// had been stored at once: a read of the ticket, the person, queue and
// open indexes, the key the outbox item of the ticket is sealed under (the
// requester's, so that erasing them shreds it). A failed transaction
// stores none of it.
func TestDeferredTicketWrites(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	before := db.Encoded("tickets")
	var number, person uint64
	err := db.Update(func(tx *Tx) error {
		tx.DeferTicketWrites()
		p, err := tx.EnsurePerson("erika@example.org", "Erika", ActorSystem)
		if err != nil {
			return err
		}
		person = p.ID
		tk := &Ticket{Subject: "Drucker", Status: StatusNew, Queue: "support", RequesterID: p.ID,
			Participants: []uint64{p.ID}, Origin: Origin{Channel: ChannelEmail, Mailbox: "support"}}
		if err := tx.CreateTicket(tk, ActorSystem); err != nil {
			return err
		}
		number = tk.Number
		m := &Message{PersonID: p.ID, From: Address{Email: "erika@example.org"}, Direction: DirectionIn, Text: "brennt", ContentHash: "h1"}
		if err := tx.AddMessage(tk, m, DedupKey("support", "m1", "h1"), ActorSystem); err != nil {
			return err
		}
		item := &OutboxItem{Ticket: tk.Number, Kind: "acknowledgement", To: []string{"erika@example.org"}, Raw: []byte("x")}
		if err := tx.Enqueue(item, ActorSystem); err != nil {
			return err
		}
		if kid, _, ok := envelope(tx.b(bOutbox).Get(be64(item.ID))); !ok || kid != personKeyID(p.ID) {
			t.Errorf("the outbox item of a ticket not stored yet is sealed under %q, want the requester's key", kid)
		}
		tk.Ack = &Ack{Status: "queued", OutboxID: item.ID}
		if err := tx.UpdateTicket(tk, TicketAckQueued(tk.Number, ActorSystem)); err != nil {
			return err
		}
		got, err := tx.Ticket(tk.Number)
		if err != nil {
			return err
		}
		if got.Messages != 1 || got.Ack == nil || got.Ack.OutboxID != item.ID {
			t.Errorf("ticket read in its transaction: messages %d, ack %+v; want its message and acknowledgement", got.Messages, got.Ack)
		}
		// Written again after the read: the indexes see it too.
		got.Status = StatusOpen
		if err := tx.UpdateTicket(got, TicketReopened(got.Number, ActorSystem)); err != nil {
			return err
		}
		if of := tx.TicketsOf(p.ID); len(of) != 1 || of[0] != tk.Number {
			t.Errorf("TicketsOf in the transaction = %v, want [%d]", of, tk.Number)
		}
		var listed []uint64
		if err := tx.TicketsWhere(TicketFilter{Queue: "support"}, 0, func(n uint64) (bool, error) {
			listed = append(listed, n)
			return true, nil
		}); err != nil {
			return err
		}
		if len(listed) != 1 || listed[0] != tk.Number {
			t.Errorf("TicketsWhere(queue support) in the transaction = %v, want [%d]", listed, tk.Number)
		}
		// Two filters: the walk of one index checks the other's entries,
		// written in this transaction too.
		for _, f := range []TicketFilter{{Queue: "support", Open: true}, {Open: true, Notified: false}, {Queue: "support", Open: true, Notified: false}} {
			if got := where(t, tx, f, 0); len(got) != 1 || got[0] != tk.Number {
				t.Errorf("TicketsWhere(%+v) in the transaction = %v, want [%d]", f, got, tk.Number)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := db.Encoded("tickets") - before; n != 1 {
		t.Errorf("tickets encoded: %d, want 1", n)
	}
	db.View(func(tx *Tx) error {
		tk, err := tx.Ticket(number)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Messages != 1 || tk.Ack == nil || tk.Status != StatusOpen {
			t.Errorf("stored ticket: messages %d, ack %+v, status %s", tk.Messages, tk.Ack, tk.Status)
		}
		if of := tx.TicketsOf(person); len(of) != 1 {
			t.Errorf("TicketsOf after the commit = %v", of)
		}
		return nil
	})

	boom := errors.New("boom")
	err = db.Update(func(tx *Tx) error {
		tx.DeferTicketWrites()
		tk := &Ticket{Subject: "x", Status: StatusNew, Queue: "support", RequesterID: person}
		if err := tx.CreateTicket(tk, ActorSystem); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	db.View(func(tx *Tx) error {
		if n := tx.TicketNumbers(0, 0); len(n) != 1 {
			t.Errorf("tickets after a failed transaction: %v, want only %d", n, number)
		}
		return nil
	})
}

// TestDeferredWriteFailureFailsTheTransaction: a deferred ticket whose
// write fails at the end (the key of its requester, made in the same
// transaction, erased before it was stored) fails the transaction rather
// than going unstored.
func TestDeferredWriteFailureFailsTheTransaction(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	err := db.Update(func(tx *Tx) error {
		tx.DeferTicketWrites()
		p, err := tx.EnsurePerson("erika@example.org", "Erika", ActorSystem)
		if err != nil {
			return err
		}
		tk := &Ticket{Subject: "x", Status: StatusNew, Queue: "support", RequesterID: p.ID}
		if err := tx.CreateTicket(tk, ActorSystem); err != nil {
			return err
		}
		return tx.shred(personKeyID(p.ID))
	})
	if err == nil {
		t.Fatal("the transaction committed, though its ticket could not be stored")
	}
	db.View(func(tx *Tx) error {
		if n := tx.TicketNumbers(0, 0); len(n) != 0 {
			t.Errorf("tickets after the failed transaction: %v, want none", n)
		}
		return nil
	})
}
