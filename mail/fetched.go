package mail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// InMemoryMax is the largest mail held in memory while it is processed;
// larger mail is spooled to a file, so memory stays flat whatever the size.
const InMemoryMax = 1 << 20

// ErrStopped is returned by a loop's Run (the IMAP supervisor, the outbox)
// when its context was cancelled.
var ErrStopped = errors.New("mail: stopped")

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

// InMemory is how many bytes of the mail are held in memory (0 when it
// was spooled or released).
func (f *Fetched) InMemory() int64 { return int64(len(f.raw)) }

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
	if err := f.Read(r, dir, max, InMemoryMax); err != nil {
		return nil, err
	}
	return f, nil
}

// Read takes the mail from r into memory, or into a spool file in dir when it
// is larger than memMax, hashing it on the way. r is read to EOF. A mail over
// max bytes is not kept: Failed says so.
func (f *Fetched) Read(r io.Reader, dir string, max, memMax int64) error {
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
