package imap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"ticketd/mail"
	"ticketd/store"
	"time"

	"github.com/emersion/go-imap/v2"
)

// startCheckpoint loads the mailbox's checkpoint, starting over when the
// folder's UIDVALIDITY changed (every stored UID is then meaningless; dedup
// keeps the rescan from importing anything twice).
func (s *Supervisor) startCheckpoint(sel *imap.SelectData, log *slog.Logger) (store.Checkpoint, error) {
	var cp store.Checkpoint
	err := s.DB.Update(func(tx *store.Tx) error {
		var found bool
		var err error
		cp, found, err = tx.Checkpoint(s.Box.Name)
		if err != nil {
			return err
		}
		if found && cp.UIDValidity == sel.UIDValidity {
			return nil
		}
		if found {
			log.Warn("uidvalidity changed, rescanning the folder", "old", cp.UIDValidity, "new", sel.UIDValidity)
		}
		cp = store.Checkpoint{Mailbox: s.Box.Name, UIDValidity: sel.UIDValidity, FirstUIDNext: uint32(sel.UIDNext)}
		return tx.SetCheckpoint(cp, store.ActorSystem)
	})
	s.stored = cp
	return cp, err
}

// catchUp imports every mail above the checkpoint, in batches, in three
// overlapping stages: while batch n is written and committed in the
// background, batch n+1 is parsed (Prepare, in the background too) and batch
// n+2 fetched. The connection stays with this goroutine, batches commit in
// order, and a batch's after_import actions run only after its commit.
func (s *Supervisor) catchUp(ctx context.Context, cn *conn, cp *store.Checkpoint, log *slog.Logger) error {
	for {
		var set imap.UIDSet
		set.AddRange(imap.UID(cp.LastUID+1), 0)
		var uids []uint32
		if err := cn.wait("uid search", func() error {
			data, err := cn.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
			if err != nil {
				return err
			}
			for _, u := range data.AllUIDs() {
				if uint32(u) > cp.LastUID { // "n:*" includes the highest UID even when it is below n
					uids = append(uids, uint32(u))
				}
			}
			return nil
		}); err != nil {
			return err
		}
		if len(uids) == 0 {
			return s.flushCheckpoint(cp)
		}
		slices.Sort(uids)
		var inflight *delivery
		size := newSizer(s.Box.BatchSize)
		for len(uids) > 0 && ctx.Err() == nil {
			n := min(len(uids), size.next())
			if uids[0] <= s.suspect {
				n = 1 // a batch with these mails broke a fetch: find the culprit one at a time
			}
			batch := uids[:n]
			uids = uids[n:]
			mails, err := s.fetchBatch(cn, batch, log)
			var prep *preparing
			if err == nil && len(mails) > 0 {
				// Parse it while the batch before is still being stored.
				prep = s.prepare(ctx, &Batch{Mailbox: s.Box.Name, UIDValidity: cp.UIDValidity, FirstUIDNext: cp.FirstUIDNext, Mails: mails})
			}
			if inflight != nil {
				if ferr := s.finish(cp, inflight, size, log); ferr != nil {
					if prep != nil {
						<-prep.done // it reads the mails' spool files
					}
					release(mails)
					return ferr
				}
				inflight = nil
			}
			if err != nil {
				return err
			}
			if prep != nil {
				inflight = s.deliver(*cp, batch, prep)
			} else {
				// Every UID vanished between SEARCH and FETCH (expunged by another client).
				cp.LastUID = max(cp.LastUID, batch[len(batch)-1])
			}
			// The previous batch's flags and moves go out while this one is stored.
			if err := s.afterImport(cn, cp, log); err != nil {
				if inflight != nil {
					s.finish(cp, inflight, size, log)
				}
				return err
			}
		}
		if inflight != nil {
			if err := s.finish(cp, inflight, size, log); err != nil {
				return err
			}
			if err := s.afterImport(cn, cp, log); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return s.flushCheckpoint(cp)
		}
	}
}

// afterImport applies the after_import actions of what is committed.
func (s *Supervisor) afterImport(cn *conn, cp *store.Checkpoint, log *slog.Logger) error {
	if len(cp.Pending) == 0 {
		return nil
	}
	if s.BeforeAfterImport != nil {
		if err := s.BeforeAfterImport(); err != nil {
			return err
		}
	}
	return s.applyPending(cn, cp, log)
}

