package mail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"ticketd/store"
)

// inMemoryMax is the largest mail held in memory while a batch is processed;
// larger mail is spooled to a file, so memory stays flat whatever the size.
// batchMemory bounds what one batch holds in memory in all; mail beyond it is
// spooled too, so memory stays flat whatever the batch size.
const (
	inMemoryMax = 1 << 20
	batchMemory = 32 << 20
)

// Fetched is one mail as it came from the server, not yet parsed.
type Fetched struct {
	UID          uint32
	Size         int64 // RFC822.SIZE, or the length read
	InternalDate time.Time
	// Modified is a mail file's modification time (ticketd ingest FILE);
	// zero for mail from IMAP or a pipe.
	Modified time.Time
	Hash     string // hex SHA-256 of the raw mail; "" when it was not read

	// Failed is why the mail could not be read ("" when it was); such a mail
	// is quarantined with this reason and the mailbox moves on.
	Failed string

	// Quarantined is set by the Deliverer when the mail became a quarantine record.
	Quarantined bool

	raw   []byte // the mail, when held in memory
	spool string // path of the spooled mail, when large
}

// Open returns the raw mail. It fails for a mail that was not read.
func (f *Fetched) Open() (io.ReadCloser, error) {
	switch {
	case f.spool != "":
		return os.Open(f.spool)
	case f.Failed == "":
		return io.NopCloser(bytes.NewReader(f.raw)), nil
	}
	return nil, fmt.Errorf("mail uid %d was not read: %s", f.UID, f.Failed)
}

// Release drops the mail's content (the spool file, if any).
func (f *Fetched) Release() {
	if f.spool != "" {
		os.Remove(f.spool)
		f.spool = ""
	}
	f.raw = nil
}

// ReadFetched reads a mail from r (a file, stdin), spooling it to dir when it
// is large. A mail over max bytes is not kept: Failed says so.
func ReadFetched(r io.Reader, dir string, max int64) (*Fetched, error) {
	f := &Fetched{}
	if err := f.read(r, dir, max, inMemoryMax); err != nil {
		return nil, err
	}
	return f, nil
}

// read takes the mail from r into memory, or into a spool file in dir when it
// is larger than memMax, hashing it on the way. r is read to EOF.
func (f *Fetched) read(r io.Reader, dir string, max, memMax int64) error {
	h := sha256.New()
	head, err := io.ReadAll(io.LimitReader(r, memMax+1))
	if err != nil {
		return err
	}
	h.Write(head)
	f.Size = int64(len(head))
	if f.Size <= memMax {
		f.raw = head
	} else {
		sf, err := os.CreateTemp(dir, "mail-")
		if err != nil {
			return fmt.Errorf("spool mail: %w", err)
		}
		f.spool = sf.Name()
		if _, err = sf.Write(head); err != nil {
			sf.Close()
			f.Release()
			return fmt.Errorf("spool mail: %w", err)
		}
		n, err := io.Copy(io.MultiWriter(sf, h), io.LimitReader(r, max+1-f.Size))
		if cerr := sf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			f.Release()
			return fmt.Errorf("spool mail: %w", err)
		}
		f.Size += n
	}
	f.Hash = hex.EncodeToString(h.Sum(nil))
	if f.Size > max {
		io.Copy(io.Discard, r) // a pipe must be drained
		f.Release()
		f.Hash = ""
		f.Failed = fmt.Sprintf("larger than the limit of %d bytes", max)
	}
	return nil
}

// Batch is a run of mails of one mailbox, delivered in one transaction.
type Batch struct {
	Mailbox     string
	UIDValidity uint32
	// FirstUIDNext is UIDNEXT when ticketd first saw the folder: mail with a
	// lower UID was there before and is imported without an acknowledgement.
	FirstUIDNext uint32
	Mails        []*Fetched
}

// Deliverer turns fetched mail into tickets or quarantine records.
//
// Deliver stores every mail of b in one store transaction and, within that same
// transaction, calls commit after it has set Quarantined on each mail, so the
// caller can record its checkpoint atomically with the mail. If Deliver
// returns an error nothing of the batch is stored.
type Deliverer interface {
	Deliver(ctx context.Context, b *Batch, commit func(tx *store.Tx) error) error
}
