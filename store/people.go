package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Person reads one person.
func (t *Tx) Person(id uint64) (*Person, error) {
	if p, ok := t.people[id]; ok {
		return &p, nil
	}
	var p Person
	if err := t.getRec(bPeople, be64(id), &p); err != nil {
		return nil, fmt.Errorf("person %d: %w", id, err)
	}
	// The retention planner reads the requester each time a ticket is
	// written: keep the record opened once for the rest of the transaction.
	if t.people == nil {
		t.people = map[uint64]Person{}
	}
	t.people[id] = p
	return &p, nil
}

// NormalizeEmail is the form addresses are indexed under.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// PersonByEmail finds a person by address (case-insensitive).
func (t *Tx) PersonByEmail(email string) (*Person, error) {
	v := t.b(bIdxEmail).Get(t.lk(bIdxEmail, []byte(NormalizeEmail(email))))
	if v == nil {
		return nil, fmt.Errorf("person %q: %w", email, ErrNotFound)
	}
	return t.Person(binary.BigEndian.Uint64(v))
}

// EnsurePerson returns the person with this address, creating it when new.
// A name is filled in when the person had none.
func (t *Tx) EnsurePerson(email, name string, actor Actor) (*Person, error) {
	key := NormalizeEmail(email)
	if key == "" {
		return nil, fmt.Errorf("store person: empty address")
	}
	ik := t.lk(bIdxEmail, []byte(key))
	if v := t.b(bIdxEmail).Get(ik); v != nil {
		p, err := t.Person(binary.BigEndian.Uint64(v))
		if errors.Is(err, ErrShredded) || errors.Is(err, ErrNotFound) {
			// Erased after the backup this store was restored from, or by a
			// purge whose lookup drops are not applied yet: a new person.
			goto create
		}
		if err != nil || p.Name != "" || name == "" {
			return p, err
		}
		p.Name = name
		if err := t.putRec(bPeople, be64(p.ID), p, personKeyID(p.ID)); err != nil {
			return nil, err
		}
		return p, t.audit(personUpdated(p.ID, actor))
	}
create:
	id, err := t.b(bPeople).NextSequence()
	if err != nil {
		return nil, err
	}
	if err := t.ensureKey(personKeyID(id)); err != nil {
		return nil, err
	}
	p := &Person{ID: id, Email: key, Name: name, CreatedAt: t.now}
	if err := t.putRec(bPeople, be64(id), p, personKeyID(id)); err != nil {
		return nil, err
	}
	if err := t.b(bIdxEmail).Put(ik, be64(id)); err != nil {
		return nil, err
	}
	return p, t.audit(personCreated(id, actor))
}

// UpdatePerson stores a changed person (rectification, offboarding); a
// changed address is re-indexed, and the person's tickets are planned anew.
// e is its audit event (PersonRectified, PersonOffboarded).
func (t *Tx) UpdatePerson(p *Person, e AuditEvent) error {
	if e.Person != p.ID {
		return fmt.Errorf("person %d: audit event %s is about person %d", p.ID, e.Action, e.Person)
	}
	old, err := t.Person(p.ID)
	if err != nil {
		return err
	}
	if key := NormalizeEmail(p.Email); key != old.Email {
		if key == "" {
			return fmt.Errorf("person %d: empty address", p.ID)
		}
		if v := t.b(bIdxEmail).Get(t.lk(bIdxEmail, []byte(key))); v != nil && binary.BigEndian.Uint64(v) != p.ID &&
			t.b(bPeople).Get(v) != nil { // an entry left by a purge (lookupdrops.go) is free
			return fmt.Errorf("person %d: the address is already another person's", p.ID)
		}
		if err := t.b(bIdxEmail).Delete(t.lk(bIdxEmail, []byte(old.Email))); err != nil {
			return err
		}
		if err := t.b(bAckRate).Delete(t.lk(bAckRate, []byte(old.Email))); err != nil {
			return err
		}
		if err := t.b(bIdxEmail).Put(t.lk(bIdxEmail, []byte(key)), be64(p.ID)); err != nil {
			return err
		}
		p.Email = key
	}
	if err := t.putRec(bPeople, be64(p.ID), p, personKeyID(p.ID)); err != nil {
		return err
	}
	if err := t.audit(e); err != nil {
		return err
	}
	return t.replanPerson(p.ID, "")
}