// preparing is a batch the Deliverer is preparing in the background.
type preparing struct {
	b    *Batch
	done chan struct{} // closed when Prepare returned
	p    Prepared
	err  error
	took time.Duration // Prepare's time
}

// prepare starts the Deliverer's Prepare of b (parsing, attachment
// contents), outside any transaction; it is finished even when ctx is
// cancelled meanwhile.
func (s *Supervisor) prepare(ctx context.Context, b *Batch) *preparing {
	pr := &preparing{b: b, done: make(chan struct{})}
	go func() {
		defer close(pr.done)
		start := time.Now()
		pr.p, pr.err = s.Deliver.Prepare(context.WithoutCancel(ctx), b)
		pr.took = time.Since(start)
	}()
	return pr
}

// delivery is a batch being stored in the background.
type delivery struct {
	done  chan error
	next  store.Checkpoint // the checkpoint the batch commits
	mails []*mail.Fetched
	took  time.Duration // preparing and writing it, without the waits between
}

// deliver starts storing the prepared batch with the checkpoint moved past
// uids, once it is prepared. The batch is finished even when the session's
// context is cancelled meanwhile (a clean stop). The Deliverer's writes and
// the checkpoint are one transaction, opened here.
func (s *Supervisor) deliver(cp store.Checkpoint, uids []uint32, pr *preparing) *delivery {
	d := &delivery{done: make(chan error, 1), next: cp, mails: pr.b.Mails}
	d.next.LastUID = max(cp.LastUID, uids[len(uids)-1])
	go func() {
		<-pr.done
		if pr.err != nil {
			d.done <- pr.err
			return
		}
		start := time.Now()
		err := s.store(pr.b, pr.p, &d.next)
		d.took = pr.took + time.Since(start)
		d.done <- err
	}()
	return d
}

// store writes the prepared mails of b and next, with the after_import
// actions of the mails added, in one transaction.
func (s *Supervisor) store(b *Batch, p Prepared, next *store.Checkpoint) error {
	pending := next.Pending
	err := s.DB.Update(func(tx *store.Tx) error {
		results, err := p.Write(tx)
		if err != nil {
			return err
		}
		if len(results) != len(b.Mails) {
			return fmt.Errorf("deliverer returned %d results for %d mails", len(results), len(b.Mails))
		}
		next.Pending = append(slices.Clip(pending), s.pendingFor(b.Mails, results)...)
		return tx.SetCheckpoint(*next, store.ActorSystem)
	})
	if err != nil {
		next.Pending = pending
		return err
	}
	p.Committed()
	return nil
}

// finish waits for a delivery and takes its checkpoint, less the actions that
// were applied while it was stored (its commit still lists them; applying
// them again after a crash is harmless).
func (s *Supervisor) finish(cp *store.Checkpoint, d *delivery, size *sizer, log *slog.Logger) error {
	err := <-d.done
	bytes := bytesOf(d.mails)
	release(d.mails)
	if err != nil {
		return fmt.Errorf("deliver batch: %w", err)
	}
	size.observe(len(d.mails), bytes, d.took)
	s.stored = d.next
	*cp = d.next
	cp.Pending = slices.DeleteFunc(slices.Clone(cp.Pending), func(p store.PendingAction) bool { return s.applied[p.UID] })
	clear(s.applied)
	s.progress = true
	log.Debug("batch imported", "mails", len(d.mails), "last_uid", cp.LastUID)
	return nil
}

// flushCheckpoint stores cp when it is ahead of what the last commit
// recorded (mail that vanished, actions that were applied).
func (s *Supervisor) flushCheckpoint(cp *store.Checkpoint) error {
	if cp.LastUID == s.stored.LastUID && len(cp.Pending) == len(s.stored.Pending) {
		return nil
	}
	if err := s.DB.Update(func(tx *store.Tx) error { return tx.SetCheckpoint(*cp, store.ActorSystem) }); err != nil {
		return err
	}
	s.stored = *cp
	return nil
}

