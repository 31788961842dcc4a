package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// Plan index kinds.
const (
	PlanPurge   byte = 'p' // the retention rule (anonymize or delete) applies
	PlanConsent byte = 'c' // the consent grace period ends
	PlanService byte = 's' // a ticket awaiting its first answer is due (Ticket.ServiceAt)
)

func planKey(kind byte, at time.Time, ticket uint64) []byte {
	k := make([]byte, 17)
	k[0] = kind
	binary.BigEndian.PutUint64(k[1:], uint64(at.Unix()))
	binary.BigEndian.PutUint64(k[9:], ticket)
	return k
}

// indexed is what the indexes of a stored ticket were built from.
type indexed struct {
	Participants []uint64  `json:"participants"`
	PurgeAt      time.Time `json:"purge_at,omitzero"`
	ConsentDue   time.Time `json:"consent_due,omitzero"`
	ServiceAt    time.Time `json:"service_at,omitzero"`
	// the ticket indexes (ticketidx.go)
	Queue        string     `json:"queue"`
	Status       string     `json:"status"`
	Assignee     string     `json:"assignee,omitempty"`
	AnonymizedAt time.Time  `json:"anonymized_at,omitzero"`
	Notified     []Notified `json:"notified,omitempty"`
}

// putTicket stores tk after the Planner has scheduled it, and keeps the plan
// and person indexes in step with the stored version.
func (t *Tx) putTicket(tk *Ticket) error {
	old, ok := t.deferredIndexes(tk.Number)
	if !ok {
		old, ok = t.indexedTickets[tk.Number]
	}
	if !ok {
		if err := t.getRec(bTickets, be64(tk.Number), &old); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("ticket %d: %w", tk.Number, err)
		}
	}
	if t.deferTickets {
		t.deferTicket(tk, old)
		return nil
	}
	return t.putTicketOver(tk, old)
}

// indexesOf is what the indexes of tk, as stored, were built from.
func indexesOf(tk *Ticket) indexed {
	return indexed{Participants: slices.Clone(tk.Participants), PurgeAt: tk.PurgeAt, ConsentDue: tk.ConsentDue, ServiceAt: tk.ServiceAt,
		Queue: tk.Queue, Status: tk.Status, Assignee: tk.Assignee, AnonymizedAt: tk.AnonymizedAt,
		// only whether there are any counts (keysOfIndexed)
		Notified: tk.Notified[:len(tk.Notified):len(tk.Notified)]}
}

// putTicketOver is putTicket when the caller has read the stored version
// in this transaction: old is indexesOf it, which saves reading it again.
func (t *Tx) putTicketOver(tk *Ticket, old indexed) error {
	if t.planner != nil {
		t.planner(t, tk)
	}
	tk.ServiceAt = serviceAt(tk)
	if err := t.putRec(bTickets, be64(tk.Number), tk, ticketKeyID(tk)); err != nil {
		return err
	}
	// A ticket written again in this transaction (a new one gets its
	// message and its acknowledgement) need not be read and opened again.
	if t.indexedTickets == nil {
		t.indexedTickets = map[uint64]indexed{}
	}
	t.indexedTickets[tk.Number] = indexesOf(tk)
	if err := t.reindexPlan(PlanPurge, tk.Number, old.PurgeAt, tk.PurgeAt); err != nil {
		return err
	}
	if err := t.reindexPlan(PlanConsent, tk.Number, old.ConsentDue, tk.ConsentDue); err != nil {
		return err
	}
	if err := t.reindexPlan(PlanService, tk.Number, old.ServiceAt, tk.ServiceAt); err != nil {
		return err
	}
	if err := t.reindexTicket(tk.Number, keysOfIndexed(t, &old), keysOfTicket(t, tk)); err != nil {
		return err
	}
	return t.reindexPeople(tk.Number, old.Participants, tk.Participants)
}

func (t *Tx) reindexPlan(kind byte, ticket uint64, old, cur time.Time) error {
	if old.Unix() == cur.Unix() && old.IsZero() == cur.IsZero() {
		return nil
	}
	b := t.b(bIdxPlan)
	if !old.IsZero() {
		if err := b.Delete(planKey(kind, old, ticket)); err != nil {
			return err
		}
	}
	if cur.IsZero() {
		return nil
	}
	return b.Put(planKey(kind, cur, ticket), nil)
}

