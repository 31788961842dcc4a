// Package retention makes the deletion concept executable: it plans when
// each ticket's retention ends, purges what is due, applies the consequences
// of missing consent, keeps tickets under statutory holds, and runs all of it
// on a cron schedule (GDPR Art. 5(1)(e), 17, 18, 7(3)).
//
// # Planning
//
// Planner is installed in the store (store.DB.SetPlanner) and runs on every
// ticket write. It sets two times, which the store indexes by time so that a
// run walks only what is due, never every ticket:
//
//   - PurgeAt: the purpose's retention counted from closing (counted_from =
//     "closed"; an open ticket is never due) or from collection ("collected":
//     the ticket's creation, or its mail's received time when that is
//     earlier, as for old mail imported by ticketd ingest); on_expiry says whether the ticket is then anonymized or deleted. When
//     the requester was offboarded, the ticket is anonymized at that time if
//     it is earlier. A hold postpones PurgeAt to the hold's end, when the
//     purpose's rule is applied again. An anonymized ticket is never due.
//   - ConsentDue, for a purpose whose legal basis is consent, on a ticket
//     neither restricted nor anonymized: the end of the grace period after
//     creation, unless the requester's latest decision for the purpose is a
//     grant (never due) or a withdrawal made after the ticket was created
//     (due at once).
//
// Times are rounded up to whole seconds, the index's unit, so nothing is
// acted on early. The planner reads the requester and the latest consent
// decision only; the store plans a person's tickets anew when the person or
// their consent decisions change (UpdatePerson, RecordConsent).
//
// The store keeps a fingerprint of the configuration the plans were computed
// with (Fingerprint: each purpose's legal basis, retention, counted_from,
// on_expiry, grace and without_consent, and the hold categories). Reindex,
// run at start, on reload and before each purge, plans every ticket anew in
// batches when it differs.
//
// # Acting
//
// Purge walks the due index in batches, one write transaction each, that
// commit once they have run DefaultBatchTime (or at DefaultBatch tickets),
// so a concurrent ingest waits for one short batch at most. Each
// ticket is checked against the rules again at the purge's time: a ticket
// under a hold then is kept (and listed with the hold's end), one the index
// had wrong is planned anew. Anonymizing keeps the skeleton (number, queue,
// purpose, status, language, timestamps, holds); deleting removes all of it;
// a person no ticket references any more goes with it. Each is an audit event
// (actor store.ActorScheduler, or store.ActorAdmin from the command line).
// The batches defer their key shreds (store.Tx.DeferShreds) and the
// entries of the HMAC-keyed lookup indexes (store.Tx.DeferLookupDrops:
// those lie on random pages, which each commit would rewrite) and mark a
// scrub due (store.Tx.MarkScrubDue); at the end store.DB.FinishLookupDrops
// removes those entries sorted by key, a contiguous run per transaction,
// store.DB.FinishShreds deletes the
// erased people's keys from the key file, scrubbed once, and store.DB.Scrub
// overwrites the free pages of the data file once, so the erased data is
// not left in either before the purge reports done. A purge killed midway
// is completed by the next one: Open finishes the lookup drops and the shreds, and a purge that
// finds a scrub due scrubs even when nothing is left to erase. A dry run does the same
// checks in read transactions and writes nothing; with a time in the future
// it shows what will go then.
//
// SweepConsent applies without_consent to the tickets whose ConsentDue has
// come: "restrict" marks the ticket restricted (store.RestrictedNoConsent,
// which a later grant lifts); "erase" deletes the requester's due tickets of
// that purpose, except those under a hold, which are restricted instead.
//
// # Holds
//
// A hold (config [[hold]]) keeps a ticket unaltered until it ends: neither
// anonymized, erased nor purged. New tickets get the holds whose rule picks
// them (ApplyHoldRules: queue or subject pattern); an administrator adds and
// releases holds by hand (AddHold, ReleaseHold). A released hold keeps its
// history with the release as its end.
//
// # Scheduling
//
// Scheduler runs Purge on [retention] schedule and SweepConsent on [consent]
// schedule with robfig/cron. A run that is still going when its next time
// comes is skipped; a panic in a run is recovered and logged. The cron timing
// runs on package time, but what is due comes from an injected clock, so the
// rules are tested without waiting; the scheduler's own tests run inside a
// testing/synctest bubble, whose fake time drives cron's timers. Each run logs
// counts only, never personal data.
package retention
