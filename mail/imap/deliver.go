package imap

import (
	"context"

	"ticketd/mail"
	"ticketd/store"
)

// Batch is a run of mails of one mailbox, delivered in one transaction.
type Batch struct {
	Mailbox     string
	UIDValidity uint32
	// FirstUIDNext is UIDNEXT when ticketd first saw the folder: mail with a
	// lower UID was there before and is imported without an acknowledgement.
	FirstUIDNext uint32
	Mails        []*mail.Fetched
}

// Deliverer turns fetched mail into tickets or quarantine records.
//
// The Supervisor owns the transaction and the checkpoint: it calls Prepare
// outside any transaction (parsing, attachment contents), then opens one
// store transaction, calls the Prepared's Write in it, and records the
// mailbox checkpoint (last UID, after_import actions) in that same
// transaction, so a batch and its checkpoint commit together or not at all.
// The Deliverer never writes the checkpoint.
type Deliverer interface {
	Prepare(ctx context.Context, b *Batch) (Prepared, error)
}

// Prepared is a batch a Deliverer made ready to store.
type Prepared interface {
	// Write stores every mail of the batch in tx and returns what became
	// of each, in the order of Batch.Mails. If it returns an error the
	// transaction is rolled back and nothing of the batch is stored.
	Write(tx *store.Tx) ([]Result, error)
	// Committed runs after the transaction that called Write committed.
	Committed()
}

// Result is what the Deliverer made of one mail; the Supervisor decides the
// after_import action from it.
type Result struct {
	// Quarantined: the mail became a new quarantine record, so it goes to
	// the mailbox's quarantine_folder (when one is set) instead of getting
	// the after_import action.
	Quarantined bool
}