func (t *Tx) reindexPeople(ticket uint64, old, cur []uint64) error {
	b := t.b(bIdxPerson)
	for _, p := range old {
		if !slices.Contains(cur, p) {
			if err := b.Delete(append(be64(p), be64(ticket)...)); err != nil {
				return err
			}
		}
	}
	for _, p := range cur {
		if !slices.Contains(old, p) {
			if err := b.Put(append(be64(p), be64(ticket)...), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Replan stores ticket n again, so that the Planner schedules it with the
// configuration in force; no audit event, as no personal data changes.
func (t *Tx) Replan(n uint64) error {
	tk, err := t.Ticket(n)
	if err != nil {
		return err
	}
	return t.putTicket(tk)
}

// Due returns up to limit tickets whose plan of the given kind is at or
// before until, earliest first, walking only the index entries that are due.
func (t *Tx) Due(kind byte, until time.Time, limit int) ([]uint64, error) {
	if err := t.storeAllDeferred(); err != nil {
		return nil, err
	}
	var out []uint64
	end := uint64(until.Unix())
	c := t.b(bIdxPlan).Cursor()
	for k, _ := c.Seek([]byte{kind}); k != nil && k[0] == kind; k, _ = c.Next() {
		if binary.BigEndian.Uint64(k[1:9]) > end || (limit > 0 && len(out) >= limit) {
			break
		}
		out = append(out, binary.BigEndian.Uint64(k[9:]))
	}
	return out, nil
}

// NextPlanned returns when the earliest plan of the given kind is due.
func (t *Tx) NextPlanned(kind byte) (time.Time, bool) {
	t.flushDeferred()
	k, _ := t.b(bIdxPlan).Cursor().Seek([]byte{kind})
	if k == nil || k[0] != kind {
		return time.Time{}, false
	}
	return time.Unix(int64(binary.BigEndian.Uint64(k[1:9])), 0), true
}

// TicketsOf returns the numbers of the tickets person wrote to, in order.
func (t *Tx) TicketsOf(person uint64) []uint64 {
	t.flushDeferred()
	var out []uint64
	prefix := be64(person)
	c := t.b(bIdxPerson).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, binary.BigEndian.Uint64(k[8:]))
	}
	return out
}

// replanPerson stores the tickets person wrote to again (only those for
// purpose, unless it is ""), so that the Planner, which reads the person and
// their consent decisions, schedules them with what just changed.
func (t *Tx) replanPerson(person uint64, purpose string) error {
	if t.planner == nil {
		return nil
	}
	for _, n := range t.TicketsOf(person) {
		tk, err := t.Ticket(n)
		if err != nil {
			return err
		}
		if purpose != "" && tk.Purpose != purpose {
			continue
		}
		if err := t.putTicket(tk); err != nil {
			return err
		}
	}
	return nil
}

// DeleteMessage removes one message, its indexes and the blobs only it
// referenced; the ticket's count and participants are updated by the caller.
func (t *Tx) DeleteMessage(m *Message, actor Actor, why string) error {
	id := be64(m.ID)
	if err := t.b(bMessages).Delete(id); err != nil {
		return err
	}
	if err := t.b(bIdxTicket).Delete(append(be64(m.Ticket), id...)); err != nil {
		return err
	}
	if err := t.reindexMentions(MentionMessage, m.ID, messageAddresses(m), nil); err != nil {
		return err
	}
	if m.MessageID != "" {
		if err := t.dropLookup(bIdxMsgID, t.lk(bIdxMsgID, []byte(m.MessageID)), be64(m.Ticket)); err != nil {
			return err
		}
	}
	// The dedup entry stays as a tombstone: an erased mail still on the IMAP
	// server is not imported again (after a UIDVALIDITY change, say).
	key, err := hex.DecodeString(m.DedupKey)
	if err != nil || len(key) == 0 {
		key = DedupKey(m.Origin.Mailbox, m.MessageID, m.ContentHash) // stored before messages named their key
	}
	if err := t.tombstoneDedup(t.lk(bIdxDedup, key)); err != nil {
		return err
	}
	for _, a := range m.Blobs() {
		if err := t.unrefBlob(a.SHA256, 'm', m.ID); err != nil {
			return err
		}
	}
	return t.audit(messageDeleted(m, actor, why))
}

// PutMessage stores a changed message; e is its audit event
// (MessageRectified, MessageRedacted). A blob the message no longer names
// (an original dropped by a redaction) loses its reference.
func (t *Tx) PutMessage(m *Message, e AuditEvent) error {
	if e.Message != m.ID {
		return fmt.Errorf("message %d: audit event %s is about message %d", m.ID, e.Action, e.Message)
	}
	old, err := t.Message(m.ID)
	var oldAddrs map[string]bool
	if err == nil {
		oldAddrs = messageAddresses(old)
	}
	if err := t.reindexMentions(MentionMessage, m.ID, oldAddrs, messageAddresses(m)); err != nil {
		return err
	}
	if err == nil {
		for _, a := range old.Blobs() {
			if !slices.ContainsFunc(m.Blobs(), func(b Attachment) bool { return b.SHA256 == a.SHA256 }) {
				if err := t.unrefBlob(a.SHA256, 'm', m.ID); err != nil {
					return err
				}
			}
		}
	}
	if err := t.putRec(bMessages, be64(m.ID), m, t.messageKeyID(m)); err != nil {
		return err
	}
	return t.audit(e)
}

// Messages calls fn for each message in id order until fn returns false.
func (t *Tx) Messages(fn func(*Message) bool) error { return forEachRec(t, bMessages, fn) }

func blobRefKey(sum string, kind byte, id uint64) []byte {
	return append(append([]byte(sum), kind), be64(id)...)
}

// refBlob records that the blob whose content's SHA-256 is sum is
// referenced; the index holds its storage name.
func (t *Tx) refBlob(sum string, kind byte, id uint64) error {
	if sum == "" {
		return nil
	}
	return t.b(bIdxBlobRef).Put(blobRefKey(t.blobName(sum), kind, id), nil)
}

// blobName is the storage name of the blob sum (sum itself when it is not a SHA-256).
func (t *Tx) blobName(sum string) string {
	if t.db == nil || t.db.Blobs == nil {
		return sum
	}
	if n := t.db.Blobs.name(sum); n != "" {
		return n
	}
	return sum
}

// unrefBlob drops one reference to a blob and deletes the blob when it was
// the last: from the database now, from its file after the commit.
func (t *Tx) unrefBlob(sum string, kind byte, id uint64) error {
	if sum == "" {
		return nil
	}
	sum = t.blobName(sum)
	b := t.b(bIdxBlobRef)
	if err := b.Delete(blobRefKey(sum, kind, id)); err != nil {
		return err
	}
	if k, _ := b.Cursor().Seek([]byte(sum)); k != nil && bytes.HasPrefix(k, []byte(sum)) {
		return nil // still referenced
	}
	if t.b(bBlobs).Get([]byte(sum)) != nil {
		return t.b(bBlobs).Delete([]byte(sum))
	}
	if len(sum) == 64 && t.db != nil {
		t.removeFile(t.db.Blobs.path(sum))
	}
	return nil
}

// removeFile deletes a file once the transaction has committed; its content
// is overwritten first, so that it does not linger in the file system's free
// blocks. A file that cannot be shredded then is kept for Scrub, which tries
// again and reports it.
func (t *Tx) removeFile(path string) {
	if len(t.removeFiles) == 0 {
		t.tx.OnCommit(func() {
			for _, p := range t.removeFiles {
				if ShredFile(p) != nil {
					t.db.unshredded.add(p)
				}
			}
		})
	}
	t.removeFiles = append(t.removeFiles, path)
}

// ShredFile overwrites a file with zeros, syncs it and removes it; a file
// that is gone already is no error.
func ShredFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	zero := make([]byte, 64<<10)
	for off := int64(0); err == nil && off < fi.Size(); off += int64(len(zero)) {
		_, err = f.WriteAt(zero[:min(int64(len(zero)), fi.Size()-off)], off)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Remove(path)
}

// pathSet is a set of file paths safe for concurrent use.
type pathSet struct {
	mu    sync.Mutex
	paths map[string]bool
}

func (s *pathSet) add(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paths == nil {
		s.paths = map[string]bool{}
	}
	s.paths[p] = true
}

// retry shreds every path again and returns an error naming those that still fail.
func (s *pathSet) retry() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for p := range s.paths {
		if err := ShredFile(p); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.paths, p)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d erased blob files could not be removed: %w", len(errs), errors.Join(errs...))
	}
	return nil
}