// pendingFor lists the after_import actions a delivered batch needs, from
// what the Deliverer made of each mail.
func (s *Supervisor) pendingFor(mails []*mail.Fetched, results []Result) []store.PendingAction {
	var out []store.PendingAction
	for i, m := range mails {
		action := s.Box.AfterImport
		if results[i].Quarantined && s.Box.QuarantineFolder != "" {
			action = "quarantine"
		}
		if action != "keep" {
			out = append(out, store.PendingAction{UID: m.UID, Action: action})
		}
	}
	return out
}

// applyPending flags or moves committed mail. A server refusal (NO) drops the
// action with a log line, so a mail deleted meanwhile cannot wedge the
// mailbox; a connection error keeps it for the next session.
func (s *Supervisor) applyPending(cn *conn, cp *store.Checkpoint, log *slog.Logger) error {
	return s.apply(cn, cp, nil, log)
}

// apply applies cp.Pending; with exist set, only to the UIDs in it.
func (s *Supervisor) apply(cn *conn, cp *store.Checkpoint, exist map[imap.UID]bool, log *slog.Logger) error {
	if len(cp.Pending) == 0 {
		return nil
	}
	byAction := map[string][]imap.UID{}
	for _, p := range cp.Pending {
		if exist == nil || exist[imap.UID(p.UID)] {
			byAction[p.Action] = append(byAction[p.Action], imap.UID(p.UID))
		}
	}
	for _, action := range []string{"seen", "move", "quarantine"} {
		uids := byAction[action]
		if len(uids) == 0 {
			continue
		}
		set := imap.UIDSetNum(uids...)
		var err error
		switch action {
		case "seen":
			err = cn.wait("store \\Seen", func() error {
				return cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
			})
		case "move":
			err = s.move(cn, set, s.Box.MoveTo)
		case "quarantine":
			err = s.move(cn, set, s.Box.QuarantineFolder)
		}
		var imapErr *imap.Error
		if errors.As(err, &imapErr) {
			log.Error("after_import refused by the server, leaving the mail where it is", "action", action, "uids", set.String(), "err", err)
		} else if err != nil {
			return err
		}
	}
	// Cleared in memory; stored with the next checkpoint write. Re-applying
	// an action after a crash is harmless (flags are idempotent, and a moved
	// mail is gone, which the server answers with a no-op or a NO).
	for _, p := range cp.Pending {
		s.applied[p.UID] = true
	}
	cp.Pending = nil
	return nil
}

// resumePending applies the actions a previous session left in the
// checkpoint. They may have been applied already (the checkpoint lists them
// until the next write), so only the UIDs still in the folder get them; a
// server that keeps failing on them cannot wedge the mailbox: after
// maxFetchFailures sessions they are dropped.
func (s *Supervisor) resumePending(cn *conn, cp *store.Checkpoint, log *slog.Logger) error {
	if len(cp.Pending) == 0 {
		return nil
	}
	var set imap.UIDSet
	for _, p := range cp.Pending {
		set.AddNum(imap.UID(p.UID))
	}
	exist := map[imap.UID]bool{}
	err := cn.wait("uid search", func() error {
		data, err := cn.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
		if err != nil {
			return err
		}
		for _, u := range data.AllUIDs() {
			exist[u] = true
		}
		return nil
	})
	if err == nil {
		err = s.apply(cn, cp, exist, log)
	}
	if err == nil {
		s.resumeFailures = 0
		return s.flushCheckpoint(cp)
	}
	if s.resumeFailures++; s.resumeFailures < maxFetchFailures {
		return err
	}
	log.Error("after_import actions keep failing, dropping them; the mail stays where it is", "actions", len(cp.Pending), "err", err)
	s.resumeFailures = 0
	cp.Pending = nil
	return s.flushCheckpoint(cp)
}

// move moves mail to folder, creating the folder when the server says it is missing.
func (s *Supervisor) move(cn *conn, set imap.UIDSet, folder string) error {
	mv := func() error {
		return cn.wait("move", func() error { _, err := cn.c.Move(set, folder).Wait(); return err })
	}
	err := mv()
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && (imapErr.Code == imap.ResponseCodeTryCreate || imapErr.Code == imap.ResponseCodeNonExistent) {
		if err := cn.wait("create", func() error { return cn.c.Create(folder, nil).Wait() }); err != nil {
			return err
		}
		err = mv()
	}
	return err
}
