package store

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Blobs of an encrypted store are named and keyed from s.blob and the
// SHA-256 of their plaintext:
//
//	name = hex HMAC-SHA256(HMAC-SHA256(s.blob, "ticketd blob name"), sha256)
//	key  = HMAC-SHA256(s.blob, "ticketd blob content" ‖ 0 ‖ sha256)
//
// so equal contents are stored once, a name tells nothing of the content,
// and only who knows the plaintext's SHA-256 (its sealed message or
// quarantine record) can read it. A small blob (blobs bucket) is
// nonce (12) ‖ AES-256-GCM(key, content), bucket and name as additional data.
// A blob file is
//
//	header   "tkb\x01" ‖ nonce (12) ‖ AES-256-GCM(key, data key) (48)
//	segments AES-256-GCM(data key, 64 KiB of content), nonce = be64(counter) ‖ be32(1 on the last segment)
//
// The data key is random and encrypts one content only, so the counter
// nonces never repeat; the header is written last, once the content's
// SHA-256 is known, so the file is written in one pass. A truncated,
// extended or reordered file fails to open.
const (
	blobMagic   = "tkb\x01"
	blobHdrSize = 4 + 12 + 32 + 16
	segSize     = 64 << 10
	segSealed   = segSize + 16
)

type blobCrypt struct{ secret, nameKey []byte }

func newBlobCrypt(secret []byte) *blobCrypt {
	return &blobCrypt{secret: secret, nameKey: hmacSum(secret, []byte("ticketd blob name"))}
}

// name is the storage name of the blob whose plaintext SHA-256 is sum (hex);
// "" when sum is not one.
func (c *blobCrypt) name(sum string) string {
	raw, err := hex.DecodeString(sum)
	if err != nil || len(raw) != 32 {
		return ""
	}
	return hex.EncodeToString(hmacSum(c.nameKey, raw))
}

func (c *blobCrypt) key(sum string) []byte {
	raw, _ := hex.DecodeString(sum)
	return hmacSum(c.secret, []byte("ticketd blob content"), raw)
}

func sealSmallBlob(key []byte, name string, data []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 12)
	rand.Read(nonce)
	return g.Seal(nonce, nonce, data, sealAD(bBlobs, []byte(name))), nil
}

func openSmallBlob(key []byte, name string, v []byte) ([]byte, error) {
	if len(v) < 12+16 {
		return nil, errCorrupt
	}
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	data, err := g.Open(nil, v[:12], v[12:], sealAD(bBlobs, []byte(name)))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", name, errCorrupt)
	}
	return data, nil
}

func segNonce(ctr uint64, last bool) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n, ctr)
	if last {
		n[11] = 1
	}
	return n
}

// segWriter encrypts what is written to it in segments; Close writes the last.
type segWriter struct {
	w   io.Writer
	g   cipher.AEAD
	buf []byte
	out []byte // the sealed segment, reused: a large blob allocates two segments, not one per segment
	ctr uint64
}

func (s *segWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		take := min(len(p), segSize+1-len(s.buf))
		s.buf = append(s.buf, p[:take]...)
		p = p[take:]
		if len(s.buf) > segSize {
			if err := s.emit(s.buf[:segSize], false); err != nil {
				return 0, err
			}
			s.buf = append(s.buf[:0], s.buf[segSize:]...)
		}
	}
	return n, nil
}

func (s *segWriter) emit(seg []byte, last bool) error {
	s.out = s.g.Seal(s.out[:0], segNonce(s.ctr, last), seg, nil)
	_, err := s.w.Write(s.out)
	s.ctr++
	return err
}

func (s *segWriter) Close() error { return s.emit(s.buf, true) }

// blobHeader wraps the data key of a blob file under the blob's key.
func blobHeader(key, dataKey []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 12)
	rand.Read(nonce)
	return g.Seal(append([]byte(blobMagic), nonce...), nonce, dataKey, []byte(blobMagic)), nil
}

// segReader decrypts a blob file of size bytes read from r.
type segReader struct {
	r     io.ReaderAt
	c     io.Closer
	g     cipher.AEAD
	n     int // segments
	i     int // next segment
	size  int64
	plain []byte
	seg   []byte // the segment read, reused; plain is decrypted into it
	err   error
}

// openBlobFile checks the header of a blob file and returns a reader of its content.
func openBlobFile(r io.ReaderAt, size int64, key []byte) (*segReader, error) {
	body := size - blobHdrSize
	if body < 16 {
		return nil, errCorrupt
	}
	hdr := make([]byte, blobHdrSize)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, err
	}
	if string(hdr[:4]) != blobMagic {
		return nil, errCorrupt
	}
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	dataKey, err := g.Open(nil, hdr[4:16], hdr[16:], []byte(blobMagic))
	if err != nil {
		return nil, errCorrupt
	}
	dg, err := newGCM(dataKey)
	if err != nil {
		return nil, err
	}
	n := int((body + segSealed - 1) / segSealed)
	if rest := body - int64(n-1)*segSealed; rest < 16 {
		return nil, errCorrupt
	}
	return &segReader{r: r, g: dg, n: n, size: size}, nil
}

func (s *segReader) Read(p []byte) (int, error) {
	for len(s.plain) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.i == s.n {
			s.err = io.EOF
			continue
		}
		off := blobHdrSize + int64(s.i)*segSealed
		l := min(int64(segSealed), s.size-off)
		if cap(s.seg) < int(l) {
			s.seg = make([]byte, segSealed)
		}
		seg := s.seg[:l]
		if _, err := s.r.ReadAt(seg, off); err != nil && !errors.Is(err, io.EOF) {
			s.err = err
			continue
		}
		plain, err := s.g.Open(seg[:0], segNonce(uint64(s.i), s.i == s.n-1), seg, nil)
		if err != nil {
			s.err = fmt.Errorf("blob segment %d: %w", s.i, errCorrupt)
			continue
		}
		s.plain = plain
		s.i++
	}
	n := copy(p, s.plain)
	s.plain = s.plain[n:]
	return n, nil
}

func (s *segReader) Close() error {
	if s.c != nil {
		return s.c.Close()
	}
	return nil
}

// decryptAll reads a whole sealed blob file held in memory (tests, fuzzing).
func decryptAll(data, key []byte) ([]byte, error) {
	r, err := openBlobFile(bytes.NewReader(data), int64(len(data)), key)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}
