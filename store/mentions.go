package store

import (
	"bytes"
	"encoding/binary"
	"maps"
	"slices"
	"strings"
)

// idx_mention finds the places that hold an address without a scan, for a
// data subject's export and erasure:
//
//	idx_mention  lookup(address) ‖ 'm' ‖ message id -> nil: a message whose To, Cc,
//	             Reply-To, subject, text, HTML or kept header fields hold the address
//	             lookup(address) ‖ 'o' ‖ outbox id -> nil: an outgoing mail to it or
//	             whose stored copy holds it
//
// Written with the record in the same transaction, changed when it changes
// (a redaction, a rectification) and deleted with it. An address is what
// Addresses finds: the same boundaries as the erasure's search, so every
// place the search finds is indexed (TestAddressesFindWhatTheSearchFinds
// in desk).
var bIdxMention = []byte("idx_mention")

// Mention kinds of idx_mention.
const (
	MentionMessage byte = 'm'
	MentionOutbox  byte = 'o'
)

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func isLocalByte(c byte) bool {
	return isWordByte(c) || strings.IndexByte(".!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// Addresses adds to set each address s holds, lower-case in ASCII: around
// each '@' the longest run of local-part bytes before it and of domain
// labels after it (a dot only where a label follows), as the search for an
// address bounds a match.
func Addresses(s string, set map[string]bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		start := i
		for start > 0 && isLocalByte(s[start-1]) {
			start--
		}
		end := i + 1
		for end < len(s) {
			c := s[end]
			if isWordByte(c) || c == '-' || c == '.' && end+1 < len(s) && (isWordByte(s[end+1]) || s[end+1] == '-') {
				end++
				continue
			}
			break
		}
		if start < i && end > i+1 {
			set[asciiLower(s[start:end])] = true
		}
	}
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// messageAddresses are the addresses of m that idx_mention holds.
func messageAddresses(m *Message) map[string]bool {
	set := map[string]bool{}
	for _, list := range [][]Address{m.To, m.Cc, m.ReplyTo} {
		for _, a := range list {
			if e := asciiLower(NormalizeEmail(a.Email)); e != "" {
				set[e] = true
			}
			Addresses(a.Name, set)
		}
	}
	Addresses(m.Subject, set)
	Addresses(m.Text, set)
	Addresses(m.HTML, set)
	for _, vs := range m.Headers {
		for _, v := range vs {
			Addresses(v, set)
		}
	}
	return set
}

// outboxAddresses are the addresses of it that idx_mention holds.
func outboxAddresses(it *OutboxItem) map[string]bool {
	set := map[string]bool{}
	for _, to := range it.To {
		if e := asciiLower(NormalizeEmail(to)); e != "" {
			set[e] = true
		}
	}
	Addresses(string(it.Raw), set)
	return set
}

func (t *Tx) mentionKey(addr string, kind byte, id uint64) []byte {
	k := append(t.idxPrefix(bIdxMention, addr), kind)
	return append(k, be64(id)...)
}

// reindexMentions moves record id's entries from the addresses old to cur.
func (t *Tx) reindexMentions(kind byte, id uint64, old, cur map[string]bool) error {
	b := t.b(bIdxMention)
	for a := range old {
		if !cur[a] {
			if err := t.dropLookup(bIdxMention, t.mentionKey(a, kind, id), nil); err != nil {
				return err
			}
		}
	}
	for _, a := range slices.Sorted(maps.Keys(cur)) {
		if !old[a] {
			if err := b.Put(t.mentionKey(a, kind, id), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Mentioning returns the ids of the records of kind (MentionMessage,
// MentionOutbox) that hold the address email, in order, from idx_mention.
// A record may hold it only where the caller's finer search does not look
// (a display name in From, say): the caller checks each.
func (t *Tx) Mentioning(email string, kind byte) []uint64 {
	prefix := append(t.idxPrefix(bIdxMention, asciiLower(NormalizeEmail(email))), kind)
	var out []uint64
	c := t.b(bIdxMention).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) == len(prefix)+8 {
			out = append(out, binary.BigEndian.Uint64(k[len(prefix):]))
		}
	}
	return out
}

// OutboxOf returns the ids of the outgoing mail about ticket n, in order.
func (t *Tx) OutboxOf(n uint64) []uint64 {
	prefix := be64(n)
	var out []uint64
	c := t.b(bIdxOutTk).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, binary.BigEndian.Uint64(k[8:]))
	}
	return out
}