// DeleteTicket removes a ticket with all its messages, blobs, outgoing mail
// and indexes; people no ticket references any more go too.
func (t *Tx) DeleteTicket(n uint64, actor Actor, why string) error {
	tk, err := t.Ticket(n)
	if err != nil {
		return err
	}
	return t.DeleteReadTicket(tk, actor, why)
}

// DeleteReadTicket is DeleteTicket of tk as Ticket read it in this
// transaction, unchanged: a purge that has read it to decide saves reading
// it again.
func (t *Tx) DeleteReadTicket(tk *Ticket, actor Actor, why string) error {
	if err := t.storeAllDeferred(); err != nil {
		return err
	}
	n := tk.Number
	old := indexesOf(tk)
	people, err := t.dropContent(tk, actor, why)
	if err != nil {
		return err
	}
	if err := t.dropIndexes(n, old); err != nil {
		return err
	}
	delete(t.indexedTickets, n)
	if err := t.b(bTickets).Delete(be64(n)); err != nil {
		return err
	}
	if err := t.audit(ticketDeleted(n, actor, why)); err != nil {
		return err
	}
	return t.dropOrphans(people, actor, why)
}

// AnonymizeTicket removes names, addresses, text, attachments and headers of
// a ticket. Its skeleton stays for statistics: number, queue, purpose, status,
// language and timestamps. People no ticket references any more are deleted.
func (t *Tx) AnonymizeTicket(n uint64, actor Actor, why string) error {
	tk, err := t.Ticket(n)
	if err != nil {
		return err
	}
	return t.AnonymizeReadTicket(tk, actor, why)
}

