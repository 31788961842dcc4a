package mail

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"
)

func TestReadFetchedKeepsEveryByte(t *testing.T) {
	for _, size := range []int{0, 100, InMemoryMax, InMemoryMax + 1, 3*InMemoryMax + 17} {
		raw := make([]byte, size)
		rand.Read(raw)
		f, err := ReadFetched(bytes.NewReader(raw), t.TempDir(), 64<<20)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		r, err := f.Open()
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		sum := sha256.Sum256(raw)
		if !bytes.Equal(got, raw) || f.Size != int64(size) || f.Hash != hex.EncodeToString(sum[:]) {
			t.Errorf("size %d: read back %d bytes (equal %v), Size %d, hash ok %v", size, len(got), bytes.Equal(got, raw), f.Size, f.Hash == hex.EncodeToString(sum[:]))
		}
		f.Release()
	}
}

func TestReadFetchedOverLimit(t *testing.T) {
	src := strings.NewReader(strings.Repeat("x", 5000))
	f, err := ReadFetched(src, t.TempDir(), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if f.Failed == "" || f.Hash != "" || src.Len() != 0 {
		t.Errorf("over the limit: Failed %q, Hash %q, %d bytes left unread", f.Failed, f.Hash, src.Len())
	}
	if _, err := f.Open(); err == nil {
		t.Error("Open of a mail that was not kept succeeded")
	}
}
