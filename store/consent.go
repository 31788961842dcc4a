package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

func consentPrefix(person uint64, purpose string) []byte {
	return append(append(be64(person), purpose...), 0)
}

// RecordConsent appends a decision to the person's history for its purpose,
// sets rec.Seq and rec.At, and plans the person's tickets for that purpose
// anew (the Planner reads their consent decisions).
func (t *Tx) RecordConsent(rec *ConsentRecord, actor Actor) error {
	e, err := consentDecided(rec, actor)
	if err != nil {
		return err
	}
	b := t.b(bConsents)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	rec.Seq = seq
	rec.At = t.now
	if err := t.putRec(bConsents, append(consentPrefix(rec.Person, rec.Purpose), be64(seq)...), rec, personKeyID(rec.Person)); err != nil {
		return err
	}
	if err := t.audit(e); err != nil {
		return err
	}
	return t.replanPerson(rec.Person, rec.Purpose)
}

// ConsentHistory returns every decision of a person, by purpose and then in order.
func (t *Tx) ConsentHistory(person uint64) ([]*ConsentRecord, error) {
	var out []*ConsentRecord
	prefix := be64(person)
	c := t.b(bConsents).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		rec := new(ConsentRecord)
		if err := t.decode(bConsents, k, v, rec); errors.Is(err, ErrShredded) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("consent record %x: %w", k, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// LatestConsent returns the person's latest decision about purpose, or nil.
func (t *Tx) LatestConsent(person uint64, purpose string) (*ConsentRecord, error) {
	prefix := consentPrefix(person, purpose)
	c := t.b(bConsents).Cursor()
	// The last key with the prefix: seek past it and step back.
	k, _ := c.Seek(append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	var v []byte
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
		return nil, nil
	}
	rec := new(ConsentRecord)
	if err := t.decode(bConsents, k, v, rec); errors.Is(err, ErrShredded) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return rec, nil
}

// ConsentVersion counts a person's decisions about a purpose: it changes with
// every decision, so a form rendered before one is recognised as stale.
func (t *Tx) ConsentVersion(person uint64, purpose string) uint64 {
	prefix := consentPrefix(person, purpose)
	var n uint64
	c := t.b(bConsents).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) == len(prefix)+8 {
			n = max(n, binary.BigEndian.Uint64(k[len(prefix):]))
		}
	}
	return n
}

func (t *Tx) deleteConsents(person uint64) error {
	prefix := be64(person)
	c := t.b(bConsents).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	// The person's consent links go too.
	c = t.b(bIdxCTok).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := t.b(bConsentTok).Delete(k[8:]); err != nil {
			return err
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// RecordConsentToken records an issued consent link.
func (t *Tx) RecordConsentToken(ct *ConsentToken, actor Actor) error {
	ct.IssuedAt = t.now
	if err := t.putRec(bConsentTok, []byte(ct.ID), ct, personKeyID(ct.Person)); err != nil {
		return err
	}
	if err := t.b(bIdxCTok).Put(append(be64(ct.Person), ct.ID...), nil); err != nil {
		return err
	}
	return t.audit(consentLinkIssued(ct, actor))
}

// ConsentTokenRecord reads the record of an issued consent link.
func (t *Tx) ConsentTokenRecord(id string) (*ConsentToken, error) {
	var ct ConsentToken
	if err := t.getRec(bConsentTok, []byte(id), &ct); err != nil {
		return nil, fmt.Errorf("consent token %s: %w", id, err)
	}
	return &ct, nil
}