// AnonymizeReadTicket is AnonymizeTicket of tk as Ticket read it in this
// transaction, unchanged: a purge that has read it to decide saves reading
// it again.
func (t *Tx) AnonymizeReadTicket(tk *Ticket, actor Actor, why string) error {
	n := tk.Number
	if err := t.storeDeferred(n); err != nil {
		return err
	}
	old := indexesOf(tk)
	people, err := t.dropContent(tk, actor, why)
	if err != nil {
		return err
	}
	*tk = Ticket{Number: tk.Number, Status: tk.Status, Queue: tk.Queue, Purpose: tk.Purpose, Language: tk.Language,
		CreatedAt: tk.CreatedAt, ClosedAt: tk.ClosedAt, Messages: tk.Messages, Holds: tk.Holds,
		Origin:  Origin{Channel: tk.Origin.Channel, Mailbox: tk.Origin.Mailbox, ReceivedAt: tk.Origin.ReceivedAt, StoredAt: tk.Origin.StoredAt},
		Subject: "", AnonymizedAt: t.now, UpdatedAt: t.now}
	if err := t.putTicketOver(tk, old); err != nil {
		return err
	}
	if err := t.audit(ticketAnonymized(n, actor, why)); err != nil {
		return err
	}
	return t.dropOrphans(people, actor, why)
}

// dropContent deletes a ticket's messages and outgoing mail and returns the people it referenced.
func (t *Tx) dropContent(tk *Ticket, actor Actor, why string) ([]uint64, error) {
	msgs, err := t.TicketMessages(tk.Number)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := t.DeleteMessage(m, actor, why); err != nil {
			return nil, err
		}
	}
	if err := t.deleteTicketOutbox(tk.Number); err != nil {
		return nil, err
	}
	if tk.Ack != nil {
		if tk.Ack.OutboxID != 0 {
			if err := t.deleteOutbox(tk.Ack.OutboxID); err != nil {
				return nil, err
			}
		}
		if tk.Ack.MessageID != "" {
			if err := t.dropLookup(bIdxMsgID, t.lk(bIdxMsgID, []byte(tk.Ack.MessageID)), nil); err != nil {
				return nil, err
			}
		}
	}
	people := slices.Clone(tk.Participants)
	if tk.RequesterID != 0 && !slices.Contains(people, tk.RequesterID) {
		people = append(people, tk.RequesterID)
	}
	return people, nil
}

// dropIndexes drops the plan and person index entries of ticket n, about
// to be deleted, built from old.
func (t *Tx) dropIndexes(n uint64, old indexed) error {
	if err := t.reindexPlan(PlanPurge, n, old.PurgeAt, time.Time{}); err != nil {
		return err
	}
	if err := t.reindexPlan(PlanConsent, n, old.ConsentDue, time.Time{}); err != nil {
		return err
	}
	if err := t.reindexPlan(PlanService, n, old.ServiceAt, time.Time{}); err != nil {
		return err
	}
	if err := t.reindexTicket(n, keysOfIndexed(t, &old), ticketKeys{}); err != nil {
		return err
	}
	return t.reindexPeople(n, old.Participants, nil)
}

