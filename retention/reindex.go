package retention

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"ticketd/config"
	"ticketd/store"
)

// rulesVersion changes when the planning rules in this package change, so
// that stores planned by an older ticketd are planned again.
const rulesVersion = 1

// metaKey is where the store keeps the fingerprint its plans were computed with.
const metaKey = "retention.fingerprint"

// reindexBatch is how many tickets one transaction of a reindex reads.
const reindexBatch = 1000

// Fingerprint is a hash of the parts of cfg the plans depend on: each
// purpose's legal basis, retention, counted_from, on_expiry, grace and
// without_consent, and the hold categories. (A hold's rules only pick new
// tickets, and a hold set keeps the end it was given, so they are not part of it.)
func Fingerprint(cfg *config.Config) string {
	type purpose struct {
		Name                                                    string
		Basis                                                   config.LegalBasis
		Retention, CountedFrom, OnExpiry, Grace, WithoutConsent string
	}
	type hold struct {
		Name, Duration string
		YearEnd        bool
	}
	var in struct {
		Version  int
		Purposes []purpose
		Holds    []hold
	}
	in.Version = rulesVersion
	for _, p := range cfg.Purposes {
		in.Purposes = append(in.Purposes, purpose{p.Name, p.LegalBasis, p.Retention.String(), p.CountedFrom,
			p.OnExpiry, p.Grace.Duration.String(), p.WithoutConsent})
	}
	for _, h := range cfg.Holds {
		in.Holds = append(in.Holds, hold{h.Name, h.Duration.String(), h.YearEnd()})
	}
	slices.SortFunc(in.Purposes, func(a, b purpose) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(in.Holds, func(a, b hold) int { return strings.Compare(a.Name, b.Name) })
	data, _ := json.Marshal(in) // plain strings and ints: cannot fail
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// Stale reports whether the plans in db were computed with rules other than cfg's.
func Stale(db *store.DB, cfg *config.Config) (bool, error) {
	var stale bool
	err := db.View(func(tx *store.Tx) error {
		stale = string(tx.Meta(metaKey)) != Fingerprint(cfg)
		return nil
	})
	return stale, err
}

// Reindex recomputes the plan of every ticket when the retention-relevant
// configuration differs from the one the plans were computed with, and
// returns how many tickets got a new plan. It walks the tickets in batches
// of one transaction each, so concurrent writes wait at most one batch. db's
// Planner must be this package's, working with cfg; the fingerprint is
// stored only when the walk is complete, so an interrupted one starts again.
func Reindex(ctx context.Context, db *store.DB, cfg *config.Config) (int, error) {
	if stale, err := Stale(db, cfg); err != nil || !stale {
		return 0, err
	}
	changed := 0
	var after uint64
	for {
		if err := ctx.Err(); err != nil {
			return changed, err
		}
		var batch []uint64
		err := db.Update(func(tx *store.Tx) error {
			batch = tx.TicketNumbers(after, reindexBatch)
			for _, n := range batch {
				tk, err := tx.Ticket(n)
				if err != nil {
					return err
				}
				v := evaluate(tx, cfg, tk)
				if v.PurgeAt.Equal(tk.PurgeAt) && v.ConsentDue.Equal(tk.ConsentDue) {
					continue
				}
				if err := tx.Replan(n); err != nil {
					return err
				}
				changed++
			}
			return nil
		})
		if err != nil {
			return changed, fmt.Errorf("retention reindex: %w", err)
		}
		if len(batch) < reindexBatch {
			break
		}
		after = batch[len(batch)-1]
	}
	fp := Fingerprint(cfg)
	err := db.Update(func(tx *store.Tx) error {
		if err := tx.SetMeta(metaKey, []byte(fp)); err != nil {
			return err
		}
		return tx.Audit(store.RetentionReplanned(fp, changed, store.ActorSystem))
	})
	if err != nil {
		return changed, fmt.Errorf("retention reindex: %w", err)
	}
	return changed, nil
}