// dropOrphans deletes the people among ids that no ticket references any more.
func (t *Tx) dropOrphans(ids []uint64, actor Actor, why string) error {
	for _, id := range ids {
		if len(t.TicketsOf(id)) > 0 {
			continue
		}
		if err := t.DeletePerson(id, actor, why); err != nil {
			return err
		}
	}
	return nil
}

// DeletePerson removes a person record with its address index, rate-limit
// state and consent history. Tickets that still reference it keep the id only.
func (t *Tx) DeletePerson(id uint64, actor Actor, why string) error {
	p, err := t.Person(id)
	if errors.Is(err, ErrShredded) {
		// Erased after the backup this store came from: what is left goes.
		if err := t.deleteConsents(id); err != nil {
			return err
		}
		t.forgetPerson(be64(id))
		if err := t.b(bPeople).Delete(be64(id)); err != nil {
			return err
		}
		return t.shred(personKeyID(id))
	}
	if errors.Is(err, ErrNotFound) {
		return nil // already gone
	}
	if err != nil {
		return err
	}
	if err := t.dropLookup(bIdxEmail, t.lk(bIdxEmail, []byte(p.Email)), be64(id)); err != nil {
		return err
	}
	if err := t.dropLookup(bAckRate, t.lk(bAckRate, []byte(p.Email)), nil); err != nil {
		return err
	}
	if err := t.deleteConsents(id); err != nil {
		return err
	}
	t.forgetPerson(be64(id))
	if err := t.b(bPeople).Delete(be64(id)); err != nil {
		return err
	}
	if err := t.shred(personKeyID(id)); err != nil {
		return err
	}
	return t.audit(personDeleted(id, actor, why))
}

// DeleteQuarantine removes a quarantine record and its stored mail.
func (t *Tx) DeleteQuarantine(q *Quarantine, actor Actor, why string) error {
	if err := t.b(bQuarantine).Delete(be64(q.ID)); err != nil {
		return err
	}
	if err := t.shred(quarantineKeyID(q.ID)); err != nil {
		return err
	}
	if err := t.unrefBlob(q.Blob, 'q', q.ID); err != nil {
		return err
	}
	return t.audit(quarantineDeleted(q, actor, why))
}

// QuarantinedBefore returns up to limit quarantine records stored before t,
// oldest first. Ids grow with time, so the walk stops at the first younger one.
func (t *Tx) QuarantinedBefore(before time.Time, limit int) ([]*Quarantine, error) {
	var out []*Quarantine
	err := forEachRec(t, bQuarantine, func(q *Quarantine) bool {
		if !q.StoredAt.Before(before) || (limit > 0 && len(out) >= limit) {
			return false
		}
		out = append(out, q)
		return true
	})
	return out, err
}

// migrateIndexes builds the person and blob-reference indexes of a store
// written before they existed.
func (t *Tx) migrateIndexes() error {
	meta := t.b(bMeta)
	if meta.Get([]byte("idx_v2")) != nil {
		return nil
	}
	// Dedup keys were the plain mailbox, Message-ID and hash; now a SHA-256 of them.
	if err := t.tx.DeleteBucket(bIdxDedup); err != nil {
		return err
	}
	dedup, err := t.tx.CreateBucket(bIdxDedup)
	if err != nil {
		return err
	}
	// werr is the first failed write; a walk stops at it.
	var werr error
	err = forEach(t.b(bTickets), func(tk *Ticket) bool {
		for _, p := range tk.Participants {
			if werr = t.b(bIdxPerson).Put(append(be64(p), be64(tk.Number)...), nil); werr != nil {
				return false
			}
		}
		return true
	})
	if err = errors.Join(err, werr); err != nil {
		return err
	}
	err = forEach(t.b(bMessages), func(m *Message) bool {
		for _, a := range m.Blobs() {
			if werr = t.refBlob(a.SHA256, 'm', m.ID); werr != nil {
				return false
			}
		}
		key, err := hex.DecodeString(m.DedupKey)
		if err != nil || len(key) == 0 {
			key = DedupKey(m.Origin.Mailbox, m.MessageID, m.ContentHash)
		}
		werr = dedup.Put(key, be64(m.ID))
		return werr == nil
	})
	if err = errors.Join(err, werr); err != nil {
		return err
	}
	err = forEach(t.b(bQuarantine), func(q *Quarantine) bool {
		werr = t.refBlob(q.Blob, 'q', q.ID)
		return werr == nil
	})
	if err = errors.Join(err, werr); err != nil {
		return err
	}
	return meta.Put([]byte("idx_v2"), []byte{1})
}
